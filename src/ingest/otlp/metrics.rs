//! Self-metrics of the OTLP receivers, registered as `epicenter_ingest_otlp_*`.
//!
//! Labels are bounded enums; never a service name or an error message.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::ingest::decode::RejectReason;
use crate::model::SpanSource;

/// Which receiver handled a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP.
    Http,
}

impl Transport {
    /// `grpc` or `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::Http => "http",
        }
    }

    /// The span source of batches this receiver hands off.
    pub fn source(self) -> SpanSource {
        match self {
            Self::Grpc => SpanSource::OtlpGrpc,
            Self::Http => SpanSource::OtlpHttp,
        }
    }
}

/// Request body encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Binary protobuf (`application/x-protobuf`, and all of gRPC).
    Protobuf,
    /// OTLP/JSON (`application/json`).
    Json,
    /// A content type we do not accept.
    Unknown,
}

impl Encoding {
    /// `protobuf`, `json` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Protobuf => "protobuf",
            Self::Json => "json",
            Self::Unknown => "unknown",
        }
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestResult {
    /// Every span accepted (or an empty request).
    Ok,
    /// Accepted, but some spans were rejected (`partial_success`).
    PartialSuccess,
    /// Undecodable body or bad compression (400 / `INVALID_ARGUMENT`).
    Invalid,
    /// Over `max_request_bytes` (413 / `RESOURCE_EXHAUSTED`).
    TooLarge,
    /// Unsupported content type or encoding (415).
    UnsupportedMediaType,
    /// The queue to the graph stage stayed full (503 / `UNAVAILABLE`).
    Backpressure,
    /// The pipeline is shutting down (503 / `UNAVAILABLE`).
    ShuttingDown,
    /// A bug: the decoder panicked (500 / `INTERNAL`).
    Internal,
}

impl RequestResult {
    /// Stable snake_case label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::PartialSuccess => "partial_success",
            Self::Invalid => "invalid",
            Self::TooLarge => "too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Backpressure => "backpressure",
            Self::ShuttingDown => "shutting_down",
            Self::Internal => "internal",
        }
    }
}

/// Why a batch was refused after decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BatchRejectReason {
    /// The queue stayed full for `enqueue_timeout_ms`.
    Backpressure,
    /// The graph stage is gone (shutdown).
    ShuttingDown,
}

/// `reason` label of rejected spans: the decoder's [`RejectReason`] name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct SpanRejectReason(RejectReason);

macro_rules! label_value {
    ($($t:ty => $f:expr),* $(,)?) => {$(
        impl EncodeLabelValue for $t {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
                std::fmt::Write::write_str(encoder, $f(*self))
            }
        }
    )*};
}

label_value! {
    Transport => Transport::as_str,
    Encoding => Encoding::as_str,
    RequestResult => RequestResult::as_str,
    BatchRejectReason => |r| match r {
        BatchRejectReason::Backpressure => "backpressure",
        BatchRejectReason::ShuttingDown => "shutting_down",
    },
    SpanRejectReason => |r: SpanRejectReason| r.0.as_str(),
    Source => |s: Source| s.0.source().as_str(),
}

/// `source` label: `otlp_grpc` or `otlp_http` (the [`SpanSource`] name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Source(Transport);

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    transport: Transport,
    encoding: Encoding,
    result: RequestResult,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EncodingLabels {
    transport: Transport,
    encoding: Encoding,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SourceLabels {
    source: Source,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SpanRejectLabels {
    source: Source,
    reason: SpanRejectReason,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BatchRejectLabels {
    source: Source,
    reason: BatchRejectReason,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TransportLabels {
    transport: Transport,
}

/// The receivers' counters. Cheap to clone; clones share the counters.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    spans_received: Family<SourceLabels, Counter>,
    spans_rejected: Family<SpanRejectLabels, Counter>,
    decode_errors: Family<EncodingLabels, Counter>,
    request_bytes: Family<EncodingLabels, Counter>,
    enqueue_wait_seconds: Family<TransportLabels, Counter<f64>>,
    batches_rejected: Family<BatchRejectLabels, Counter>,
}

impl Metrics {
    /// Registers under `otlp_` in `registry`, which is the ingest module's
    /// sub-registry (`epicenter_ingest`), giving `epicenter_ingest_otlp_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let registry = registry.sub_registry_with_prefix("otlp");
        // Counters are registered without `_total`; the encoder appends it.
        registry.register(
            "requests",
            "Export requests by transport, body encoding and result",
            metrics.requests.clone(),
        );
        registry.register(
            "spans_received",
            "Spans decoded and handed to the graph stage, by source",
            metrics.spans_received.clone(),
        );
        registry.register(
            "spans_rejected",
            "Spans dropped from accepted requests (partial success), by reason",
            metrics.spans_rejected.clone(),
        );
        registry.register(
            "decode_errors",
            "Requests whose body could not be decompressed or decoded",
            metrics.decode_errors.clone(),
        );
        registry.register(
            "request_bytes",
            "Request body bytes after decompression",
            metrics.request_bytes.clone(),
        );
        registry.register(
            "enqueue_wait_seconds",
            "Time requests spent blocked on the full queue to the graph stage",
            metrics.enqueue_wait_seconds.clone(),
        );
        registry.register(
            "batches_rejected",
            "Decoded batches refused because the queue stayed full or closed, by reason",
            metrics.batches_rejected.clone(),
        );
        metrics
    }

    /// One request finished.
    pub(crate) fn request(&self, transport: Transport, encoding: Encoding, result: RequestResult) {
        self.requests
            .get_or_create(&RequestLabels {
                transport,
                encoding,
                result,
            })
            .inc();
    }

    /// A decoded request body of `bytes` bytes (after decompression).
    pub(crate) fn request_bytes(&self, transport: Transport, encoding: Encoding, bytes: usize) {
        self.request_bytes
            .get_or_create(&EncodingLabels {
                transport,
                encoding,
            })
            .inc_by(bytes as u64);
    }

    /// A body that could not be decompressed or decoded.
    pub(crate) fn decode_error(&self, transport: Transport, encoding: Encoding) {
        self.decode_errors
            .get_or_create(&EncodingLabels {
                transport,
                encoding,
            })
            .inc();
    }

    /// `spans` spans were handed to the graph stage.
    pub(crate) fn spans_received(&self, transport: Transport, spans: usize) {
        self.spans_received
            .get_or_create(&SourceLabels {
                source: Source(transport),
            })
            .inc_by(spans as u64);
    }

    /// `spans` spans of an accepted request were dropped for `reason`.
    pub(crate) fn spans_rejected(&self, transport: Transport, reason: RejectReason, spans: u64) {
        self.spans_rejected
            .get_or_create(&SpanRejectLabels {
                source: Source(transport),
                reason: SpanRejectReason(reason),
            })
            .inc_by(spans);
    }

    /// A request waited `waited` for room in the queue.
    pub(crate) fn enqueue_wait(&self, transport: Transport, waited: Duration) {
        if !waited.is_zero() {
            self.enqueue_wait_seconds
                .get_or_create(&TransportLabels { transport })
                .inc_by(waited.as_secs_f64());
        }
    }

    /// A decoded batch was refused.
    pub(crate) fn batch_rejected(&self, transport: Transport, reason: BatchRejectReason) {
        self.batches_rejected
            .get_or_create(&BatchRejectLabels {
                source: Source(transport),
                reason,
            })
            .inc();
    }
}
