//! Reported incidents: decoding the plain JSON form, PagerDuty v3 webhooks
//! and CDEvents `incident.detected` / `incident.reported` events into
//! [`Incident`].
//!
//! One entry point, [`decode_incident`], takes a record value (Kafka topic
//! with encoding `incidents`, or the body of `POST /api/v1/incidents`) and
//! its headers, and answers:
//!
//! * `Ok(Some(incident))`: an incident to answer;
//! * `Ok(None)`: well-formed, but nothing to answer (a PagerDuty event other
//!   than `incident.triggered`, a CDEvents type other than
//!   `incident.detected`/`incident.reported`): counted and skipped;
//! * `Err(IncidentError)`: invalid (bad JSON, missing field, bad
//!   timestamp): HTTP 400, or the Kafka DLQ with the error's message.
//!
//! # Forms (sniffed from the document's shape)
//!
//! * plain: `{"id", "service", "started_at", "title", "environment"?}`;
//!   `id`, `service` and `started_at` (RFC 3339) are required;
//! * PagerDuty v3 webhook: `{"event": {"event_type": "incident.triggered",
//!   "occurred_at", "data": {"id", "title", "created_at", "service":
//!   {"summary", ...}}}}`, see [`pagerduty`] for the field mapping;
//! * CDEvents (v0.4 `context.version` or v0.5 `context.specversion`, bare, in
//!   a structured CloudEvent, or CloudEvents binary mode with `ce_*`
//!   headers): see [`cdevent`].
//!
//! Never does: I/O, logging, metrics, or any attribution; never panics on
//! input.

mod cdevent;
pub mod http;
pub mod metrics;
mod pagerduty;

use std::sync::Arc;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::model::{Incident, IncidentSource, Timestamp};

pub use http::router;
pub use metrics::{Format, Metrics, Outcome, Transport};

/// Why an incident record is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IncidentError {
    /// The value is not valid JSON.
    #[error("invalid json: {0}")]
    Json(String),
    /// The value is empty.
    #[error("empty value")]
    Empty,
    /// Not one of the accepted shapes.
    #[error(
        "unrecognized incident: expected the plain form {{id, service, started_at, title}}, a pagerduty v3 webhook or a cdevents incident event"
    )]
    Unrecognized,
    /// A required field is absent.
    #[error("missing required field {0}")]
    Missing(&'static str),
    /// A field has the wrong JSON type or an empty value.
    #[error("field {field} must be {expected}")]
    Invalid {
        /// Dotted field name.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A timestamp is not RFC 3339.
    #[error("invalid rfc 3339 timestamp in {field}: {value:?}")]
    Timestamp {
        /// Dotted field name.
        field: &'static str,
        /// The offending text (truncated).
        value: String,
    },
    /// A header value is not UTF-8.
    #[error("header {0} is not valid utf-8")]
    Header(String),
}

/// Decodes one incident record; see the module doc for the outcomes.
/// `headers` are (name, value) pairs, matched case-insensitively; a `ce_`
/// or `ce-` header means CloudEvents binary mode (the value is the CDEvent).
pub fn decode_incident(
    value: &[u8],
    headers: &[(&str, &[u8])],
) -> Result<Option<Incident>, IncidentError> {
    Ok(decode_with_format(value, headers)?.1)
}

/// Like [`decode_incident`], also naming the form it recognized (for metrics).
pub fn decode_with_format(
    value: &[u8],
    headers: &[(&str, &[u8])],
) -> Result<(Format, Option<Incident>), IncidentError> {
    for (name, value) in headers {
        if std::str::from_utf8(value).is_err() {
            return Err(IncidentError::Header(clip(name)));
        }
    }
    if value.iter().all(u8::is_ascii_whitespace) {
        return Err(IncidentError::Empty);
    }
    let doc: Value =
        serde_json::from_slice(value).map_err(|e| IncidentError::Json(e.to_string()))?;
    let Some(map) = doc.as_object() else {
        return Err(IncidentError::Unrecognized);
    };
    let binary = headers.iter().any(|(name, _)| {
        let name = name.to_ascii_lowercase();
        name.starts_with("ce_") || name.starts_with("ce-")
    });
    if binary || map.contains_key("context") {
        return Ok((Format::Cdevent, cdevent::decode(map)?));
    }
    if map.contains_key("specversion") {
        // A structured CloudEvent: the CDEvent is `data`.
        let Some(data) = map.get("data").and_then(Value::as_object) else {
            return Err(IncidentError::Missing("data"));
        };
        return Ok((Format::Cdevent, cdevent::decode(data)?));
    }
    if map.get("event").is_some_and(Value::is_object) {
        return Ok((Format::Pagerduty, pagerduty::decode(map)?));
    }
    if map.contains_key("service") {
        return Ok((Format::Plain, Some(plain(map)?)));
    }
    Err(IncidentError::Unrecognized)
}

/// The plain form.
fn plain(map: &Map<String, Value>) -> Result<Incident, IncidentError> {
    Ok(Incident {
        id: id_field(map, "id", "id")?,
        service: req_str(map, "service", "service")?.trim().into(),
        environment: opt_str(map, "environment", "environment")?.map(|e| Arc::from(e.trim())),
        started_at: req_time(map, "started_at", "started_at")?,
        title: opt_str(map, "title", "title")?
            .unwrap_or_default()
            .to_owned(),
        source: IncidentSource::Plain,
    })
}

/// An id: a non-empty string, or a number (some tools send numeric ids).
fn id_field(
    map: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<String, IncidentError> {
    match map.get(key) {
        None | Some(Value::Null) => Err(IncidentError::Missing(field)),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(clip(s.trim())),
        Some(_) => Err(IncidentError::Invalid {
            field,
            expected: "a non-empty string",
        }),
    }
}

/// Shortens user-provided text.
fn clip(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Required non-empty string field.
fn req_str<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<&'a str, IncidentError> {
    opt_str(map, key, field)?.ok_or(IncidentError::Missing(field))
}

/// Optional string: absent or null → `None`; empty or not a string → error.
fn opt_str<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<&'a str>, IncidentError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.as_str())),
        Some(_) => Err(IncidentError::Invalid {
            field,
            expected: "a non-empty string",
        }),
    }
}

/// Optional object.
fn opt_obj<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<&'a Map<String, Value>>, IncidentError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(IncidentError::Invalid {
            field,
            expected: "an object",
        }),
    }
}

/// Required RFC 3339 timestamp.
fn req_time(
    map: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Timestamp, IncidentError> {
    parse_time(req_str(map, key, field)?, field)
}

fn parse_time(text: &str, field: &'static str) -> Result<Timestamp, IncidentError> {
    Timestamp::parse_rfc3339(text.trim()).ok_or_else(|| IncidentError::Timestamp {
        field,
        value: clip(text),
    })
}

#[cfg(test)]
mod tests;
