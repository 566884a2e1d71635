//! Self-metrics of the graph stage, registered under `epicenter_graph_`.
//!
//! One method per event; the task calls them with the outcomes the core
//! returns. Labels are bounded enums (`reason`, `span_kind`, `result`), never
//! service names.
//!
//! Never does: decide anything; it only counts what the core reports.

use std::fmt::Write as _;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use super::engine::Graph;
use super::outcome::{AdvanceOutcome, EdgeDrops, Expiry, HalfKind, ObserveOutcome};

/// Why spans were ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiscardReason {
    /// Ended before the watermark.
    Late,
    /// Repeat of a held `(trace, span)`.
    Duplicate,
    /// The service would have exceeded `max_nodes`.
    NodeLimit,
    /// Out-of-range resource index (decoder bug).
    Invalid,
}

impl DiscardReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Late => "late",
            Self::Duplicate => "duplicate",
            Self::NodeLimit => "node_limit",
            Self::Invalid => "invalid",
        }
    }
}

/// Why an edge request was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitReason {
    /// A virtual node would have exceeded `max_nodes`.
    NodeLimit,
    /// A new edge would have exceeded `max_edges`.
    EdgeLimit,
}

macro_rules! label_value {
    ($($ty:ty),*) => {$(
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    )*};
}

impl LimitReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::NodeLimit => "node_limit",
            Self::EdgeLimit => "edge_limit",
        }
    }
}

/// Which limit sent an operation to `__other__`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperationLimit {
    /// `max_operations_per_service`.
    PerService,
    /// `max_operations` (over all services).
    Total,
}

impl OperationLimit {
    fn as_str(self) -> &'static str {
        match self {
            Self::PerService => "per_service",
            Self::Total => "total",
        }
    }
}

label_value!(DiscardReason, LimitReason, HalfKind, Expiry, OperationLimit);

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OperationLabels {
    limit: OperationLimit,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: DiscardReason,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LimitLabels {
    reason: LimitReason,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ExpiredLabels {
    span_kind: HalfKind,
    result: Expiry,
}

/// The graph stage's self-metrics. Cheap to clone (handles share state).
#[derive(Clone, Debug)]
pub struct Metrics {
    spans_received: Counter,
    spans_internal: Counter,
    spans_discarded: Family<ReasonLabels, Counter>,
    halves_rejected_full: Counter,
    edges_paired: Counter,
    edges_dropped: Family<LimitLabels, Counter>,
    expired: Family<ExpiredLabels, Counter>,
    operations_overflowed: Family<OperationLabels, Counter>,
    operations_tracked: Gauge,
    instances_untracked: Counter,
    windows_closed: Counter,
    windows_skipped: Counter,
    windows_sent: Counter,
    windows_undelivered: Counter,
    edges_removed_idle: Counter,
    nodes_removed_idle: Counter,
    snapshots_published: Counter,
    send_blocked_seconds: Counter<f64, AtomicU64>,
    observe_duration_seconds: Histogram,
    pending_halves: Gauge,
    held_halves: Gauge,
    edges: Gauge,
    nodes: Gauge,
    watermark_seconds: Gauge<f64, AtomicU64>,
}

impl Metrics {
    /// Registers every metric in `registry` (already prefixed `epicenter_graph`
    /// by the caller). Counters are registered without `_total`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            spans_received: Counter::default(),
            spans_internal: Counter::default(),
            spans_discarded: Family::default(),
            halves_rejected_full: Counter::default(),
            edges_paired: Counter::default(),
            edges_dropped: Family::default(),
            expired: Family::default(),
            operations_overflowed: Family::default(),
            operations_tracked: Gauge::default(),
            instances_untracked: Counter::default(),
            windows_closed: Counter::default(),
            windows_skipped: Counter::default(),
            windows_sent: Counter::default(),
            windows_undelivered: Counter::default(),
            edges_removed_idle: Counter::default(),
            nodes_removed_idle: Counter::default(),
            snapshots_published: Counter::default(),
            send_blocked_seconds: Counter::default(),
            observe_duration_seconds: Histogram::new(exponential_buckets(1e-5, 4.0, 10)),
            pending_halves: Gauge::default(),
            held_halves: Gauge::default(),
            edges: Gauge::default(),
            nodes: Gauge::default(),
            watermark_seconds: Gauge::default(),
        };
        let m = &metrics;
        registry.register(
            "spans_received",
            "Spans handed to the graph stage",
            m.spans_received.clone(),
        );
        registry.register(
            "spans_internal",
            "INTERNAL spans (update nodes, never pair)",
            m.spans_internal.clone(),
        );
        registry.register(
            "spans_discarded",
            "Spans ignored, by reason",
            m.spans_discarded.clone(),
        );
        registry.register(
            "halves_rejected_full",
            "Halves not held because the pairing store was full (max_pending_spans)",
            m.halves_rejected_full.clone(),
        );
        registry.register(
            "edges_paired",
            "Requests completed by pairing two spans",
            m.edges_paired.clone(),
        );
        registry.register(
            "edges_dropped",
            "Edge requests dropped by a cardinality limit",
            m.edges_dropped.clone(),
        );
        registry.register(
            "halves_expired",
            "Unpaired halves that expired, by span kind and what they became",
            m.expired.clone(),
        );
        registry.register(
            "operations_overflowed",
            "Server spans aggregated as __other__, by the limit reached",
            m.operations_overflowed.clone(),
        );
        registry.register(
            "operations",
            "Distinct operations tracked (per-operation series; max_operations)",
            m.operations_tracked.clone(),
        );
        registry.register(
            "instances_untracked",
            "Instance updates ignored (max_instances_per_service)",
            m.instances_untracked.clone(),
        );
        registry.register(
            "windows_closed",
            "Event-time windows closed",
            m.windows_closed.clone(),
        );
        registry.register(
            "windows_skipped",
            "Empty windows skipped after a long gap",
            m.windows_skipped.clone(),
        );
        registry.register(
            "windows_sent",
            "Closed windows delivered downstream",
            m.windows_sent.clone(),
        );
        registry.register(
            "windows_undelivered",
            "Closed windows dropped because downstream had stopped",
            m.windows_undelivered.clone(),
        );
        registry.register(
            "edges_removed_idle",
            "Edges that left the graph after edge_idle_secs",
            m.edges_removed_idle.clone(),
        );
        registry.register(
            "nodes_removed_idle",
            "Nodes that left the graph after edge_idle_secs",
            m.nodes_removed_idle.clone(),
        );
        registry.register(
            "snapshots_published",
            "Graph snapshots published to readers",
            m.snapshots_published.clone(),
        );
        registry.register(
            "send_blocked_seconds",
            "Time spent waiting for downstream to accept closed windows",
            m.send_blocked_seconds.clone(),
        );
        registry.register(
            "observe_duration_seconds",
            "Time to process one span batch",
            m.observe_duration_seconds.clone(),
        );
        registry.register(
            "pending_halves",
            "Halves waiting for their counterpart",
            m.pending_halves.clone(),
        );
        registry.register(
            "held_halves",
            "Halves held for pairing and de-duplication",
            m.held_halves.clone(),
        );
        registry.register("edges", "Edges in memory", m.edges.clone());
        registry.register("nodes", "Nodes in memory", m.nodes.clone());
        registry.register(
            "watermark_seconds",
            "Event-time watermark, Unix seconds",
            m.watermark_seconds.clone(),
        );
        metrics
    }

    /// One batch was observed, taking `took`.
    pub fn observed(&self, outcome: &ObserveOutcome, took: Duration) {
        self.spans_received.inc_by(outcome.spans);
        self.spans_internal.inc_by(outcome.internal);
        for (reason, count) in [
            (DiscardReason::Late, outcome.late),
            (DiscardReason::Duplicate, outcome.duplicates),
            (DiscardReason::NodeLimit, outcome.node_limit),
            (DiscardReason::Invalid, outcome.invalid),
        ] {
            if count > 0 {
                self.spans_discarded
                    .get_or_create(&ReasonLabels { reason })
                    .inc_by(count);
            }
        }
        if outcome.rejected_full > 0 {
            self.halves_rejected_full.inc_by(outcome.rejected_full);
            crate::rate_limited!(
                warn,
                rejected = outcome.rejected_full,
                "pairing store full, new halves rejected"
            );
        }
        self.edges_paired.inc_by(outcome.edges_paired);
        self.dropped(&outcome.edges_dropped);
        for (limit, count) in [
            (
                OperationLimit::PerService,
                outcome.operations_overflowed - outcome.operations_over_total,
            ),
            (OperationLimit::Total, outcome.operations_over_total),
        ] {
            if count > 0 {
                self.operations_overflowed
                    .get_or_create(&OperationLabels { limit })
                    .inc_by(count);
            }
        }
        self.instances_untracked.inc_by(outcome.instances_untracked);
        self.observe_duration_seconds.observe(took.as_secs_f64());
        self.advanced(&outcome.advance);
    }

    /// The watermark advanced (by a batch or by idle time).
    pub fn advanced(&self, outcome: &AdvanceOutcome) {
        for span_kind in HalfKind::ALL {
            for result in Expiry::ALL {
                let count = outcome.expired.get(span_kind, result);
                if count > 0 {
                    self.expired
                        .get_or_create(&ExpiredLabels { span_kind, result })
                        .inc_by(count);
                }
            }
        }
        self.dropped(&outcome.edges_dropped);
        self.windows_closed.inc_by(outcome.windows_closed);
        self.windows_skipped.inc_by(outcome.windows_skipped);
        self.edges_removed_idle.inc_by(outcome.edges_removed_idle);
        self.nodes_removed_idle.inc_by(outcome.nodes_removed_idle);
    }

    fn dropped(&self, drops: &EdgeDrops) {
        for (reason, count) in [
            (LimitReason::NodeLimit, drops.node_limit),
            (LimitReason::EdgeLimit, drops.edge_limit),
        ] {
            if count > 0 {
                self.edges_dropped
                    .get_or_create(&LimitLabels { reason })
                    .inc_by(count);
                crate::rate_limited!(
                    warn,
                    reason = reason.as_str(),
                    count,
                    "graph cardinality limit reached"
                );
            }
        }
    }

    /// A closed window was delivered after waiting `blocked` for downstream.
    pub fn window_sent(&self, blocked: Duration) {
        self.windows_sent.inc();
        self.send_blocked_seconds.inc_by(blocked.as_secs_f64());
    }

    /// Downstream is gone; a closed window was dropped.
    pub fn window_undelivered(&self) {
        self.windows_undelivered.inc();
        crate::rate_limited!(warn, "window consumer stopped, closed window dropped");
    }

    /// A snapshot was published; refreshes the size gauges.
    pub fn snapshot_published(&self, graph: &Graph) {
        self.snapshots_published.inc();
        self.gauges(graph);
    }

    /// Refreshes the size and watermark gauges.
    pub fn gauges(&self, graph: &Graph) {
        let (nodes, edges) = graph.sizes();
        self.pending_halves.set(graph.pending() as i64);
        self.held_halves.set(graph.held_halves() as i64);
        self.nodes.set(nodes as i64);
        self.edges.set(edges as i64);
        self.operations_tracked.set(graph.operations() as i64);
        self.watermark_seconds
            .set(graph.watermark().nanos() as f64 / 1e9);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::outcome::ExpiredCounts;

    #[test]
    fn outcomes_become_labelled_counters() {
        let mut registry = Registry::with_prefix("epicenter_graph");
        let metrics = Metrics::register(&mut registry);
        let mut expired = ExpiredCounts::default();
        expired.add(HalfKind::Server, Expiry::Unpaired);
        let outcome = ObserveOutcome {
            spans: 5,
            late: 2,
            edges_paired: 1,
            advance: AdvanceOutcome {
                expired,
                windows_closed: 1,
                ..AdvanceOutcome::default()
            },
            ..ObserveOutcome::default()
        };
        metrics.observed(&outcome, Duration::from_micros(30));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("epicenter_graph_spans_received_total 5"),
            "{text}"
        );
        assert!(text.contains(r#"epicenter_graph_spans_discarded_total{reason="late"} 2"#));
        assert!(text.contains(
            r#"epicenter_graph_halves_expired_total{span_kind="SPAN_KIND_SERVER",result="unpaired"} 1"#
        ));
        assert!(text.contains("epicenter_graph_windows_closed_total 1"));
        assert!(text.contains("epicenter_graph_observe_duration_seconds_count 1"));
    }
}
