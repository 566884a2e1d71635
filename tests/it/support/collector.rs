//! Collector-style OTLP span batches for the Kafka tests, built with the full `opentelemetry-proto`
//! types (protobuf) and as OTLP/JSON: five-span traces through frontend →
//! checkout → payment with deterministic ids.

use std::collections::BTreeSet;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};

/// One generated span and the service that emits it.
#[derive(Clone, Debug)]
pub(crate) struct GenSpan {
    /// `service.name` of its resource.
    pub(crate) service: &'static str,
    /// The OTLP span.
    pub(crate) span: Span,
}

/// A trace through frontend → checkout → payment → postgres, five spans,
/// with ids derived from `n` (unique per `n` and `seed`).
pub(crate) fn trace(seed: u8, n: u32) -> Vec<GenSpan> {
    let mut trace_id = [0u8; 16];
    trace_id[0] = seed;
    trace_id[12..].copy_from_slice(&n.to_be_bytes());
    trace_id[1] = 0xab;
    let id = |k: u8| {
        let mut span_id = [0u8; 8];
        span_id[0] = seed;
        span_id[1] = k;
        span_id[4..].copy_from_slice(&n.to_be_bytes());
        span_id.to_vec()
    };
    let start = 1_700_000_000_000_000_000u64 + u64::from(n) * 1_000_000;
    let make =
        |k: u8, parent: Option<u8>, kind: span::SpanKind, name: &str, attrs: Vec<KeyValue>| Span {
            trace_id: trace_id.to_vec(),
            span_id: id(k),
            parent_span_id: parent.map(id).unwrap_or_default(),
            name: name.to_owned(),
            kind: kind as i32,
            start_time_unix_nano: start + u64::from(k) * 1_000,
            end_time_unix_nano: start + 900_000 - u64::from(k) * 1_000,
            attributes: attrs,
            status: Some(Status {
                code: status::StatusCode::Ok as i32,
                message: String::new(),
            }),
            ..Default::default()
        };
    vec![
        GenSpan {
            service: "frontend",
            span: make(1, None, span::SpanKind::Server, "GET /", vec![]),
        },
        GenSpan {
            service: "frontend",
            span: make(2, Some(1), span::SpanKind::Client, "POST /checkout", vec![]),
        },
        GenSpan {
            service: "checkout",
            span: make(3, Some(2), span::SpanKind::Server, "POST /checkout", vec![]),
        },
        GenSpan {
            service: "checkout",
            span: make(4, Some(3), span::SpanKind::Client, "charge", vec![]),
        },
        GenSpan {
            service: "payment",
            span: make(
                5,
                Some(4),
                span::SpanKind::Server,
                "charge",
                vec![string_attr("db.system", "postgresql")],
            ),
        },
    ]
}

fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

/// Groups spans into one `ExportTraceServiceRequest` with a resource per
/// service, as the exporter marshals one batch.
pub(crate) fn request(spans: &[GenSpan]) -> ExportTraceServiceRequest {
    let services: BTreeSet<&str> = spans.iter().map(|s| s.service).collect();
    let resource_spans = services
        .into_iter()
        .map(|service| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_attr("service.name", service),
                    string_attr("service.version", "1.0.0"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: spans
                    .iter()
                    .filter(|s| s.service == service)
                    .map(|s| s.span.clone())
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

/// The same batch as OTLP/JSON (camelCase, hex ids, string nanos).
pub(crate) fn request_json(spans: &[GenSpan]) -> Vec<u8> {
    use serde_json::json;
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let services: BTreeSet<&str> = spans.iter().map(|s| s.service).collect();
    let resource_spans: Vec<_> = services
        .into_iter()
        .map(|service| {
            let spans: Vec<_> = spans
                .iter()
                .filter(|s| s.service == service)
                .map(|s| {
                    json!({
                        "traceId": hex(&s.span.trace_id),
                        "spanId": hex(&s.span.span_id),
                        "parentSpanId": hex(&s.span.parent_span_id),
                        "name": s.span.name,
                        "kind": s.span.kind,
                        "startTimeUnixNano": s.span.start_time_unix_nano.to_string(),
                        "endTimeUnixNano": s.span.end_time_unix_nano.to_string(),
                        "status": {"code": 1},
                    })
                })
                .collect();
            json!({
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
            })
        })
        .collect();
    serde_json::to_vec(&json!({ "resourceSpans": resource_spans })).expect("json")
}

/// Span ids (hex) of generated spans.
pub(crate) fn gen_ids(spans: &[GenSpan]) -> Vec<String> {
    spans
        .iter()
        .map(|s| s.span.span_id.iter().map(|b| format!("{b:02x}")).collect())
        .collect()
}
