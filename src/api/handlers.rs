//! Handlers of the graph, services and health endpoints.
//!
//! Each reads the latest snapshot once, so one response is consistent.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::topology::{Adjacency, Direction};
use super::{ApiError, ApiState, dot, views};
use crate::model::GraphSnapshot;

/// Largest accepted `depth` for neighbourhoods.
const MAX_DEPTH: u32 = 64;

/// `GET /api/v1/graph` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GraphQuery {
    /// Centre of a neighbourhood.
    service: Option<String>,
    /// Hops around `service` (either direction), default 1.
    depth: Option<u32>,
    /// `json` (default) or `dot`.
    format: Option<String>,
}

/// `…/dependencies` and `…/dependents` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RelatedQuery {
    /// Follow edges to every reachable node, not just direct neighbours.
    #[serde(default)]
    transitive: bool,
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
}

fn is_known(snapshot: &GraphSnapshot, name: &str) -> bool {
    snapshot.nodes.iter().any(|n| &*n.name == name)
        || snapshot
            .edges
            .iter()
            .any(|e| &*e.client == name || &*e.server == name)
}

pub(super) async fn graph(
    State(state): State<ApiState>,
    params: Result<Query<GraphQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let snapshot = state.snapshots.latest();
    let dot = match params.format.as_deref() {
        None | Some("json") => false,
        Some("dot") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "unknown format {other:?}: use json or dot"
            )));
        }
    };
    let view = match (&params.service, params.depth) {
        (None, Some(_)) => {
            return Err(ApiError::BadRequest("depth needs a service".to_owned()));
        }
        (None, None) => views::graph_view(&snapshot, None),
        (Some(service), depth) => {
            let depth = depth.unwrap_or(1);
            if depth > MAX_DEPTH {
                return Err(ApiError::BadRequest(format!(
                    "depth must be at most {MAX_DEPTH}"
                )));
            }
            if !is_known(&snapshot, service) {
                return Err(ApiError::UnknownService(service.clone()));
            }
            let adjacency = Adjacency::new(&snapshot.edges);
            let keep = adjacency.neighbourhood(service, depth);
            views::graph_view(&snapshot, Some(&keep))
        }
    };
    if dot {
        Ok((
            [(header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8")],
            dot::render(&view),
        )
            .into_response())
    } else {
        Ok(Json(view).into_response())
    }
}

pub(super) async fn services(State(state): State<ApiState>) -> Response {
    Json(views::services_view(&state.snapshots.latest())).into_response()
}

pub(super) async fn dependencies(
    state: State<ApiState>,
    name: Path<String>,
    params: Result<Query<RelatedQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    related(state, name, params, Direction::Dependencies)
}

pub(super) async fn dependents(
    state: State<ApiState>,
    name: Path<String>,
    params: Result<Query<RelatedQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    related(state, name, params, Direction::Dependents)
}

fn related(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    params: Result<Query<RelatedQuery>, QueryRejection>,
    direction: Direction,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let snapshot = state.snapshots.latest();
    if !is_known(&snapshot, &name) {
        return Err(ApiError::UnknownService(name));
    }
    let adjacency = Adjacency::new(&snapshot.edges);
    let max_depth = if params.transitive { None } else { Some(1) };
    let reached = adjacency.reachable(&name, direction, max_depth);
    let view = views::related_view(
        &snapshot,
        &name,
        direction == Direction::Dependents,
        params.transitive,
        &reached,
    );
    Ok(Json(view).into_response())
}

pub(super) async fn healthz() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

pub(super) async fn readyz(State(state): State<ApiState>) -> Response {
    let readiness = state.health.readiness();
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let waiting_for: Vec<&str> = readiness.waiting_for.iter().map(|c| c.as_str()).collect();
    let body = serde_json::json!({
        "ready": readiness.ready,
        "waiting_for": waiting_for,
        "shutting_down": readiness.shutting_down,
    });
    (status, Json(body)).into_response()
}

pub(super) async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": "no such endpoint" })),
    )
        .into_response()
}
