//! `POST /api/v1/deployments`: deployment events over HTTP, served on the
//! API listener (the wiring layer merges [`router`] into the API router).
//!
//! The body is one event in any form [`decode_deploy_event`] accepts, with
//! the request headers deciding the mode exactly as on Kafka: CloudEvents
//! structured mode (`content-type: application/cloudevents+json`), HTTP
//! binary mode (`ce-*` headers; the body is the CDEvent), a bare CDEvent, or
//! the plain JSON form. A JSON array of such events (or a body sent as
//! `application/cloudevents-batch+json`) is a batch of at most
//! [`MAX_BATCH_EVENTS`], handled all or nothing: one invalid element rejects
//! the request, and the accepted ones are queued only if all fit.
//!
//! Responses (JSON bodies):
//! * `202` `{"status":"accepted","accepted":n,"ignored":m,"events":[…]}`:
//!   queued for the release stage;
//! * `200` `{"status":"ignored","accepted":0,"ignored":m,"reason":…}`: every
//!   event is well-formed but of a type we do not handle;
//! * `400` `{"status":"invalid","error":…}` (plus `"index"` in a batch);
//! * `413` when the body exceeds [`MAX_BODY_BYTES`] or the batch is too long;
//! * `503` with `Retry-After` when the release stage's queue is full, or the
//!   daemon is stopping. The handler never waits for room and never
//!   answers 500.
//!
//! Never does: deduplication or any release logic (the release stage
//! does), and it never blocks on the queue.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

use super::metrics::{Metrics, Outcome, Source};
use super::{DeployError, decode_deploy_event};
use crate::model::DeployEvent;

/// The route's path.
pub const PATH: &str = "/api/v1/deployments";

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Longest accepted batch (JSON array).
pub const MAX_BATCH_EVENTS: usize = 256;

/// Seconds a client is asked to wait after a 503.
const RETRY_AFTER_SECS: &str = "1";

/// Why nothing was queued for an ignored event.
const IGNORED_REASON: &str = "unsupported event type: only dev.cdevents.service.* (spec v0.4 and v0.5) and the plain form are handled";

#[derive(Clone)]
struct Intake {
    /// Weak, so the route never keeps the release stage's input open: the
    /// strong sender lives in a task that drops it when `stop` fires.
    output: mpsc::WeakSender<DeployEvent>,
    metrics: Metrics,
}

/// The `POST /api/v1/deployments` route, to merge into the API router.
///
/// Accepted events go to `output` with `try_send` (full → 503). When `stop`
/// is cancelled (the sources stop), the route lets go of `output`, so the
/// release stage's input closes once the other sources are done, although
/// the API listener keeps serving until last; later posts get 503. Needs a
/// Tokio runtime (it spawns that small task).
pub fn router(
    output: mpsc::Sender<DeployEvent>,
    metrics: Metrics,
    stop: CancellationToken,
) -> Router {
    let intake = Intake {
        output: crate::ingest::weak_until_stopped(output, stop),
        metrics,
    };
    Router::new()
        .route(PATH, post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(intake)
}

async fn receive(
    State(intake): State<Intake>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let metrics = &intake.metrics;
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            metrics.events(Source::Http, Outcome::Invalid, 1);
            return match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => invalid(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("body exceeds {MAX_BODY_BYTES} bytes"),
                    None,
                ),
                _ => invalid(StatusCode::BAD_REQUEST, rejection.body_text(), None),
            };
        }
    };
    let decoded = match decode_body(&body, &headers) {
        Ok(decoded) => decoded,
        Err(rejected) => {
            metrics.events(Source::Http, Outcome::Invalid, rejected.invalid);
            return invalid(rejected.status, rejected.error, rejected.index);
        }
    };
    let ignored = decoded.iter().filter(|e| e.is_none()).count();
    let events: Vec<DeployEvent> = decoded.into_iter().flatten().collect();
    metrics.events(Source::Http, Outcome::Unsupported, ignored as u64);
    if events.is_empty() {
        let body = json!({"status": "ignored", "accepted": 0, "ignored": ignored, "reason": IGNORED_REASON});
        return (StatusCode::OK, Json(body)).into_response();
    }
    let accepted = events.len();
    let summaries: Vec<Value> = events.iter().map(summary).collect();
    if let Err(why) = enqueue(&intake.output, events) {
        metrics.events(Source::Http, Outcome::Unavailable, accepted as u64);
        return unavailable(why);
    }
    metrics.events(Source::Http, Outcome::Accepted, accepted as u64);
    let mut body = json!({"status": "accepted", "accepted": accepted, "ignored": ignored, "events": summaries});
    if ignored > 0 {
        body["reason"] = Value::from(IGNORED_REASON);
    }
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// An invalid request: the status, the message, the batch index, and how
/// many events were invalid.
#[derive(Debug)]
struct Rejected {
    status: StatusCode,
    error: String,
    index: Option<usize>,
    invalid: u64,
}

impl Rejected {
    fn single(error: &DeployError) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: error.to_string(),
            index: None,
            invalid: 1,
        }
    }
}

/// Decodes a body into events (`None` = well-formed but unsupported).
fn decode_body(body: &[u8], headers: &HeaderMap) -> Result<Vec<Option<DeployEvent>>, Rejected> {
    let relevant: Vec<(&str, &[u8])> = headers
        .iter()
        .filter(|(name, _)| *name == header::CONTENT_TYPE || name.as_str().starts_with("ce-"))
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    let batch_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/cloudevents-batch+json")
        });
    let binary = relevant.iter().any(|(name, _)| name.starts_with("ce-"));
    let array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if batch_type || (array && !binary) {
        decode_batch(body)
    } else {
        decode_deploy_event(body, &relevant)
            .map(|event| vec![event])
            .map_err(|error| Rejected::single(&error))
    }
}

/// A JSON array of events, each decoded on its own (mode sniffed per element).
fn decode_batch(body: &[u8]) -> Result<Vec<Option<DeployEvent>>, Rejected> {
    let items: Vec<Value> = match serde_json::from_slice(body) {
        Ok(Value::Array(items)) => items,
        Ok(_) => {
            return Err(Rejected::single(&DeployError::Invalid {
                field: "body",
                expected: "a json array of events",
            }));
        }
        Err(error) => return Err(Rejected::single(&DeployError::Json(error.to_string()))),
    };
    if items.len() > MAX_BATCH_EVENTS {
        return Err(Rejected {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            error: format!(
                "a batch holds at most {MAX_BATCH_EVENTS} events, not {}",
                items.len()
            ),
            index: None,
            invalid: items.len() as u64,
        });
    }
    if items.is_empty() {
        return Err(Rejected::single(&DeployError::Empty));
    }
    let mut events = Vec::with_capacity(items.len());
    let mut first_error = None;
    let mut invalid = 0;
    for (index, item) in items.iter().enumerate() {
        let bytes = serde_json::to_vec(item).unwrap_or_default();
        match decode_deploy_event(&bytes, &[]) {
            Ok(event) => events.push(event),
            Err(error) => {
                invalid += 1;
                first_error.get_or_insert((index, error));
            }
        }
    }
    match first_error {
        None => Ok(events),
        Some((index, error)) => Err(Rejected {
            status: StatusCode::BAD_REQUEST,
            error: error.to_string(),
            index: Some(index),
            invalid,
        }),
    }
}

/// Queues every event or none; never waits.
fn enqueue(
    output: &mpsc::WeakSender<DeployEvent>,
    events: Vec<DeployEvent>,
) -> Result<(), &'static str> {
    const STOPPING: &str = "the daemon is stopping";
    const FULL: &str = "the deployment queue is full";
    let Some(sender) = output.upgrade() else {
        return Err(STOPPING);
    };
    if events.len() > sender.max_capacity() {
        return Err(FULL);
    }
    match sender.try_reserve_many(events.len()) {
        Ok(permits) => {
            for (permit, event) in permits.zip(events) {
                permit.send(event);
            }
            Ok(())
        }
        Err(TrySendError::Full(())) => Err(FULL),
        Err(TrySendError::Closed(())) => Err(STOPPING),
    }
}

fn summary(event: &DeployEvent) -> Value {
    json!({
        "id": event.id,
        "service": &*event.service,
        "environment": &*event.environment,
        "version": event.version.as_deref(),
        "kind": event.kind.as_str(),
    })
}

fn invalid(status: StatusCode, error: String, index: Option<usize>) -> Response {
    let mut body = json!({"status": "invalid", "error": error});
    if let Some(index) = index {
        body["index"] = Value::from(index);
    }
    (status, Json(body)).into_response()
}

fn unavailable(error: &str) -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "unavailable", "error": error})),
    )
        .into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
