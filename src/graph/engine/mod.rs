//! [`Graph`]: the synchronous, deterministic core of the stage.
//!
//! `observe` pairs spans and aggregates them, `advance_watermark` expires
//! halves and closes windows, `snapshot` shows the live graph. See the module
//! docs of [`crate::graph`] for the rules; this module wires the parts
//! (pairing store, nodes, edges, windows) together: [`observe`] pairs one
//! span with held halves, [`record`] turns pairs and expired halves into
//! edge and window updates.
//!
//! Never does: I/O, read a clock, log, or count metrics (it returns outcomes).

mod observe;
mod record;

use std::sync::Arc;

use crate::model::{
    GraphSnapshot, NodeKind, PairingStats, ResourceInfo, SpanBatch, SpanKind, Timestamp,
    WindowStats,
};

use super::config::Settings;
use super::edges::Edges;
use super::nodes::Nodes;
use super::outcome::{AdvanceOutcome, Expiry, ObserveOutcome};
use super::pairing::PairingStore;
use super::windows::Windows;

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
                (settings.max_operations, settings.max_operations_total),
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
            match slot {
                Resolved::Rejected => {
                    out.node_limit += 1;
                    continue;
                }
                Resolved::Ok { first, last, .. } => {
                    *first = (*first).min(span.end);
                    *last = (*last).max(span.end);
                }
                Resolved::Unresolved => {
                    let info = &batch.resources[span.resource as usize];
                    let Some(service) =
                        self.nodes
                            .ensure(&info.service, NodeKind::Service, span.end)
                    else {
                        *slot = Resolved::Rejected;
                        out.node_limit += 1;
                        continue;
                    };
                    *slot = Resolved::Ok {
                        // Shared across batches, so later lookups compare pointers.
                        info: Arc::new(self.windows.share_resource(info, service)),
                        first: span.end,
                        last: span.end,
                    };
                }
            }
            // Borrowed, not cloned: see `observe::Side`.
            let Resolved::Ok { info: resource, .. } = &*slot else {
                continue;
            };
            self.max_end = self.max_end.max(span.end);
            if span.kind == SpanKind::Internal {
                out.internal += 1;
                continue;
            }
            self.observe_span(span, resource, &mut out);
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

    /// Distinct operations tracked over all services (the `max_operations` budget).
    pub fn operations(&self) -> usize {
        self.nodes.operations()
    }

    fn visible_from(&self) -> Timestamp {
        self.watermark
            .minus_nanos(self.settings.ttl_ns + self.settings.idle_ns)
    }

    fn within_ttl(&self, a: Timestamp, b: Timestamp) -> bool {
        a.0.abs_diff(b.0) <= self.settings.ttl_ns
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
