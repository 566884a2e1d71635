//! OTLP receivers in-process: what arrives on the queue, what clients get back.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;

use epicenter::ingest::otlp::Settings;

use crate::support::otlp::{
    PATIENCE, Receivers, eventually, gzip, http_client, services_of, settings, two_services,
    two_services_json,
};

#[tokio::test]
async fn grpc_export_hands_the_spans_to_the_queue() {
    let mut receivers = Receivers::start(8, settings()).await;
    let mut client = receivers.grpc_client().await;
    let response = client.export(two_services()).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None);

    let batch = receivers.next_batch().await;
    assert_eq!(services_of(&batch), ["frontend", "checkout"]);
    assert_eq!(batch.spans[1].parent_span_id, batch.spans[0].span_id);
    assert_eq!(receivers.requests("grpc", "protobuf", "ok"), 1.0);
    assert_eq!(
        receivers.sample("epicenter_ingest_otlp_spans_received_total{source=\"otlp_grpc\"}"),
        2.0
    );
    let bytes = two_services().encoded_len() as f64;
    assert_eq!(
        receivers.sample(
            "epicenter_ingest_otlp_request_bytes_total{transport=\"grpc\",encoding=\"protobuf\"}"
        ),
        bytes
    );
    receivers.stop().await;
}

#[tokio::test]
async fn grpc_accepts_gzip_and_zstd_requests() {
    let mut receivers = Receivers::start(8, settings()).await;
    for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Zstd] {
        let mut client = receivers.grpc_client().await.send_compressed(encoding);
        let response = client.export(two_services()).await.unwrap().into_inner();
        assert_eq!(response.partial_success, None);
        assert_eq!(
            services_of(&receivers.next_batch().await),
            ["frontend", "checkout"]
        );
    }
    assert_eq!(receivers.requests("grpc", "protobuf", "ok"), 2.0);
    receivers.stop().await;
}

#[tokio::test]
async fn grpc_empty_request_succeeds_and_sends_nothing() {
    let mut receivers = Receivers::start(8, settings()).await;
    let mut client = receivers.grpc_client().await;
    let response = client
        .export(ExportTraceServiceRequest::default())
        .await
        .unwrap();
    assert_eq!(response.into_inner().partial_success, None);
    assert!(receivers.queue_is_empty());
    assert_eq!(receivers.requests("grpc", "protobuf", "ok"), 1.0);
    receivers.stop().await;
}

#[tokio::test]
async fn http_protobuf_export_answers_in_protobuf() {
    let mut receivers = Receivers::start(8, settings()).await;
    let response = http_client()
        .post(receivers.http_url())
        .header("content-type", "application/x-protobuf")
        .body(two_services().encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let body = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(body.partial_success, None);
    assert_eq!(
        services_of(&receivers.next_batch().await),
        ["frontend", "checkout"]
    );
    assert_eq!(receivers.requests("http", "protobuf", "ok"), 1.0);
    assert_eq!(
        receivers.sample("epicenter_ingest_otlp_spans_received_total{source=\"otlp_http\"}"),
        2.0
    );
    receivers.stop().await;
}

#[tokio::test]
async fn http_json_export_answers_in_json() {
    let mut receivers = Receivers::start(8, settings()).await;
    let response = http_client()
        .post(receivers.http_url())
        .header("content-type", "application/json; charset=utf-8")
        .body(two_services_json().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({}));
    let batch = receivers.next_batch().await;
    assert_eq!(services_of(&batch), ["frontend", "checkout"]);
    assert_eq!(batch.spans[1].parent_span_id, batch.spans[0].span_id);
    assert_eq!(receivers.requests("http", "json", "ok"), 1.0);
    receivers.stop().await;
}

#[tokio::test]
async fn http_gzip_bodies_are_decompressed_for_both_encodings() {
    let mut receivers = Receivers::start(8, settings()).await;
    let bodies = [
        ("application/x-protobuf", two_services().encode_to_vec()),
        (
            "application/json",
            two_services_json().to_string().into_bytes(),
        ),
    ];
    for (content_type, body) in bodies {
        let response = http_client()
            .post(receivers.http_url())
            .header("content-type", content_type)
            .header("content-encoding", "gzip")
            .body(gzip(&body))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{content_type}");
        assert_eq!(
            services_of(&receivers.next_batch().await),
            ["frontend", "checkout"]
        );
    }
    assert_eq!(receivers.requests("http", "protobuf", "ok"), 1.0);
    assert_eq!(receivers.requests("http", "json", "ok"), 1.0);
    receivers.stop().await;
}

#[tokio::test]
async fn http_empty_requests_succeed() {
    let mut receivers = Receivers::start(8, settings()).await;
    let client = http_client();
    for (content_type, body) in [("application/x-protobuf", ""), ("application/json", "{}")] {
        let response = client
            .post(receivers.http_url())
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{content_type}");
    }
    assert!(receivers.queue_is_empty());
    assert_eq!(receivers.requests("http", "protobuf", "ok"), 1.0);
    assert_eq!(receivers.requests("http", "json", "ok"), 1.0);
    receivers.stop().await;
}

#[tokio::test]
async fn http_shutdown_lets_a_request_blocked_on_the_queue_finish() {
    let settings = Settings {
        enqueue_timeout: PATIENCE,
        ..settings()
    };
    let mut receivers = Receivers::start(1, settings).await;
    let body = two_services().encode_to_vec();
    let size = body.len() as f64;
    let post = |url: String, body: Vec<u8>| async move {
        http_client()
            .post(url)
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    };
    // The first batch fills the queue; the second waits for room.
    assert_eq!(post(receivers.http_url(), body.clone()).await, 200);
    let blocked = tokio::spawn(post(receivers.http_url(), body));
    let bytes =
        "epicenter_ingest_otlp_request_bytes_total{transport=\"http\",encoding=\"protobuf\"}";
    eventually(|| receivers.sample(bytes) == 2.0 * size).await;

    receivers.begin_shutdown();
    assert_eq!(receivers.next_batch().await.len(), 2);
    assert_eq!(receivers.next_batch().await.len(), 2);
    assert_eq!(blocked.await.unwrap(), 200);
    assert_eq!(receivers.requests("http", "protobuf", "ok"), 2.0);
    receivers.stop().await;
}

#[tokio::test]
async fn grpc_shutdown_lets_a_request_blocked_on_the_queue_finish() {
    let settings = Settings {
        enqueue_timeout: PATIENCE,
        ..settings()
    };
    let mut receivers = Receivers::start(1, settings).await;
    let size = two_services().encoded_len() as f64;
    let mut client = receivers.grpc_client().await;
    client.export(two_services()).await.unwrap();
    let blocked = tokio::spawn(async move { client.export(two_services()).await });
    let bytes =
        "epicenter_ingest_otlp_request_bytes_total{transport=\"grpc\",encoding=\"protobuf\"}";
    eventually(|| receivers.sample(bytes) == 2.0 * size).await;

    receivers.begin_shutdown();
    assert_eq!(receivers.next_batch().await.len(), 2);
    assert_eq!(receivers.next_batch().await.len(), 2);
    let response = blocked.await.unwrap().unwrap().into_inner();
    assert_eq!(response.partial_success, None);
    assert_eq!(receivers.requests("grpc", "protobuf", "ok"), 2.0);
    receivers.stop().await;
}
