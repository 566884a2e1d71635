//! The compact, normalized span model every source decodes into.
//!
//! Ingest resolves semantic-convention aliases (current and deprecated names)
//! once, at the edge, so later stages never look at raw attributes.

use std::sync::Arc;

use super::ids::{SpanId, TraceId};
use super::time::Timestamp;

/// Where a batch came from; a bounded label for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpanSource {
    /// OTLP/gRPC `TraceService/Export`.
    OtlpGrpc,
    /// OTLP/HTTP `POST /v1/traces`.
    OtlpHttp,
    /// A Kafka topic (`otlp_spans` by default).
    Kafka,
    /// A file read by `replay`.
    File,
}

impl SpanSource {
    /// Stable snake_case name for labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OtlpGrpc => "otlp_grpc",
            Self::OtlpHttp => "otlp_http",
            Self::Kafka => "kafka",
            Self::File => "file",
        }
    }
}

/// OTLP span kind; `UNSPECIFIED` is mapped to `Internal` as the spec allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    /// Internal work, or unspecified.
    #[default]
    Internal,
    /// Handles a synchronous request.
    Server,
    /// Issues a synchronous request.
    Client,
    /// Sends a message.
    Producer,
    /// Processes a message.
    Consumer,
}

impl SpanKind {
    /// Maps the OTLP enum number (unknown values become `Internal`).
    pub fn from_otlp(value: i32) -> Self {
        match value {
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => Self::Internal,
        }
    }

    /// The name Tempo uses in labels (`SPAN_KIND_SERVER`, …).
    pub fn as_otlp_name(self) -> &'static str {
        match self {
            Self::Internal => "SPAN_KIND_INTERNAL",
            Self::Server => "SPAN_KIND_SERVER",
            Self::Client => "SPAN_KIND_CLIENT",
            Self::Producer => "SPAN_KIND_PRODUCER",
            Self::Consumer => "SPAN_KIND_CONSUMER",
        }
    }
}

/// The `connection_type` label of a service-graph edge (Tempo's values).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum ConnectionType {
    /// A plain request between two instrumented services (label value `""`).
    #[default]
    Direct,
    /// One side is not instrumented and was inferred.
    VirtualNode,
    /// Producer to consumer through a broker.
    MessagingSystem,
    /// A client span to a database.
    Database,
}

impl ConnectionType {
    /// The exact Prometheus label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "",
            Self::VirtualNode => "virtual_node",
            Self::MessagingSystem => "messaging_system",
            Self::Database => "database",
        }
    }
}

/// Per-resource identity shared by all spans of one `ResourceSpans`.
///
/// Strings are `Arc<str>` so that every span of a resource shares one
/// allocation, and the graph stage can intern them further.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceInfo {
    /// `service.name`. Resources without it are rejected at ingest.
    pub service: Arc<str>,
    /// `service.namespace`, if set and non-empty.
    pub namespace: Option<Arc<str>>,
    /// `service.version`, falling back to `vcs.ref.head.revision`,
    /// `vcs.repository.ref.revision`, then `container.image.tags`.
    pub version: Option<Arc<str>>,
    /// `deployment.environment.name`, falling back to `deployment.environment`.
    pub environment: Option<Arc<str>>,
    /// `service.instance.id`, falling back to `k8s.pod.uid`, `k8s.pod.name`, `host.name`.
    pub instance: Option<Arc<str>>,
}

/// Attributes that name what a client, producer or server span talks to,
/// already resolved from current and deprecated semantic-convention names.
///
/// Strings are `Arc<str>` so that ingest can share one allocation between
/// all spans naming the same peer (readers use them as `&str`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerAttrs {
    /// `service.peer.name`, else `peer.service`.
    pub peer_service: Option<Arc<str>>,
    /// `db.system.name`, else `db.system`.
    pub db_system: Option<Arc<str>>,
    /// `db.namespace`, else `db.name`.
    pub db_namespace: Option<Arc<str>>,
    /// `server.address`, else `net.peer.name` (client side only).
    pub server_address: Option<Arc<str>>,
    /// `server.port`, else `net.peer.port`.
    pub server_port: Option<u16>,
    /// `network.peer.address`, else `net.sock.peer.addr`.
    pub network_peer_address: Option<Arc<str>>,
    /// `network.peer.port`.
    pub network_peer_port: Option<u16>,
    /// `messaging.system`.
    pub messaging_system: Option<Arc<str>>,
    /// `messaging.destination.name`, else `messaging.destination`.
    pub messaging_destination: Option<Arc<str>>,
}

impl PeerAttrs {
    /// True when any database attribute is present (a database call).
    pub fn is_database(&self) -> bool {
        self.db_system.is_some() || self.db_namespace.is_some()
    }
}

/// A span link (producer ↔ consumer across traces, batch consumers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanLink {
    /// The linked span's trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
}

/// One normalized span.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// Non-zero trace id.
    pub trace_id: TraceId,
    /// Non-zero span id.
    pub span_id: SpanId,
    /// Zero for a root span.
    pub parent_span_id: SpanId,
    /// Index into [`SpanBatch::resources`].
    pub resource: u32,
    /// Span kind.
    pub kind: SpanKind,
    /// Start, event time.
    pub start: Timestamp,
    /// End, event time; never before `start` (ingest rejects such spans).
    pub end: Timestamp,
    /// Failure by status, then HTTP and RPC codes (CONVENTIONS.md §3.3).
    pub error: bool,
    /// The operation: `http.route` (with method) on servers when present, else the span name.
    pub operation: Arc<str>,
    /// Peer, database and messaging attributes.
    pub peer: PeerAttrs,
    /// Span links; empty for most spans (no allocation).
    pub links: Vec<SpanLink>,
}

impl Span {
    /// Duration in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        self.end.0.saturating_sub(self.start.0)
    }

    /// True for a root span (no parent).
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_zero()
    }
}

/// A decoded batch: one OTLP request, Kafka record or file line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanBatch {
    /// Resources referenced by `spans[i].resource`.
    pub resources: Vec<ResourceInfo>,
    /// Spans, in input order.
    pub spans: Vec<Span>,
}

impl SpanBatch {
    /// The resource of a span of this batch.
    ///
    /// # Panics
    /// If `span` did not come from this batch (its index is out of range).
    pub fn resource_of(&self, span: &Span) -> &ResourceInfo {
        &self.resources[span.resource as usize]
    }

    /// Number of spans.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there are no spans.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}
