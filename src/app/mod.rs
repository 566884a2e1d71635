//! Wiring only: builds every stage from validated [`Settings`], connects
//! them with bounded channels, starts them, and stops them in order.
//!
//! Shutdown order (STYLE.md §8.6): the token stops the sources (OTLP
//! receivers stop accepting, the Kafka consumer commits its stored offsets);
//! when the last source drops its sender the graph stage drains its queue
//! and returns; its state is then persisted to the data directory; the API
//! stops last so health checks answer until the end. Everything runs under
//! a grace timeout. A failing stage stops the whole daemon with an error.
//!
//! Crash safety (`snapshot.interval_secs`): barriers travel from the Kafka
//! consumer (or a timer) through the graph and analysis stages; the
//! [`checkpoint`] writer stores each sealed one in one transaction and hands
//! it back to the consumer, which then commits the offsets it covers.
//!
//! Never does: domain logic.

mod checkpoint;
pub mod cli;
pub mod demo;
pub mod graph_cmd;
mod incidents;
mod open;
pub mod query_cmd;
pub mod replay;
pub mod report_cmd;
pub mod report_sources;
mod state;

use open::{open_audit, open_history};
use state::{persist_graph, persist_journal, restore_graph, restore_journal};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::Settings;
use crate::graph;
use crate::ingest;
use crate::model::{Checkpoint, GraphOutput, SpanBatch};
use crate::store::persist::StateStore;
use crate::store::state::{Component, Health, SnapshotStore};

/// How long shutdown may take before the daemon gives up and exits non-zero.
const GRACE: Duration = Duration::from_secs(30);

/// Closed windows (and barriers) queued between the graph stage and the
/// analysis stage. A window waits here in full form, one `(SeriesKey,
/// SeriesStats)` per series: ≈8 MB for a 5,000-service fleet, so a long
/// queue is a large transient when analysis lags (64 → 8 measured there:
/// RSS at the end 1,274 → 1,174–1,205 MB); 8 windows are 80 s of event
/// time, and a lagging analysis holds the graph stage back instead.
const WINDOW_QUEUE: usize = 8;

/// A started daemon: its bound addresses and a handle to wait on.
pub struct Running {
    /// The API / metrics / health listener.
    pub api_addr: SocketAddr,
    /// The OTLP/gRPC listener, when enabled.
    pub otlp_grpc_addr: Option<SocketAddr>,
    /// The OTLP/HTTP listener, when enabled.
    pub otlp_http_addr: Option<SocketAddr>,
    /// The latest graph snapshot.
    pub snapshots: SnapshotStore,
    shutdown: CancellationToken,
    done: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Requests a graceful stop (same as SIGTERM).
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    /// Waits until the daemon has stopped.
    ///
    /// # Errors
    /// When a stage failed or shutdown exceeded the grace period.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.done.await.context("supervisor task panicked")?
    }
}

/// Runs the daemon until `shutdown` is cancelled.
///
/// # Errors
/// When a listener cannot be bound, the data directory cannot be opened,
/// or a stage fails.
pub async fn run(
    settings: Settings,
    registry: prometheus_client::registry::Registry,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    start(settings, registry, shutdown).await?.wait().await
}

/// Starts every stage and returns once all listeners are bound.
///
/// # Errors
/// When a listener cannot be bound or the data directory cannot be opened.
pub async fn start(
    settings: Settings,
    mut registry: prometheus_client::registry::Registry,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let store = StateStore::open(&settings.data_dir)
        .with_context(|| format!("opening data directory {}", settings.data_dir.display()))?;
    let store = Arc::new(store);
    let restored_offsets = checkpoint::restore_offsets(&store);
    let graph = restore_graph(&store, &settings.graph);
    // Audit log (issue 4): opened first so the configuration is its first
    // record of this run; closed (fsync) after the analysis task ends.
    let (audit, audit_writer) = open_audit(&settings, &mut registry)?;
    // Durable history (issue 4): written by its own thread, read by the API.
    let (history, history_writer, history_reader) = open_history(&settings, &mut registry)?;

    let graph_metrics = graph::Metrics::register(registry.sub_registry_with_prefix("graph"));
    let ingest_registry = registry.sub_registry_with_prefix("ingest");
    let otlp_metrics = ingest::otlp::Metrics::register(ingest_registry);
    // Deployment events: Kafka `cdevents` topics and POST /api/v1/deployments.
    let deploy_metrics = ingest::deploy::Metrics::register(ingest_registry);
    // Reported incidents: Kafka `incidents` topics and POST /api/v1/incidents.
    let incident_metrics = ingest::incident::Metrics::register(ingest_registry);
    let kafka_metrics = ingest::kafka::Metrics::register(ingest_registry)
        .with_deploy(deploy_metrics.clone())
        .with_incidents(incident_metrics.clone());
    let (deploy_tx, deploy_rx) = mpsc::channel::<crate::model::DeployEvent>(1024);
    let (incident_tx, incident_rx) = mpsc::channel::<crate::model::Incident>(256);

    let (span_tx, span_rx) = mpsc::channel::<SpanBatch>(settings.queue_batches);
    let (window_tx, window_rx) = mpsc::channel::<GraphOutput>(WINDOW_QUEUE);
    // Crash safety: the Kafka consumer's own span queue (the graph stage
    // counts its batches to place barriers), the barriers, the sealed
    // checkpoints for the writer, and the durable ones back to the consumer.
    let (kafka_tx, kafka_rx) = mpsc::channel::<SpanBatch>(settings.queue_batches);
    let (barrier_tx, barrier_rx) = mpsc::channel::<Checkpoint>(4);
    let (sealed_tx, sealed_rx) = mpsc::channel::<Checkpoint>(4);
    let (durable_tx, durable_rx) = mpsc::channel::<Checkpoint>(8);
    let mut durable_tx = Some(durable_tx);
    let (snapshots, snapshot_tx) = SnapshotStore::new();
    let health = Health::new();

    let api_listener = TcpListener::bind(settings.api.listen)
        .await
        .with_context(|| format!("binding the API listener on {}", settings.api.listen))?;
    let api_addr = api_listener.local_addr()?;

    let sources = CancellationToken::new();
    let (failed_tx, mut failed_rx) = mpsc::channel::<anyhow::Error>(4);
    let mut ingest_tasks: Vec<JoinHandle<anyhow::Result<()>>> = Vec::new();
    let (mut otlp_grpc_addr, mut otlp_http_addr) = (None, None);
    if settings.otlp.enabled {
        let grpc = TcpListener::bind(settings.otlp.grpc_listen)
            .await
            .with_context(|| format!("binding OTLP/gRPC on {}", settings.otlp.grpc_listen))?;
        let http = TcpListener::bind(settings.otlp.http_listen)
            .await
            .with_context(|| format!("binding OTLP/HTTP on {}", settings.otlp.http_listen))?;
        otlp_grpc_addr = Some(grpc.local_addr()?);
        otlp_http_addr = Some(http.local_addr()?);
        let sink = ingest::otlp::Sink::new(span_tx.clone(), &settings.otlp);
        let (m, s, t) = (otlp_metrics.clone(), sink.clone(), sources.clone());
        ingest_tasks.push(spawn_source(
            "otlp_grpc",
            async move { Ok(ingest::otlp::serve_grpc(grpc, s, m, t).await?) },
            &failed_tx,
        ));
        let (m, t) = (otlp_metrics.clone(), sources.clone());
        ingest_tasks.push(spawn_source(
            "otlp_http",
            async move { Ok(ingest::otlp::serve_http(http, sink, m, t).await?) },
            &failed_tx,
        ));
    }
    if let Some(kafka) = settings.kafka.clone() {
        // Ready once the group has assigned this consumer a partition; the
        // check runs until the daemon stops (a rebalance away unreadies it).
        health.expect(Component::Kafka);
        let (h, m, t) = (health.clone(), kafka_metrics.clone(), sources.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            while tokio::select! { _ = t.cancelled() => false, _ = tick.tick() => true } {
                h.set_ready(Component::Kafka, m.assigned_partitions() > 0);
            }
        });
        let (dtx, itx, t) = (deploy_tx.clone(), incident_tx.clone(), sources.clone());
        let consumer = match settings.snapshot_interval {
            Some(interval) => {
                let checkpointing = ingest::kafka::Checkpointing {
                    interval,
                    barriers: barrier_tx.clone(),
                    durable: durable_rx,
                    restored: restored_offsets.clone(),
                };
                let tx = kafka_tx.clone();
                Box::pin(async move {
                    Ok(ingest::kafka::run_consumer_with_snapshots(
                        kafka,
                        tx,
                        dtx,
                        itx,
                        kafka_metrics,
                        t,
                        checkpointing,
                    )
                    .await?)
                }) as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>
            }
            None => {
                let tx = span_tx.clone();
                Box::pin(async move {
                    Ok(ingest::kafka::run_consumer(kafka, tx, dtx, itx, kafka_metrics, t).await?)
                })
            }
        };
        ingest_tasks.push(spawn_source("kafka", consumer, &failed_tx));
    } else {
        durable_tx = None;
        if let Some(interval) = settings.snapshot_interval {
            tokio::spawn(checkpoint::tick(
                interval,
                barrier_tx.clone(),
                sources.clone(),
            ));
        }
    }
    if settings.snapshot_interval.is_none() {
        durable_tx = None;
    }
    drop((kafka_tx, barrier_tx));
    // The graph's input closes once every source has dropped its sender.
    drop(span_tx);
    drop(failed_tx);
    // The route lets go of `deploy_tx` when `sources` is cancelled, so
    // `deploy_rx` closes once Kafka has stopped too.
    let deploy_router = ingest::deploy::router(deploy_tx, deploy_metrics, sources.clone());
    let incident_router = ingest::incident::router(incident_tx, incident_metrics, sources.clone());

    let task_settings = settings.graph.task_settings();
    let graph_task = tokio::spawn(
        graph::task::run(
            graph,
            graph::Inputs {
                spans: span_rx,
                kafka: kafka_rx,
                barriers: barrier_rx,
            },
            window_tx,
            snapshot_tx,
            graph_metrics,
            task_settings,
        )
        .instrument(tracing::info_span!("graph")),
    );
    // Analysis: closed windows and deployment events in, alerts out. It ends
    // when the graph stage drops its window sender; its emitter clones drop
    // with it, and then each sink drains its queue and stops.
    let (emitter, emit_tasks) = crate::emit::start(
        &settings.emit,
        Arc::new(wall_clock_now),
        crate::emit::Metrics::register(registry.sub_registry_with_prefix("emit")),
    )
    .context("starting the alert sinks")?;
    let emitter = match settings.snapshot_interval {
        Some(_) => emitter.with_ledger(Arc::new(checkpoint::AlertLedger {
            store: Arc::clone(&store),
        })),
        None => emitter,
    };
    emitter.reconcile_file(&settings.emit);
    let writer = tokio::spawn(
        checkpoint::write(
            Arc::clone(&store),
            sealed_rx,
            durable_tx,
            restored_offsets,
            checkpoint::Metrics::register(registry.sub_registry_with_prefix("snapshot")),
        )
        .instrument(tracing::info_span!("snapshot")),
    );
    let sealed_tx = settings.snapshot_interval.map(|_| sealed_tx);
    let published = crate::store::analysis::Published::default();
    published.owners(settings.analysis.owners.all());
    let outputs = crate::analyze::task::Outputs {
        emitter,
        metrics: crate::analyze::Metrics::register(&mut registry),
        release_metrics: crate::release::Metrics::register(
            registry.sub_registry_with_prefix("release"),
        ),
        detect_metrics: crate::detect::metrics::Metrics::register(
            registry.sub_registry_with_prefix("detect"),
        ),
        published: published.clone(),
        audit,
        history,
        checkpoints: sealed_tx,
    };
    let (analyzer, journal, rebuilt_alerts) = restore_journal(&store, &settings.analysis);
    crate::analyze::task::send_unsent(rebuilt_alerts, &outputs);
    // Answered incidents come back from the history, pending ones from the
    // journal: `GET /api/v1/incidents` lists both after a restart.
    if let Some(reader) = &history_reader {
        match incidents::restore_answers(
            reader,
            &published,
            crate::store::analysis::RECENT_INCIDENTS,
        ) {
            Ok(count) => tracing::info!(count, "restored answered incidents from the history"),
            Err(error) => {
                tracing::warn!(%error, "cannot restore answered incidents from the history");
            }
        }
    }
    // Incidents pending at the last stop are pending again (API included).
    for incident in analyzer.pending_incidents() {
        published.incident_received(incident);
    }
    let analysis_task = tokio::spawn(
        crate::analyze::task::run(
            analyzer,
            journal,
            window_rx,
            deploy_rx,
            incident_rx,
            outputs,
        )
        .instrument(tracing::info_span!("analysis")),
    );

    let registry = Arc::new(registry);
    let api_state = crate::api::ApiState {
        snapshots: snapshots.clone(),
        health: health.clone(),
        registry: Arc::clone(&registry),
        graph_metrics: settings.api.graph_metrics.clone(),
        analysis: published,
        history: history_reader.map(|reader| crate::query::Context {
            reader,
            settings: settings.analysis.clone(),
        }),
    };
    let api_stop = CancellationToken::new();
    let api_stopped = api_stop.clone();
    let api_task = tokio::spawn(
        async move {
            axum::serve(
                api_listener,
                crate::api::router(api_state)
                    .merge(deploy_router)
                    .merge(incident_router),
            )
            .with_graceful_shutdown(api_stopped.cancelled_owned())
            .await
        }
        .instrument(tracing::info_span!("api")),
    );
    health.set_ready(Component::Graph, true);
    if otlp_grpc_addr.is_some() {
        health.set_ready(Component::OtlpGrpc, true);
        health.set_ready(Component::OtlpHttp, true);
    }
    tracing::info!(
        api = %api_addr,
        otlp_grpc = ?otlp_grpc_addr,
        otlp_http = ?otlp_http_addr,
        kafka = settings.kafka.is_some(),
        data_dir = %settings.data_dir.display(),
        "epicenter started"
    );

    let stopping = shutdown.clone();
    let done = tokio::spawn(async move {
        let failure = tokio::select! {
            _ = stopping.cancelled() => None,
            Some(error) = failed_rx.recv() => Some(error),
        };
        health.set_shutting_down();
        sources.cancel();
        let drained = tokio::time::timeout(GRACE, async {
            for task in ingest_tasks {
                if let Ok(Err(error)) = task.await {
                    tracing::error!(error = format!("{error:#}"), "source failed while stopping");
                }
            }
            let graph = graph_task.await.context("graph stage panicked")?;
            persist_graph(&store, &graph);
            let (_analyzer, mut journal) =
                analysis_task.await.context("analysis stage panicked")?;
            persist_journal(&store, &mut journal);
            let _ignored = writer.await;
            // Every audit handle went with the analysis task: write the rest, fsync.
            if let Some(writer) = audit_writer {
                writer.close().await;
            }
            if let Some(writer) = history_writer {
                writer.close().await;
            }
            for task in emit_tasks {
                let _ignored = task.await;
            }
            anyhow::Ok(())
        })
        .await;
        api_stop.cancel();
        let _ignored = api_task.await;
        match (failure, drained) {
            (Some(error), _) => Err(error),
            (None, Ok(result)) => result,
            (None, Err(_)) => anyhow::bail!("shutdown did not finish within {GRACE:?}"),
        }
    });
    Ok(Running {
        api_addr,
        otlp_grpc_addr,
        otlp_http_addr,
        snapshots,
        shutdown,
        done,
    })
}

/// The wall clock as event time: for live defaults such as the simulator's
/// start. Analysis never calls this.
pub fn wall_clock_now() -> crate::model::Timestamp {
    // The one sanctioned wall-clock read outside tokio's timers.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now();
    let nanos = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    crate::model::Timestamp(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Spawns a source whose failure (an error, not a clean stop) is reported on
/// `failed` so the supervisor can stop the daemon.
fn spawn_source<F>(
    name: &'static str,
    source: F,
    failed: &mpsc::Sender<anyhow::Error>,
) -> JoinHandle<anyhow::Result<()>>
where
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let failed = failed.clone();
    tokio::spawn(
        async move {
            let result = source.await;
            if let Err(error) = &result {
                let _ignored = failed.try_send(anyhow::anyhow!("{name}: {error:#}"));
            }
            result
        }
        .instrument(tracing::info_span!("source", name)),
    )
}
