//! The read-only view of the live graph that readers (API, metrics) get.

use std::sync::Arc;

use super::ids::TraceId;
use super::span::ConnectionType;
use super::time::Timestamp;

/// What a node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeKind {
    /// An instrumented service (it sent spans).
    Service,
    /// An inferred database (`db.*` attributes on a client span).
    Database,
    /// An inferred broker or topic (`messaging.*` attributes).
    Messaging,
    /// An inferred uninstrumented peer (`peer.service`, `server.address`, …).
    External,
    /// Callers outside the traced system (root server spans): Tempo's `user`.
    User,
}

impl NodeKind {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Database => "database",
            Self::Messaging => "messaging",
            Self::External => "external",
            Self::User => "user",
        }
    }
}

/// Cumulative latency distribution of an edge side, in Tempo's bucket layout.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BucketCounts {
    /// Upper bounds in seconds, ascending (`le`), without `+Inf`.
    pub bounds: Arc<[f64]>,
    /// Non-cumulative count per bound, plus one last entry for `+Inf`.
    pub counts: Vec<u64>,
    /// Sum of samples, seconds.
    pub sum: f64,
    /// Number of samples.
    pub count: u64,
    /// Latest exemplar per bucket (same length as `counts`): trace id and value.
    pub exemplars: Vec<Option<(TraceId, f64)>>,
}

/// One node of the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSnapshot {
    /// Node name (`service.name`, or the inferred peer's name).
    pub name: Arc<str>,
    /// What the node is.
    pub kind: NodeKind,
    /// `service.namespace`, when the service reported one.
    pub namespace: Option<Arc<str>>,
    /// Environments the node was seen in.
    pub environments: Vec<Arc<str>>,
    /// Versions seen recently, with the number of instances on each.
    pub versions: Vec<(Arc<str>, u32)>,
    /// First span seen, event time.
    pub first_seen: Timestamp,
    /// Last span seen, event time.
    pub last_seen: Timestamp,
}

/// One edge of the graph, with cumulative counters since it was first seen.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeSnapshot {
    /// Calling node.
    pub client: Arc<str>,
    /// Called node.
    pub server: Arc<str>,
    /// Tempo's `connection_type`.
    pub connection_type: ConnectionType,
    /// Paired requests.
    pub requests: u64,
    /// Failed requests (either side's status is an error).
    pub failed: u64,
    /// Client-side latency (client span duration).
    pub client_latency: BucketCounts,
    /// Server-side latency (server span duration).
    pub server_latency: BucketCounts,
    /// Client-side p50/p95/p99 over the edge's life, seconds.
    pub client_p: [f64; 3],
    /// Server-side p50/p95/p99 over the edge's life, seconds.
    pub server_p: [f64; 3],
    /// Requests and failures by the callee's version (empty version = unknown).
    pub by_server_version: Vec<(Arc<str>, u64, u64)>,
    /// First pairing, event time.
    pub first_seen: Timestamp,
    /// Last pairing, event time.
    pub last_seen: Timestamp,
}

/// Counters of the pairing store, for `/metrics` and the API.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PairingStats {
    /// Halves currently waiting for their counterpart.
    pub pending: u64,
    /// Spans that could not be paired and produced no edge, by span kind
    /// (Tempo/Alloy `traces_service_graph_unpaired_spans_total`).
    pub unpaired: u64,
    /// Halves rejected because the store was full (`…_dropped_spans_total`).
    pub dropped: u64,
}

/// An immutable picture of the graph at one watermark.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphSnapshot {
    /// The event-time watermark when the snapshot was taken.
    pub watermark: Timestamp,
    /// Nodes, sorted by name.
    pub nodes: Vec<NodeSnapshot>,
    /// Edges, sorted by (client, server, connection type).
    pub edges: Vec<EdgeSnapshot>,
    /// Pairing-store counters.
    pub pairing: PairingStats,
}
