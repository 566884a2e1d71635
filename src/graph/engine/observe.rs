//! Pairing of one span with the halves held in the store (the rules are in
//! the [`crate::graph`] module docs): de-duplication, Zipkin-style shared
//! ids, clients answering waiting servers, servers finding their parent or
//! linked producers, and what an unanswered half will fall back to.
//!
//! Never does: update edges or windows itself (see [`super::record`]).

use std::borrow::Cow;
use std::sync::Arc;

use crate::model::{NodeKind, ResourceInfo, Span, SpanKind, Timestamp};

use super::super::naming;
use super::super::outcome::ObserveOutcome;
use super::super::pairing::{Fallback, Half, Key, Targets, key_of, trace_of};
use super::Graph;

/// The parts of one side of an edge that the edge needs. It borrows the
/// resource: reference-count updates are atomic operations, which stall
/// behind pending cache misses, so the per-span path avoids them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Side<'a> {
    pub(super) kind: SpanKind,
    pub(super) end: Timestamp,
    pub(super) duration_ns: u64,
    pub(super) error: bool,
    pub(super) resource: &'a Arc<ResourceInfo>,
}

impl<'a> Side<'a> {
    /// A held half's side; `resource` is the half's resource (cloned by the
    /// caller so the store can be changed while the side is in use).
    pub(super) fn of_half(half: &Half, resource: &'a Arc<ResourceInfo>) -> Self {
        Self {
            kind: half.kind,
            end: half.end,
            duration_ns: half.duration_ns,
            error: half.error,
            resource,
        }
    }

    pub(super) fn of_span(span: &Span, resource: &'a Arc<ResourceInfo>) -> Self {
        Self {
            kind: span.kind,
            end: span.end,
            duration_ns: span.duration_nanos(),
            error: span.error,
            resource,
        }
    }
}

impl Graph {
    pub(super) fn observe_span(
        &mut self,
        span: &Span,
        resource: &Arc<ResourceInfo>,
        out: &mut ObserveOutcome,
    ) {
        let key = key_of(&span.trace_id, &span.span_id);
        let client_side = matches!(span.kind, SpanKind::Client | SpanKind::Producer);
        let held = self.store.find(&key);
        if !client_side {
            // Server-side RED does not need a partner; count it before pairing.
            if held.is_some_and(|slot| !self.store.half(slot).is_client_side()) {
                out.duplicates += 1;
                return;
            }
            self.record_service(span, resource, out);
        }
        let this = Side::of_span(span, resource);
        if let Some(slot) = held {
            let held = self.store.half(slot);
            if held.is_client_side() == client_side {
                out.duplicates += 1;
                return;
            }
            // Zipkin-style shared span id: the client and the server span of
            // one call carry the same id. Pair them directly; the new span is
            // not held (the held one already de-duplicates the id).
            let held_resource = held.resource.clone();
            let held = Side::of_half(held, &held_resource);
            let (client, server) = if client_side {
                (&this, &held)
            } else {
                (&held, &this)
            };
            if self.within_ttl(client.end, server.end) {
                self.pair(client, server, span.trace_id, out);
                self.store.mark_paired(slot);
            }
            return;
        }
        if client_side {
            self.observe_client(span, key, this, out);
        } else {
            self.observe_server(span, key, this, out);
        }
    }

    pub(super) fn observe_client(
        &mut self,
        span: &Span,
        key: Key,
        this: Side<'_>,
        out: &mut ObserveOutcome,
    ) {
        let mut paired = false;
        if let Some(waiters) = self.store.take_waiters(&key) {
            for &waiter in waiters.as_slice() {
                let server = self.store.half(waiter);
                if server.is_client_side() || !self.within_ttl(this.end, server.end) {
                    continue;
                }
                let server_resource = server.resource.clone();
                let server = Side::of_half(server, &server_resource);
                self.pair(&this, &server, span.trace_id, out);
                self.store.mark_paired(waiter);
                paired = true;
            }
        }
        // A half that already paired expires silently: its fallback would
        // never be read, so the name lookup is skipped.
        let fallback = match span.kind {
            _ if paired => Fallback::Unpaired,
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
            resource: this.resource.clone(),
            targets: Targets::None,
            fallback,
            paired,
        };
        if !self.store.insert(key, half, &[]) {
            out.rejected_full += 1;
        }
    }

    pub(super) fn observe_server(
        &mut self,
        span: &Span,
        key: Key,
        this: Side<'_>,
        out: &mut ObserveOutcome,
    ) {
        let targets = targets_of(span);
        let mut paired = false;
        let mut wait_for: Vec<Key> = Vec::new();
        for target in targets.as_slice() {
            match self
                .store
                .find(target)
                .map(|slot| (slot, self.store.half(slot)))
            {
                Some((slot, client)) if client.is_client_side() => {
                    if self.within_ttl(client.end, this.end) {
                        let client_resource = client.resource.clone();
                        let client = Side::of_half(client, &client_resource);
                        self.pair(&client, &this, trace_of(target), out);
                        self.store.mark_paired(slot);
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
            resource: this.resource.clone(),
            targets,
            fallback,
            paired,
        };
        if !self.store.insert(key, half, &wait_for) {
            out.rejected_full += 1;
        }
    }

    /// A fallback whose name shares the node's allocation when it exists.
    pub(super) fn fallback(&self, name: Cow<'_, str>, kind: NodeKind, database: bool) -> Fallback {
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
