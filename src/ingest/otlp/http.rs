//! OTLP/HTTP: `POST /v1/traces` with protobuf or JSON bodies.
//!
//! Responses use the request's content type: an `ExportTraceServiceResponse`
//! on success (with `partialSuccess` when spans were rejected), a
//! `google.rpc.Status` on failure. Codes follow the OTLP specification,
//! "OTLP/HTTP": 400 undecodable, 413 over the limit (after decompression),
//! 415 unsupported content type or encoding, 503 + `Retry-After` under
//! backpressure (retryable), never 500 for backpressure.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::error::{ExportError, OtlpError};
use super::export::{Compression, Context, export};
use super::metrics::{Encoding, Metrics, RequestResult, Transport};
use super::sink::Sink;
use super::status::{export_response, export_response_json};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// Serves OTLP/HTTP on `listener` until `shutdown` is cancelled, then stops
/// accepting connections and lets in-flight requests finish.
///
/// # Errors
/// [`OtlpError::Http`] when accepting connections fails.
pub async fn serve_http(
    listener: TcpListener,
    sink: Sink,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), OtlpError> {
    axum::serve(listener, router(sink, metrics))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// The OTLP/HTTP router, for embedding in another server.
pub fn router(sink: Sink, metrics: Metrics) -> Router {
    // axum's default 2 MiB limit is far below OTLP's recommended 64 MiB.
    let limit = sink.max_request_bytes;
    Router::new()
        .route("/v1/traces", post(handle_export))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Arc::new(Context { sink, metrics }))
}

async fn handle_export(
    State(ctx): State<Arc<Context>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (encoding, result) = match parse_request(&ctx, &headers, body) {
        Ok((encoding, compression, body)) => (
            encoding,
            export(&ctx, Transport::Http, encoding, compression, body).await,
        ),
        Err((encoding, error)) => (encoding, Err(error)),
    };
    match result {
        Ok(accepted) => {
            let label = if accepted.rejected_spans > 0 {
                RequestResult::PartialSuccess
            } else {
                RequestResult::Ok
            };
            ctx.metrics.request(Transport::Http, encoding, label);
            let response = export_response(accepted.rejected_spans, &accepted.message);
            match encoding {
                Encoding::Json => (
                    [(header::CONTENT_TYPE, JSON)],
                    export_response_json(&response),
                )
                    .into_response(),
                Encoding::Protobuf | Encoding::Unknown => {
                    ([(header::CONTENT_TYPE, PROTOBUF)], response.encode_to_vec()).into_response()
                }
            }
        }
        Err(error) => {
            ctx.metrics
                .request(Transport::Http, encoding, error.result());
            error_response(&error, encoding)
        }
    }
}

/// Content type, content encoding and body, or the error to answer with.
fn parse_request(
    ctx: &Context,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Encoding, Compression, Bytes), (Encoding, ExportError)> {
    let encoding = content_type(headers).map_err(|e| (Encoding::Unknown, e))?;
    let compression = content_encoding(headers).map_err(|e| (encoding, e))?;
    match body {
        Ok(body) => Ok((encoding, compression, body)),
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => Err((
            encoding,
            ExportError::TooLarge {
                limit: ctx.sink.max_request_bytes,
            },
        )),
        Err(_) => Err((encoding, ExportError::Body)),
    }
}

fn content_type(headers: &HeaderMap) -> Result<Encoding, ExportError> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()));
    let media = raw
        .as_deref()
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        PROTOBUF => Ok(Encoding::Protobuf),
        JSON => Ok(Encoding::Json),
        _ => Err(ExportError::UnsupportedContentType(
            raw.unwrap_or_default().into_owned(),
        )),
    }
}

fn content_encoding(headers: &HeaderMap) -> Result<Compression, ExportError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(Compression::Identity);
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(Compression::Identity),
        "gzip" | "x-gzip" => Ok(Compression::Gzip),
        "deflate" => Ok(Compression::Deflate),
        _ => Err(ExportError::UnsupportedContentEncoding(text.into_owned())),
    }
}

/// A `google.rpc.Status` body in the request's encoding (JSON when the
/// request's own content type was not understood), with `Retry-After` on 503.
fn error_response(error: &ExportError, encoding: Encoding) -> Response {
    let status = error.rpc_status();
    let (content_type, body) = match encoding {
        Encoding::Protobuf => (PROTOBUF, status.encode_to_vec()),
        Encoding::Json | Encoding::Unknown => (JSON, status.to_json()),
    };
    let mut response = (
        error.http_status(),
        [(header::CONTENT_TYPE, content_type)],
        body,
    )
        .into_response();
    if let Some(delay) = error.retry_after() {
        let secs = delay.as_secs().max(1);
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn content_types_are_matched_without_parameters_or_case() {
        let h = headers(&[(header::CONTENT_TYPE, "Application/JSON; charset=utf-8")]);
        assert_eq!(content_type(&h).unwrap(), Encoding::Json);
        let h = headers(&[(header::CONTENT_TYPE, "application/x-protobuf")]);
        assert_eq!(content_type(&h).unwrap(), Encoding::Protobuf);
        let h = headers(&[(header::CONTENT_TYPE, "text/plain")]);
        assert!(
            matches!(content_type(&h), Err(ExportError::UnsupportedContentType(t)) if t == "text/plain")
        );
        assert!(content_type(&HeaderMap::new()).is_err());
    }

    #[test]
    fn content_encodings_are_recognised() {
        assert_eq!(
            content_encoding(&HeaderMap::new()).unwrap(),
            Compression::Identity
        );
        let h = headers(&[(header::CONTENT_ENCODING, "GZIP")]);
        assert_eq!(content_encoding(&h).unwrap(), Compression::Gzip);
        let h = headers(&[(header::CONTENT_ENCODING, "br")]);
        assert!(content_encoding(&h).is_err());
    }
}
