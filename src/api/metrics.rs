//! `GET /metrics`: self-metrics from the registry plus the service-graph
//! series rendered from the latest snapshot, in the negotiated format. The
//! body is streamed: the registry's text first, then the graph series a
//! chunk at a time (see [`GraphSeries`]), then `# EOF` for OpenMetrics.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{prometheus_text, text};

use super::exposition::{Format, GraphSeries};
use super::{ApiError, ApiState};

pub(super) async fn metrics(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let chunks = chunks(&state, format)
        .map_err(|_| ApiError::Internal("failed to encode metrics".to_owned()))?;
    let body = Body::from_stream(futures_util::stream::iter(chunks.map(Ok::<_, Infallible>)));
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

/// The whole exposition in pieces: registry, then graph series, then
/// `# EOF` (OpenMetrics only). The registry is encoded now; the graph
/// series as the pieces are taken.
fn chunks(
    state: &ApiState,
    format: Format,
) -> Result<impl Iterator<Item = String> + Send + 'static, std::fmt::Error> {
    let mut registry = String::with_capacity(16 * 1024);
    match format {
        Format::OpenMetrics => text::encode_registry(&mut registry, &state.registry)?,
        Format::PrometheusText => prometheus_text::encode(&mut registry, &state.registry)?,
    }
    let graph = state.graph_metrics.enabled.then(|| {
        GraphSeries::new(
            state.snapshots.latest(),
            &state.graph_metrics.prefix,
            format,
        )
    });
    let mut eof = String::new();
    if format == Format::OpenMetrics {
        text::encode_eof(&mut eof)?;
    }
    Ok(std::iter::once(registry)
        .chain(graph.into_iter().flatten())
        .chain((!eof.is_empty()).then_some(eof)))
}
