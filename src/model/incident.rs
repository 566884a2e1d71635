//! Incidents reported from outside (a person, PagerDuty, a CDEvents
//! producer): "something is wrong on this service since then". Epicenter
//! answers each with an alert naming the release that explains it, if any.
//!
//! Not to be confused with the analyzer's internal grouping of anomalies.
//!
//! Never does: I/O, clock reads, or deciding anything.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::alert::{Alert, ReleaseRef, rfc3339};
use super::time::Timestamp;

/// How an incident reached Epicenter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentSource {
    /// The plain JSON form `{id, service, started_at, title}`.
    Plain,
    /// A PagerDuty v3 webhook (`incident.triggered`).
    Pagerduty,
    /// A CDEvents `incident.detected` or `incident.reported` event.
    Cdevent,
}

impl IncidentSource {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Pagerduty => "pagerduty",
            Self::Cdevent => "cdevent",
        }
    }
}

/// One reported incident, normalized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// The reporter's id (PagerDuty incident id, CDEvents subject id, ...).
    pub id: String,
    /// The service it is about (`service.name`).
    pub service: Arc<str>,
    /// Environment, when the reporter said (else Epicenter picks the
    /// environment where the service had the most traffic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Arc<str>>,
    /// When it started, event time.
    #[serde(with = "rfc3339")]
    pub started_at: Timestamp,
    /// One line from the reporter.
    pub title: String,
    /// How it arrived.
    pub source: IncidentSource,
}

/// The release an incident is blamed on, with what the CDEvents output
/// links to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Culprit {
    /// The release (its `deployment_id` is the deployment event's id).
    pub release: ReleaseRef,
    /// The deployment event's `artifactId` (purl), when an event announced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_id: Option<String>,
}

/// Epicenter's answer to an incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentAnswer {
    /// The incident, as received.
    pub incident: Incident,
    /// The environment the answer looked at (`""` when none was found).
    pub environment: String,
    /// The answer alert (`attribution` with suspects, else `anomaly`); its
    /// `incident` field names the incident.
    pub alert: Alert,
    /// The top suspect, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub culprit: Option<Culprit>,
}
