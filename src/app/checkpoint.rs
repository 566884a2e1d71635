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

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::state::{GRAPH_STATE_KEY, JOURNAL_KEY};
use crate::model::{Alert, Checkpoint, PartitionOffset};
use crate::store::persist::StateStore;

/// Key of the Kafka offsets the stored state covers.
const OFFSETS_KEY: &str = "kafka_offsets";

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
) {
    // Offsets of partitions this member no longer owns stay: they are what
    // the kept state covers if a partition comes back.
    let mut offsets: BTreeMap<(String, i32), i64> = restored
        .into_iter()
        .map(|o| ((o.topic, o.partition), o.next))
        .collect();
    while let Some(mut checkpoint) = sealed.recv().await {
        let (Some(graph), Some(analysis)) = (checkpoint.graph.take(), checkpoint.analysis.take())
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
        let store = Arc::clone(&store);
        let written = tokio::task::spawn_blocking(move || {
            let offsets = serde_json::to_vec(&all).unwrap_or_default();
            store.write(
                &[(GRAPH_STATE_KEY, &graph), (OFFSETS_KEY, &offsets)],
                &[(JOURNAL_KEY, &analysis)],
            )
        })
        .await;
        match written {
            Ok(Ok(())) => tracing::debug!(seq = checkpoint.seq, "snapshot written"),
            Ok(Err(error)) => {
                tracing::error!(%error, "snapshot could not be written; offsets stay uncommitted");
                continue;
            }
            Err(error) => {
                tracing::error!(%error, "snapshot writer panicked");
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

/// The alerts already emitted, in the state store: an alert derived again
/// after a crash is not sent twice; one whose content changed is.
#[derive(Debug)]
pub(super) struct AlertLedger {
    pub(super) store: Arc<StateStore>,
}

impl crate::emit::Ledger for AlertLedger {
    fn seen(&self, alert: &Alert) -> bool {
        let Ok(content) = serde_json::to_vec(alert) else {
            return false;
        };
        self.store
            .emitted(&alert.id, &content)
            .unwrap_or_else(|error| {
                tracing::warn!(%error, id = %alert.id, "cannot read the emitted-alert ledger; the alert may be sent twice");
                false
            })
    }

    fn record(&self, alert: &Alert) {
        let Ok(content) = serde_json::to_vec(alert) else {
            return;
        };
        if let Err(error) =
            self.store
                .record_emitted(&alert.id, alert.detected_at.nanos(), &content)
        {
            tracing::warn!(%error, id = %alert.id, "cannot record an emitted alert; it may be sent again after a crash");
        }
    }
}
