//! Self-metrics of the history store, registered under `epicenter_history_`.
//!
//! Never does: decide anything; it only counts what the writer reports.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The history's counters. Cheap to clone (shared handles).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    batches: Counter,
    rows: Counter,
    dropped: Counter,
    write_errors: Counter,
    pruned: Counter,
    file_bytes: Gauge,
}

impl Metrics {
    /// Registers every metric in `registry` (prefixed `epicenter_history` by the caller).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        // Counters are registered without `_total`: prometheus-client adds it.
        registry.register(
            "batches",
            "Batches (one per closed window) written",
            m.batches.clone(),
        );
        registry.register("rows", "Rows inserted or replaced", m.rows.clone());
        registry.register(
            "dropped",
            "Batches dropped because the writer's queue was full or closed",
            m.dropped.clone(),
        );
        registry.register(
            "write_errors",
            "Batches that could not be written",
            m.write_errors.clone(),
        );
        registry.register("pruned", "Rows removed by retention", m.pruned.clone());
        registry.register(
            "file_bytes",
            "Size of history.redb, bytes",
            m.file_bytes.clone(),
        );
        m
    }

    /// A batch was written.
    pub fn written(&self, rows: u64, pruned: u64, file_bytes: u64) {
        self.batches.inc();
        self.rows.inc_by(rows);
        self.pruned.inc_by(pruned);
        self.file_bytes
            .set(i64::try_from(file_bytes).unwrap_or(i64::MAX));
    }

    /// A batch was dropped before the writer saw it.
    pub fn dropped(&self) {
        self.dropped.inc();
    }

    /// A batch could not be written.
    pub fn write_error(&self) {
        self.write_errors.inc();
    }

    /// Batches written so far.
    pub fn batch_count(&self) -> u64 {
        self.batches.get()
    }

    /// Batches dropped so far.
    pub fn dropped_count(&self) -> u64 {
        self.dropped.get()
    }

    /// Write errors so far.
    pub fn write_error_count(&self) -> u64 {
        self.write_errors.get()
    }
}
