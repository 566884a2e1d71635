//! The durable history's [`Batch`] for one analysis step: the detection
//! windows it completed, the releases it changed (as they now stand, with
//! any verdict reached), the anomalies detection opened, updated or closed,
//! the alerts it emitted, and the reported incidents it answered.
//!
//! The daemon's analysis task and `epicenter replay` both build batches
//! with this one function from the same [`Outcome`], so both fill the
//! history identically.
//!
//! Never does: I/O (the caller hands the batch to the writer).

use std::collections::BTreeMap;

use super::analyzer::{Analyzer, Outcome};
use crate::history::{AnomalyRecord, Batch, IncidentRecord, ReleaseRecord};
use crate::model::{Incident, IncidentAnswer, ReleaseKey, Timestamp, Verdict, WindowStats};
use crate::release::EventOutcome;

/// What `window`'s step (`outcome`, from `analyzer`) adds to the history.
pub fn history_batch(analyzer: &Analyzer, window: &WindowStats, outcome: &Outcome) -> Batch {
    let mut changed: BTreeMap<ReleaseKey, Option<Verdict>> = BTreeMap::new();
    for change in &outcome.changes {
        changed.entry(change.key.clone()).or_default();
    }
    for event in &outcome.events {
        if let EventOutcome::Applied(changes) = event {
            for change in changes {
                changed.entry(change.key.clone()).or_default();
            }
        }
    }
    for (key, verdict) in &outcome.verdicts {
        changed.insert(key.clone(), Some(*verdict));
    }
    let releases = changed
        .into_iter()
        .filter_map(|(key, verdict)| {
            let release = analyzer.releases().release(&key)?;
            Some(ReleaseRecord::from_release(release, verdict))
        })
        .collect();
    let anomalies = outcome
        .detect
        .iter()
        .flat_map(|d| {
            d.opened
                .iter()
                .chain(&d.updated)
                .chain(&d.recovered)
                .chain(&d.expired)
        })
        .map(AnomalyRecord::from_anomaly)
        .collect();
    Batch {
        watermark: window.end,
        windows: outcome.windows.clone(),
        releases,
        anomalies,
        alerts: outcome.alerts.clone(),
        incidents: outcome.incidents.iter().map(answered).collect(),
    }
}

/// A reported incident as the history keeps it, once answered.
fn answered(answer: &IncidentAnswer) -> IncidentRecord {
    let mut record = received(&answer.incident);
    record.environment.clone_from(&answer.environment);
    record.alert_id = Some(answer.alert.id.clone());
    record
}

/// A reported incident as received (no answer yet).
fn received(incident: &Incident) -> IncidentRecord {
    IncidentRecord {
        id: incident.id.clone(),
        service: incident.service.to_string(),
        environment: incident
            .environment
            .as_deref()
            .unwrap_or_default()
            .to_owned(),
        reported_environment: incident.environment.as_deref().map(str::to_owned),
        started_at: incident.started_at,
        title: incident.title.clone(),
        alert_id: None,
    }
}

/// What receiving `incident` (answered at once or queued, `outcome`) adds
/// to the history: the incident, answered when it was, and any alert.
pub fn incident_batch(incident: &Incident, outcome: &Outcome) -> Batch {
    let mut incidents: Vec<IncidentRecord> = outcome.incidents.iter().map(answered).collect();
    if !incidents.iter().any(|r| r.id == incident.id) {
        incidents.insert(0, received(incident));
    }
    Batch {
        watermark: Timestamp::default(),
        windows: Vec::new(),
        releases: Vec::new(),
        anomalies: Vec::new(),
        alerts: outcome.alerts.clone(),
        incidents,
    }
}
