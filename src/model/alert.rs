//! Alerts: what Epicenter tells people, as the stable JSON schema
//! `epicenter.alert/v1` (ARCHITECTURE.md, "Outputs").
//!
//! The field names here are a public contract: fields may be added, never
//! renamed. Times are event time, serialized as RFC 3339 UTC. The `id` is
//! derived from what the alert is about (type, environment, series, signal,
//! onset window), never from when it was sent, so a re-sent or re-computed
//! alert keeps it.
//!
//! Never does: I/O, clock reads, or deciding anything; the `attribute` stage
//! builds alerts and the `emit` stage delivers them.

use serde::{Deserialize, Serialize};

use super::time::Timestamp;

mod id;
mod time_serde;

pub use id::{alert_id, incident_alert_id, series_label, series_scope, signal_name};
pub use time_serde::{rfc3339, rfc3339_opt};

/// The value of every alert's `schema` field.
pub const ALERT_SCHEMA: &str = "epicenter.alert/v1";

/// What an alert reports (`type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertType {
    /// An anomaly no release explains.
    Anomaly,
    /// An anomaly with ranked release suspects.
    Attribution,
    /// A release's verdict after its soak window.
    ReleaseVerdict,
    /// An earlier anomaly or attribution recovered.
    Resolved,
    /// Edges appeared or vanished.
    TopologyChange,
}

impl AlertType {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anomaly => "anomaly",
            Self::Attribution => "attribution",
            Self::ReleaseVerdict => "release_verdict",
            Self::Resolved => "resolved",
            Self::TopologyChange => "topology_change",
        }
    }
}

/// How urgent an alert is (Alertmanager `severity` label values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Page someone.
    Critical,
    /// Look soon.
    Warning,
    /// For the record.
    Info,
}

impl Severity {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// One alert, exactly as written to Kafka, files and (mapped) Alertmanager.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Always [`ALERT_SCHEMA`].
    pub schema: String,
    /// What the alert reports.
    #[serde(rename = "type")]
    pub kind: AlertType,
    /// Stable id (see [`alert_id`]).
    pub id: String,
    /// When Epicenter knew, in event time (end of the confirming window).
    #[serde(with = "rfc3339")]
    pub detected_at: Timestamp,
    /// The environment everything in the alert belongs to (empty when unknown).
    pub environment: String,
    /// The anomaly, for `anomaly`, `attribution` and `resolved` alerts.
    pub anomaly: Option<AlertAnomaly>,
    /// Services whose traffic is hit: the anomalous service and what depends on it.
    #[serde(default)]
    pub affected: Vec<String>,
    /// Releases suspected, best first (empty unless `attribution`).
    #[serde(default)]
    pub suspects: Vec<Suspect>,
    /// What to do, when there is something to do ("roll back payment to 1.4.0").
    #[serde(default)]
    pub recommendation: Option<String>,
    /// One human sentence.
    #[serde(default)]
    pub summary: String,
    /// How urgent.
    pub severity: Severity,
    /// For `resolved`: the id of the alert that recovered. For `attribution`:
    /// the id of the `anomaly` alert it supersedes, if one was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolves: Option<String>,
    /// For `release_verdict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<VerdictInfo>,
    /// For `topology_change`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<TopologyInfo>,
    /// Owners (from the owners file) of the alert's service and of the
    /// suspected or judged release's service, in that order, when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<OwnerRef>,
    /// For the answer to a reported incident: which one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentRef>,
}

/// The reported incident an alert answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRef {
    /// The reporter's incident id.
    pub id: String,
    /// The reporter's title.
    pub title: String,
    /// The service it was reported on.
    pub service: String,
    /// When it started, event time.
    #[serde(with = "rfc3339")]
    pub started_at: Timestamp,
    /// `plain`, `pagerduty` or `cdevent`.
    pub source: String,
}

/// Who owns a service, from the owners file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRef {
    /// The service.
    pub service: String,
    /// Owning team (Alertmanager label `team`).
    pub team: String,
    /// On-call channel, when given.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub channel: String,
    /// Criticality tier (1 = most critical), when given (label `tier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<u8>,
}

impl Alert {
    /// The service an alert is keyed by (Kafka key, Alertmanager `service`):
    /// the anomalous service, else the verdict's release, else the first
    /// changed edge's client.
    pub fn service(&self) -> &str {
        if let Some(anomaly) = &self.anomaly {
            return &anomaly.service;
        }
        if let Some(verdict) = &self.verdict {
            return &verdict.release.service;
        }
        if let Some(topology) = &self.topology
            && let Some(edge) = topology.added.first().or(topology.removed.first())
        {
            return &edge.client;
        }
        ""
    }

    /// The first suspect's release, if any.
    pub fn top_release(&self) -> Option<&ReleaseRef> {
        self.suspects.first().map(|s| &s.release)
    }

    /// `alerts` without every alert a later one with the same id replaces;
    /// order otherwise kept.
    pub fn last_of_each_id(alerts: Vec<Alert>) -> Vec<Alert> {
        let mut last = std::collections::HashMap::new();
        for (i, alert) in alerts.iter().enumerate() {
            last.insert(alert.id.clone(), i);
        }
        alerts
            .into_iter()
            .enumerate()
            .filter(|(i, alert)| last.get(&alert.id) == Some(i))
            .map(|(_, alert)| alert)
            .collect()
    }
}

/// The anomaly part of an alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertAnomaly {
    /// The anomalous service (for an edge series: the calling service).
    pub service: String,
    /// `error_ratio`, `latency_p50`, `latency_p95`, `latency_p99` or `throughput`.
    pub signal: String,
    /// Estimated start, event time.
    #[serde(with = "rfc3339")]
    pub onset: Timestamp,
    /// Baseline value (ratio, seconds, or requests per second).
    pub baseline: f64,
    /// Observed value.
    pub observed: f64,
    /// Where it most likely starts, best first.
    #[serde(default)]
    pub origins: Vec<AlertOrigin>,
    /// The series, rendered by [`series_label`] (`service:prod/checkout`).
    #[serde(default)]
    pub series: String,
    /// Significance reported by detection.
    #[serde(default)]
    pub significance: f64,
    /// Requests behind `observed`.
    #[serde(default)]
    pub requests: u64,
    /// When it recovered, event time.
    #[serde(default, with = "rfc3339_opt", skip_serializing_if = "Option::is_none")]
    pub recovered_at: Option<Timestamp>,
}

/// One ranked origin of an anomaly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertOrigin {
    /// Node name (a service, database or external node).
    pub service: String,
    /// 0..=1, higher is more likely.
    pub score: f64,
}

/// A release, as alerts name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRef {
    /// Service released.
    pub service: String,
    /// Version released.
    pub version: String,
    /// Environment released into.
    pub environment: String,
    /// Deployment event id, when an event announced it (absent for implicit releases).
    #[serde(default)]
    pub deployment_id: Option<String>,
    /// The version it replaced, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,
    /// When the rollout started, event time.
    #[serde(default, with = "rfc3339_opt", skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
}

/// One suspected release and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suspect {
    /// The release.
    pub release: ReleaseRef,
    /// Probability (0..=1) that this release caused the anomaly.
    pub confidence: f64,
    /// Every piece of evidence weighed, for and against.
    pub evidence: Vec<Evidence>,
}

/// One piece of evidence: its kind-specific fields, the log-likelihood ratio
/// it contributed to the confidence (natural log; negative = against), and a
/// sentence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Kind-specific fields; serialized flat, with the `kind` tag.
    #[serde(flatten)]
    pub detail: EvidenceDetail,
    /// Log-likelihood ratio contributed (natural log).
    pub llr: f64,
    /// One human sentence.
    pub summary: String,
}

impl Evidence {
    /// The `kind` string.
    pub fn kind(&self) -> &'static str {
        self.detail.kind()
    }
}

/// Why a piece of evidence counts against a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterReason {
    /// The new version serves as well as the old one, with enough traffic to tell.
    ReleasedServiceHealthy,
    /// The anomaly starts at an external or database node the release did not touch.
    ExternalOrigin,
    /// The anomaly began before the new version served any traffic.
    OnsetBeforeExposure,
    /// The released service has no dependency path to or from the anomalous one.
    NotConnected,
    /// The anomaly went on after the release was rolled back.
    PersistsAfterRollback,
}

impl CounterReason {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReleasedServiceHealthy => "released_service_healthy",
            Self::ExternalOrigin => "external_origin",
            Self::OnsetBeforeExposure => "onset_before_exposure",
            Self::NotConnected => "not_connected",
            Self::PersistsAfterRollback => "persists_after_rollback",
        }
    }
}

/// Kind-specific fields of [`Evidence`] (`kind` is the tag).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EvidenceDetail {
    /// New-version vs old-version instances of the released service, same windows.
    VersionSplit {
        /// The statistic compared (`error_ratio`, `latency_p95`, …).
        signal: String,
        /// Requests served by the new version.
        new_requests: u64,
        /// Value on the new version.
        new_value: f64,
        /// Requests served by the old version.
        old_requests: u64,
        /// Value on the old version.
        old_value: f64,
        /// Test statistic (z score; positive = new is worse).
        z: f64,
        /// `true` when the old side is the pre-release baseline rather than
        /// concurrent old instances (full rollout; weaker).
        before_after: bool,
    },
    /// A callee's requests split by the release's (caller's) version.
    EdgeSplit {
        /// The released (calling) service.
        client: String,
        /// The called node.
        server: String,
        /// Requests from the new version.
        new_requests: u64,
        /// Error ratio of requests from the new version.
        new_value: f64,
        /// Requests from the old version.
        old_requests: u64,
        /// Error ratio of requests from the old version.
        old_value: f64,
        /// Two-proportion z score (positive = new is worse).
        z: f64,
    },
    /// Onset relative to exposure.
    TemporalFit {
        /// When the new version first served traffic, event time.
        #[serde(with = "rfc3339")]
        exposure_start: Timestamp,
        /// Anomaly onset, event time.
        #[serde(with = "rfc3339")]
        onset: Timestamp,
        /// `onset - exposure_start`, seconds (negative = before).
        lag_secs: f64,
    },
    /// The anomaly's size follows the rollout's traffic share.
    DoseResponse {
        /// Pearson correlation of share and excess over the windows.
        correlation: f64,
        /// Windows compared.
        windows: u32,
    },
    /// The anomaly recovered after the release was rolled back.
    RollbackRecovery {
        /// Rollback time, event time.
        #[serde(with = "rfc3339")]
        rolled_back_at: Timestamp,
        /// Recovery time, event time.
        #[serde(with = "rfc3339")]
        recovered_at: Timestamp,
    },
    /// Where the released service sits relative to the anomalous one.
    TopologicalFit {
        /// The path, anomalous service first (or released service first when
        /// it is upstream), node names.
        path: Vec<String>,
        /// `same_service`, `downstream` (the anomalous service depends on the
        /// release) or `upstream` (the release calls into the anomalous service).
        relation: String,
        /// Edges along the path that are anomalous.
        anomalous_edges: u32,
        /// Score of the released service among the anomaly's origins (0 if absent).
        origin_score: f64,
    },
    /// The release changed the traffic it sends into the anomalous part of the graph.
    TrafficChange {
        /// The called node.
        server: String,
        /// Calls per second before exposure.
        rate_before: f64,
        /// Calls per second after exposure.
        rate_after: f64,
        /// The edge did not exist before the release.
        new_edge: bool,
    },
    /// Something that speaks against the release.
    CounterEvidence {
        /// What.
        reason: CounterReason,
    },
}

impl EvidenceDetail {
    /// The `kind` string.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::VersionSplit { .. } => "version_split",
            Self::EdgeSplit { .. } => "edge_split",
            Self::TemporalFit { .. } => "temporal_fit",
            Self::DoseResponse { .. } => "dose_response",
            Self::RollbackRecovery { .. } => "rollback_recovery",
            Self::TopologicalFit { .. } => "topological_fit",
            Self::TrafficChange { .. } => "traffic_change",
            Self::CounterEvidence { .. } => "counter_evidence",
        }
    }
}

/// A release's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// As good as the version it replaced.
    Healthy,
    /// Measurably worse, not an incident.
    Degraded,
    /// Worse enough to roll back.
    Failing,
    /// Too little traffic to tell.
    Inconclusive,
}

impl Verdict {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Failing => "failing",
            Self::Inconclusive => "inconclusive",
        }
    }
}

/// The `verdict` part of a `release_verdict` alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerdictInfo {
    /// The release judged.
    pub release: ReleaseRef,
    /// The verdict.
    pub verdict: Verdict,
    /// Soak window judged, seconds.
    pub soak_secs: u64,
    /// Evidence behind it (version split, attribution, counter-evidence).
    pub evidence: Vec<Evidence>,
    /// Onset to recovery of the anomaly the release caused, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mttr_secs: Option<f64>,
}

/// One edge in a topology change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeRef {
    /// Calling node.
    pub client: String,
    /// Called node.
    pub server: String,
}

/// The `topology` part of a `topology_change` alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopologyInfo {
    /// Edges that appeared.
    pub added: Vec<EdgeRef>,
    /// Edges that vanished.
    pub removed: Vec<EdgeRef>,
    /// The release that coincides, if any.
    #[serde(default)]
    pub release: Option<ReleaseRef>,
}

#[cfg(test)]
pub(crate) mod tests;
