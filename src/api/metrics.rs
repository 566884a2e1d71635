//! `GET /metrics`: self-metrics from the registry plus the service-graph
//! series rendered from the latest snapshot, in the negotiated format.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{prometheus_text, text};

use super::exposition::{Format, write_graph_series};
use super::{ApiError, ApiState};

pub(super) async fn metrics(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let body = render(&state, format)
        .map_err(|_| ApiError::Internal("failed to encode metrics".to_owned()))?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

/// The whole exposition: registry, then graph series, then `# EOF` (OpenMetrics only).
pub(super) fn render(state: &ApiState, format: Format) -> Result<String, std::fmt::Error> {
    let mut out = String::with_capacity(16 * 1024);
    match format {
        Format::OpenMetrics => text::encode_registry(&mut out, &state.registry)?,
        Format::PrometheusText => prometheus_text::encode(&mut out, &state.registry)?,
    }
    if state.graph_metrics.enabled {
        let snapshot = state.snapshots.latest();
        write_graph_series(&mut out, &snapshot, &state.graph_metrics.prefix, format);
    }
    if format == Format::OpenMetrics {
        text::encode_eof(&mut out)?;
    }
    Ok(out)
}
