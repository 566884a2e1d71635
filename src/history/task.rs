//! The daemon's writer: [`History`] puts batches on a bounded queue that a
//! dedicated thread writes, one transaction each, so the analysis task
//! never waits on disk.
//!
//! When the queue is full (the disk is slower than windows close for longer
//! than `queue_batches` windows), the newest batch is DROPPED, counted in
//! `epicenter_history_dropped_total` and logged (rate limited): a gap in the
//! history is better than stalling detection. A failed write is counted,
//! logged, and the writer goes on with the next batch.
//!
//! Never does: block the caller, panic on a storage error, or reorder batches.

use tokio::sync::{mpsc, oneshot};

use super::HistoryError;
use super::metrics::Metrics;
use super::records::Batch;
use super::store::HistoryStore;

enum Command {
    Write(Box<Batch>),
    Close,
}

/// Queues batches for the writer thread; cheap to clone.
#[derive(Clone, Debug)]
pub struct History {
    tx: mpsc::Sender<Command>,
    metrics: Metrics,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Write(_) => f.write_str("Write"),
            Self::Close => f.write_str("Close"),
        }
    }
}

impl History {
    /// Queues `batch`; never waits.
    pub fn write(&self, batch: Batch) {
        if self.tx.try_send(Command::Write(Box::new(batch))).is_err() {
            self.metrics.dropped();
            crate::rate_limited!(warn, "history queue full or closed; batch dropped");
        }
    }
}

/// The writer thread; [`Writer::close`] stops it after it wrote everything
/// queued before.
#[derive(Debug)]
pub struct Writer {
    tx: mpsc::Sender<Command>,
    done: oneshot::Receiver<()>,
}

impl Writer {
    /// Writes what is queued and stops the thread.
    pub async fn close(self) {
        if self.tx.send(Command::Close).await.is_ok() {
            let _ignored = self.done.await;
        }
    }
}

/// Writes `batch` to `store`, recording the outcome in `metrics`; errors are
/// counted and logged, never returned (replay and the daemon share this).
pub fn write_logged(store: &HistoryStore, batch: &Batch, metrics: &Metrics) {
    match store.write(batch) {
        Ok(report) => metrics.written(report.rows, report.pruned, store.file_bytes()),
        Err(error) => {
            metrics.write_error();
            crate::rate_limited!(warn, %error, "history write failed; batch lost");
        }
    }
}

/// Starts the writer thread over `store`.
///
/// # Errors
/// When the thread cannot start.
pub fn start(
    store: HistoryStore,
    queue_batches: usize,
    metrics: Metrics,
) -> Result<(History, Writer), HistoryError> {
    let (tx, mut rx) = mpsc::channel::<Command>(queue_batches.max(1));
    let (done_tx, done) = oneshot::channel();
    let thread_metrics = metrics.clone();
    std::thread::Builder::new()
        .name("history-writer".into())
        .spawn(move || {
            while let Some(command) = rx.blocking_recv() {
                match command {
                    Command::Write(batch) => write_logged(&store, &batch, &thread_metrics),
                    Command::Close => break,
                }
            }
            let _ignored = done_tx.send(());
        })
        .map_err(HistoryError::Thread)?;
    Ok((
        History {
            tx: tx.clone(),
            metrics,
        },
        Writer { tx, done },
    ))
}
