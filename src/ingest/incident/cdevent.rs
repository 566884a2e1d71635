//! CDEvents `incident.detected` and `incident.reported` (spec v0.4.x with
//! `context.version`, types `.0.2.0`; v0.5.x with `context.specversion`,
//! `.0.3.0`; any minor/patch of type major 0), parsed leniently.
//!
//! Mapping: `subject.id` → id; `subject.content.service.id` → service (its
//! last `/`-separated segment, as for deployment events);
//! `subject.content.environment.id` → environment; `context.timestamp` →
//! started_at; `subject.content.description` → title. Other CDEvents types
//! (including `incident.resolved`) and `dev.cdeventsx.*` are skipped.
//!
//! Never does: I/O.

use serde_json::{Map, Value};

use super::{IncidentError, clip, opt_obj, opt_str, req_str, req_time};
use crate::ingest::deploy::service_from_subject;
use crate::model::{Incident, IncidentSource};

/// Whether `ty` is an incident event we answer; `Err` for a type outside
/// the CDEvents namespaces.
fn answered(ty: &str) -> Result<bool, IncidentError> {
    if ty.starts_with("dev.cdeventsx.") {
        return Ok(false);
    }
    let Some(rest) = ty.strip_prefix("dev.cdevents.") else {
        return Err(IncidentError::Invalid {
            field: "context.type",
            expected: "a dev.cdevents.* event type",
        });
    };
    let parts: Vec<&str> = rest.split('.').collect();
    Ok(parts.len() == 5
        && parts[0] == "incident"
        && matches!(parts[1], "detected" | "reported")
        && parts[2] == "0"
        && parts[3..]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
}

pub(super) fn decode(map: &Map<String, Value>) -> Result<Option<Incident>, IncidentError> {
    let context = opt_obj(map, "context", "context")?.ok_or(IncidentError::Missing("context"))?;
    if !answered(req_str(context, "type", "context.type")?)? {
        return Ok(None);
    }
    let subject = opt_obj(map, "subject", "subject")?.ok_or(IncidentError::Missing("subject"))?;
    let content = opt_obj(subject, "content", "subject.content")?
        .ok_or(IncidentError::Missing("subject.content"))?;
    let service = opt_obj(content, "service", "subject.content.service")?
        .ok_or(IncidentError::Missing("subject.content.service.id"))?;
    let service = req_str(service, "id", "subject.content.service.id")?;
    let environment = match opt_obj(content, "environment", "subject.content.environment")? {
        Some(env) => opt_str(env, "id", "subject.content.environment.id")?,
        None => None,
    };
    Ok(Some(Incident {
        id: clip(req_str(subject, "id", "subject.id")?.trim()),
        service: service_from_subject(service.trim()).into(),
        environment: environment.map(|e| e.trim().into()),
        started_at: req_time(context, "timestamp", "context.timestamp")?,
        title: opt_str(content, "description", "subject.content.description")?
            .unwrap_or_default()
            .to_owned(),
        source: IncidentSource::Cdevent,
    }))
}
