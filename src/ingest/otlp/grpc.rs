//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! Served with tonic's low-level server API instead of the generated
//! service: a [`Codec`] whose decoder yields the raw request bytes, so the
//! request is decoded once, by our slim decoder, instead of into the full
//! generated types (which cost about 3.9 µs per span). Responses use the
//! full generated `ExportTraceServiceResponse`.
//!
//! Status codes (OTLP specification, "OTLP/gRPC"): undecodable →
//! `INVALID_ARGUMENT`; over the limit → `RESOURCE_EXHAUSTED` (tonic reports
//! an oversized uncompressed frame as `OUT_OF_RANGE`, which is rewritten);
//! queue full → `UNAVAILABLE` with `RetryInfo`; never `INTERNAL` for
//! backpressure.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Status};

use super::error::{ExportError, OtlpError};
use super::export::{Compression, Context, export};
use super::metrics::{Encoding, Metrics, RequestResult, Transport};
use super::sink::Sink;
use super::status::export_response;

/// The gRPC service name.
const SERVICE_NAME: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
/// The one method path.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// OTLP's recommended response size limit.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Serves OTLP/gRPC on `listener` until `shutdown` is cancelled, then stops
/// accepting connections and lets in-flight requests finish.
///
/// # Errors
/// [`OtlpError::Grpc`] when the server fails (not for failed requests).
pub async fn serve_grpc(
    listener: TcpListener,
    sink: Sink,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), OtlpError> {
    let service = TraceServer {
        ctx: Arc::new(Context { sink, metrics }),
    };
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown.cancelled_owned(),
        )
        .await?;
    Ok(())
}

/// The tower service tonic's router calls for every request.
#[derive(Clone, Debug)]
struct TraceServer {
    ctx: Arc<Context>,
}

impl NamedService for TraceServer {
    const NAME: &'static str = SERVICE_NAME;
}

impl Service<http::Request<tonic::body::Body>> for TraceServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let ctx = Arc::clone(&self.ctx);
        Box::pin(async move {
            if request.uri().path() != EXPORT_PATH {
                return Ok(Status::unimplemented("unknown method").into_http());
            }
            Ok(handle_export(ctx, request).await)
        })
    }
}

async fn handle_export(
    ctx: Arc<Context>,
    request: http::Request<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let limit = ctx.sink.max_request_bytes;
    let reached_service = Arc::new(AtomicBool::new(false));
    let mut grpc = Grpc::new(RawCodec)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(MAX_RESPONSE_BYTES);
    let service = ExportService {
        ctx: Arc::clone(&ctx),
        reached: Arc::clone(&reached_service),
    };
    let response = grpc.unary(service, request).await;
    if reached_service.load(Ordering::Acquire) {
        return response;
    }
    // tonic refused the request before our service saw a message: classify
    // it, count it, and map it onto the codes OTLP specifies.
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    let metrics = &ctx.metrics;
    let error = match status.code() {
        Code::OutOfRange | Code::ResourceExhausted => ExportError::TooLarge { limit },
        // Corrupt compressed data or a missing message.
        Code::Internal => {
            metrics.decode_error(Transport::Grpc, Encoding::Protobuf);
            ExportError::Decompress(std::io::Error::other(status.message().to_owned()))
        }
        _ => {
            // e.g. UNIMPLEMENTED for an unsupported grpc-encoding: keep tonic's answer.
            metrics.request(Transport::Grpc, Encoding::Protobuf, RequestResult::Invalid);
            return response;
        }
    };
    metrics.request(Transport::Grpc, Encoding::Protobuf, error.result());
    crate::rate_limited!(debug, %error, "otlp grpc request refused");
    Status::from(error).into_http()
}

/// The unary handler: raw bytes in, `ExportTraceServiceResponse` out.
struct ExportService {
    ctx: Arc<Context>,
    /// Set when tonic handed us a message (so errors after it are ours).
    reached: Arc<AtomicBool>,
}

impl UnaryService<Bytes> for ExportService {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<tonic::Response<Self::Response>, Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        self.reached.store(true, Ordering::Release);
        let ctx = Arc::clone(&self.ctx);
        Box::pin(async move {
            let body = request.into_inner();
            let result = export(
                &ctx,
                Transport::Grpc,
                Encoding::Protobuf,
                Compression::Identity,
                body,
            )
            .await;
            match result {
                Ok(accepted) => {
                    let label = if accepted.rejected_spans > 0 {
                        RequestResult::PartialSuccess
                    } else {
                        RequestResult::Ok
                    };
                    ctx.metrics
                        .request(Transport::Grpc, Encoding::Protobuf, label);
                    Ok(tonic::Response::new(export_response(
                        accepted.rejected_spans,
                        &accepted.message,
                    )))
                }
                Err(error) => {
                    ctx.metrics
                        .request(Transport::Grpc, Encoding::Protobuf, error.result());
                    Err(Status::from(error))
                }
            }
        })
    }
}

/// Decodes nothing: yields the (decompressed) request message bytes.
#[derive(Clone, Copy, Debug, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = ResponseEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ResponseEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        // Zero-copy: splits the frame off tonic's buffer.
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct ResponseEncoder;

impl Encoder for ResponseEncoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(
        &mut self,
        item: ExportTraceServiceResponse,
        dst: &mut EncodeBuf<'_>,
    ) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|error| Status::internal(error.to_string()))
    }
}
