//! Deployment events: decoding CDEvents (v0.4.x and v0.5.x, bare or wrapped
//! in a CloudEvent, structured or Kafka binary mode) and the plain JSON form
//! into [`DeployEvent`].
//!
//! One entry point, [`decode_deploy_event`], takes a record value and its
//! headers (Kafka headers, or HTTP headers for `POST /api/v1/deployments`)
//! and answers one of three things:
//!
//! * `Ok(Some(event))`: a service event we understand;
//! * `Ok(None)`: a well-formed event of a type we do not handle (another
//!   `dev.cdevents.*` subject or predicate, a different type major version,
//!   any `dev.cdeventsx.*` type, `service.*` of an unknown spec major): the
//!   caller counts it and skips it; it is not an error;
//! * `Err(DeployError)`: an invalid record (bad JSON, missing required field,
//!   bad purl, bad timestamp): the caller sends it to the DLQ with the
//!   error's message.
//!
//! # Mapping (CONVENTIONS.md §4)
//!
//! * mode: a `content-type` header starting with `application/cloudevents+json`
//!   means structured mode; any other `application/cloudevents*` media type,
//!   or any `ce_*` header, means binary mode (the value is the CDEvent); with
//!   neither, the value is sniffed: a JSON object with `specversion` and
//!   `data`/`data_base64` is a structured CloudEvent, one with `context` a
//!   bare CDEvent, one with `service` the plain form;
//! * service: the last `/`-separated segment of `subject.id`
//!   (`shop/checkout-api` → `checkout-api`), see [`service_from_subject`];
//!   the full subject id is not kept;
//! * environment: `subject.content.environment.id` (empty when a `removed` or
//!   `published` event omits it, which the schema allows);
//! * version: the `tag` qualifier of a `pkg:oci` purl, else the purl version
//!   (for an OCI purl without a tag, the digest); `artifact_id` keeps the purl
//!   exactly as sent;
//! * dedup key: (`context.source`, `context.id`); the plain form has source `""`.
//!
//! Intake around the decoder: [`http`] serves `POST /api/v1/deployments`
//! (merged into the API listener by the wiring layer), the Kafka consumer
//! decodes `cdevents` topics, and both count into [`Metrics`]
//! (`epicenter_ingest_deploy_events_total{source, outcome}`).
//!
//! Never does: deduplication or any release logic; the decoder itself does
//! no I/O, logging or metrics, and never panics on input.

mod cdevent;
mod envelope;
pub mod http;
pub mod metrics;
mod plain;

use thiserror::Error;

use crate::model::DeployEvent;

pub use cdevent::service_from_subject;
pub use http::router;
pub use metrics::{Metrics, Outcome, Source};

/// Why a deployment record is invalid (it goes to the DLQ with this message).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DeployError {
    /// The value is not valid JSON.
    #[error("invalid json: {0}")]
    Json(String),
    /// The value is empty (a tombstone or an empty body).
    #[error("empty value")]
    Empty,
    /// The JSON document is not one of the accepted shapes.
    #[error("unrecognized deployment event: expected a cdevent, a cloudevent or the plain form")]
    Unrecognized,
    /// A required field is absent.
    #[error("missing required field {0}")]
    Missing(&'static str),
    /// A field has the wrong JSON type or an empty value.
    #[error("field {field} must be {expected}")]
    Invalid {
        /// Dotted field name.
        field: &'static str,
        /// What it must be, e.g. "a non-empty string".
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
    /// The `artifactId` is not a valid package URL, or has no version.
    #[error("invalid purl {value:?}: {reason}")]
    Purl {
        /// The offending text (truncated).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The event type is not a CDEvents type (`dev.cdevents.*` / `dev.cdeventsx.*`)
    /// or is malformed.
    #[error("unsupported event type {0:?}")]
    EventType(String),
    /// The CloudEvents envelope is invalid.
    #[error("invalid cloudevent: {0}")]
    Envelope(&'static str),
    /// A header value is not UTF-8.
    #[error("header {0} is not valid utf-8")]
    Header(String),
}

/// Decodes one deployment record. `headers` are (name, value) pairs; names
/// are matched case-insensitively. See the module doc for the three outcomes.
pub fn decode_deploy_event(
    value: &[u8],
    headers: &[(&str, &[u8])],
) -> Result<Option<DeployEvent>, DeployError> {
    match envelope::detect_mode(headers)? {
        envelope::Mode::Structured => {
            let doc = parse_json(value)?;
            envelope::decode_structured(&doc)
        }
        envelope::Mode::Binary(ce) => envelope::decode_binary(value, &ce),
        envelope::Mode::Sniff => {
            let doc = parse_json(value)?;
            decode_document(&doc)
        }
    }
}

/// Dispatches a JSON document on its shape (CloudEvent, CDEvent, plain form).
fn decode_document(doc: &serde_json::Value) -> Result<Option<DeployEvent>, DeployError> {
    let Some(map) = doc.as_object() else {
        return Err(DeployError::Unrecognized);
    };
    if map.contains_key("specversion") {
        envelope::decode_structured(doc)
    } else {
        decode_payload(doc)
    }
}

/// Decodes the event payload (a CDEvent or the plain form), no envelope.
fn decode_payload(doc: &serde_json::Value) -> Result<Option<DeployEvent>, DeployError> {
    let Some(map) = doc.as_object() else {
        return Err(DeployError::Unrecognized);
    };
    if map.contains_key("context") {
        cdevent::decode(map)
    } else if map.contains_key("service") {
        plain::decode(map).map(Some)
    } else {
        Err(DeployError::Unrecognized)
    }
}

fn parse_json(value: &[u8]) -> Result<serde_json::Value, DeployError> {
    if value.iter().all(u8::is_ascii_whitespace) {
        return Err(DeployError::Empty);
    }
    serde_json::from_slice(value).map_err(|e| DeployError::Json(e.to_string()))
}

/// Shortens user-provided text for error messages.
fn clip(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Required non-empty string field.
fn req_str<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
    field: &'static str,
) -> Result<&'a str, DeployError> {
    match opt_str(map, key, field)? {
        Some(s) => Ok(s),
        None => Err(DeployError::Missing(field)),
    }
}

/// Optional string field: absent or null → None; empty or non-string → error.
fn opt_str<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<&'a str>, DeployError> {
    match map.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.as_str())),
        Some(_) => Err(DeployError::Invalid {
            field,
            expected: "a non-empty string",
        }),
    }
}

/// Required RFC 3339 timestamp field.
fn req_time(
    map: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    field: &'static str,
) -> Result<crate::model::Timestamp, DeployError> {
    let text = req_str(map, key, field)?;
    parse_time(text, field)
}

fn parse_time(text: &str, field: &'static str) -> Result<crate::model::Timestamp, DeployError> {
    crate::model::Timestamp::parse_rfc3339(text.trim()).ok_or_else(|| DeployError::Timestamp {
        field,
        value: clip(text),
    })
}

#[cfg(test)]
mod tests;
