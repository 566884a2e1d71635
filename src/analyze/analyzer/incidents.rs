//! Incidents: anomalies grouped by (environment, most likely origin), their
//! lead anomaly, and the `resolved` alert once every member recovered.
//!
//! Never does: attribution (see the parent module).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{Analyzer, Incident, Outcome};
use crate::attribute;
use crate::detect::origins;
use crate::model::{Alert, AlertType, Anomaly, ReleaseKey, SeriesKey, Signal, series_scope};

impl Analyzer {
    pub(super) fn join_incident(&mut self, anomaly: Anomaly) {
        let (environment, _) = series_scope(&anomaly.series);
        let origin = anomaly
            .origins
            .first()
            .map(|o| o.node.clone())
            .unwrap_or_else(|| origins::subject(&anomaly.series).1.to_string());
        let key: (Arc<str>, String) = (environment.into(), origin);
        match self.incidents.get_mut(&key) {
            Some(incident) => {
                incident.open.insert(anomaly.id.clone());
                if rank(&anomaly, &key.1) < rank(&incident.lead, &key.1)
                    && incident.alert.schema.is_empty()
                {
                    // A better subject, before the incident's first alert.
                    incident.lead = anomaly.clone();
                }
                incident.members.insert(anomaly.id.clone(), anomaly);
            }
            None => {
                let placeholder = Alert {
                    schema: String::new(),
                    kind: AlertType::Anomaly,
                    id: String::new(),
                    detected_at: anomaly.detected_at,
                    environment: key.0.to_string(),
                    anomaly: None,
                    affected: Vec::new(),
                    suspects: Vec::new(),
                    recommendation: None,
                    summary: String::new(),
                    severity: crate::model::Severity::Warning,
                    resolves: None,
                    verdict: None,
                    owners: Vec::new(),
                    incident: None,
                    topology: None,
                };
                self.incidents.insert(
                    key,
                    Incident {
                        lead: anomaly.clone(),
                        open: BTreeSet::from([anomaly.id.clone()]),
                        members: BTreeMap::from([(anomaly.id.clone(), anomaly)]),
                        alert: placeholder,
                        blamed: None,
                    },
                );
            }
        }
    }

    pub(super) fn update_member(&mut self, anomaly: &Anomaly) {
        for incident in self.incidents.values_mut() {
            if let Some(member) = incident.members.get_mut(&anomaly.id) {
                *member = anomaly.clone();
                if incident.lead.id == anomaly.id {
                    incident.lead = anomaly.clone();
                }
            }
        }
    }

    pub(super) fn close_member(&mut self, anomaly: &Anomaly) {
        for incident in self.incidents.values_mut() {
            if incident.open.remove(&anomaly.id) {
                incident.members.insert(anomaly.id.clone(), anomaly.clone());
                if incident.lead.id == anomaly.id {
                    incident.lead = anomaly.clone();
                }
            }
        }
    }

    /// Sends `resolved` for incidents whose anomalies all recovered.
    pub(super) fn resolve_closed(&mut self, out: &mut Outcome) {
        let done: Vec<(Arc<str>, String)> = self
            .incidents
            .iter()
            .filter(|(_, i)| i.open.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        for key in done {
            let Some(incident) = self.incidents.remove(&key) else {
                continue;
            };
            let recovered = incident
                .members
                .values()
                .filter_map(|a| a.recovered_at)
                .max();
            if let Some(top) = &incident.blamed {
                let release_key = ReleaseKey {
                    service: top.release.service.as_str().into(),
                    environment: top.release.environment.as_str().into(),
                    version: top.release.version.as_str().into(),
                };
                if let Some(entry) = self.blamed.get_mut(&release_key) {
                    entry.2 = entry.2.max(recovered);
                }
            }
            // An incident that never got an alert out (it recovered in the
            // window it opened) stays silent.
            if incident.alert.schema.is_empty() {
                continue;
            }
            if let Some(at) = recovered {
                out.alerts
                    .push(attribute::resolved_alert(&incident.alert, at));
            }
        }
    }
}

/// How good a subject `anomaly` is for an incident whose origin is `origin`
/// (lower is better): its own service first, service series before edges
/// before operations, errors before latency before throughput.
pub(super) fn rank(anomaly: &Anomaly, origin: &str) -> (u8, u8, u8) {
    let own = u8::from(origins::subject(&anomaly.series).1 != origin);
    let kind = match anomaly.series {
        SeriesKey::Service { .. } => 0,
        SeriesKey::Edge { .. } => 1,
        SeriesKey::ServiceVersion { .. } => 2,
        SeriesKey::Operation { .. } => 3,
        SeriesKey::EdgeByClientVersion { .. } | SeriesKey::EdgeByServerVersion { .. } => 4,
    };
    let signal = match anomaly.signal {
        Signal::ErrorRatio => 0,
        Signal::LatencyP99 => 1,
        Signal::LatencyP95 => 2,
        Signal::LatencyP50 => 3,
        Signal::Throughput => 4,
    };
    (own, kind, signal)
}
