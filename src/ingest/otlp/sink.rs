//! The hand-off from the receivers to the graph stage: a bounded queue
//! with a bounded wait, and the limits every request is checked against.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::{SendTimeoutError, TrySendError};
use tokio::time::Instant;

use super::config::Settings;
use crate::model::SpanBatch;

/// Where decoded batches go, and the receivers' request limits.
/// Cheap to clone; both receivers share one.
#[derive(Clone, Debug)]
pub struct Sink {
    tx: mpsc::Sender<SpanBatch>,
    /// Longest wait for room in the queue before refusing (backpressure).
    enqueue_timeout: Duration,
    /// Request limit after decompression, bytes.
    pub(crate) max_request_bytes: usize,
    /// Suggested delay for clients refused under backpressure.
    pub(crate) retry_after: Duration,
}

/// Why a batch could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendError {
    /// Still full after the enqueue timeout.
    Full,
    /// The receiving stage is gone.
    Closed,
}

impl Sink {
    /// A sink sending on `tx` with the limits of `settings`.
    pub fn new(tx: mpsc::Sender<SpanBatch>, settings: &Settings) -> Self {
        Self {
            tx,
            enqueue_timeout: settings.enqueue_timeout,
            max_request_bytes: settings.max_request_bytes,
            retry_after: settings.retry_after,
        }
    }

    /// Queues `batch`, waiting at most the enqueue timeout for room.
    /// Returns the outcome and how long the call was blocked.
    pub(crate) async fn send(&self, batch: SpanBatch) -> (Result<(), SendError>, Duration) {
        let batch = match self.tx.try_send(batch) {
            Ok(()) => return (Ok(()), Duration::ZERO),
            Err(TrySendError::Closed(_)) => return (Err(SendError::Closed), Duration::ZERO),
            Err(TrySendError::Full(batch)) => batch,
        };
        let started = Instant::now();
        let result = match self.tx.send_timeout(batch, self.enqueue_timeout).await {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Timeout(_)) => Err(SendError::Full),
            Err(SendTimeoutError::Closed(_)) => Err(SendError::Closed),
        };
        (result, started.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(timeout_ms: u64) -> Settings {
        Settings {
            enqueue_timeout: Duration::from_millis(timeout_ms),
            ..Settings::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_refuses_after_the_timeout_and_reports_the_wait() {
        let (tx, mut rx) = mpsc::channel(1);
        let sink = Sink::new(tx, &settings(250));
        assert_eq!(
            sink.send(SpanBatch::default()).await,
            (Ok(()), Duration::ZERO)
        );
        let (result, waited) = sink.send(SpanBatch::default()).await;
        assert_eq!(result, Err(SendError::Full));
        assert_eq!(waited, Duration::from_millis(250));
        assert!(rx.recv().await.is_some());
        assert_eq!(sink.send(SpanBatch::default()).await.0, Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_queue_is_reported_as_closed() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let sink = Sink::new(tx, &settings(250));
        assert_eq!(
            sink.send(SpanBatch::default()).await.0,
            Err(SendError::Closed)
        );
    }
}
