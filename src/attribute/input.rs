//! The inputs the scoring core needs, as plain structs. The release index
//! and the detector fill them; this module does not know how.
//!
//! Never does: compute anything beyond trivial accessors.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::model::{Anomaly, GraphSnapshot, ReleaseKey, SeriesStats, Timestamp};

/// One point of a rollout timeline: from `at` on, this share of the
/// service's traffic (and instances) runs the new version.
#[derive(Clone, Debug, PartialEq)]
pub struct SharePoint {
    /// Event time.
    pub at: Timestamp,
    /// Share of requests served by the new version, 0..=1.
    pub traffic_share: f64,
    /// Share of instances on the new version, 0..=1.
    pub instance_share: f64,
}

/// A release that may explain an anomaly.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Service, environment, version.
    pub key: ReleaseKey,
    /// The deployment event id, when an event announced the release.
    pub deployment_id: Option<String>,
    /// The version it replaces, when known.
    pub previous_version: Option<Arc<str>>,
    /// When the rollout started (event or first span), event time.
    pub started_at: Timestamp,
    /// When the new version first served traffic; `None` = use `started_at`.
    pub exposure_start: Option<Timestamp>,
    /// When the rollout completed (all traffic on the new version), if it did.
    pub finished_at: Option<Timestamp>,
    /// When it was rolled back, if it was.
    pub rolled_back_at: Option<Timestamp>,
    /// Rollout share over time, ascending by `at`.
    pub timeline: Vec<SharePoint>,
}

impl Candidate {
    /// When exposure began (`exposure_start`, else `started_at`).
    pub fn exposure(&self) -> Timestamp {
        self.exposure_start.unwrap_or(self.started_at)
    }

    /// Traffic share at `at` (step function of the timeline; 0 before it).
    pub fn share_at(&self, at: Timestamp) -> f64 {
        self.timeline
            .iter()
            .take_while(|p| p.at <= at)
            .last()
            .map_or(0.0, |p| p.traffic_share)
    }
}

/// One window of a split: the same series on the new and the old version.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SplitWindow {
    /// Window start, event time.
    pub start: Timestamp,
    /// Served by (or, for edges, sent from) the new version.
    pub new: SeriesStats,
    /// Served by (sent from) the old version, in the same window.
    pub old: SeriesStats,
}

/// Requests from the released service to one callee, split by the caller's version.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeSplitInput {
    /// The callee (or consumer, or topic's consumer).
    pub server: Arc<str>,
    /// Windows since exposure.
    pub windows: Vec<SplitWindow>,
}

/// How the released service's calls into one callee changed with the release.
#[derive(Clone, Debug, PartialEq)]
pub struct TrafficInput {
    /// The callee.
    pub server: Arc<str>,
    /// Calls per second before exposure (0 for a new edge).
    pub rate_before: f64,
    /// Calls per second since exposure.
    pub rate_after: f64,
    /// Requests per second the released service itself received before
    /// exposure; with `inbound_after`, it normalizes a traffic ramp away.
    /// 0 = unknown.
    pub inbound_before: f64,
    /// Requests per second the released service received since exposure.
    pub inbound_after: f64,
    /// The edge first appeared after exposure began.
    pub new_edge: bool,
}

/// A candidate and the evidence inputs gathered for it.
#[derive(Clone, Debug, PartialEq)]
pub struct CandidateInput {
    /// The release.
    pub candidate: Candidate,
    /// The released service's own server-side stats, new vs old version,
    /// per window since exposure.
    pub version_split: Vec<SplitWindow>,
    /// The released service on the old version before exposure, for a
    /// before/after comparison when no old instance remains (full rollout).
    pub baseline: Option<SeriesStats>,
    /// Outgoing edges split by the released service's version.
    pub edge_splits: Vec<EdgeSplitInput>,
    /// Outgoing call rates before and after exposure.
    pub traffic: Vec<TrafficInput>,
}

impl CandidateInput {
    /// An input with no evidence gathered yet.
    pub fn new(candidate: Candidate) -> Self {
        Self {
            candidate,
            version_split: Vec::new(),
            baseline: None,
            edge_splits: Vec::new(),
            traffic: Vec::new(),
        }
    }
}

/// The anomaly being explained and what else was anomalous around it.
#[derive(Clone, Debug)]
pub struct AnomalyContext<'a> {
    /// The anomaly.
    pub anomaly: &'a Anomaly,
    /// The graph at the time of detection.
    pub graph: &'a GraphSnapshot,
    /// Nodes with an anomaly at the same time (from detection).
    pub anomalous_nodes: BTreeSet<Arc<str>>,
    /// Edges `(client, server)` with an anomaly at the same time.
    pub anomalous_edges: BTreeSet<(Arc<str>, Arc<str>)>,
    /// The anomalous series' value per window (window start, value), from
    /// before the onset up to detection, for dose-response.
    pub timeline: Vec<(Timestamp, f64)>,
    /// Event time now (the watermark).
    pub now: Timestamp,
}

impl<'a> AnomalyContext<'a> {
    /// A context with no other anomalies and no timeline.
    pub fn new(anomaly: &'a Anomaly, graph: &'a GraphSnapshot, now: Timestamp) -> Self {
        Self {
            anomaly,
            graph,
            anomalous_nodes: BTreeSet::new(),
            anomalous_edges: BTreeSet::new(),
            timeline: Vec::new(),
            now,
        }
    }
}
