//! Per-window aggregates the graph stage closes, for baselines and detection.

use std::sync::Arc;

use super::span::ConnectionType;
use super::time::Timestamp;

/// Which series a [`SeriesStats`] belongs to. Every key carries the
/// environment (empty when unknown): a release only explains anomalies in its
/// own environment.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum SeriesKey {
    /// Server-side RED of a service (its SERVER and CONSUMER spans).
    Service {
        /// `deployment.environment.name`, or empty.
        environment: Arc<str>,
        /// Service (node) name.
        service: Arc<str>,
    },
    /// Requests over one edge, as paired by the graph.
    Edge {
        /// Environment of the client side, or empty.
        environment: Arc<str>,
        /// Calling node.
        client: Arc<str>,
        /// Called node.
        server: Arc<str>,
        /// Tempo's `connection_type`.
        connection_type: ConnectionType,
    },
    /// One edge, split by the caller's version (a caller release breaking its callee).
    EdgeByClientVersion {
        /// Environment, or empty.
        environment: Arc<str>,
        /// Calling node.
        client: Arc<str>,
        /// Calling version, or empty.
        client_version: Arc<str>,
        /// Called node.
        server: Arc<str>,
    },
    /// One edge, split by the callee's version.
    EdgeByServerVersion {
        /// Environment, or empty.
        environment: Arc<str>,
        /// Calling node.
        client: Arc<str>,
        /// Called node.
        server: Arc<str>,
        /// Called version, or empty.
        server_version: Arc<str>,
    },
    /// Server-side RED of one operation of a service.
    Operation {
        /// Environment, or empty.
        environment: Arc<str>,
        /// Service name.
        service: Arc<str>,
        /// Operation (route or span name), cardinality-limited by the graph.
        operation: Arc<str>,
    },
    /// Server-side RED of the instances of a service that run one version.
    ServiceVersion {
        /// Environment, or empty.
        environment: Arc<str>,
        /// Service name.
        service: Arc<str>,
        /// `service.version`, or empty.
        version: Arc<str>,
    },
}

/// Latency of one series in one window, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatencySummary {
    /// Samples recorded.
    pub count: u64,
    /// Sum of the samples.
    pub sum: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

/// Request, error and latency aggregates of one series in one window.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeriesStats {
    /// Requests (spans, or paired edges).
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Latency quantiles.
    pub latency: LatencySummary,
    /// Distinct instances seen (only for [`SeriesKey::Service`] and
    /// [`SeriesKey::ServiceVersion`]; 0 otherwise).
    pub instances: u32,
}

/// One closed window: `[start, end)` in event time. Windows close in order.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowStats {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
    /// Every series with traffic in the window, sorted by key (deterministic).
    pub series: Vec<(SeriesKey, SeriesStats)>,
}
