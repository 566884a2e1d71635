//! [`Graph`]: the synchronous, deterministic core of the stage.
//!
//! `observe` pairs spans and aggregates them, `advance_watermark` expires
//! halves and closes windows, `snapshot` shows the live graph. See the module
//! docs of [`crate::graph`] for the rules; this file wires the parts
//! (pairing store, nodes, edges, windows) together.
//!
//! Never does: I/O, read a clock, log, or count metrics (it returns outcomes).

use std::borrow::Cow;
use std::sync::Arc;

use crate::model::{
    ConnectionType, GraphSnapshot, NodeKind, PairingStats, ResourceInfo, Span, SpanBatch, SpanKind,
    Timestamp, TraceId, WindowStats,
};

use super::config::Settings;
use super::edges::{EdgeKey, Edges, Recorded, Request};
use super::naming;
use super::nodes::Nodes;
use super::outcome::{AdvanceOutcome, EdgeDrops, Expiry, HalfKind, ObserveOutcome};
use super::pairing::{Fallback, Half, Key, PairingStore, Targets, key_of, trace_of};
use super::windows::{EdgeSample, ServiceSample, Windows};

/// The event-time service graph. See [`crate::graph`].
#[derive(Debug)]
pub struct Graph {
    pub(crate) settings: Settings,
    /// Event-time watermark: `max end seen - lateness`, only moves forward.
    pub(crate) watermark: Timestamp,
    /// Greatest span end seen.
    pub(crate) max_end: Timestamp,
    pub(crate) store: PairingStore,
    pub(crate) nodes: Nodes,
    pub(crate) edges: Edges,
    pub(crate) windows: Windows,
    /// Closed windows not yet taken by the caller.
    pub(crate) closed: Vec<WindowStats>,
    /// Every outcome since the graph was created (restored with its state).
    pub(crate) totals: ObserveOutcome,
    empty: Arc<str>,
}

/// The parts of one side of an edge that the edge needs.
#[derive(Clone, Debug)]
struct Side {
    kind: SpanKind,
    end: Timestamp,
    duration_ns: u64,
    error: bool,
    resource: Arc<ResourceInfo>,
}

impl Side {
    fn of_half(half: &Half) -> Self {
        Self {
            kind: half.kind,
            end: half.end,
            duration_ns: half.duration_ns,
            error: half.error,
            resource: half.resource.clone(),
        }
    }

    fn of_span(span: &Span, resource: &Arc<ResourceInfo>) -> Self {
        Self {
            kind: span.kind,
            end: span.end,
            duration_ns: span.duration_nanos(),
            error: span.error,
            resource: resource.clone(),
        }
    }
}

/// One request to record on an edge; a missing resource is a virtual side.
struct EdgeRequest<'a> {
    key: EdgeKey,
    client: Option<&'a Arc<ResourceInfo>>,
    server: Option<&'a Arc<ResourceInfo>>,
    client_ns: u64,
    server_ns: u64,
    failed: bool,
    at: Timestamp,
    trace: TraceId,
}

/// A batch resource, resolved on its first non-late span.
#[derive(Clone)]
enum Resolved {
    Unresolved,
    Rejected,
    Ok {
        info: Arc<ResourceInfo>,
        first: Timestamp,
        last: Timestamp,
    },
}

impl Graph {
    /// An empty graph.
    pub fn new(settings: &Settings) -> Self {
        Self {
            store: PairingStore::new(settings.ttl_ns, settings.max_pending),
            nodes: Nodes::new(
                settings.max_nodes,
                settings.max_operations,
                settings.max_instances,
                settings.idle_ns,
            ),
            edges: Edges::new(
                settings.max_edges,
                settings.idle_ns,
                settings.bounds_ns.clone(),
            ),
            windows: Windows::new(settings.window_ns, settings.ttl_ns, settings.max_instances),
            settings: settings.clone(),
            watermark: Timestamp(0),
            max_end: Timestamp(0),
            closed: Vec::new(),
            totals: ObserveOutcome::default(),
            empty: Arc::from(""),
        }
    }

    /// The event-time watermark.
    pub fn watermark(&self) -> Timestamp {
        self.watermark
    }

    /// Everything observed since the graph was created (cumulative outcomes).
    pub fn totals(&self) -> &ObserveOutcome {
        &self.totals
    }

    /// Pairs and aggregates one batch, then advances the watermark to
    /// `max end seen - lateness` (expiring halves and closing windows).
    pub fn observe(&mut self, batch: &SpanBatch) -> ObserveOutcome {
        let mut out = ObserveOutcome {
            spans: batch.len() as u64,
            ..ObserveOutcome::default()
        };
        let watermark = self.watermark;
        let mut resources = vec![Resolved::Unresolved; batch.resources.len()];
        for span in &batch.spans {
            if span.end < watermark {
                out.late += 1;
                continue;
            }
            let Some(slot) = resources.get_mut(span.resource as usize) else {
                out.invalid += 1;
                continue;
            };
            let resource = match slot {
                Resolved::Rejected => {
                    out.node_limit += 1;
                    continue;
                }
                Resolved::Ok { info, first, last } => {
                    *first = (*first).min(span.end);
                    *last = (*last).max(span.end);
                    info.clone()
                }
                Resolved::Unresolved => {
                    let info = &batch.resources[span.resource as usize];
                    if self
                        .nodes
                        .ensure(&info.service, NodeKind::Service, span.end)
                        .is_none()
                    {
                        *slot = Resolved::Rejected;
                        out.node_limit += 1;
                        continue;
                    }
                    let info = Arc::new(info.clone());
                    *slot = Resolved::Ok {
                        info: info.clone(),
                        first: span.end,
                        last: span.end,
                    };
                    info
                }
            };
            self.max_end = self.max_end.max(span.end);
            if span.kind == SpanKind::Internal {
                out.internal += 1;
                continue;
            }
            self.observe_span(span, &resource, &mut out);
        }
        for slot in resources {
            if let Resolved::Ok { info, first, last } = slot {
                out.instances_untracked += self.nodes.touch_resource(&info, first).instances;
                if last != first {
                    out.instances_untracked += self.nodes.touch_resource(&info, last).instances;
                }
            }
        }
        out.advance = self.advance_to(self.max_end.minus_nanos(self.settings.lateness_ns));
        self.totals.merge(&out);
        out
    }

    /// Moves the watermark forward to `to` (never back), expiring halves and
    /// closing complete windows. Live mode calls this when input is idle.
    pub fn advance_watermark(&mut self, to: Timestamp) -> AdvanceOutcome {
        let out = self.advance_to(to);
        self.totals.advance.merge(&out);
        out
    }

    /// Windows closed since the last call, oldest first.
    pub fn take_closed_windows(&mut self) -> Vec<WindowStats> {
        std::mem::take(&mut self.closed)
    }

    /// End of input (replay): every held half expires (into virtual nodes or
    /// `unpaired`), every open window closes, and the watermark moves past
    /// them. Returns all closed windows not yet taken.
    pub fn finish(&mut self) -> Vec<WindowStats> {
        let mut out = AdvanceOutcome::default();
        while let Some((key, half)) = self.store.pop_expired(None) {
            self.expire(&key, &half, &mut out);
        }
        let closed = self.windows.close(None, &mut self.closed);
        out.windows_closed = closed.closed;
        out.windows_skipped = closed.skipped;
        if let Some(next) = self.windows.next {
            let past = Timestamp(next * self.settings.window_ns).plus_nanos(self.settings.ttl_ns);
            self.watermark = self.watermark.max(past);
        }
        self.totals.advance.merge(&out);
        self.take_closed_windows()
    }

    /// An immutable picture of the live graph (idle nodes and edges hidden).
    pub fn snapshot(&self) -> GraphSnapshot {
        let visible_from = self.visible_from();
        let version_from = self.watermark.minus_nanos(self.settings.version_horizon_ns);
        GraphSnapshot {
            watermark: self.watermark,
            nodes: self.nodes.snapshot(visible_from, version_from),
            edges: self.edges.snapshot(visible_from, &self.settings.bounds),
            pairing: PairingStats {
                pending: self.store.unpaired() as u64,
                unpaired: self.totals.advance.expired.total(Expiry::Unpaired),
                dropped: self.totals.rejected_full,
            },
        }
    }

    /// Halves held for pairing and de-duplication (the `max_pending_spans` budget).
    pub fn held_halves(&self) -> usize {
        self.store.len()
    }

    /// Halves still waiting for a counterpart.
    pub fn pending(&self) -> usize {
        self.store.unpaired()
    }

    /// Nodes and edges currently in memory (including idle ones not yet swept).
    pub fn sizes(&self) -> (usize, usize) {
        (self.nodes.len(), self.edges.len())
    }

    fn visible_from(&self) -> Timestamp {
        self.watermark
            .minus_nanos(self.settings.ttl_ns + self.settings.idle_ns)
    }

    fn within_ttl(&self, a: Timestamp, b: Timestamp) -> bool {
        a.0.abs_diff(b.0) <= self.settings.ttl_ns
    }

    fn observe_span(
        &mut self,
        span: &Span,
        resource: &Arc<ResourceInfo>,
        out: &mut ObserveOutcome,
    ) {
        let key = key_of(&span.trace_id, &span.span_id);
        let client_side = matches!(span.kind, SpanKind::Client | SpanKind::Producer);
        if !client_side {
            // Server-side RED does not need a partner; count it before pairing.
            if self
                .store
                .get(&key)
                .is_some_and(|held| !held.is_client_side())
            {
                out.duplicates += 1;
                return;
            }
            self.record_service(span, resource, out);
        }
        let this = Side::of_span(span, resource);
        if let Some(held) = self.store.get(&key) {
            if held.is_client_side() == client_side {
                out.duplicates += 1;
                return;
            }
            // Zipkin-style shared span id: the client and the server span of
            // one call carry the same id. Pair them directly; the new span is
            // not held (the held one already de-duplicates the id).
            let held = Side::of_half(held);
            let (client, server) = if client_side {
                (&this, &held)
            } else {
                (&held, &this)
            };
            if self.within_ttl(client.end, server.end) {
                self.pair(client, server, span.trace_id, out);
                self.store.mark_paired(&key);
            }
            return;
        }
        if client_side {
            self.observe_client(span, key, this, out);
        } else {
            self.observe_server(span, key, this, out);
        }
    }

    fn observe_client(&mut self, span: &Span, key: Key, this: Side, out: &mut ObserveOutcome) {
        let mut paired = false;
        if let Some(waiters) = self.store.take_waiters(&key) {
            for waiter in waiters.as_slice() {
                let Some(server) = self.store.get(waiter) else {
                    continue;
                };
                if server.is_client_side() || !self.within_ttl(this.end, server.end) {
                    continue;
                }
                let server = Side::of_half(server);
                self.pair(&this, &server, span.trace_id, out);
                self.store.mark_paired(waiter);
                paired = true;
            }
        }
        let fallback = match span.kind {
            SpanKind::Client if span.peer.is_database() => naming::database(&span.peer)
                .map(|n| self.fallback(n.name, n.kind, true))
                .unwrap_or(Fallback::Unpaired),
            kind => naming::virtual_server(kind, &span.peer)
                .map(|n| self.fallback(n.name, n.kind, false))
                .unwrap_or(Fallback::Unpaired),
        };
        let half = Half {
            kind: span.kind,
            end: span.end,
            duration_ns: this.duration_ns,
            error: span.error,
            resource: this.resource,
            targets: Targets::None,
            fallback,
            paired,
        };
        if !self.store.insert(key, half, &[]) {
            out.rejected_full += 1;
        }
    }

    fn observe_server(&mut self, span: &Span, key: Key, this: Side, out: &mut ObserveOutcome) {
        let targets = targets_of(span);
        let mut paired = false;
        let mut wait_for: Vec<Key> = Vec::new();
        for target in targets.as_slice() {
            match self.store.get(target) {
                Some(client) if client.is_client_side() => {
                    if self.within_ttl(client.end, this.end) {
                        let client = Side::of_half(client);
                        self.pair(&client, &this, trace_of(target), out);
                        self.store.mark_paired(target);
                        paired = true;
                    }
                }
                // A server-side span can never answer; an expired-then-repeated
                // client would be late. Nothing to wait for.
                Some(_) => {}
                None => wait_for.push(*target),
            }
        }
        let fallback = if span.is_root() {
            let name = naming::virtual_client(span.kind, &span.peer);
            self.fallback(name.name, name.kind, false)
        } else {
            Fallback::Unpaired
        };
        let half = Half {
            kind: span.kind,
            end: span.end,
            duration_ns: this.duration_ns,
            error: span.error,
            resource: this.resource,
            targets,
            fallback,
            paired,
        };
        if !self.store.insert(key, half, &wait_for) {
            out.rejected_full += 1;
        }
    }

    /// A fallback whose name shares the node's allocation when it exists.
    fn fallback(&self, name: Cow<'_, str>, kind: NodeKind, database: bool) -> Fallback {
        let name = match self.nodes.map.get_key_value(&*name) {
            Some((shared, _)) => shared.clone(),
            None => Arc::from(name.as_ref()),
        };
        Fallback::Virtual {
            name,
            kind,
            database,
        }
    }

    fn pair(&mut self, client: &Side, server: &Side, trace: TraceId, out: &mut ObserveOutcome) {
        let connection_type =
            if client.kind == SpanKind::Producer || server.kind == SpanKind::Consumer {
                ConnectionType::MessagingSystem
            } else {
                ConnectionType::Direct
            };
        let request = EdgeRequest {
            key: EdgeKey {
                client: client.resource.service.clone(),
                server: server.resource.service.clone(),
                connection_type,
            },
            client: Some(&client.resource),
            server: Some(&server.resource),
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
    fn expire(&mut self, key: &Key, half: &Half, out: &mut AdvanceOutcome) {
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
        let service = half.resource.service.clone();
        let client_side = half.is_client_side();
        let connection_type = if *database {
            ConnectionType::Database
        } else {
            ConnectionType::VirtualNode
        };
        let (client, server) = if client_side {
            (service, name)
        } else {
            (name, service)
        };
        let request = EdgeRequest {
            key: EdgeKey {
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
        let version_of = |r: Option<&Arc<ResourceInfo>>| r.and_then(|r| r.version.clone());
        let server_version = version_of(request.server).unwrap_or_else(|| self.empty.clone());
        let edge_request = Request {
            client_ns: request.client_ns,
            server_ns: request.server_ns,
            failed: request.failed,
            at: request.at,
            trace: request.trace,
            server_version: &server_version,
        };
        match self.edges.record(&request.key, edge_request) {
            Recorded::Full => {
                drops.edge_limit += 1;
                return false;
            }
            Recorded::Created => {
                self.nodes.add_edge(&request.key.client);
                self.nodes.add_edge(&request.key.server);
            }
            Recorded::Existing => {}
        }
        let environment = request
            .client
            .or(request.server)
            .and_then(|r| r.environment.clone())
            .unwrap_or_else(|| self.empty.clone());
        let client_version = version_of(request.client).unwrap_or_else(|| self.empty.clone());
        let sample = EdgeSample {
            environment: &environment,
            client: &request.key.client,
            server: &request.key.server,
            connection_type: request.key.connection_type,
            client_version: &client_version,
            server_version: &server_version,
            latency_ns: request.server_ns,
            error: request.failed,
        };
        let recorded = self.windows.record_edge(request.at, sample);
        debug_assert!(recorded, "edge recorded into a closed window");
        true
    }

    fn record_service(
        &mut self,
        span: &Span,
        resource: &Arc<ResourceInfo>,
        out: &mut ObserveOutcome,
    ) {
        let (operation, overflowed) =
            self.nodes
                .operation(&resource.service, &span.operation, span.end);
        out.operations_overflowed += u64::from(overflowed);
        let sample = ServiceSample {
            environment: resource.environment.as_ref().unwrap_or(&self.empty),
            service: &resource.service,
            version: resource.version.as_ref().unwrap_or(&self.empty),
            operation: &operation,
            instance: resource.instance.as_ref().unwrap_or(&self.empty),
            latency_ns: span.duration_nanos(),
            error: span.error,
        };
        let recorded = self.windows.record_service(span.end, sample);
        debug_assert!(recorded, "span recorded into a closed window");
    }

    fn advance_to(&mut self, to: Timestamp) -> AdvanceOutcome {
        let mut out = AdvanceOutcome::default();
        if to <= self.watermark {
            return out;
        }
        self.watermark = to;
        while let Some((key, half)) = self.store.pop_expired(Some(to)) {
            self.expire(&key, &half, &mut out);
        }
        let closed = self.windows.close(Some(to), &mut self.closed);
        out.windows_closed = closed.closed;
        out.windows_skipped = closed.skipped;
        if closed.closed + closed.skipped > 0 {
            self.sweep(&mut out);
        }
        out
    }

    /// Drops idle edges and nodes (see `edges.rs` for why timing cannot matter).
    fn sweep(&mut self, out: &mut AdvanceOutcome) {
        let visible_from = self.visible_from();
        let removed = self.edges.sweep(visible_from);
        out.edges_removed_idle += removed.len() as u64;
        for key in &removed {
            self.nodes.remove_edge(&key.client);
            self.nodes.remove_edge(&key.server);
        }
        let version_from = self.watermark.minus_nanos(self.settings.version_horizon_ns);
        out.nodes_removed_idle += self.nodes.sweep(visible_from, version_from);
    }
}

/// What a server-side span waits for: its parent, and for consumers every
/// linked span (batch consumers, producer → consumer across traces).
fn targets_of(span: &Span) -> Targets {
    let parent = (!span.is_root()).then(|| key_of(&span.trace_id, &span.parent_span_id));
    if span.kind != SpanKind::Consumer || span.links.is_empty() {
        return parent.map_or(Targets::None, Targets::One);
    }
    let mut keys: Vec<Key> = parent.into_iter().collect();
    keys.extend(
        span.links
            .iter()
            .map(|link| key_of(&link.trace_id, &link.span_id)),
    );
    keys.sort_unstable();
    keys.dedup();
    match keys.as_slice() {
        [] => Targets::None,
        [one] => Targets::One(*one),
        _ => Targets::Many(keys.into()),
    }
}
