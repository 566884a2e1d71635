//! OTLP receivers: gRPC `TraceService/Export` and HTTP `POST /v1/traces`.
//!
//! Both decode requests with [`crate::ingest::decode`] (protobuf or JSON,
//! never the full generated types on the hot path) and hand the resulting
//! [`SpanBatch`](crate::model::SpanBatch) to the graph stage through a
//! [`Sink`]: a bounded queue on which a request waits at most
//! `enqueue_timeout_ms` before it is refused with gRPC `UNAVAILABLE` or
//! HTTP 503 + `Retry-After`, so clients retry instead of losing data
//! (STYLE.md §8.5). Spans the decoder rejects are reported to the client as
//! `partial_success` and counted.
//!
//! Limits: `max_request_bytes` (default 64 MiB, the OTLP recommendation) is
//! enforced after decompression on both transports.
//!
//! Shutdown: when the token is cancelled, each server stops accepting
//! connections and lets in-flight requests finish, then returns; dropping
//! the last [`Sink`] closes the queue so the graph stage can drain.
//!
//! Never does: pairing, aggregation, or reading the clock for analysis.
//! The wall clock is only used to measure time blocked on the queue.

pub mod config;
pub mod error;
pub mod metrics;

mod export;
mod grpc;
mod http;
mod sink;
mod status;

pub use config::{Config, Settings};
pub use error::{ExportError, OtlpError};
pub use grpc::serve_grpc;
pub use http::{router as http_router, serve_http};
pub use metrics::Metrics;
pub use sink::Sink;
