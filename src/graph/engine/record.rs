//! Turning pairs and expired halves into updates of the edge table, the
//! node table and the open windows.
//!
//! Never does: decide what pairs (see [`super::observe`]).

use std::sync::Arc;

use crate::model::{ConnectionType, ResourceInfo, Span, SpanKind, Timestamp, TraceId};

use super::super::edges::{EdgeRef, Recorded, Request};
use super::super::nodes::Overflow;
use super::super::outcome::{AdvanceOutcome, EdgeDrops, Expiry, HalfKind, ObserveOutcome};
use super::super::pairing::{Fallback, Half, Key, trace_of};
use super::super::windows::{EdgeSample, ServiceSample};
use super::Graph;
use super::observe::Side;

/// One request to record on an edge; a missing resource is a virtual side.
struct EdgeRequest<'a> {
    key: EdgeRef<'a>,
    client: Option<&'a Arc<ResourceInfo>>,
    server: Option<&'a Arc<ResourceInfo>>,
    client_ns: u64,
    server_ns: u64,
    failed: bool,
    at: Timestamp,
    trace: TraceId,
}

impl Graph {
    pub(super) fn pair(
        &mut self,
        client: &Side<'_>,
        server: &Side<'_>,
        trace: TraceId,
        out: &mut ObserveOutcome,
    ) {
        let connection_type =
            if client.kind == SpanKind::Producer || server.kind == SpanKind::Consumer {
                ConnectionType::MessagingSystem
            } else {
                ConnectionType::Direct
            };
        let request = EdgeRequest {
            key: EdgeRef {
                client: &client.resource.service,
                server: &server.resource.service,
                connection_type,
            },
            client: Some(client.resource),
            server: Some(server.resource),
            client_ns: client.duration_ns,
            server_ns: server.duration_ns,
            failed: client.error || server.error,
            at: client.end,
            trace,
        };
        if self.record_edge(request, &mut out.edges_dropped) {
            out.edges_paired += 1;
        }
    }

    /// Expires one half: silently if it paired, else into a virtual edge or
    /// `unpaired`.
    pub(super) fn expire(&mut self, key: &Key, half: &Half, out: &mut AdvanceOutcome) {
        let Some(kind) = HalfKind::of(half.kind) else {
            return;
        };
        if half.paired {
            return;
        }
        let Fallback::Virtual {
            name,
            kind: node_kind,
            database,
        } = &half.fallback
        else {
            out.expired.add(kind, Expiry::Unpaired);
            return;
        };
        out.expired.add(
            kind,
            if *database {
                Expiry::Database
            } else {
                Expiry::VirtualNode
            },
        );
        let Some(name) = self.nodes.ensure(name, *node_kind, half.end) else {
            out.edges_dropped.node_limit += 1;
            return;
        };
        let service = &half.resource.service;
        let client_side = half.is_client_side();
        let connection_type = if *database {
            ConnectionType::Database
        } else {
            ConnectionType::VirtualNode
        };
        let (client, server) = if client_side {
            (service, &name)
        } else {
            (&name, service)
        };
        let request = EdgeRequest {
            key: EdgeRef {
                client,
                server,
                connection_type,
            },
            client: client_side.then_some(&half.resource),
            server: (!client_side).then_some(&half.resource),
            // The missing side copies the known one (Tempo does this for databases).
            client_ns: half.duration_ns,
            server_ns: half.duration_ns,
            failed: half.error,
            at: half.end,
            trace: trace_of(key),
        };
        self.record_edge(request, &mut out.edges_dropped);
    }

    /// Records a request on an edge and its window series. `false` when a
    /// cardinality limit dropped it.
    fn record_edge(&mut self, request: EdgeRequest<'_>, drops: &mut EdgeDrops) -> bool {
        let empty = &self.empty;
        let server_version = version_of(request.server, empty);
        let edge_request = Request {
            client_ns: request.client_ns,
            server_ns: request.server_ns,
            failed: request.failed,
            at: request.at,
            trace: request.trace,
            server_version,
        };
        match self.edges.record(request.key, edge_request) {
            Recorded::Full => {
                drops.edge_limit += 1;
                return false;
            }
            Recorded::Created => {
                self.nodes.add_edge(request.key.client);
                self.nodes.add_edge(request.key.server);
            }
            Recorded::Existing => {}
        }
        let environment = request
            .client
            .or(request.server)
            .and_then(|r| r.environment.as_ref())
            .unwrap_or(empty);
        let client_version = version_of(request.client, empty);
        let sample = EdgeSample {
            environment,
            client: request.key.client,
            server: request.key.server,
            connection_type: request.key.connection_type,
            client_version,
            server_version,
            latency_ns: request.server_ns,
            error: request.failed,
        };
        let recorded = self.windows.record_edge(request.at, sample);
        debug_assert!(recorded, "edge recorded into a closed window");
        true
    }

    pub(super) fn record_service(
        &mut self,
        span: &Span,
        resource: &Arc<ResourceInfo>,
        out: &mut ObserveOutcome,
    ) {
        let overflow = self
            .nodes
            .operation(&resource.service, &span.operation, span.end);
        let operation = match overflow {
            None => &span.operation,
            Some(reason) => {
                out.operations_overflowed += 1;
                out.operations_over_total += u64::from(reason == Overflow::Total);
                self.nodes.other()
            }
        };
        let sample = ServiceSample {
            environment: resource.environment.as_ref().unwrap_or(&self.empty),
            service: &resource.service,
            version: resource.version.as_ref().unwrap_or(&self.empty),
            operation,
            instance: resource.instance.as_ref().unwrap_or(&self.empty),
            latency_ns: span.duration_nanos(),
            error: span.error,
        };
        let recorded = self.windows.record_service(span.end, sample);
        debug_assert!(recorded, "span recorded into a closed window");
    }
}

/// The version of a side, or `empty` for a virtual side or an unversioned service.
fn version_of<'a>(resource: Option<&'a Arc<ResourceInfo>>, empty: &'a Arc<str>) -> &'a Arc<str> {
    resource.and_then(|r| r.version.as_ref()).unwrap_or(empty)
}
