//! The async-safe handle: [`Audit`] puts records on a bounded queue that a
//! dedicated writer thread drains into the [`Log`], so no async task ever
//! waits on disk.
//!
//! When the queue is full (the disk is slower than the records arrive, for
//! longer than `queue_records` records), the new record is DROPPED, counted
//! in `epicenter_audit_dropped_total`, logged (rate limited), and the writer
//! writes a `dropped` record with the count before its next record, so the
//! gap in coverage is itself in the chain. Blocking the analysis task
//! instead would stall detection behind a slow disk.
//!
//! Never does: block the caller, or reorder records from one caller.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::metrics::Metrics;
use super::record::{self, Kind};
use super::segment::Log;
use super::{AuditError, Settings};
use crate::model::{Alert, DeployEvent, Timestamp};

/// The wall clock records are stamped with (`at`).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

enum Command {
    Record {
        at: Timestamp,
        kind: Kind,
        payload: Value,
    },
    Close,
}

/// Appends records; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<Command>,
    clock: Clock,
    metrics: Metrics,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").finish_non_exhaustive()
    }
}

impl Audit {
    /// Queues a record; never waits.
    pub fn record(&self, kind: Kind, payload: Value) {
        let at = (self.clock)();
        if self
            .tx
            .try_send(Command::Record { at, kind, payload })
            .is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            self.metrics.dropped();
            crate::rate_limited!(
                warn,
                kind = kind.as_str(),
                "audit queue full or closed; record dropped"
            );
        }
    }

    /// Records a deployment event as received.
    pub fn release_event(&self, event: &DeployEvent) {
        self.record(Kind::ReleaseEvent, record::release_event(event));
    }

    /// Records a reported incident as received.
    pub fn incident(&self, incident: &crate::model::Incident) {
        self.record(Kind::Incident, record::incident(incident));
    }

    /// Records an emitted alert (`verdict` for release verdicts).
    pub fn alert(&self, alert: &Alert) {
        let (kind, payload) = record::alert(alert);
        self.record(kind, payload);
    }

    /// Records the configuration the daemon started with: the hash of its
    /// (secret-masked) serialization and `summary`.
    pub fn config_loaded(&self, config: &Value, summary: Value) {
        self.record(Kind::ConfigLoaded, record::config_loaded(config, summary));
    }
}

/// The writer thread; [`Writer::close`] stops it after it wrote everything
/// queued before, and fsyncs.
#[derive(Debug)]
pub struct Writer {
    tx: mpsc::Sender<Command>,
    done: oneshot::Receiver<()>,
}

impl Writer {
    /// Writes what is queued, fsyncs, and stops the thread.
    pub async fn close(self) {
        if self.tx.send(Command::Close).await.is_ok() {
            let _ignored = self.done.await;
        }
    }
}

/// Opens the log in `data_dir` (see [`Log::open`]) and starts the writer
/// thread. A torn tail found on open is recorded first.
///
/// # Errors
/// When the log cannot be opened or the thread cannot start.
pub fn start(
    data_dir: &Path,
    settings: &Settings,
    clock: Clock,
    metrics: Metrics,
) -> Result<(Audit, Writer), AuditError> {
    let (mut log, torn) = Log::open(data_dir, settings.segment_bytes, settings.retain_segments)?;
    tracing::info!(
        next_seq = log.next_seq(),
        head = %log.head_hash(),
        "audit log opened"
    );
    let (tx, mut rx) = mpsc::channel::<Command>(settings.queue_records.max(1));
    let (done_tx, done) = oneshot::channel();
    let dropped = Arc::new(AtomicU64::new(0));
    let (thread_dropped, thread_metrics) = (Arc::clone(&dropped), metrics.clone());
    if let Some(torn) = torn {
        append(
            &mut log,
            &thread_metrics,
            clock(),
            Kind::TornTail,
            torn.payload(),
        );
    }
    std::thread::Builder::new()
        .name("audit-writer".into())
        .spawn(move || {
            while let Some(command) = rx.blocking_recv() {
                match command {
                    Command::Record { at, kind, payload } => {
                        let lost = thread_dropped.swap(0, Ordering::Relaxed);
                        if lost > 0 {
                            append(
                                &mut log,
                                &thread_metrics,
                                at,
                                Kind::Dropped,
                                json!({"count": lost}),
                            );
                        }
                        append(&mut log, &thread_metrics, at, kind, payload);
                    }
                    Command::Close => break,
                }
            }
            let lost = thread_dropped.swap(0, Ordering::Relaxed);
            if lost > 0 {
                tracing::warn!(count = lost, "audit records dropped before shutdown");
            }
            match log.sync() {
                Ok(()) => tracing::info!(next_seq = log.next_seq(), "audit log closed"),
                Err(error) => {
                    thread_metrics.write_error();
                    tracing::error!(%error, "audit log could not be synced");
                }
            }
            let _ignored = done_tx.send(());
        })
        .map_err(AuditError::Thread)?;
    Ok((
        Audit {
            tx: tx.clone(),
            clock,
            metrics,
            dropped,
        },
        Writer { tx, done },
    ))
}

fn append(log: &mut Log, metrics: &Metrics, at: Timestamp, kind: Kind, payload: Value) {
    match log.append(&at.to_rfc3339(), kind, payload) {
        Ok(_) => metrics.written(kind),
        Err(error) => {
            metrics.write_error();
            crate::rate_limited!(error, %error, kind = kind.as_str(), "audit record not written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verify::{Outcome, verify};

    fn clock() -> Clock {
        Arc::new(|| Timestamp(1_772_443_330 * Timestamp::SECOND))
    }

    #[tokio::test]
    async fn records_from_the_handle_reach_disk_in_order_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Metrics::default();
        let (audit, writer) =
            start(dir.path(), &Settings::default(), clock(), metrics.clone()).unwrap();
        audit.config_loaded(&json!({"a": 1}), json!({}));
        for i in 0..50 {
            audit.record(Kind::Alert, json!({"id": i}));
        }
        drop(audit);
        writer.close().await;
        assert_eq!(metrics.written_count(Kind::Alert), 50);
        assert_eq!(metrics.written_count(Kind::ConfigLoaded), 1);
        match verify(dir.path()).unwrap() {
            Outcome::Intact(report) => assert_eq!(report.records, 51),
            Outcome::Broken(broken) => panic!("{broken}"),
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_counts_and_records_the_drop() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Metrics::default();
        let settings = Settings {
            queue_records: 1,
            ..Settings::default()
        };
        let (audit, writer) = start(dir.path(), &settings, clock(), metrics.clone()).unwrap();
        // Faster than any disk: some of these find the queue full.
        for i in 0..2000 {
            audit.record(Kind::Alert, json!({"id": i}));
        }
        let dropped = metrics.dropped_count();
        assert!(dropped > 0, "nothing was dropped");
        // Send until one record is taken, so a `dropped` record precedes it.
        let mut sent = false;
        for _ in 0..1000 {
            let before = metrics.dropped_count();
            audit.record(Kind::Alert, json!({"id": "after"}));
            if metrics.dropped_count() == before {
                sent = true;
                break;
            }
            tokio::task::yield_now().await;
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(sent);
        drop(audit);
        writer.close().await;
        let Outcome::Intact(_) = verify(dir.path()).unwrap() else {
            panic!("chain broken");
        };
        let text = std::fs::read_to_string(dir.path().join("audit/segment-000001.jsonl")).unwrap();
        let recorded: u64 = text
            .lines()
            .map(|l| serde_json::from_str::<crate::audit::Record>(l).unwrap())
            .filter(|r| r.kind == "dropped")
            .map(|r| r.payload_value()["count"].as_u64().unwrap())
            .sum();
        assert!(recorded > 0, "no dropped record written");
        assert!(recorded <= metrics.dropped_count());
    }
}
