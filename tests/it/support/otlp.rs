//! OTLP test helpers: in-process receivers on 127.0.0.1:0, request builders
//! with the full generated types, a raw-bytes gRPC client, counter lookup.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes};
use epicenter::ingest::otlp::{self, Metrics, OtlpError, Settings, Sink};
use epicenter::model::SpanBatch;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prometheus_client::registry::Registry;
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

/// How long a test waits for anything over the network.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Both receivers, started in-process, and the queue they feed.
pub struct Receivers {
    /// gRPC address.
    pub grpc: SocketAddr,
    /// HTTP address.
    pub http: SocketAddr,
    /// What the graph stage would receive.
    pub batches: mpsc::Receiver<SpanBatch>,
    /// `epicenter` registry with the receivers' metrics.
    pub registry: Registry,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<Result<(), OtlpError>>>,
}

/// Default test settings: a 1 MiB limit and a short enqueue timeout.
pub fn settings() -> Settings {
    Settings {
        max_request_bytes: 1024 * 1024,
        enqueue_timeout: Duration::from_millis(100),
        ..Settings::default()
    }
}

impl Receivers {
    /// Starts gRPC and HTTP receivers feeding a queue of `capacity` batches.
    pub async fn start(capacity: usize, settings: Settings) -> Self {
        let grpc_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc = grpc_listener.local_addr().unwrap();
        let http = http_listener.local_addr().unwrap();
        let (tx, batches) = mpsc::channel(capacity);
        let mut registry = Registry::with_prefix("epicenter");
        let metrics = Metrics::register(registry.sub_registry_with_prefix("ingest"));
        let sink = Sink::new(tx, &settings);
        let shutdown = CancellationToken::new();
        let tasks = vec![
            tokio::spawn(otlp::serve_grpc(
                grpc_listener,
                sink.clone(),
                metrics.clone(),
                shutdown.clone(),
            )),
            tokio::spawn(otlp::serve_http(
                http_listener,
                sink,
                metrics,
                shutdown.clone(),
            )),
        ];
        Self {
            grpc,
            http,
            batches,
            registry,
            shutdown,
            tasks,
        }
    }

    /// `http://…/v1/traces`.
    pub fn http_url(&self) -> String {
        format!("http://{}/v1/traces", self.http)
    }

    /// A gRPC client with the full generated types.
    pub async fn grpc_client(&self) -> TraceServiceClient<Channel> {
        TraceServiceClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }

    /// A gRPC client that sends raw bytes as the request message.
    pub async fn raw_grpc_client(&self) -> RawClient {
        let channel = Channel::from_shared(format!("http://{}", self.grpc))
            .unwrap()
            .connect()
            .await
            .unwrap();
        RawClient {
            inner: tonic::client::Grpc::new(channel),
        }
    }

    /// The next batch handed off, within [`PATIENCE`].
    pub async fn next_batch(&mut self) -> SpanBatch {
        tokio::time::timeout(PATIENCE, self.batches.recv())
            .await
            .expect("no batch arrived in time")
            .expect("queue closed")
    }

    /// True when no batch is waiting in the queue right now.
    pub fn queue_is_empty(&mut self) -> bool {
        self.batches.try_recv().is_err()
    }

    /// The value of one sample, e.g.
    /// `epicenter_ingest_otlp_requests_total{transport="http",encoding="json",result="ok"}`;
    /// 0 when the series does not exist yet.
    pub fn sample(&self, sample: &str) -> f64 {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).unwrap();
        text.lines()
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == sample).then(|| value.parse::<f64>().unwrap())
            })
            .unwrap_or(0.0)
    }

    /// `epicenter_ingest_otlp_requests_total` for one label combination.
    pub fn requests(&self, transport: &str, encoding: &str, result: &str) -> f64 {
        self.sample(&format!(
            "epicenter_ingest_otlp_requests_total{{transport=\"{transport}\",encoding=\"{encoding}\",result=\"{result}\"}}"
        ))
    }

    /// Asks both servers to stop accepting and drain (like SIGTERM).
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Stops both servers and checks they stopped cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let result = tokio::time::timeout(PATIENCE, task)
                .await
                .expect("server did not stop");
            result.unwrap().unwrap();
        }
    }
}

/// Polls `condition` every 10 ms until it holds, failing after [`PATIENCE`].
pub async fn eventually(mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A gRPC client for `TraceService/Export` whose request is raw bytes.
pub struct RawClient {
    inner: tonic::client::Grpc<Channel>,
}

impl RawClient {
    /// Exports `body` as the request message (optionally gzip-compressed).
    pub async fn export(
        &mut self,
        body: Vec<u8>,
        gzip: bool,
    ) -> Result<ExportTraceServiceResponse, tonic::Status> {
        let path = http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        );
        let mut grpc = self.inner.clone();
        if gzip {
            grpc = grpc.send_compressed(tonic::codec::CompressionEncoding::Gzip);
        }
        grpc = grpc.max_encoding_message_size(usize::MAX);
        grpc.ready().await.unwrap();
        grpc.unary(tonic::Request::new(Bytes::from(body)), path, RawCodec)
            .await
            .map(tonic::Response::into_inner)
    }
}

#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawEncoder;
    type Decoder = ResponseDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> ResponseDecoder {
        ResponseDecoder
    }
}

struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

struct ResponseDecoder;

impl Decoder for ResponseDecoder {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        ExportTraceServiceResponse::decode(bytes)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

/// `google.rpc.Status` as OTLP/HTTP error bodies carry it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// Code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Message.
    #[prost(string, tag = "2")]
    pub message: String,
}

// === request builders ===

/// A string attribute.
pub fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

/// A span of `kind` in trace `trace` (one byte repeated), id `id`, child of
/// `parent` (0 = root), lasting `millis` from a fixed start.
pub fn span(trace: u8, id: u8, parent: u8, kind: span::SpanKind, name: &str, millis: u64) -> Span {
    let start = 1_787_230_025_000_000_000u64;
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        parent_span_id: if parent == 0 {
            Vec::new()
        } else {
            vec![parent; 8]
        },
        name: name.to_owned(),
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + millis * 1_000_000,
        status: Some(Status::default()),
        ..Default::default()
    }
}

/// A request with one resource per `(service.name, spans)`; `None` leaves
/// the resource without `service.name`.
pub fn request(resources: Vec<(Option<&str>, Vec<Span>)>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: resources
            .into_iter()
            .map(|(service, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: service
                        .map(|s| attr("service.name", s))
                        .into_iter()
                        .collect(),
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

/// frontend (client span 2) → checkout (server span 3): two spans in two resources.
pub fn two_services() -> ExportTraceServiceRequest {
    request(vec![
        (
            Some("frontend"),
            vec![span(1, 2, 1, span::SpanKind::Client, "GET /checkout", 120)],
        ),
        (
            Some("checkout"),
            vec![span(1, 3, 2, span::SpanKind::Server, "GET /checkout", 100)],
        ),
    ])
}

/// The same two spans as [`two_services`], in OTLP/JSON.
pub fn two_services_json() -> serde_json::Value {
    let resource = |service: &str, span: serde_json::Value| {
        serde_json::json!({
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
            "scopeSpans": [{"scope": {"name": "test"}, "spans": [span]}]
        })
    };
    serde_json::json!({"resourceSpans": [
        resource("frontend", serde_json::json!({
            "traceId": "01010101010101010101010101010101", "spanId": "0202020202020202",
            "parentSpanId": "0101010101010101", "name": "GET /checkout", "kind": 3,
            "startTimeUnixNano": "1787230025000000000", "endTimeUnixNano": "1787230025120000000"
        })),
        resource("checkout", serde_json::json!({
            "traceId": "01010101010101010101010101010101", "spanId": "0303030303030303",
            "parentSpanId": "0202020202020202", "name": "GET /checkout", "kind": 2,
            "startTimeUnixNano": "1787230025000000000", "endTimeUnixNano": "1787230025100000000"
        })),
    ]})
}

/// The service names of a batch's spans, in order.
pub fn services_of(batch: &SpanBatch) -> Vec<String> {
    batch
        .spans
        .iter()
        .map(|s| batch.resource_of(s).service.to_string())
        .collect()
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A reqwest client with no proxy.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(PATIENCE)
        .build()
        .unwrap()
}
