//! What the history stores, as serde records (JSON in the store, and the
//! same JSON in the API): releases with their rollout timeline and verdict,
//! anomalies, incidents, edges with first and last seen, and the batch one
//! analysis step writes.
//!
//! Never does: I/O; conversions only.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::alert::{rfc3339, rfc3339_opt};
use crate::model::{
    AlertOrigin, Anomaly, Release, ReleaseKey, ReleaseOrigin, ReleaseRef, ReleaseState,
    TimelinePoint, Timestamp, Verdict, WindowStats, series_label, series_scope,
};

/// One point of a stored rollout timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineRecord {
    /// Window start.
    #[serde(with = "rfc3339")]
    pub at: Timestamp,
    /// Share of instances on the version, 0..=1.
    pub instance_share: f64,
    /// Share of requests served by the version, 0..=1.
    pub traffic_share: f64,
}

/// A release as last seen by the release index, with its verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// Service released.
    pub service: String,
    /// Environment, or empty.
    pub environment: String,
    /// Version.
    pub version: String,
    /// The version it replaced, when known.
    #[serde(default)]
    pub previous_version: Option<String>,
    /// Deployment event id (absent for implicit releases).
    #[serde(default)]
    pub deployment_id: Option<String>,
    /// The event's artifact id (purl).
    #[serde(default)]
    pub artifact_id: Option<String>,
    /// `cdevent`, `plain` or `implicit`.
    pub origin: String,
    /// `rolling`, `canary`, `complete`, `rolled_back`, `removed`, `superseded`.
    pub state: String,
    /// Rollout start.
    #[serde(with = "rfc3339")]
    pub started_at: Timestamp,
    /// First window the version served traffic.
    #[serde(default, with = "rfc3339_opt")]
    pub exposure_start: Option<Timestamp>,
    /// First window on (nearly) all instances.
    #[serde(default, with = "rfc3339_opt")]
    pub completed_at: Option<Timestamp>,
    /// When rolled back.
    #[serde(default, with = "rfc3339_opt")]
    pub rolled_back_at: Option<Timestamp>,
    /// The version rolled back to.
    #[serde(default)]
    pub rolled_back_to: Option<String>,
    /// Share over time.
    #[serde(default)]
    pub timeline: Vec<TimelineRecord>,
    /// The verdict after the soak window, once reached.
    #[serde(default)]
    pub verdict: Option<Verdict>,
}

fn origin_from(text: &str) -> ReleaseOrigin {
    match text {
        "cdevent" => ReleaseOrigin::CdEvent,
        "plain" => ReleaseOrigin::Plain,
        _ => ReleaseOrigin::Implicit,
    }
}

fn state_from(text: &str) -> ReleaseState {
    match text {
        "canary" => ReleaseState::Canary,
        "complete" => ReleaseState::Complete,
        "rolled_back" => ReleaseState::RolledBack,
        "removed" => ReleaseState::Removed,
        "superseded" => ReleaseState::Superseded,
        _ => ReleaseState::Rolling,
    }
}

impl ReleaseRecord {
    /// The record of `release`, with `verdict` when one was reached.
    pub fn from_release(release: &Release, verdict: Option<Verdict>) -> Self {
        Self {
            service: release.key.service.to_string(),
            environment: release.key.environment.to_string(),
            version: release.key.version.to_string(),
            previous_version: release.previous_version.as_deref().map(str::to_owned),
            deployment_id: release.deployment_id.clone(),
            artifact_id: release.artifact_id.clone(),
            origin: release.origin.as_str().to_owned(),
            state: release.state.as_str().to_owned(),
            started_at: release.started_at,
            exposure_start: release.exposure_start,
            completed_at: release.completed_at,
            rolled_back_at: release.rolled_back_at,
            rolled_back_to: release.rolled_back_to.as_deref().map(str::to_owned),
            timeline: release
                .timeline
                .iter()
                .map(|p| TimelineRecord {
                    at: p.at,
                    instance_share: p.instance_share,
                    traffic_share: p.traffic_share,
                })
                .collect(),
            verdict,
        }
    }

    /// The release as the release index knew it (for attribution).
    pub fn to_release(&self) -> Release {
        Release {
            key: self.key(),
            deployment_id: self.deployment_id.clone(),
            artifact_id: self.artifact_id.clone(),
            origin: origin_from(&self.origin),
            started_at: self.started_at,
            exposure_start: self.exposure_start,
            completed_at: self.completed_at,
            rolled_back_at: self.rolled_back_at,
            rolled_back_to: self.rolled_back_to.as_deref().map(Arc::from),
            previous_version: self.previous_version.as_deref().map(Arc::from),
            state: state_from(&self.state),
            timeline: self
                .timeline
                .iter()
                .map(|p| TimelinePoint {
                    at: p.at,
                    instance_share: p.instance_share,
                    traffic_share: p.traffic_share,
                })
                .collect(),
        }
    }

    /// Service, environment, version.
    pub fn key(&self) -> ReleaseKey {
        ReleaseKey {
            service: self.service.as_str().into(),
            environment: self.environment.as_str().into(),
            version: self.version.as_str().into(),
        }
    }

    /// The release as alerts name it.
    pub fn release_ref(&self) -> ReleaseRef {
        ReleaseRef {
            service: self.service.clone(),
            version: self.version.clone(),
            environment: self.environment.clone(),
            deployment_id: self.deployment_id.clone(),
            previous_version: self.previous_version.clone(),
            started_at: Some(self.started_at),
        }
    }

    /// When exposure began, else when the release started.
    pub fn exposure_or_start(&self) -> Timestamp {
        self.exposure_start.unwrap_or(self.started_at)
    }

    /// The store's identity of a release: environment, service, version.
    pub(crate) fn identity(&self) -> String {
        identity(&[&self.environment, &self.service, &self.version])
    }
}

/// Joins parts with the unit separator (never in a service name).
pub(crate) fn identity(parts: &[&str]) -> String {
    parts.join("\u{1f}")
}

/// An anomaly as detection last reported it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnomalyRecord {
    /// Detection's stable id.
    pub id: String,
    /// Environment, or empty.
    pub environment: String,
    /// The anomalous service (for an edge series: the caller).
    pub service: String,
    /// The series, as alerts render it (`service:prod/checkout`).
    pub series: String,
    /// `error_ratio`, `latency_p99`, …
    pub signal: String,
    /// Estimated start.
    #[serde(with = "rfc3339")]
    pub onset: Timestamp,
    /// End of the confirming window.
    #[serde(with = "rfc3339")]
    pub detected_at: Timestamp,
    /// Baseline value.
    pub baseline: f64,
    /// Observed value.
    pub observed: f64,
    /// Significance reported by detection.
    pub significance: f64,
    /// Requests behind `observed`.
    pub requests: u64,
    /// Where it most likely starts, best first.
    #[serde(default)]
    pub origins: Vec<AlertOrigin>,
    /// When it recovered.
    #[serde(default, with = "rfc3339_opt")]
    pub recovered_at: Option<Timestamp>,
}

impl AnomalyRecord {
    /// The record of `anomaly`.
    pub fn from_anomaly(anomaly: &Anomaly) -> Self {
        let (environment, service) = series_scope(&anomaly.series);
        Self {
            id: anomaly.id.clone(),
            environment: environment.to_owned(),
            service: service.to_owned(),
            series: series_label(&anomaly.series),
            signal: anomaly.signal.as_str().to_owned(),
            onset: anomaly.onset,
            detected_at: anomaly.detected_at,
            baseline: anomaly.baseline,
            observed: anomaly.observed,
            significance: anomaly.significance,
            requests: anomaly.requests,
            origins: anomaly
                .origins
                .iter()
                .map(|o| AlertOrigin {
                    service: o.node.clone(),
                    score: o.score,
                })
                .collect(),
            recovered_at: anomaly.recovered_at,
        }
    }
}

/// An incident declared from outside (Kafka `incidents`, the API), and the
/// alert that answered it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    /// The incident's id, as sent.
    pub id: String,
    /// The service it is about.
    pub service: String,
    /// Environment (the one the answer looked at, once answered), or empty.
    #[serde(default)]
    pub environment: String,
    /// The environment the reporter named, if any (rows written before this
    /// field existed read as none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_environment: Option<String>,
    /// When it started.
    #[serde(with = "rfc3339")]
    pub started_at: Timestamp,
    /// Its title.
    #[serde(default)]
    pub title: String,
    /// The id of the alert that answered it, once answered.
    #[serde(default)]
    pub alert_id: Option<String>,
}

/// An edge of the topology, with when it first and last carried traffic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeRecord {
    /// Environment of the caller, or empty.
    pub environment: String,
    /// Calling node.
    pub client: String,
    /// Called node.
    pub server: String,
    /// Tempo's `connection_type` label value.
    #[serde(default)]
    pub connection_type: String,
    /// Start of the first window with traffic.
    #[serde(with = "rfc3339")]
    pub first_seen: Timestamp,
    /// End of the last window with traffic.
    #[serde(with = "rfc3339")]
    pub last_seen: Timestamp,
    /// Requests over every window stored so far.
    pub requests: u64,
}

/// Everything one analysis step writes, in one transaction.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Event time of the step (the closed window's end); drives pruning.
    pub watermark: Timestamp,
    /// Detection windows completed in this step.
    pub windows: Vec<WindowStats>,
    /// Releases that changed in this step, as they now stand.
    pub releases: Vec<ReleaseRecord>,
    /// Anomalies opened, updated, recovered or expired in this step.
    pub anomalies: Vec<AnomalyRecord>,
    /// Alerts emitted in this step.
    pub alerts: Vec<crate::model::Alert>,
    /// Incidents received or answered in this step.
    pub incidents: Vec<IncidentRecord>,
}

impl Batch {
    /// Nothing to write but the watermark.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
            && self.releases.is_empty()
            && self.anomalies.is_empty()
            && self.alerts.is_empty()
            && self.incidents.is_empty()
    }
}
