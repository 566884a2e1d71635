//! On start, the answers to reported incidents come back from the durable
//! history, so `GET /api/v1/incidents` lists them after a restart as it did
//! before (pending incidents come back from the analysis journal instead).
//!
//! Never does: answer an incident, or write to the history.

use std::collections::HashMap;

use crate::history::{HistoryError, HistoryReader};
use crate::model::{Culprit, Incident, IncidentAnswer, IncidentSource, Timestamp};
use crate::store::analysis::Published;

/// Publishes the answered incidents the history holds (at most the newest
/// `limit`, oldest first) and returns how many.
///
/// # Errors
/// On any storage or decoding failure; nothing is published then.
pub(super) fn restore_answers(
    reader: &HistoryReader,
    published: &Published,
    limit: usize,
) -> Result<usize, HistoryError> {
    let (from, to) = (Timestamp(0), Timestamp(u64::MAX));
    let records = reader.incidents(from, to)?;
    let mut alerts: HashMap<String, crate::model::Alert> = reader
        .alerts(from, to)?
        .into_iter()
        .filter(|a| a.incident.is_some())
        .map(|a| (a.id.clone(), a))
        .collect();
    let artifacts: HashMap<(String, String, String), String> = reader
        .releases(from, to)?
        .into_iter()
        .filter_map(|r| {
            let artifact = r.artifact_id?;
            Some(((r.environment, r.service, r.version), artifact))
        })
        .collect();
    let answered: Vec<_> = records
        .into_iter()
        .filter_map(|record| {
            let alert = alerts.remove(record.alert_id.as_deref()?)?;
            Some((record, alert))
        })
        .collect();
    let skip = answered.len().saturating_sub(limit);
    let mut restored = 0;
    for (record, alert) in answered.into_iter().skip(skip) {
        let Some(reference) = alert.incident.as_ref() else {
            continue;
        };
        let incident = Incident {
            id: record.id,
            service: record.service.as_str().into(),
            environment: record.reported_environment.as_deref().map(Into::into),
            started_at: record.started_at,
            title: record.title,
            source: match reference.source.as_str() {
                "pagerduty" => IncidentSource::Pagerduty,
                "cdevent" => IncidentSource::Cdevent,
                _ => IncidentSource::Plain,
            },
        };
        let culprit = alert.suspects.first().map(|top| {
            let release = top.release.clone();
            let key = (
                release.environment.clone(),
                release.service.clone(),
                release.version.clone(),
            );
            Culprit {
                artifact_id: artifacts.get(&key).cloned(),
                release,
            }
        });
        published.incident_answered(IncidentAnswer {
            incident,
            environment: alert.environment.clone(),
            alert,
            culprit,
        });
        restored += 1;
    }
    Ok(restored)
}
