//! The one error type of the HTTP API and its conversion to a response.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why an API request failed. Rendered as `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service (node) is not in the current graph.
    #[error("unknown service {0:?}")]
    UnknownService(String),
    /// Something else asked for by id is not known (e.g. an incident).
    #[error("{0}")]
    NotFound(String),
    /// A query parameter is missing, malformed or out of range.
    #[error("{0}")]
    BadRequest(String),
    /// The response could not be rendered.
    #[error("internal error: {0}")]
    Internal(String),
    /// The daemon keeps no history (`history.enabled: false`).
    #[error("{0}")]
    Unavailable(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::UnknownService(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}
