//! PagerDuty v3 webhooks (webhook subscriptions; one event per request):
//!
//! ```json
//! {"event": {"id": "5ac6...", "event_type": "incident.triggered",
//!            "resource_type": "incident", "occurred_at": "2026-05-20T14:00:00.000Z",
//!            "data": {"id": "PT4KHLK", "type": "incident", "title": "The server is on fire.",
//!                     "created_at": "2026-05-20T14:00:00.000Z", "status": "triggered",
//!                     "service": {"id": "PIJ90N7", "type": "service_reference",
//!                                 "summary": "My Mail Service"}, ...}}}
//! ```
//!
//! Mapping: `event.data.id` → id; `event.data.service.summary` (or
//! `.name`) → service, so the PagerDuty service must be named like the
//! traced `service.name`; `event.data.created_at`, else `event.occurred_at`
//! → started_at; `event.data.title` → title. PagerDuty says nothing about
//! the environment. Only `incident.triggered` is an incident to answer;
//! every other event type (acknowledged, resolved, annotated, ...) is
//! well-formed and skipped, so PagerDuty gets a 2xx and does not retry.
//! Signatures (`X-PagerDuty-Signature`) are not verified.
//!
//! Never does: I/O.

use serde_json::{Map, Value};

use super::{IncidentError, id_field, opt_obj, opt_str, parse_time, req_str};
use crate::model::{Incident, IncidentSource};

/// The one event type answered.
const TRIGGERED: &str = "incident.triggered";

pub(super) fn decode(map: &Map<String, Value>) -> Result<Option<Incident>, IncidentError> {
    let event = opt_obj(map, "event", "event")?.ok_or(IncidentError::Missing("event"))?;
    let event_type = req_str(event, "event_type", "event.event_type")?;
    if event_type != TRIGGERED {
        return Ok(None);
    }
    let data = opt_obj(event, "data", "event.data")?.ok_or(IncidentError::Missing("event.data"))?;
    let service = opt_obj(data, "service", "event.data.service")?
        .ok_or(IncidentError::Missing("event.data.service"))?;
    let name = match opt_str(service, "summary", "event.data.service.summary")? {
        Some(name) => name,
        None => req_str(service, "name", "event.data.service.summary")?,
    };
    let started_at = match opt_str(data, "created_at", "event.data.created_at")? {
        Some(text) => parse_time(text, "event.data.created_at")?,
        None => parse_time(
            req_str(event, "occurred_at", "event.occurred_at")?,
            "event.occurred_at",
        )?,
    };
    Ok(Some(Incident {
        id: id_field(data, "id", "event.data.id")?,
        service: name.trim().into(),
        environment: None,
        started_at,
        title: opt_str(data, "title", "event.data.title")?
            .unwrap_or_default()
            .to_owned(),
        source: IncidentSource::Pagerduty,
    }))
}
