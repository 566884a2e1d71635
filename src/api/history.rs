//! History queries over HTTP: `which-release`, `releases/{service}@{version}`,
//! `anomalies`, `history/alerts`, `impact/{service}`, `series/{service}`,
//! and `releases?since=`. Each builds a [`Request`] and answers
//! [`query::answer`] on a blocking thread: exactly what `epicenter query
//! --json` prints offline.
//!
//! Never does: analysis of its own, or writes.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::Value;

use super::{ApiError, ApiState};
use crate::query::{self, QueryError, Request};

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::BadTime(_) | QueryError::BadArgument(_) => {
                Self::BadRequest(error.to_string())
            }
            QueryError::NotFound(_) | QueryError::NotHeld { .. } => {
                Self::NotFound(error.to_string())
            }
            QueryError::History(_) => Self::Internal(error.to_string()),
        }
    }
}

/// Answers `request` over the history on a blocking thread.
async fn run(state: &ApiState, request: Request) -> Result<Json<Value>, ApiError> {
    let Some(ctx) = state.history.clone() else {
        return Err(ApiError::Unavailable(
            "this daemon keeps no history (history.enabled is false)".into(),
        ));
    };
    let value = tokio::task::spawn_blocking(move || query::answer(&ctx, &request))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(value))
}

/// `GET /api/v1/which-release` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WhichQuery {
    service: String,
    at: Option<String>,
    from: Option<String>,
    to: Option<String>,
    environment: Option<String>,
}

pub(super) async fn which_release(
    State(state): State<ApiState>,
    q: Result<Query<WhichQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let request = Request::WhichRelease {
        service: q.service,
        environment: q.environment,
        at: q.at,
        from: q.from,
        to: q.to,
    };
    run(&state, request).await
}

/// `GET /api/v1/releases/{service}@{version}` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReleaseQuery {
    environment: Option<String>,
}

pub(super) async fn release(
    State(state): State<ApiState>,
    Path(release): Path<String>,
    q: Result<Query<ReleaseQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let request = Request::Release {
        release,
        environment: q.environment,
    };
    run(&state, request).await
}

/// `since` / `until` query of the list endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SinceQuery {
    since: Option<String>,
    until: Option<String>,
}

pub(super) async fn anomalies(
    State(state): State<ApiState>,
    q: Result<Query<SinceQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let request = Request::Anomalies {
        since: q.since,
        until: q.until,
    };
    run(&state, request).await
}

pub(super) async fn alerts(
    State(state): State<ApiState>,
    q: Result<Query<SinceQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let request = Request::Alerts {
        since: q.since,
        until: q.until,
    };
    run(&state, request).await
}

/// `GET /api/v1/releases?since=T`: from the history.
pub(super) async fn releases_since(
    state: &ApiState,
    since: String,
    until: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let request = Request::Releases {
        since: Some(since),
        until,
    };
    run(state, request).await
}

/// `from` / `to` / `environment` (/ `version`) query of impact and series.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
    environment: Option<String>,
    version: Option<String>,
}

pub(super) async fn impact(
    State(state): State<ApiState>,
    Path(service): Path<String>,
    q: Result<Query<PeriodQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let request = Request::Impact {
        service,
        environment: q.environment,
        from: q.from,
        to: q.to,
    };
    run(&state, request).await
}

pub(super) async fn series(
    State(state): State<ApiState>,
    Path(service): Path<String>,
    q: Result<Query<PeriodQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let request = Request::Series {
        service,
        environment: q.environment,
        version: q.version,
        from: q.from,
        to: q.to,
    };
    run(&state, request).await
}
