//! Crash-safe snapshots (issue 4): writes each sealed checkpoint — the
//! graph's state, the analysis journal and the Kafka offsets they cover — to
//! the state store in ONE transaction, then hands it back to the Kafka
//! consumer, which only then commits those offsets. Also the ledger of
//! emitted alerts, and the timer that places barriers when there is no
//! Kafka consumer to do it.
//!
//! Never does: decide what the state contains, or commit offsets itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::state::{GRAPH_STATE_KEY, write_with_journal};
use crate::emit::Sink;
use crate::model::{Alert, Checkpoint, PartitionOffset};
use crate::store::persist::StateStore;

/// Key of the Kafka offsets the stored state covers.
const OFFSETS_KEY: &str = "kafka_offsets";

/// The snapshot writer's metrics (prefix `epicenter_snapshot`).
#[derive(Clone, Debug, Default)]
pub(super) struct Metrics {
    written: Counter,
    failed: Counter,
    last_written: Gauge<f64, AtomicU64>,
    seconds: Gauge<f64, AtomicU64>,
    graph_bytes: Gauge,
    journal_windows: Counter,
}

impl Metrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "written",
            "Snapshots written to the state store",
            m.written.clone(),
        );
        registry.register(
            "failed",
            "Snapshots that could not be written (their Kafka offsets stay uncommitted)",
            m.failed.clone(),
        );
        registry.register(
            "last_written_timestamp_seconds",
            "Wall-clock time of the last snapshot written (alert when it is stale)",
            m.last_written.clone(),
        );
        registry.register(
            "last_write_seconds",
            "How long the last snapshot's transaction took",
            m.seconds.clone(),
        );
        registry.register(
            "graph_bytes",
            "Size of the graph state in the last snapshot written (gzip JSON)",
            m.graph_bytes.clone(),
        );
        registry.register(
            "journal_windows",
            "Closed windows added to the stored analysis journal",
            m.journal_windows.clone(),
        );
        m
    }
}

/// The offsets the stored state covers (empty when none were saved).
pub(super) fn restore_offsets(store: &StateStore) -> Vec<PartitionOffset> {
    match store.get(OFFSETS_KEY) {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            tracing::warn!(%error, "stored kafka offsets are unreadable; ignored");
            Vec::new()
        }),
        Ok(None) => Vec::new(),
        Err(error) => {
            tracing::warn!(%error, "cannot read the stored kafka offsets; ignored");
            Vec::new()
        }
    }
}

/// Writes every sealed checkpoint, then returns it on `durable` (when a
/// Kafka consumer waits for it). Ends when `sealed` closes.
pub(super) async fn write(
    store: Arc<StateStore>,
    mut sealed: mpsc::Receiver<Checkpoint>,
    durable: Option<mpsc::Sender<Checkpoint>>,
    restored: Vec<PartitionOffset>,
    metrics: Metrics,
) {
    // Offsets of partitions this member no longer owns stay: they are what
    // the kept state covers if a partition comes back.
    let mut offsets: BTreeMap<(String, i32), i64> = restored
        .into_iter()
        .map(|o| ((o.topic, o.partition), o.next))
        .collect();
    // Journal windows of snapshots that could not be written: the analysis
    // stage sends each window once, so they go with the next snapshot.
    let mut carried: Vec<Arc<dyn crate::model::LazyPart>> = Vec::new();
    while let Some(mut checkpoint) = sealed.recv().await {
        let (Some(graph), Some(mut analysis)) =
            (checkpoint.graph.take(), checkpoint.analysis.take())
        else {
            tracing::warn!(
                seq = checkpoint.seq,
                "checkpoint without stage state; not written"
            );
            continue;
        };
        for o in &checkpoint.offsets {
            offsets.insert((o.topic.clone(), o.partition), o.next);
        }
        let all: Vec<PartitionOffset> = offsets
            .iter()
            .map(|((topic, partition), next)| PartitionOffset {
                topic: topic.clone(),
                partition: *partition,
                next: *next,
            })
            .collect();
        if !carried.is_empty() {
            carried.retain(|window| window.position() >= analysis.keep_from);
            carried.append(&mut analysis.windows);
            analysis.windows = std::mem::take(&mut carried);
        }
        let store = Arc::clone(&store);
        let (graph_bytes, windows) = (graph.len(), analysis.windows.len());
        let started = tokio::time::Instant::now();
        let written = tokio::task::spawn_blocking(move || {
            let offsets = serde_json::to_vec(&all).unwrap_or_default();
            let put: [(&str, &[u8]); 2] = [(GRAPH_STATE_KEY, &graph), (OFFSETS_KEY, &offsets)];
            let result = write_with_journal(&store, &put, &analysis);
            (result, analysis.windows)
        })
        .await;
        match written {
            Ok((Ok(()), _)) => {
                tracing::debug!(
                    seq = checkpoint.seq,
                    graph_bytes,
                    windows,
                    "snapshot written"
                );
                metrics.written.inc();
                metrics.seconds.set(started.elapsed().as_secs_f64());
                metrics
                    .last_written
                    .set(super::wall_clock_now().nanos() as f64 / 1e9);
                metrics.graph_bytes.set(graph_bytes as i64);
                metrics.journal_windows.inc_by(windows as u64);
            }
            Ok((Err(error), windows)) => {
                tracing::error!(%error, "snapshot could not be written; offsets stay uncommitted");
                metrics.failed.inc();
                carried = windows;
                continue;
            }
            Err(error) => {
                // The journal's new windows went with the panic: a restart
                // rebuilds from the windows that were stored (and says so).
                tracing::error!(%error, "snapshot writer panicked");
                metrics.failed.inc();
                continue;
            }
        }
        if let Some(durable) = &durable {
            if checkpoint.last {
                // The consumer is waiting for exactly this one.
                let _stopped = durable.send(checkpoint).await;
            } else if durable.try_send(checkpoint).is_err() {
                tracing::debug!("consumer busy; the next snapshot commits these offsets");
            }
        }
    }
}

/// Places a barrier every `interval` when no Kafka consumer does, until
/// `stop` is cancelled.
pub(super) async fn tick(
    interval: Duration,
    barriers: mpsc::Sender<Checkpoint>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut seq = 0;
    while tokio::select! { () = stop.cancelled() => false, _ = tick.tick() => true } {
        seq += 1;
        let barrier = Checkpoint {
            seq,
            ..Checkpoint::default()
        };
        // Full: the graph stage is busy; the next tick tries again.
        let _busy = barriers.try_send(barrier);
    }
}

/// The alerts each sink delivered, in the state store: an alert derived
/// again after a crash is not sent twice to a sink that has it; one whose
/// content changed is. Entries are keyed `SINK:ID`; an entry of the version
/// before (`ID` alone, recorded at admission for every sink) counts for
/// every sink.
#[derive(Debug)]
pub(super) struct AlertLedger {
    pub(super) store: Arc<StateStore>,
}

fn ledger_key(sink: Sink, id: &str) -> String {
    format!("{}:{id}", sink.as_str())
}

impl crate::emit::Ledger for AlertLedger {
    fn seen(&self, sink: Sink, alert: &Alert) -> bool {
        let Ok(content) = serde_json::to_vec(alert) else {
            return false;
        };
        let seen = |key: &str| self.store.emitted(key, &content);
        seen(&ledger_key(sink, &alert.id))
            .and_then(|found| if found { Ok(true) } else { seen(&alert.id) })
            .unwrap_or_else(|error| {
                tracing::warn!(%error, id = %alert.id, "cannot read the emitted-alert ledger; the alert may be sent twice");
                false
            })
    }

    fn knows(&self, sink: Sink, id: &str) -> bool {
        let knows = |key: &str| self.store.emitted_id(key);
        knows(&ledger_key(sink, id))
            .and_then(|found| if found { Ok(true) } else { knows(id) })
            .unwrap_or_else(|error| {
                tracing::warn!(%error, id, "cannot read the emitted-alert ledger; the alert is taken as sent");
                true
            })
    }

    fn record(&self, sink: Sink, alert: &Alert) {
        let Ok(content) = serde_json::to_vec(alert) else {
            return;
        };
        if let Err(error) = self.store.record_emitted(
            &ledger_key(sink, &alert.id),
            alert.detected_at.nanos(),
            &content,
        ) {
            tracing::warn!(%error, id = %alert.id, sink = sink.as_str(), "cannot record a delivered alert; it may be sent again after a crash");
        }
    }
}
