//! Bad input to the OTLP receivers: each case gets a clear answer and a
//! counter, and the receivers keep serving afterwards.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use tonic::Code;

use crate::support::otlp::{
    Receivers, RpcStatus, gzip, http_client, request, services_of, settings, span, two_services,
};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

async fn post(receivers: &Receivers, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    http_client()
        .post(receivers.http_url())
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A good request after the bad one is still accepted on both transports.
async fn still_serving(receivers: &mut Receivers) {
    let response = post(receivers, PROTOBUF, two_services().encode_to_vec()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        services_of(&receivers.next_batch().await),
        ["frontend", "checkout"]
    );
    let mut client = receivers.grpc_client().await;
    client.export(two_services()).await.unwrap();
    assert_eq!(
        services_of(&receivers.next_batch().await),
        ["frontend", "checkout"]
    );
}

fn rejected(receivers: &Receivers, source: &str, reason: &str) -> f64 {
    receivers.sample(&format!(
        "epicenter_ingest_otlp_spans_rejected_total{{source=\"{source}\",reason=\"{reason}\"}}"
    ))
}

fn truncated() -> Vec<u8> {
    let mut body = two_services().encode_to_vec();
    body.truncate(body.len() - 7);
    body
}

#[tokio::test]
async fn truncated_protobuf_over_http_is_400_with_a_status_body() {
    let mut receivers = Receivers::start(8, settings()).await;
    let response = post(&receivers, PROTOBUF, truncated()).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], PROTOBUF);
    let status = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(status.code, Code::InvalidArgument as i32);
    assert!(
        status.message.contains("invalid protobuf"),
        "{}",
        status.message
    );
    assert_eq!(receivers.requests("http", "protobuf", "invalid"), 1.0);
    assert_eq!(
        receivers.sample(
            "epicenter_ingest_otlp_decode_errors_total{transport=\"http\",encoding=\"protobuf\"}"
        ),
        1.0
    );
    assert!(receivers.queue_is_empty());
    still_serving(&mut receivers).await;
    receivers.stop().await;
}

#[tokio::test]
async fn truncated_protobuf_over_grpc_is_invalid_argument() {
    let mut receivers = Receivers::start(8, settings()).await;
    let mut raw = receivers.raw_grpc_client().await;
    let status = raw.export(truncated(), false).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(receivers.requests("grpc", "protobuf", "invalid"), 1.0);
    assert_eq!(
        receivers.sample(
            "epicenter_ingest_otlp_decode_errors_total{transport=\"grpc\",encoding=\"protobuf\"}"
        ),
        1.0
    );
    still_serving(&mut receivers).await;
    receivers.stop().await;
}

#[tokio::test]
async fn malformed_json_is_400_with_a_json_status_body() {
    let mut receivers = Receivers::start(8, settings()).await;
    let response = post(&receivers, JSON, br#"{"resourceSpans": [{"#.to_vec()).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], JSON);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], Code::InvalidArgument as i32);
    assert!(
        body["message"].as_str().unwrap().contains("invalid json"),
        "{body}"
    );
    assert_eq!(receivers.requests("http", "json", "invalid"), 1.0);
    still_serving(&mut receivers).await;
    receivers.stop().await;
}

#[tokio::test]
async fn wrong_content_type_is_415_with_a_clear_message() {
    let mut receivers = Receivers::start(8, settings()).await;
    let response = post(&receivers, "text/plain", b"hello".to_vec()).await;
    assert_eq!(response.status(), 415);
    let body: serde_json::Value = response.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("\"text/plain\""), "{message}");
    assert!(
        message.contains("application/x-protobuf or application/json"),
        "{message}"
    );
    assert_eq!(
        receivers.requests("http", "unknown", "unsupported_media_type"),
        1.0
    );
    still_serving(&mut receivers).await;
    receivers.stop().await;
}

#[tokio::test]
async fn unsupported_content_encoding_is_415() {
    let mut receivers = Receivers::start(8, settings()).await;
    let response = http_client()
        .post(receivers.http_url())
        .header("content-type", PROTOBUF)
        .header("content-encoding", "br")
        .body(two_services().encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let status = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
    assert!(
        status.message.contains("content encoding"),
        "{}",
        status.message
    );
    assert_eq!(
        receivers.requests("http", "protobuf", "unsupported_media_type"),
        1.0
    );
    still_serving(&mut receivers).await;
    receivers.stop().await;
}

#[tokio::test]
async fn corrupt_gzip_is_400() {
    let mut receivers = Receivers::start(8, settings()).await;
    let response = http_client()
        .post(receivers.http_url())
        .header("content-type", PROTOBUF)
        .header("content-encoding", "gzip")
        .body(b"not gzip at all".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(receivers.requests("http", "protobuf", "invalid"), 1.0);
    still_serving(&mut receivers).await;
    receivers.stop().await;
}

/// A request of about `bytes` bytes: one span whose name is that long.
fn oversized(bytes: usize) -> ExportTraceServiceRequest {
    let name = "x".repeat(bytes);
    request(vec![(
        Some("big"),
        vec![span(1, 2, 0, SpanKind::Server, &name, 1)],
    )])
}

#[tokio::test]
async fn oversized_http_request_is_413() {
    let mut receivers = Receivers::start(8, settings()).await;
    let body = oversized(2 * 1024 * 1024).encode_to_vec();
    let response = post(&receivers, PROTOBUF, body).await;
    assert_eq!(response.status(), 413);
    let status = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
    assert!(
        status.message.contains("1048576 bytes"),
        "{}",
        status.message
    );
    assert_eq!(receivers.requests("http", "protobuf", "too_large"), 1.0);
    assert!(receivers.queue_is_empty());
    still_serving(&mut receivers).await;
    receivers.stop().await;
}

#[tokio::test]
async fn gzip_bomb_is_413_after_decompression() {
    let mut receivers = Receivers::start(8, settings()).await;
    // Small on the wire, 2 MiB once inflated (the limit is 1 MiB).
    let body = gzip(&oversized(2 * 1024 * 1024).encode_to_vec());
    assert!(body.len() < 64 * 1024);
    let response = http_client()
        .post(receivers.http_url())
        .header("content-type", PROTOBUF)
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(receivers.requests("http", "protobuf", "too_large"), 1.0);
    still_serving(&mut receivers).await;
    receivers.stop().await;
}

#[tokio::test]
async fn oversized_grpc_request_is_resource_exhausted_plain_or_gzip() {
    let mut receivers = Receivers::start(8, settings()).await;
    let body = oversized(2 * 1024 * 1024).encode_to_vec();
    let mut raw = receivers.raw_grpc_client().await;
    let plain = raw.export(body.clone(), false).await.unwrap_err();
    assert_eq!(plain.code(), Code::ResourceExhausted, "{plain:?}");
    let compressed = raw.export(body, true).await.unwrap_err();
    assert_eq!(compressed.code(), Code::ResourceExhausted, "{compressed:?}");
    assert_eq!(receivers.requests("grpc", "protobuf", "too_large"), 2.0);
    assert!(receivers.queue_is_empty());
    still_serving(&mut receivers).await;
    receivers.stop().await;
}

/// `request` with the span name bytes `NAME!` replaced by invalid UTF-8.
fn with_invalid_utf8(request: &ExportTraceServiceRequest) -> Vec<u8> {
    let mut body = request.encode_to_vec();
    let at = body.windows(5).position(|w| w == b"NAME!").unwrap();
    body[at..at + 5].copy_from_slice(&[0xff, 0xfe, 0xc3, 0x28, 0x80]);
    body
}

#[tokio::test]
async fn invalid_utf8_span_is_a_partial_success() {
    let mut receivers = Receivers::start(8, settings()).await;
    let request = request(vec![(
        Some("svc"),
        vec![
            span(1, 2, 0, SpanKind::Server, "NAME!", 5),
            span(1, 3, 2, SpanKind::Client, "fine", 5),
        ],
    )]);
    let response = post(&receivers, PROTOBUF, with_invalid_utf8(&request)).await;
    assert_eq!(response.status(), 200);
    let body = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    let partial = body.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("utf-8"),
        "{}",
        partial.error_message
    );
    assert_eq!(receivers.next_batch().await.len(), 1);
    assert_eq!(rejected(&receivers, "otlp_http", "invalid_utf8"), 1.0);
    assert_eq!(
        receivers.requests("http", "protobuf", "partial_success"),
        1.0
    );
    still_serving(&mut receivers).await;
    receivers.stop().await;
}

#[tokio::test]
async fn span_ending_before_it_starts_is_a_partial_success() {
    let mut receivers = Receivers::start(8, settings()).await;
    let mut backwards = span(1, 4, 0, SpanKind::Server, "backwards", 5);
    std::mem::swap(
        &mut backwards.start_time_unix_nano,
        &mut backwards.end_time_unix_nano,
    );
    let request = request(vec![(
        Some("svc"),
        vec![backwards, span(1, 5, 0, SpanKind::Server, "fine", 5)],
    )]);
    let mut client = receivers.grpc_client().await;
    let response = client.export(request).await.unwrap().into_inner();
    let partial = response.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("end time before start time"),
        "{partial:?}"
    );
    assert_eq!(receivers.next_batch().await.len(), 1);
    assert_eq!(rejected(&receivers, "otlp_grpc", "end_before_start"), 1.0);
    assert_eq!(
        receivers.requests("grpc", "protobuf", "partial_success"),
        1.0
    );
    still_serving(&mut receivers).await;
    receivers.stop().await;
}

#[tokio::test]
async fn resource_without_service_name_is_a_partial_success() {
    let mut receivers = Receivers::start(8, settings()).await;
    let request = request(vec![
        (
            None,
            vec![
                span(1, 2, 0, SpanKind::Server, "a", 5),
                span(1, 3, 2, SpanKind::Client, "b", 5),
            ],
        ),
        (Some("named"), vec![span(1, 4, 0, SpanKind::Server, "c", 5)]),
    ]);
    // Over HTTP/JSON too: the same answer in JSON.
    let json = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "host.name", "value": {"stringValue": "h"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a", "spanId": "0b0b0b0b0b0b0b0b",
            "name": "x", "kind": 2,
            "startTimeUnixNano": "1787230025000000000", "endTimeUnixNano": "1787230025100000000"
        }]}]
    }]});
    let response = post(&receivers, JSON, json.to_string().into_bytes()).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["partialSuccess"]["rejectedSpans"], "1");
    assert!(
        body["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("service.name")
    );
    assert!(receivers.queue_is_empty());

    let response = post(&receivers, PROTOBUF, request.encode_to_vec()).await;
    let body = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(body.partial_success.unwrap().rejected_spans, 2);
    assert_eq!(services_of(&receivers.next_batch().await), ["named"]);
    assert_eq!(
        rejected(&receivers, "otlp_http", "missing_service_name"),
        3.0
    );
    assert_eq!(receivers.requests("http", "json", "partial_success"), 1.0);
    assert_eq!(
        receivers.requests("http", "protobuf", "partial_success"),
        1.0
    );
    still_serving(&mut receivers).await;
    receivers.stop().await;
}

#[tokio::test]
async fn full_queue_is_503_with_retry_after_then_recovers() {
    let mut receivers = Receivers::start(1, settings()).await;
    let body = two_services().encode_to_vec();
    assert_eq!(post(&receivers, PROTOBUF, body.clone()).await.status(), 200);
    // The queue (capacity 1) is full and nobody reads it.
    let response = post(&receivers, PROTOBUF, body.clone()).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let status = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(status.code, Code::Unavailable as i32);
    assert_eq!(receivers.requests("http", "protobuf", "backpressure"), 1.0);
    assert_eq!(
        receivers.sample(
            "epicenter_ingest_otlp_batches_rejected_total{source=\"otlp_http\",reason=\"backpressure\"}"
        ),
        1.0
    );
    let waited =
        receivers.sample("epicenter_ingest_otlp_enqueue_wait_seconds_total{transport=\"http\"}");
    assert!(waited > 0.0, "time blocked on the queue must be counted");

    receivers.next_batch().await; // room again
    still_serving(&mut receivers).await;
    receivers.stop().await;
}

#[tokio::test]
async fn full_queue_is_unavailable_over_grpc_with_retry_info() {
    let mut receivers = Receivers::start(1, settings()).await;
    let mut client = receivers.grpc_client().await;
    client.export(two_services()).await.unwrap();
    let status = client.export(two_services()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    // grpc-status-details-bin carries a google.rpc.Status with RetryInfo.
    let details = status.details();
    assert!(!details.is_empty());
    assert!(
        details
            .windows(b"google.rpc.RetryInfo".len())
            .any(|w| w == b"google.rpc.RetryInfo"),
        "RetryInfo missing from the status details"
    );
    assert_eq!(receivers.requests("grpc", "protobuf", "backpressure"), 1.0);
    assert_eq!(
        receivers.sample(
            "epicenter_ingest_otlp_batches_rejected_total{source=\"otlp_grpc\",reason=\"backpressure\"}"
        ),
        1.0
    );
    receivers.next_batch().await;
    still_serving(&mut receivers).await;
    receivers.stop().await;
}
