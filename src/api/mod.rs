//! The HTTP API and `/metrics`, on one axum listener.
//!
//! Endpoints:
//!
//! | path | what |
//! |---|---|
//! | `GET /api/v1/graph` | nodes and edges as JSON; `?service=S&depth=N` for the neighbourhood of `S` (default depth 1, either direction); `?format=dot` for Graphviz |
//! | `GET /api/v1/services` | every node with kind, versions, environments and in/out degree |
//! | `GET /api/v1/services/{name}/dependencies` | what `name` calls; `?transitive=true` for everything reachable, with shortest path lengths and paths |
//! | `GET /api/v1/services/{name}/dependents` | who calls `name`; `?transitive=true` for its blast radius |
//! | `GET /api/v1/releases` | every release the index holds; `?since=T` (and `until`) answers from the durable history |
//! | `GET /api/v1/which-release?service=S&at=T` | (or `&from=T1&to=T2`, `&environment=E`) the releases that explain what happened to `S` then, in the alert's `suspects` shape ([`crate::query::which_release`]) |
//! | `GET /api/v1/releases/{service}@{version}` | what the release changed ([`crate::query::release_report`]) |
//! | `GET /api/v1/anomalies?since=T` | anomalies with an onset since `T` (`until` optional) |
//! | `GET /api/v1/history/alerts?since=T` | stored alerts since `T` |
//! | `GET /api/v1/impact/{service}` | blast radius and risk class; `?from=&to=` (default: the last hour held) |
//! | `GET /api/v1/series/{service}?from=&to=` | per-window requests, error ratio and latency (`&version=V`) |
//! | `GET /api/v1/alerts`, `/releases`, `/owners` | what the analysis stage published |
//! | `GET /api/v1/incidents`, `/api/v1/incidents/{id}` | reported incidents, `pending` or `answered` with the answer alert and culprit (`POST` is served by the ingest layer) |
//! | `GET /healthz` | liveness: 200 while the process serves |
//! | `GET /readyz` | readiness: 503 until every expected component is up, and during shutdown |
//! | `GET /metrics` | self-metrics plus the Tempo-compatible service-graph series ([`exposition`]) |
//!
//! Errors are JSON `{"error": "..."}` ([`ApiError`]). Unknown services are 404.
//!
//! Reads [`crate::store`] (the latest snapshot and the health flags) and,
//! through [`crate::query`], the durable history. Times accept RFC 3339 or
//! relative forms (`-2h`) counted back from the newest window held.
//! Never does: analysis, writes to stage state, reading the clock.

mod analysis;
pub mod config;
pub mod error;
pub mod exposition;
mod history;

mod dot;
mod handlers;
mod metrics;
mod topology;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::store::{Health, SnapshotStore};

pub use config::{Config, GraphMetricsConfig, Settings};
pub use error::ApiError;
pub use exposition::Format;

/// What the handlers read. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The latest graph snapshot.
    pub snapshots: SnapshotStore,
    /// Liveness and readiness.
    pub health: Health,
    /// Self-metrics, fully registered before the server starts.
    pub registry: Arc<Registry>,
    /// How the service-graph series are rendered on `/metrics`.
    pub graph_metrics: GraphMetricsConfig,
    /// Recent alerts and releases from the analysis stage.
    pub analysis: crate::store::analysis::Published,
    /// The durable history's queries; `None` when the daemon keeps none.
    pub history: Option<crate::query::Context>,
}

/// The graph as the API's JSON (`GET /api/v1/graph`), for `replay --graph`.
pub fn graph_json(snapshot: &crate::model::GraphSnapshot) -> serde_json::Value {
    serde_json::to_value(views::graph_view(snapshot, None)).unwrap_or(serde_json::Value::Null)
}

/// The API router (all endpoints above) over `state`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/graph", get(handlers::graph))
        .route("/api/v1/services", get(handlers::services))
        .route(
            "/api/v1/services/{name}/dependencies",
            get(handlers::dependencies),
        )
        .route(
            "/api/v1/services/{name}/dependents",
            get(handlers::dependents),
        )
        .route("/api/v1/alerts", get(analysis::alerts))
        .route("/api/v1/releases", get(analysis::releases))
        .route("/api/v1/owners", get(analysis::owners))
        .route("/api/v1/which-release", get(history::which_release))
        .route("/api/v1/releases/{release}", get(history::release))
        .route("/api/v1/anomalies", get(history::anomalies))
        .route("/api/v1/impact/{service}", get(history::impact))
        .route("/api/v1/series/{service}", get(history::series))
        .route("/api/v1/history/alerts", get(history::alerts))
        .route("/api/v1/incidents", get(analysis::incidents))
        .route("/api/v1/incidents/{id}", get(analysis::incident))
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/metrics", get(metrics::metrics))
        .fallback(handlers::not_found)
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` is cancelled, then lets
/// in-flight requests finish.
///
/// # Errors
/// An I/O error from accepting connections.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
