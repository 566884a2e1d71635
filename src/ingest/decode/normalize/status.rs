//! Failure classification of a span (CONVENTIONS.md §3.3): the span status
//! first, then HTTP and gRPC codes by the semantic conventions.
//!
//! Never does: read attributes by name (that is `attrs.rs`); pure functions.

use crate::model::SpanKind;

use super::attrs::{AttrValue, SpanAttrs};

/// OTLP `STATUS_CODE_OK`.
const STATUS_OK: i32 = 1;
/// OTLP `STATUS_CODE_ERROR`.
const STATUS_ERROR: i32 = 2;

/// gRPC status code names, indexed by code (`grpc/grpc:doc/statuscodes.md`).
const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// An RPC status attribute value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RpcStatus {
    /// A gRPC status code, 0 (`OK`) to 16.
    Grpc(u8),
    /// A value that is not a gRPC code (another RPC system's error code).
    Other,
}

impl RpcStatus {
    fn is_ok(self) -> bool {
        self == Self::Grpc(0)
    }

    /// gRPC server rule: only these codes are server-side failures.
    fn is_server_error(self) -> bool {
        // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS
        matches!(self, Self::Grpc(2 | 4 | 12 | 13 | 14 | 15))
    }
}

/// Parses an RPC status given as a name (`"DEADLINE_EXCEEDED"`, any case, `-`
/// or `_`), a number (`4`) or a decimal string (`"4"`).
pub(crate) fn parse_rpc_status(value: &AttrValue<'_>) -> Option<RpcStatus> {
    if let Some(code) = value.as_int() {
        return Some(match u8::try_from(code) {
            Ok(c) if usize::from(c) < GRPC_CODES.len() => RpcStatus::Grpc(c),
            _ => RpcStatus::Other,
        });
    }
    let AttrValue::Str(text) = value else {
        return None;
    };
    if text.is_empty() {
        return None;
    }
    let found = GRPC_CODES.iter().position(|name| {
        name.len() == text.len()
            && name
                .bytes()
                .zip(text.iter())
                .all(|(n, &t)| n == t.to_ascii_uppercase() || (n == b'_' && t == b'-'))
    });
    Some(match found {
        Some(code) => RpcStatus::Grpc(code as u8),
        None => RpcStatus::Other,
    })
}

/// True when the span failed: status ERROR is authoritative, status OK is
/// never an error; with status UNSET, HTTP ≥ 500 (≥ 400 on client and producer
/// spans), the gRPC rules (clients: any non-OK code; servers: only UNKNOWN,
/// DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS), or
/// `otel.status_code=ERROR`.
pub(crate) fn is_error(kind: SpanKind, status_code: i32, attrs: &SpanAttrs<'_>) -> bool {
    match status_code {
        STATUS_ERROR => return true,
        STATUS_OK => return false,
        _ => {}
    }
    let client_side = matches!(kind, SpanKind::Client | SpanKind::Producer);
    if let Some(code) = attrs.http_status.or(attrs.http_status_legacy) {
        let threshold = if client_side { 400 } else { 500 };
        if (threshold..600).contains(&code) {
            return true;
        }
    }
    if let Some(rpc) = attrs.rpc_status.or(attrs.rpc_status_legacy) {
        let failed = if client_side {
            !rpc.is_ok()
        } else {
            rpc.is_server_error()
        };
        if failed {
            return true;
        }
    }
    attrs.otel_status_error == Some(true)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn attrs(pairs: &[(&'static str, AttrValue<'static>)]) -> SpanAttrs<'static> {
        let mut a = SpanAttrs::default();
        for (k, v) in pairs {
            a.set(k.as_bytes(), v.clone());
        }
        a
    }

    fn s(text: &'static str) -> AttrValue<'static> {
        AttrValue::Str(Cow::Borrowed(text.as_bytes()))
    }

    use SpanKind::{Client, Consumer, Internal, Producer, Server};

    #[test]
    fn classification_table() {
        let int = AttrValue::Int;
        type Case = (
            &'static str,
            SpanKind,
            i32,
            Vec<(&'static str, AttrValue<'static>)>,
            bool,
        );
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("status error wins", Server, 2, vec![], true),
            ("status ok overrides http 500", Server, 1, vec![("http.response.status_code", int(500))], false),
            ("unset, nothing", Server, 0, vec![], false),
            ("server 500", Server, 0, vec![("http.response.status_code", int(500))], true),
            ("server 503 legacy name", Server, 0, vec![("http.status_code", int(503))], true),
            ("server 404 is not an error", Server, 0, vec![("http.response.status_code", int(404))], false),
            ("client 404 is an error", Client, 0, vec![("http.response.status_code", int(404))], true),
            ("producer 400 is an error", Producer, 0, vec![("http.response.status_code", int(400))], true),
            ("client 399 is fine", Client, 0, vec![("http.response.status_code", int(399))], false),
            ("consumer 404 server rule", Consumer, 0, vec![("http.response.status_code", int(404))], false),
            ("internal 500", Internal, 0, vec![("http.response.status_code", int(500))], true),
            ("http status as string", Server, 0, vec![("http.response.status_code", s("502"))], true),
            ("current http name wins", Server, 0, vec![("http.status_code", int(500)), ("http.response.status_code", int(200))], false),
            ("grpc client non-ok name", Client, 0, vec![("rpc.response.status_code", s("NOT_FOUND"))], true),
            ("grpc client ok name", Client, 0, vec![("rpc.response.status_code", s("OK"))], false),
            ("grpc server not_found is fine", Server, 0, vec![("rpc.response.status_code", s("NOT_FOUND"))], false),
            ("grpc server unavailable", Server, 0, vec![("rpc.response.status_code", s("UNAVAILABLE"))], true),
            ("grpc server deadline (new name)", Server, 0, vec![("rpc.status_code", s("DEADLINE_EXCEEDED"))], true),
            ("grpc lowercase connect name", Server, 0, vec![("rpc.status_code", s("deadline_exceeded"))], true),
            ("grpc int client 5", Client, 0, vec![("rpc.grpc.status_code", int(5))], true),
            ("grpc int client 0", Client, 0, vec![("rpc.grpc.status_code", int(0))], false),
            ("grpc int server 13", Server, 0, vec![("rpc.grpc.status_code", int(13))], true),
            ("grpc int server 3", Server, 0, vec![("rpc.grpc.status_code", int(3))], false),
            ("grpc int as string", Server, 0, vec![("rpc.grpc.status_code", s("14"))], true),
            ("grpc each server code 2", Server, 0, vec![("rpc.grpc.status_code", int(2))], true),
            ("grpc each server code 12", Server, 0, vec![("rpc.grpc.status_code", int(12))], true),
            ("grpc each server code 15", Server, 0, vec![("rpc.grpc.status_code", int(15))], true),
            ("grpc server cancelled fine", Server, 0, vec![("rpc.grpc.status_code", int(1))], false),
            ("unknown rpc code client", Client, 0, vec![("rpc.response.status_code", s("-32600"))], true),
            ("unknown rpc name server", Server, 0, vec![("rpc.response.status_code", s("weird"))], false),
            ("otel.status_code error", Server, 0, vec![("otel.status_code", s("ERROR"))], true),
            ("otel.status_code ok", Server, 0, vec![("otel.status_code", s("OK"))], false),
        ];
        for (name, kind, code, pairs, want) in cases {
            assert_eq!(is_error(kind, code, &attrs(&pairs)), want, "{name}");
        }
    }

    #[test]
    fn rpc_status_parsing() {
        assert_eq!(parse_rpc_status(&s("DATA_LOSS")), Some(RpcStatus::Grpc(15)));
        assert_eq!(parse_rpc_status(&s("data-loss")), Some(RpcStatus::Grpc(15)));
        assert_eq!(
            parse_rpc_status(&AttrValue::Int(16)),
            Some(RpcStatus::Grpc(16))
        );
        assert_eq!(
            parse_rpc_status(&AttrValue::Int(17)),
            Some(RpcStatus::Other)
        );
        assert_eq!(
            parse_rpc_status(&AttrValue::Int(-1)),
            Some(RpcStatus::Other)
        );
        assert_eq!(parse_rpc_status(&s("")), None);
        assert_eq!(parse_rpc_status(&AttrValue::Bool(true)), None);
    }
}
