//! `GET /api/v1/alerts`, `GET /api/v1/releases`, `GET /api/v1/owners` and
//! `GET /api/v1/incidents[/{id}]`: what the analysis stage published most
//! recently (the last 1,000 alerts; every release the index holds; the
//! owners file; the last 1,000 reported incidents with their answers).
//!
//! Never does: analysis; durable history and queries over past periods are
//! not here.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiState};
use crate::model::{Release, Timestamp};

/// `GET /api/v1/alerts` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertsQuery {
    /// Only alerts of this type (`anomaly`, `attribution`, …).
    r#type: Option<String>,
    /// Only alerts naming this service (anomaly subject or release).
    service: Option<String>,
    /// At most this many, newest last (default 100).
    limit: Option<usize>,
}

/// The recent alerts, oldest first, in the alert schema.
pub(super) async fn alerts(
    State(state): State<ApiState>,
    query: Result<Query<AlertsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = query.limit.unwrap_or(100);
    let mut alerts: Vec<_> = state
        .analysis
        .recent_alerts()
        .into_iter()
        .filter(|a| query.r#type.as_deref().is_none_or(|t| a.kind.as_str() == t))
        .filter(|a| query.service.as_deref().is_none_or(|s| a.service() == s))
        .collect();
    let skip = alerts.len().saturating_sub(limit);
    alerts.drain(..skip);
    Ok(Json(json!({ "alerts": alerts })))
}

/// Every recent reported incident, newest first, each with its status and
/// (once answered) its answer alert.
pub(super) async fn incidents(State(state): State<ApiState>) -> Json<Value> {
    let mut entries = state.analysis.incident_list();
    entries.reverse();
    Json(json!({ "incidents": entries.iter().map(incident_view).collect::<Vec<_>>() }))
}

/// One reported incident by id (404 when unknown).
pub(super) async fn incident(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .analysis
        .incident(&id)
        .map(|entry| Json(incident_view(&entry)))
        .ok_or_else(|| ApiError::NotFound(format!("no incident {id:?}")))
}

fn incident_view(entry: &crate::store::analysis::IncidentEntry) -> Value {
    let answer = entry.answer.as_ref();
    json!({
        "incident": entry.incident,
        "status": if answer.is_some() { "answered" } else { "pending" },
        "alert_id": crate::model::incident_alert_id(&entry.incident.id),
        "environment": answer.map(|a| a.environment.as_str()),
        "answer": answer.map(|a| &a.alert),
        "culprit": answer.and_then(|a| a.culprit.as_ref()),
    })
}

/// The owners file, by service (empty without one).
pub(super) async fn owners(State(state): State<ApiState>) -> Json<Value> {
    Json(json!({ "owners": state.analysis.owner_list() }))
}

/// `GET /api/v1/releases` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReleasesQuery {
    /// From the durable history: releases started since then (RFC 3339 or `-2h`).
    since: Option<String>,
    /// With `since`: started before then.
    until: Option<String>,
}

/// Every release the index holds, newest first; with `since`, the releases
/// the durable history holds that started since then, oldest first.
pub(super) async fn releases(
    State(state): State<ApiState>,
    query: Result<Query<ReleasesQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(since) = query.since {
        return super::history::releases_since(&state, since, query.until).await;
    }
    let mut releases = state.analysis.release_list();
    releases.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then_with(|| a.key.service.cmp(&b.key.service))
    });
    Ok(Json(
        json!({ "releases": releases.iter().map(release_view).collect::<Vec<_>>() }),
    ))
}

fn time(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_rfc3339()))
}

fn release_view(r: &Release) -> Value {
    json!({
        "service": &*r.key.service,
        "environment": &*r.key.environment,
        "version": &*r.key.version,
        "previous_version": r.previous_version.as_deref(),
        "deployment_id": r.deployment_id,
        "artifact_id": r.artifact_id,
        "origin": r.origin.as_str(),
        "state": r.state.as_str(),
        "started_at": r.started_at.to_rfc3339(),
        "exposure_start": time(r.exposure_start),
        "completed_at": time(r.completed_at),
        "rolled_back_at": time(r.rolled_back_at),
        "rolled_back_to": r.rolled_back_to.as_deref(),
        "timeline": r.timeline.iter().map(|p| json!({
            "at": p.at.to_rfc3339(),
            "instance_share": p.instance_share,
            "traffic_share": p.traffic_share,
        })).collect::<Vec<_>>(),
    })
}
