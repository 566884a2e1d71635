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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::{SEC, SpanSpec, T0, batch, boxed, resource, settings};
    use crate::model::{SpanKind::*, Timestamp};
    use prometheus_client::registry::Registry;
    use tokio::task::JoinHandle;

    struct Harness {
        input: mpsc::Sender<SpanBatch>,
        windows: mpsc::Receiver<WindowStats>,
        snapshots: watch::Receiver<Arc<GraphSnapshot>>,
        task: JoinHandle<Graph>,
    }

    fn start(task: TaskSettings, window_capacity: usize) -> Harness {
        let (input, input_rx) = mpsc::channel(1);
        let (windows_tx, windows) = mpsc::channel(window_capacity);
        let (snapshots_tx, snapshots) = watch::channel(Arc::new(GraphSnapshot::default()));
        let metrics = Metrics::register(&mut Registry::default());
        let graph = Graph::new(&settings());
        let task = tokio::spawn(run(
            graph,
            input_rx,
            windows_tx,
            snapshots_tx,
            metrics,
            task,
        ));
        Harness {
            input,
            windows,
            snapshots,
            task,
        }
    }

    fn live() -> TaskSettings {
        TaskSettings {
            idle_advance: Some(Duration::from_secs(5)),
            snapshot_interval: Duration::from_secs(1),
        }
    }

    fn pair_at_t0() -> SpanBatch {
        let (a, b) = (resource("a"), resource("b"));
        batch(&[
            (&a, SpanSpec::new(Client, 1, 1).at(0, 50)),
            (&b, SpanSpec::new(Server, 1, 2).parent(1).at(5, 40)),
        ])
    }

    fn internal_at(end_ms: u64) -> SpanBatch {
        batch(&[(
            &resource("a"),
            SpanSpec::new(Internal, 9, end_ms as u16).at(0, end_ms),
        )])
    }

    #[tokio::test(start_paused = true)]
    async fn batches_become_windows_and_snapshots_and_pending_state_survives_shutdown() {
        let mut h = start(TaskSettings::default(), 8);
        h.input.send(pair_at_t0()).await.unwrap();
        h.input.send(internal_at(30_000)).await.unwrap();
        let window = h.windows.recv().await.unwrap();
        assert_eq!(window.start, Timestamp(T0));
        assert_eq!(window.series.len(), 6);
        h.snapshots.wait_for(|s| s.edges.len() == 1).await.unwrap();
        let pending = batch(&[(
            &resource("a"),
            SpanSpec::new(Client, 2, 1)
                .at(25_000, 25_100)
                .peer(|p| p.peer_service = boxed("x")),
        )]);
        h.input.send(pending).await.unwrap();
        drop(h.input);
        let graph = h.task.await.unwrap();
        assert_eq!(
            graph.pending(),
            1,
            "input closing does not finish the graph"
        );
        assert_eq!(
            h.snapshots.borrow().pairing.pending,
            1,
            "a last snapshot is published"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_live_input_advances_the_watermark_with_wall_time() {
        let mut h = start(live(), 8);
        h.input.send(pair_at_t0()).await.unwrap();
        // The watermark starts at T0 + 50 ms - 10 s; window [T0, T0+10 s) needs
        // T0 + 20 s, so about 30 s of quiet wall time closes it.
        let window = h.windows.recv().await.unwrap();
        assert_eq!(window.start, Timestamp(T0));
        let watermark = h.snapshots.borrow().watermark;
        assert!(watermark >= Timestamp(T0 + 20 * SEC), "{watermark}");
        assert!(watermark < Timestamp(T0 + 22 * SEC), "{watermark}");
        drop(h.input);
        h.task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn replay_mode_only_moves_with_data() {
        let mut h = start(TaskSettings::default(), 8);
        h.input.send(pair_at_t0()).await.unwrap();
        time::sleep(Duration::from_secs(3600)).await;
        assert!(h.windows.try_recv().is_err());
        assert_eq!(
            h.snapshots.borrow().watermark,
            Timestamp(T0 + 50 * 1_000_000 - 10 * SEC)
        );
        drop(h.input);
        let mut graph = h.task.await.unwrap();
        assert_eq!(graph.finish().len(), 1, "replay finishes the graph itself");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_window_consumer_pushes_back_on_input() {
        let mut h = start(TaskSettings::default(), 1);
        h.input.send(pair_at_t0()).await.unwrap();
        // Closes four windows; only one fits downstream, so the task blocks.
        h.input.send(internal_at(60_000)).await.unwrap();
        h.input.send(internal_at(61_000)).await.unwrap();
        let blocked =
            time::timeout(Duration::from_secs(60), h.input.send(internal_at(62_000))).await;
        assert!(
            blocked.is_err(),
            "input must not be accepted while windows wait"
        );
        let mut received = 0;
        while received < 4 {
            h.windows.recv().await.unwrap();
            received += 1;
        }
        drop(h.input);
        let graph = h.task.await.unwrap();
        assert_eq!(graph.watermark(), Timestamp(T0 + 51 * SEC));
    }
}
