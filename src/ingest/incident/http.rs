//! `POST /api/v1/incidents`: reported incidents over HTTP, served on the API
//! listener (the wiring layer merges [`router`] into the API router, next
//! to the `GET` routes the API serves from the store).
//!
//! The body is one incident in any form [`decode_with_format`] accepts
//! (plain, PagerDuty v3 webhook, CDEvents; `ce-*` headers mean CloudEvents
//! binary mode). Responses (JSON):
//! * `202` `{"status":"accepted","id":…,"alert_id":…}`: queued for the
//!   analysis stage; `alert_id` is the id the answer alert will have, and
//!   `GET /api/v1/incidents/{id}` shows the answer once it is there;
//! * `200` `{"status":"ignored","reason":…}`: well-formed, nothing to answer
//!   (e.g. PagerDuty `incident.acknowledged`);
//! * `400` `{"status":"invalid","error":…}`; `413` for a body over
//!   [`MAX_BODY_BYTES`];
//! * `503` with `Retry-After` when the analysis queue is full or the daemon
//!   is stopping. Never waits for room, never answers 500.
//!
//! Never does: attribution, or block on the queue.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

use super::decode_with_format;
use super::metrics::{Format, Metrics, Outcome, Transport};
use crate::model::{Incident, incident_alert_id};

/// The route's path.
pub const PATH: &str = "/api/v1/incidents";

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 256 << 10;

#[derive(Clone)]
struct Intake {
    /// Weak, so the route never keeps the analysis stage's input open.
    output: mpsc::WeakSender<Incident>,
    metrics: Metrics,
}

/// The `POST /api/v1/incidents` route. Accepted incidents go to `output`
/// with `try_send` (full → 503); when `stop` is cancelled the route lets go
/// of `output` and later posts get 503. Needs a Tokio runtime.
pub fn router(output: mpsc::Sender<Incident>, metrics: Metrics, stop: CancellationToken) -> Router {
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
            metrics.incident(Transport::Http, Format::Unknown, Outcome::Invalid);
            let status = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return invalid(status, rejection.body_text());
        }
    };
    let relevant: Vec<(&str, &[u8])> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("ce-"))
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    let (format, incident) = match decode_with_format(&body, &relevant) {
        Ok(decoded) => decoded,
        Err(error) => {
            metrics.incident(Transport::Http, Format::Unknown, Outcome::Invalid);
            return invalid(StatusCode::BAD_REQUEST, error.to_string());
        }
    };
    let Some(incident) = incident else {
        metrics.incident(Transport::Http, format, Outcome::Ignored);
        let body = json!({"status": "ignored", "reason": "not an incident to answer: only pagerduty incident.triggered and cdevents incident.detected/reported are answered"});
        return (StatusCode::OK, Json(body)).into_response();
    };
    let id = incident.id.clone();
    let Some(sender) = intake.output.upgrade() else {
        metrics.incident(Transport::Http, format, Outcome::Unavailable);
        return unavailable("the daemon is stopping");
    };
    match sender.try_send(incident) {
        Ok(()) => {
            metrics.incident(Transport::Http, format, Outcome::Accepted);
            let body = json!({"status": "accepted", "id": id, "alert_id": incident_alert_id(&id)});
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        Err(TrySendError::Full(_)) => {
            metrics.incident(Transport::Http, format, Outcome::Unavailable);
            unavailable("the incident queue is full")
        }
        Err(TrySendError::Closed(_)) => {
            metrics.incident(Transport::Http, format, Outcome::Unavailable);
            unavailable("the daemon is stopping")
        }
    }
}

fn invalid(status: StatusCode, error: String) -> Response {
    (status, Json(json!({"status": "invalid", "error": error}))).into_response()
}

fn unavailable(error: &str) -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "unavailable", "error": error})),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
