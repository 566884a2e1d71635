//! Why an export request was refused, and why a receiver stopped.
//!
//! [`ExportError`] converts to a gRPC status in one `From` impl and to an
//! HTTP status with [`ExportError::http_status`]; the HTTP body is built in
//! `http.rs` from the same message.

use axum::http::StatusCode;

use super::metrics::RequestResult;
use super::status::RpcStatus;
use crate::ingest::decode::DecodeError;

/// Why an export request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The body is not a valid `ExportTraceServiceRequest`.
    #[error("failed to decode export request: {0}")]
    Decode(#[from] DecodeError),
    /// The compressed body is corrupt.
    #[error("failed to decompress request body: {0}")]
    Decompress(std::io::Error),
    /// The body could not be read from the connection.
    #[error("failed to read request body")]
    Body,
    /// Over `max_request_bytes` after decompression.
    #[error("request exceeds the limit of {limit} bytes after decompression")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// `Content-Type` is neither protobuf nor JSON.
    #[error("unsupported content type {0:?}: use application/x-protobuf or application/json")]
    UnsupportedContentType(String),
    /// `Content-Encoding` is not one we decode.
    #[error("unsupported content encoding {0:?}: use gzip, deflate or identity")]
    UnsupportedContentEncoding(String),
    /// The queue to the graph stage stayed full.
    #[error("pipeline is full, retry later")]
    Backpressure {
        /// Suggested delay before retrying.
        retry_after: std::time::Duration,
    },
    /// The graph stage is gone: the daemon is shutting down.
    #[error("daemon is shutting down, retry later")]
    ShuttingDown {
        /// Suggested delay before retrying (another instance may take it).
        retry_after: std::time::Duration,
    },
    /// A bug: the decoder panicked.
    #[error("internal error while decoding the request")]
    Internal,
}

impl ExportError {
    /// The metric label of this outcome.
    pub fn result(&self) -> RequestResult {
        match self {
            Self::Decode(_) | Self::Decompress(_) | Self::Body => RequestResult::Invalid,
            Self::TooLarge { .. } => RequestResult::TooLarge,
            Self::UnsupportedContentType(_) | Self::UnsupportedContentEncoding(_) => {
                RequestResult::UnsupportedMediaType
            }
            Self::Backpressure { .. } => RequestResult::Backpressure,
            Self::ShuttingDown { .. } => RequestResult::ShuttingDown,
            Self::Internal => RequestResult::Internal,
        }
    }

    /// The OTLP/HTTP status: 400, 413, 415, 503 (retryable), or 500 for bugs.
    pub fn http_status(&self) -> StatusCode {
        match self {
            Self::Decode(_) | Self::Decompress(_) | Self::Body => StatusCode::BAD_REQUEST,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedContentType(_) | Self::UnsupportedContentEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::Backpressure { .. } | Self::ShuttingDown { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The suggested retry delay, for retryable errors only.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Backpressure { retry_after } | Self::ShuttingDown { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    fn grpc_code(&self) -> tonic::Code {
        match self {
            Self::Decode(_) | Self::Decompress(_) | Self::Body => tonic::Code::InvalidArgument,
            // Not retryable without RetryInfo, which is what we want.
            Self::TooLarge { .. } => tonic::Code::ResourceExhausted,
            Self::UnsupportedContentType(_) | Self::UnsupportedContentEncoding(_) => {
                tonic::Code::Unimplemented
            }
            // Retryable; never INTERNAL for backpressure (not retryable).
            Self::Backpressure { .. } | Self::ShuttingDown { .. } => tonic::Code::Unavailable,
            Self::Internal => tonic::Code::Internal,
        }
    }

    /// The `google.rpc.Status` of this error, with `RetryInfo` when retryable.
    pub(crate) fn rpc_status(&self) -> RpcStatus {
        RpcStatus::new(self.grpc_code(), self.to_string(), self.retry_after())
    }
}

impl From<ExportError> for tonic::Status {
    fn from(error: ExportError) -> Self {
        let status = error.rpc_status();
        match error.retry_after() {
            Some(_) => {
                let details = prost::Message::encode_to_vec(&status);
                tonic::Status::with_details(error.grpc_code(), status.message, details.into())
            }
            None => tonic::Status::new(error.grpc_code(), status.message),
        }
    }
}

/// Why a receiver stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The gRPC server failed.
    #[error("otlp grpc server failed")]
    Grpc(#[from] tonic::transport::Error),
    /// The HTTP server failed.
    #[error("otlp http server failed")]
    Http(#[from] std::io::Error),
}
