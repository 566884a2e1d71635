//! The bounded queue in front of every sink: the caller never waits; when
//! the queue is full the newest alert is dropped and counted (vector's
//! `WhenFull::DropNewest`). Alertmanager expects re-sends anyway, and a
//! slow sink must never stall detection.
//!
//! Never does: block, or grow.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::Delivery;
use super::metrics::{Metrics, Reason, Sink};

/// The producing end of one sink's queue.
#[derive(Clone, Debug)]
pub(crate) struct QueueTx {
    sink: Sink,
    tx: mpsc::Sender<Arc<Delivery>>,
    metrics: Metrics,
}

/// The consuming end.
#[derive(Debug)]
pub(crate) struct QueueRx {
    sink: Sink,
    rx: mpsc::Receiver<Arc<Delivery>>,
    metrics: Metrics,
}

pub(crate) fn queue(sink: Sink, capacity: usize, metrics: Metrics) -> (QueueTx, QueueRx) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        QueueTx {
            sink,
            tx,
            metrics: metrics.clone(),
        },
        QueueRx { sink, rx, metrics },
    )
}

impl QueueTx {
    /// The sink this queue feeds.
    pub(crate) fn sink(&self) -> Sink {
        self.sink
    }

    /// Enqueues without waiting; `false` when the alert was dropped.
    pub(crate) fn offer(&self, alert: Arc<Delivery>) -> bool {
        match self.tx.try_send(alert) {
            Ok(()) => {
                self.metrics.pushed(self.sink);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.dropped(self.sink, Reason::QueueFull, 1);
                crate::rate_limited!(
                    warn,
                    sink = self.sink.as_str(),
                    "alert queue full, newest alert dropped"
                );
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.metrics.dropped(self.sink, Reason::Closed, 1);
                false
            }
        }
    }
}

impl QueueRx {
    /// The next alert, or `None` once every producer is gone and the queue is empty.
    pub(crate) async fn recv(&mut self) -> Option<Arc<Delivery>> {
        let alert = self.rx.recv().await?;
        self.metrics.popped(self.sink);
        Some(alert)
    }

    /// Whether nothing is waiting right now.
    pub(crate) fn is_idle(&self) -> bool {
        self.rx.is_empty()
    }

    /// The next alert if one is waiting.
    pub(crate) fn try_recv(&mut self) -> Option<Arc<Delivery>> {
        let alert = self.rx.try_recv().ok()?;
        self.metrics.popped(self.sink);
        Some(alert)
    }
}
