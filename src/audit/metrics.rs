//! Self-metrics of the audit log, registered under `epicenter_audit_`.
//!
//! Never does: decide anything; it only counts what the writer reports.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::record::Kind;

impl EncodeLabelValue for Kind {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        use std::fmt::Write as _;
        encoder.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    kind: Kind,
}

/// The audit log's counters. Cheap to clone (shared handles).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    records: Family<KindLabels, Counter>,
    dropped: Counter,
    write_errors: Counter,
}

impl Metrics {
    /// Registers every metric in `registry` (prefixed `epicenter_audit` by the caller).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        // Counters are registered without `_total`: prometheus-client adds it.
        registry.register(
            "records",
            "Audit records written, by kind",
            m.records.clone(),
        );
        registry.register(
            "dropped",
            "Audit records dropped because the writer's queue was full or closed",
            m.dropped.clone(),
        );
        registry.register(
            "write_errors",
            "Audit records that could not be written to disk",
            m.write_errors.clone(),
        );
        m
    }

    /// A record of `kind` was written.
    pub fn written(&self, kind: Kind) {
        self.records.get_or_create(&KindLabels { kind }).inc();
    }

    /// A record was dropped before the writer saw it.
    pub fn dropped(&self) {
        self.dropped.inc();
    }

    /// A record could not be written.
    pub fn write_error(&self) {
        self.write_errors.inc();
    }

    /// Records written of `kind` so far.
    pub fn written_count(&self, kind: Kind) -> u64 {
        self.records.get_or_create(&KindLabels { kind }).get()
    }

    /// Records dropped so far.
    pub fn dropped_count(&self) -> u64 {
        self.dropped.get()
    }

    /// Write errors so far.
    pub fn write_error_count(&self) -> u64 {
        self.write_errors.get()
    }
}
