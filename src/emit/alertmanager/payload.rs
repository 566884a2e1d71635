//! Maps an [`Alert`] onto an Alertmanager API v2 `postableAlert`: stable,
//! low-cardinality labels (CamelCase `alertname` from a fixed catalog,
//! `severity`, `service`, `environment`, `release`, `source`; `client` and
//! `server` for edges) and everything variable in annotations.
//!
//! Never does: I/O or clock reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Alert, AlertType, Timestamp, Verdict};

/// One element of the `POST /api/v2/alerts` array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PostableAlert {
    /// Identity: routing, grouping, silencing.
    pub labels: BTreeMap<String, String>,
    /// Variable data.
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    /// RFC 3339.
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    /// Link to the finding in Epicenter's API.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

/// The fixed catalog of alert names.
pub const ALERTNAMES: &[&str] = &[
    "ServiceErrorRateHigh",
    "ServiceLatencyHigh",
    "ServiceThroughputDrop",
    "DependencyErrorRateHigh",
    "DependencyLatencyHigh",
    "DependencyThroughputDrop",
    "ServiceErrorRateRegressionAfterDeploy",
    "ServiceLatencyRegressionAfterDeploy",
    "ServiceThroughputDropAfterDeploy",
    "ReleaseFailing",
    "ReleaseDegraded",
    "ReleaseHealthy",
    "ReleaseInconclusive",
    "NewDependencyDetected",
    "DependencyVanished",
];

/// The `alertname` of an alert. A `resolved` alert gets the name of the
/// alert it resolves (attribution if it carries suspects), so Alertmanager
/// sees the same label set end.
pub fn alertname(alert: &Alert) -> &'static str {
    let kind = match alert.kind {
        AlertType::Resolved if alert.suspects.is_empty() => AlertType::Anomaly,
        AlertType::Resolved => AlertType::Attribution,
        other => other,
    };
    match kind {
        AlertType::Anomaly | AlertType::Attribution | AlertType::Resolved => {
            let (signal, edge) = alert.anomaly.as_ref().map_or(("error_ratio", false), |a| {
                (a.signal.as_str(), a.series.starts_with("edge"))
            });
            let what = match signal {
                "throughput" => 2,
                s if s.starts_with("latency") => 1,
                _ => 0,
            };
            match (kind == AlertType::Attribution, edge, what) {
                (true, _, 0) => "ServiceErrorRateRegressionAfterDeploy",
                (true, _, 1) => "ServiceLatencyRegressionAfterDeploy",
                (true, _, _) => "ServiceThroughputDropAfterDeploy",
                (false, false, 0) => "ServiceErrorRateHigh",
                (false, false, 1) => "ServiceLatencyHigh",
                (false, false, _) => "ServiceThroughputDrop",
                (false, true, 0) => "DependencyErrorRateHigh",
                (false, true, 1) => "DependencyLatencyHigh",
                (false, true, _) => "DependencyThroughputDrop",
            }
        }
        AlertType::ReleaseVerdict => match alert.verdict.as_ref().map(|v| v.verdict) {
            Some(Verdict::Failing) => "ReleaseFailing",
            Some(Verdict::Degraded) => "ReleaseDegraded",
            Some(Verdict::Healthy) => "ReleaseHealthy",
            _ => "ReleaseInconclusive",
        },
        AlertType::TopologyChange => {
            if alert.topology.as_ref().is_some_and(|t| t.added.is_empty()) {
                "DependencyVanished"
            } else {
                "NewDependencyDetected"
            }
        }
    }
}

/// Static parts of the mapping, from configuration.
#[derive(Clone, Debug)]
pub(crate) struct Mapping {
    pub(crate) public_url: String,
    pub(crate) runbook_base_url: String,
    pub(crate) source: String,
}

impl Mapping {
    /// Labels and annotations for `alert`; times are filled in by the lifecycle.
    pub(crate) fn labels_and_annotations(
        &self,
        alert: &Alert,
    ) -> (BTreeMap<String, String>, BTreeMap<String, String>, String) {
        let name = alertname(alert);
        let mut labels = BTreeMap::new();
        let put = |map: &mut BTreeMap<String, String>, k: &str, v: &str| {
            if !v.is_empty() {
                map.insert(k.to_string(), v.to_string());
            }
        };
        put(&mut labels, "alertname", name);
        // A resolved alert keeps the severity of the alert it ends (same labels).
        let severity = match alert.kind {
            AlertType::Resolved if alert.suspects.is_empty() => "warning",
            AlertType::Resolved => "critical",
            _ => alert.severity.as_str(),
        };
        put(&mut labels, "severity", severity);
        put(&mut labels, "service", alert.service());
        put(&mut labels, "environment", &alert.environment);
        put(&mut labels, "source", &self.source);
        let release = alert
            .top_release()
            .or(alert.verdict.as_ref().map(|v| &v.release))
            .or(alert.topology.as_ref().and_then(|t| t.release.as_ref()));
        if let Some(r) = release {
            put(
                &mut labels,
                "release",
                &format!("{}@{}", r.service, r.version),
            );
        }
        // Route to the team that has to act: the release's owner when a
        // release is named, else the owner of the alert's service.
        if let Some(owner) = alert.owners.last() {
            put(&mut labels, "team", &owner.team);
            if let Some(tier) = owner.tier {
                put(&mut labels, "tier", &tier.to_string());
            }
        }
        if let Some(a) = &alert.anomaly
            && let Some((client, server)) = a
                .series
                .strip_prefix("edge:")
                .and_then(|rest| rest.split_once('/'))
                .and_then(|(_, edge)| edge.split_once("->"))
        {
            put(&mut labels, "client", client);
            put(&mut labels, "server", server);
        }

        let mut annotations = BTreeMap::new();
        put(&mut annotations, "summary", &alert.summary);
        let mut description = alert.summary.clone();
        if let Some(suspect) = alert.suspects.first() {
            for e in &suspect.evidence {
                if e.llr != 0.0 && !e.summary.is_empty() {
                    description.push_str(&format!("; {}", e.summary));
                }
            }
        }
        if let Some(r) = &alert.recommendation {
            description.push_str(&format!(". Recommendation: {r}"));
        }
        put(&mut annotations, "description", &description);
        if !self.runbook_base_url.is_empty() {
            put(
                &mut annotations,
                "runbook_url",
                &format!("{}/{name}", self.runbook_base_url),
            );
        }
        let id = alert
            .resolves
            .as_deref()
            .filter(|_| alert.kind == AlertType::Resolved)
            .unwrap_or(&alert.id);
        put(&mut annotations, "alert_id", id);
        put(&mut annotations, "alert_type", alert.kind.as_str());
        if let Some(r) = release {
            put(&mut annotations, "version_after", &r.version);
            put(
                &mut annotations,
                "version_before",
                r.previous_version.as_deref().unwrap_or(""),
            );
            put(
                &mut annotations,
                "deployment_id",
                r.deployment_id.as_deref().unwrap_or(""),
            );
        }
        if let Some(s) = alert.suspects.first() {
            put(
                &mut annotations,
                "confidence",
                &format!("{:.2}", s.confidence),
            );
        }
        if let Some(r) = &alert.recommendation {
            put(&mut annotations, "recommendation", r);
        }
        let generator = format!("{}/api/v1/alerts/{id}", self.public_url);
        (labels, annotations, generator)
    }
}

/// Formats a wall-clock time for Alertmanager.
pub(crate) fn rfc3339(t: Timestamp) -> String {
    t.to_rfc3339()
}
