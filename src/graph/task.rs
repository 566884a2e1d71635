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
//! * Checkpoints (crash safety): a barrier from the Kafka consumer names how
//!   many batches it had queued before it; right after taking exactly that
//!   many from the consumer's queue the task adds its encoded state to the
//!   barrier and sends it downstream behind the windows those batches closed
//!   (see [`crate::model::Checkpoint`]).
//!
//! Never does: I/O other than its channels, or block for long (one batch at
//! a time).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{self, Instant, MissedTickBehavior};

use crate::model::{Checkpoint, GraphOutput, GraphSnapshot, SpanBatch};

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

/// The stage's inputs.
#[derive(Debug)]
pub struct Inputs {
    /// Span batches from every source but Kafka (OTLP).
    pub spans: mpsc::Receiver<SpanBatch>,
    /// Span batches from the Kafka consumer, counted for its barriers.
    pub kafka: mpsc::Receiver<SpanBatch>,
    /// Barriers from the Kafka consumer (or the checkpoint timer).
    pub barriers: mpsc::Receiver<Checkpoint>,
}

impl From<mpsc::Receiver<SpanBatch>> for Inputs {
    /// One span queue, no Kafka queue and no barriers.
    fn from(spans: mpsc::Receiver<SpanBatch>) -> Self {
        let (_, kafka) = mpsc::channel(1);
        let (_, barriers) = mpsc::channel(1);
        Self {
            spans,
            kafka,
            barriers,
        }
    }
}

/// Runs the stage until every input closes; returns the graph (not finished).
pub async fn run(
    mut graph: Graph,
    mut input: Inputs,
    windows: mpsc::Sender<GraphOutput>,
    snapshots: watch::Sender<Arc<GraphSnapshot>>,
    metrics: Metrics,
    settings: TaskSettings,
) -> Graph {
    let mut tick = time::interval(settings.snapshot_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_input = Instant::now();
    // Wall time up to which the watermark already accounts for idleness.
    let mut idle_mark = last_input;
    let (mut spans_open, mut kafka_open, mut barriers_open) = (true, true, true);
    let mut barriers = Barriers::default();
    while spans_open || kafka_open || barriers_open {
        tokio::select! {
            batch = input.spans.recv(), if spans_open => {
                let Some(batch) = batch else { spans_open = false; continue };
                let started = Instant::now();
                let outcome = graph.observe(&batch);
                metrics.observed(&outcome, started.elapsed());
                last_input = Instant::now();
                idle_mark = last_input;
                send_closed(&mut graph, &windows, &metrics).await;
            }
            batch = input.kafka.recv(), if kafka_open => {
                let Some(batch) = batch else { kafka_open = false; continue };
                // A barrier queued before this batch was sent applies first.
                while let Ok(barrier) = input.barriers.try_recv() {
                    barriers.waiting.push_back(barrier);
                }
                barriers.apply_due(&graph, &windows).await;
                barriers.taken += 1;
                let started = Instant::now();
                let outcome = graph.observe(&batch);
                metrics.observed(&outcome, started.elapsed());
                last_input = Instant::now();
                idle_mark = last_input;
                send_closed(&mut graph, &windows, &metrics).await;
                barriers.apply_due(&graph, &windows).await;
            }
            barrier = input.barriers.recv(), if barriers_open => {
                let Some(barrier) = barrier else { barriers_open = false; continue };
                barriers.waiting.push_back(barrier);
                barriers.apply_due(&graph, &windows).await;
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
    // Every batch a barrier counted has been taken once its queue closed.
    barriers.taken = u64::MAX;
    barriers.apply_due(&graph, &windows).await;
    publish(&graph, &snapshots, &metrics);
    tracing::info!(watermark = %graph.watermark(), pending = graph.pending(), "graph stage stopped");
    graph
}

/// Barriers waiting for the Kafka batches sent before them.
#[derive(Debug, Default)]
struct Barriers {
    /// Batches taken from the Kafka queue so far.
    taken: u64,
    waiting: VecDeque<Checkpoint>,
    /// Size of the last graph state encoded: the next one starts with a
    /// buffer 1/8 larger (states change little between snapshots).
    state_len: usize,
}

impl Barriers {
    /// Sends every barrier whose batches have all been observed, with the
    /// graph's state, behind the windows they closed.
    async fn apply_due(&mut self, graph: &Graph, windows: &mpsc::Sender<GraphOutput>) {
        while self
            .waiting
            .front()
            .is_some_and(|b| b.batches <= self.taken)
        {
            let Some(mut barrier) = self.waiting.pop_front() else {
                return;
            };
            match graph.encode_state_sized(self.state_len + self.state_len / 8) {
                Ok(state) => {
                    self.state_len = state.len();
                    barrier.graph = Some(state);
                }
                Err(error) => tracing::error!(%error, "graph state could not be encoded"),
            }
            // Awaiting is backpressure, as for windows; a closed queue means
            // analysis has stopped and nobody waits for the barrier.
            let _stopped = windows.send(GraphOutput::Checkpoint(barrier)).await;
        }
    }
}

async fn send_closed(graph: &mut Graph, windows: &mpsc::Sender<GraphOutput>, metrics: &Metrics) {
    for window in graph.take_closed_windows() {
        let started = Instant::now();
        // Awaiting here *is* the backpressure.
        match windows.send(GraphOutput::Window(window)).await {
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
    use crate::model::{SpanKind::*, Timestamp, WindowStats};
    use prometheus_client::registry::Registry;
    use tokio::task::JoinHandle;

    struct Harness {
        input: mpsc::Sender<SpanBatch>,
        kafka: mpsc::Sender<SpanBatch>,
        barriers: mpsc::Sender<Checkpoint>,
        windows: mpsc::Receiver<GraphOutput>,
        snapshots: watch::Receiver<Arc<GraphSnapshot>>,
        task: JoinHandle<Graph>,
    }

    impl Harness {
        async fn next(&mut self) -> GraphOutput {
            self.windows.recv().await.unwrap()
        }

        async fn window(&mut self) -> WindowStats {
            match self.next().await {
                GraphOutput::Window(window) => window,
                other => panic!("expected a window, got {other:?}"),
            }
        }

        async fn close(self) -> Graph {
            drop((self.input, self.kafka, self.barriers));
            self.task.await.unwrap()
        }
    }

    fn start(task: TaskSettings, window_capacity: usize) -> Harness {
        let (input, spans) = mpsc::channel(1);
        let (kafka, kafka_rx) = mpsc::channel(1);
        let (barriers, barriers_rx) = mpsc::channel(4);
        let (windows_tx, windows) = mpsc::channel(window_capacity);
        let (snapshots_tx, snapshots) = watch::channel(Arc::new(GraphSnapshot::default()));
        let metrics = Metrics::register(&mut Registry::default());
        let graph = Graph::new(&settings());
        let inputs = Inputs {
            spans,
            kafka: kafka_rx,
            barriers: barriers_rx,
        };
        let task = tokio::spawn(run(graph, inputs, windows_tx, snapshots_tx, metrics, task));
        Harness {
            input,
            kafka,
            barriers,
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
        let window = h.window().await;
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
        let snapshots = h.snapshots.clone();
        let graph = h.close().await;
        assert_eq!(
            graph.pending(),
            1,
            "input closing does not finish the graph"
        );
        assert_eq!(
            snapshots.borrow().pairing.pending,
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
        let window = h.window().await;
        assert_eq!(window.start, Timestamp(T0));
        let watermark = h.snapshots.borrow().watermark;
        assert!(watermark >= Timestamp(T0 + 20 * SEC), "{watermark}");
        assert!(watermark < Timestamp(T0 + 22 * SEC), "{watermark}");
        h.close().await;
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
        let mut graph = h.close().await;
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
            h.window().await;
            received += 1;
        }
        let graph = h.close().await;
        assert_eq!(graph.watermark(), Timestamp(T0 + 51 * SEC));
    }

    #[tokio::test(start_paused = true)]
    async fn a_barrier_waits_for_the_kafka_batches_sent_before_it() {
        let mut h = start(TaskSettings::default(), 8);
        // The barrier arrives first but covers two Kafka batches.
        h.barriers
            .send(Checkpoint {
                seq: 1,
                batches: 2,
                ..Checkpoint::default()
            })
            .await
            .unwrap();
        h.kafka.send(pair_at_t0()).await.unwrap();
        h.kafka.send(internal_at(30_000)).await.unwrap();
        h.kafka.send(internal_at(60_000)).await.unwrap();
        assert_eq!(h.window().await.start, Timestamp(T0));
        let GraphOutput::Checkpoint(barrier) = h.next().await else {
            panic!("the barrier must follow the windows its batches closed");
        };
        assert_eq!(barrier.seq, 1);
        let state = crate::graph::GraphState::decode(barrier.graph.as_deref().unwrap()).unwrap();
        let restored = Graph::restore(&settings(), state).unwrap();
        assert_eq!(
            restored.watermark(),
            Timestamp(T0 + 20 * SEC),
            "state after exactly the two batches"
        );
        // The third batch's windows come after the barrier.
        assert_eq!(h.window().await.start, Timestamp(T0 + 10 * SEC));
        h.close().await;
    }
}
