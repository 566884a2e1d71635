//! The graph stage's async shell: batches in, closed windows and snapshots
//! out. The only async (and the only clock-reading) part of the stage.
//!
//! * Each batch is observed; closed windows are sent downstream, and
//!   awaiting that send **is** the backpressure (while detection is slow we
//!   stop reading spans, and ingest pushes back).
//! * Every `snapshot_interval` a snapshot is published on the `watch`.
//! * Live mode (`idle_advance` set): when no batch arrived for that long
//!   (wall clock), the watermark advances by the wall time that passed, so a
//!   quiet system still closes windows and expires halves.
//! * When input closes the task does **not** call [`Graph::finish`]: pending
//!   halves and open windows are state a restart must resume. It publishes a
//!   last snapshot and returns the graph for the caller to persist. Replay
//!   calls `finish` itself.
//!
//! Never does: I/O other than its channels, or block for long (one batch at
//! a time).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{self, Instant, MissedTickBehavior};

use crate::model::{GraphSnapshot, SpanBatch, WindowStats};

use super::engine::Graph;
use super::metrics::Metrics;

/// How the task drives the graph besides input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSettings {
    /// Live mode: advance the watermark with wall time after this long
    /// without input. `None` (replay): only data moves the watermark.
    pub idle_advance: Option<Duration>,
    /// How often a snapshot is published.
    pub snapshot_interval: Duration,
}

impl Default for TaskSettings {
    fn default() -> Self {
        Self {
            idle_advance: None,
            snapshot_interval: Duration::from_secs(1),
        }
    }
}

/// Runs the stage until `input` closes; returns the graph (not finished).
pub async fn run(
    mut graph: Graph,
    mut input: mpsc::Receiver<SpanBatch>,
    windows: mpsc::Sender<WindowStats>,
    snapshots: watch::Sender<Arc<GraphSnapshot>>,
    metrics: Metrics,
    settings: TaskSettings,
) -> Graph {
    let mut tick = time::interval(settings.snapshot_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_input = Instant::now();
    // Wall time up to which the watermark already accounts for idleness.
    let mut idle_mark = last_input;
    loop {
        tokio::select! {
            batch = input.recv() => {
                let Some(batch) = batch else { break }; // ingest has shut down
                let started = Instant::now();
                let outcome = graph.observe(&batch);
                metrics.observed(&outcome, started.elapsed());
                last_input = Instant::now();
                idle_mark = last_input;
                send_closed(&mut graph, &windows, &metrics).await;
            }
            _ = tick.tick() => {
                if let Some(idle) = settings.idle_advance {
                    let now = Instant::now();
                    if now.duration_since(last_input) >= idle {
                        let elapsed = now.duration_since(idle_mark);
                        idle_mark = now;
                        let to = graph.watermark().plus_nanos(elapsed.as_nanos() as u64);
                        let outcome = graph.advance_watermark(to);
                        metrics.advanced(&outcome);
                        send_closed(&mut graph, &windows, &metrics).await;
                    }
                }
                publish(&graph, &snapshots, &metrics);
            }
        }
    }
    publish(&graph, &snapshots, &metrics);
    tracing::info!(watermark = %graph.watermark(), pending = graph.pending(), "graph stage stopped");
    graph
}

async fn send_closed(graph: &mut Graph, windows: &mpsc::Sender<WindowStats>, metrics: &Metrics) {
    for window in graph.take_closed_windows() {
        let started = Instant::now();
        // Awaiting here *is* the backpressure.
        match windows.send(window).await {
            Ok(()) => metrics.window_sent(started.elapsed()),
            Err(_) => metrics.window_undelivered(),
        }
    }
}

fn publish(graph: &Graph, snapshots: &watch::Sender<Arc<GraphSnapshot>>, metrics: &Metrics) {
    snapshots.send_replace(Arc::new(graph.snapshot()));
    metrics.snapshot_published(graph);
}
