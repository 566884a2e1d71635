//! The `google.rpc` messages OTLP error responses carry, and the
//! `ExportTraceServiceResponse` bodies, in protobuf and JSON.
//!
//! Hand-written prost messages: three tiny types are not worth a proto
//! dependency. Pure; no I/O.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;

/// `google.rpc.Status`: the body of every OTLP/HTTP error response, and the
/// `grpc-status-details-bin` payload.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RpcStatus {
    /// `google.rpc.Code`.
    #[prost(int32, tag = "1")]
    pub(crate) code: i32,
    /// English, developer-facing message.
    #[prost(string, tag = "2")]
    pub(crate) message: String,
    /// Typed details (`RetryInfo`).
    #[prost(message, repeated, tag = "3")]
    pub(crate) details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Any {
    #[prost(string, tag = "1")]
    pub(crate) type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) value: Vec<u8>,
}

/// `google.rpc.RetryInfo`: how long the client should wait before retrying.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub(crate) retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub(crate) seconds: i64,
    #[prost(int32, tag = "2")]
    pub(crate) nanos: i32,
}

const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

impl RpcStatus {
    /// A status with `code` and `message`, plus `RetryInfo` when `retry_after` is set.
    pub(crate) fn new(code: tonic::Code, message: String, retry_after: Option<Duration>) -> Self {
        let details = retry_after
            .map(|delay| Any {
                type_url: RETRY_INFO_TYPE_URL.to_owned(),
                value: RetryInfo {
                    retry_delay: Some(ProtoDuration {
                        seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                        nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
                    }),
                }
                .encode_to_vec(),
            })
            .into_iter()
            .collect();
        Self {
            code: code as i32,
            message,
            details,
        }
    }

    /// The proto3 JSON form. `details` are left out: OTLP clients read only
    /// `code` and `message` from JSON bodies (the delay is in `Retry-After`).
    pub(crate) fn to_json(&self) -> Vec<u8> {
        serde_json::json!({ "code": self.code, "message": self.message })
            .to_string()
            .into_bytes()
    }
}

/// The response to an accepted request: `partial_success` is set only when
/// spans were rejected.
pub(crate) fn export_response(rejected_spans: u64, message: &str) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse {
        partial_success: (rejected_spans > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(rejected_spans).unwrap_or(i64::MAX),
            error_message: message.to_owned(),
        }),
    }
}

/// The proto3 JSON form of [`export_response`]: `{}` on full success, else
/// `{"partialSuccess":{"rejectedSpans":"N","errorMessage":"…"}}` (64-bit
/// integers are strings in proto3 JSON).
pub(crate) fn export_response_json(response: &ExportTraceServiceResponse) -> Vec<u8> {
    let body = match &response.partial_success {
        None => serde_json::json!({}),
        Some(partial) => serde_json::json!({
            "partialSuccess": {
                "rejectedSpans": partial.rejected_spans.to_string(),
                "errorMessage": partial.error_message,
            }
        }),
    };
    body.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_round_trips() {
        let status = RpcStatus::new(
            tonic::Code::Unavailable,
            "full".to_owned(),
            Some(Duration::from_secs(2)),
        );
        let decoded = RpcStatus::decode(status.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded.code, 14);
        assert_eq!(decoded.details[0].type_url, RETRY_INFO_TYPE_URL);
        let info = RetryInfo::decode(decoded.details[0].value.as_slice()).unwrap();
        assert_eq!(info.retry_delay.unwrap().seconds, 2);
    }

    #[test]
    fn full_success_has_no_partial_success() {
        let response = export_response(0, "");
        assert_eq!(response.partial_success, None);
        assert_eq!(export_response_json(&response), b"{}");
        let partial = export_response(3, "bad ids");
        let json: serde_json::Value =
            serde_json::from_slice(&export_response_json(&partial)).unwrap();
        assert_eq!(json["partialSuccess"]["rejectedSpans"], "3");
        assert_eq!(json["partialSuccess"]["errorMessage"], "bad ids");
    }
}
