//! Tests of the graph core through its public API, with hand-built batches.

mod bounds;
mod determinism;
mod pairing;
mod state;
mod windows;

use std::sync::Arc;

use crate::model::{
    EdgeSnapshot, GraphSnapshot, PeerAttrs, ResourceInfo, Span, SpanBatch, SpanId, SpanKind,
    SpanLink, Timestamp, TraceId,
};

use super::{Config, Graph, Settings};

/// Base event time of every test: 2023-11-14T22:13:20Z.
pub(super) const T0: u64 = 1_700_000_000 * Timestamp::SECOND;
pub(super) const MS: u64 = 1_000_000;
pub(super) const SEC: u64 = Timestamp::SECOND;

pub(super) fn settings() -> Settings {
    Config::default().validate().unwrap()
}

pub(super) fn settings_with(edit: impl FnOnce(&mut Config)) -> Settings {
    let mut config = Config::default();
    edit(&mut config);
    config.validate().unwrap()
}

pub(super) fn resource(service: &str) -> ResourceInfo {
    ResourceInfo {
        service: service.into(),
        namespace: None,
        version: None,
        environment: None,
        instance: None,
    }
}

pub(super) fn versioned(service: &str, version: &str, instance: &str) -> ResourceInfo {
    ResourceInfo {
        version: Some(version.into()),
        instance: Some(instance.into()),
        environment: Some("prod".into()),
        ..resource(service)
    }
}

pub(super) fn trace(n: u16) -> TraceId {
    let mut id = [0xabu8; 16];
    id[14..].copy_from_slice(&n.to_be_bytes());
    TraceId(id)
}

pub(super) fn span_id(n: u16) -> SpanId {
    let mut id = [0x5au8; 8];
    id[6..].copy_from_slice(&n.to_be_bytes());
    SpanId(id)
}

/// A span builder: `SpanSpec::new(kind, trace, id).parent(p).at(start_ms, end_ms)`.
#[derive(Clone, Debug)]
pub(super) struct SpanSpec(pub(super) Span);

impl SpanSpec {
    pub(super) fn new(kind: SpanKind, trace_n: u16, id: u16) -> Self {
        Self(Span {
            trace_id: trace(trace_n),
            span_id: span_id(id),
            parent_span_id: SpanId::default(),
            resource: 0,
            kind,
            start: Timestamp(T0),
            end: Timestamp(T0 + 10 * MS),
            error: false,
            operation: Arc::from("op"),
            peer: PeerAttrs::default(),
            links: Vec::new(),
        })
    }

    pub(super) fn parent(mut self, id: u16) -> Self {
        self.0.parent_span_id = span_id(id);
        self
    }

    /// Start and end, in ms after `T0`.
    pub(super) fn at(mut self, start_ms: u64, end_ms: u64) -> Self {
        self.0.start = Timestamp(T0 + start_ms * MS);
        self.0.end = Timestamp(T0 + end_ms * MS);
        self
    }

    pub(super) fn error(mut self) -> Self {
        self.0.error = true;
        self
    }

    pub(super) fn op(mut self, operation: &str) -> Self {
        self.0.operation = Arc::from(operation);
        self
    }

    pub(super) fn peer(mut self, edit: impl FnOnce(&mut PeerAttrs)) -> Self {
        edit(&mut self.0.peer);
        self
    }

    pub(super) fn link(mut self, trace_n: u16, id: u16) -> Self {
        self.0.links.push(SpanLink {
            trace_id: trace(trace_n),
            span_id: span_id(id),
        });
        self
    }
}

/// One batch from `(service, span)` pairs; resources are de-duplicated.
pub(super) fn batch(spans: &[(&ResourceInfo, SpanSpec)]) -> SpanBatch {
    let mut out = SpanBatch::default();
    for (resource, spec) in spans {
        let index = match out.resources.iter().position(|r| r == *resource) {
            Some(i) => i,
            None => {
                out.resources.push((*resource).clone());
                out.resources.len() - 1
            }
        };
        let mut span = spec.0.clone();
        span.resource = index as u32;
        out.spans.push(span);
    }
    out
}

pub(super) fn boxed(v: &str) -> Option<std::sync::Arc<str>> {
    Some(v.into())
}

/// `(client, server, connection type, requests, failed)` of every edge.
pub(super) fn edges(snapshot: &GraphSnapshot) -> Vec<(String, String, &'static str, u64, u64)> {
    snapshot
        .edges
        .iter()
        .map(|e| {
            (
                e.client.to_string(),
                e.server.to_string(),
                e.connection_type.as_str(),
                e.requests,
                e.failed,
            )
        })
        .collect()
}

pub(super) fn edge<'a>(
    snapshot: &'a GraphSnapshot,
    client: &str,
    server: &str,
) -> &'a EdgeSnapshot {
    snapshot
        .edges
        .iter()
        .find(|e| &*e.client == client && &*e.server == server)
        .unwrap_or_else(|| panic!("no edge {client} -> {server} in {:?}", edges(snapshot)))
}

pub(super) fn e(
    client: &str,
    server: &str,
    ct: &'static str,
    requests: u64,
    failed: u64,
) -> (String, String, &'static str, u64, u64) {
    (client.to_owned(), server.to_owned(), ct, requests, failed)
}

/// Runs `batches` through a fresh graph and finishes it.
pub(super) fn run_finished(
    settings: &Settings,
    batches: &[SpanBatch],
) -> (Graph, Vec<crate::model::WindowStats>) {
    let mut graph = Graph::new(settings);
    let mut windows = Vec::new();
    for b in batches {
        graph.observe(b);
        windows.extend(graph.take_closed_windows());
    }
    windows.extend(graph.finish());
    (graph, windows)
}
