//! What one call into the core did, as plain counts. `task.rs` turns these
//! into metrics; tests assert on them directly.
//!
//! Never does: hold state between calls or know about metrics.

use serde::{Deserialize, Serialize};

use crate::model::SpanKind;

/// The side a held half played, as a bounded label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HalfKind {
    /// A CLIENT span.
    Client,
    /// A SERVER span.
    Server,
    /// A PRODUCER span.
    Producer,
    /// A CONSUMER span.
    Consumer,
}

impl HalfKind {
    /// Every kind, in label order.
    pub const ALL: [Self; 4] = [Self::Client, Self::Server, Self::Producer, Self::Consumer];

    /// Tempo's label value (`SPAN_KIND_CLIENT`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "SPAN_KIND_CLIENT",
            Self::Server => "SPAN_KIND_SERVER",
            Self::Producer => "SPAN_KIND_PRODUCER",
            Self::Consumer => "SPAN_KIND_CONSUMER",
        }
    }

    /// `None` for INTERNAL spans, which never form edges.
    pub fn of(kind: SpanKind) -> Option<Self> {
        match kind {
            SpanKind::Client => Some(Self::Client),
            SpanKind::Server => Some(Self::Server),
            SpanKind::Producer => Some(Self::Producer),
            SpanKind::Consumer => Some(Self::Consumer),
            SpanKind::Internal => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What an unpaired half became when it expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// An edge to or from an inferred node (`virtual_node`): a named peer,
    /// a messaging node, or `user` for root server spans.
    VirtualNode,
    /// A database edge (a CLIENT span with `db.*` attributes that no SERVER
    /// span answered).
    Database,
    /// Nothing: no name to give the missing side (never `unknown`), or a
    /// non-root server/consumer whose caller was lost.
    Unpaired,
}

impl Expiry {
    /// Every result, in label order.
    pub const ALL: [Self; 3] = [Self::VirtualNode, Self::Database, Self::Unpaired];

    /// Stable snake_case label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VirtualNode => "virtual_node",
            Self::Database => "database",
            Self::Unpaired => "unpaired",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Expired unpaired halves by kind and result. Halves that formed an edge
/// expire silently (they were only kept for de-duplication and fan-out).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiredCounts([[u64; 3]; 4]);

impl ExpiredCounts {
    /// Count for one kind and result.
    pub fn get(&self, kind: HalfKind, result: Expiry) -> u64 {
        self.0[kind.index()][result.index()]
    }

    /// Count for one result, all kinds.
    pub fn total(&self, result: Expiry) -> u64 {
        HalfKind::ALL.iter().map(|k| self.get(*k, result)).sum()
    }

    pub(crate) fn add(&mut self, kind: HalfKind, result: Expiry) {
        self.0[kind.index()][result.index()] += 1;
    }

    pub(crate) fn merge(&mut self, other: &Self) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0.iter()) {
            for (a, b) in mine.iter_mut().zip(theirs.iter()) {
                *a += b;
            }
        }
    }
}

/// Edges that could not be recorded because a cardinality limit was hit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EdgeDrops {
    /// A virtual node would have exceeded `max_nodes`.
    pub node_limit: u64,
    /// A new edge would have exceeded `max_edges`.
    pub edge_limit: u64,
}

impl EdgeDrops {
    pub(crate) fn merge(&mut self, other: &Self) {
        self.node_limit += other.node_limit;
        self.edge_limit += other.edge_limit;
    }
}

/// What one watermark advance did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdvanceOutcome {
    /// Unpaired halves that expired, by kind and what they became.
    pub expired: ExpiredCounts,
    /// Edges lost to cardinality limits while expiring halves.
    pub edges_dropped: EdgeDrops,
    /// Windows closed (ready in [`super::Graph::take_closed_windows`]).
    pub windows_closed: u64,
    /// Empty windows skipped after a long gap (see `MAX_EMPTY_WINDOWS`).
    pub windows_skipped: u64,
    /// Edges that left the live graph after `edge_idle_secs` without traffic.
    pub edges_removed_idle: u64,
    /// Nodes that left the live graph (idle and without edges).
    pub nodes_removed_idle: u64,
}

impl AdvanceOutcome {
    pub(crate) fn merge(&mut self, other: &Self) {
        self.expired.merge(&other.expired);
        self.edges_dropped.merge(&other.edges_dropped);
        self.windows_closed += other.windows_closed;
        self.windows_skipped += other.windows_skipped;
        self.edges_removed_idle += other.edges_removed_idle;
        self.nodes_removed_idle += other.nodes_removed_idle;
    }
}

/// What one [`super::Graph::observe`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObserveOutcome {
    /// Spans in the batch.
    pub spans: u64,
    /// INTERNAL (or unspecified) spans: they update their node but never pair.
    pub internal: u64,
    /// Spans that ended before the watermark: ignored entirely (no pairing,
    /// no edge, no node, no window).
    pub late: u64,
    /// Repeats of a `(trace, span)` already held: ignored.
    pub duplicates: u64,
    /// Spans whose service would have exceeded `max_nodes`: ignored.
    pub node_limit: u64,
    /// Spans whose resource index is out of range (a decoder bug): ignored.
    pub invalid: u64,
    /// Instances not tracked because a service reached `max_instances_per_service`.
    pub instances_untracked: u64,
    /// Halves that could not be held because the store was full. An edge with
    /// a counterpart already held is still recorded; nothing waits for the span.
    pub rejected_full: u64,
    /// Edges completed by pairing two spans in this batch's processing.
    pub edges_paired: u64,
    /// Edges lost to cardinality limits while pairing.
    pub edges_dropped: EdgeDrops,
    /// Server spans whose operation was aggregated as `__other__`.
    pub operations_overflowed: u64,
    /// Of those, the spans that overflowed because the graph-wide
    /// `max_operations` was reached (the rest hit `max_operations_per_service`).
    pub operations_over_total: u64,
    /// The automatic watermark advance at the end of the batch.
    pub advance: AdvanceOutcome,
}

impl ObserveOutcome {
    pub(crate) fn merge(&mut self, other: &Self) {
        self.spans += other.spans;
        self.internal += other.internal;
        self.late += other.late;
        self.duplicates += other.duplicates;
        self.node_limit += other.node_limit;
        self.invalid += other.invalid;
        self.instances_untracked += other.instances_untracked;
        self.rejected_full += other.rejected_full;
        self.edges_paired += other.edges_paired;
        self.edges_dropped.merge(&other.edges_dropped);
        self.operations_overflowed += other.operations_overflowed;
        self.operations_over_total += other.operations_over_total;
        self.advance.merge(&other.advance);
    }
}
