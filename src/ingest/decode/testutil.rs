//! Test helpers: OTLP requests built with the full `opentelemetry_proto`
//! types, and their OTLP/JSON form, so that tests can feed the same data to
//! both decoders. Test-only.

use prost::Message;
use serde_json::{Value as Json, json};

use crate::proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::otlp::common::v1::{AnyValue, ArrayValue, KeyValue, any_value::Value};
use crate::proto::otlp::resource::v1::Resource;
use crate::proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span::Link};

/// 2026-08-20T00:00:00Z in ns.
pub(crate) const T0: u64 = 1_787_184_000_000_000_000;

pub(crate) fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(crate) fn s(key: &str, value: &str) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

pub(crate) fn i(key: &str, value: i64) -> KeyValue {
    kv(key, Value::IntValue(value))
}

pub(crate) fn strings(key: &str, values: &[&str]) -> KeyValue {
    let values = values
        .iter()
        .map(|v| AnyValue {
            value: Some(Value::StringValue((*v).into())),
        })
        .collect();
    kv(key, Value::ArrayValue(ArrayValue { values }))
}

pub(crate) fn trace_id(n: u8) -> Vec<u8> {
    let mut id = vec![0xab; 16];
    id[15] = n;
    id
}

pub(crate) fn span_id(n: u8) -> Vec<u8> {
    let mut id = vec![0xcd; 8];
    id[7] = n;
    id
}

/// A span of trace `t` with id `id` (and `parent`), kind number `kind`,
/// lasting 10 ms from `T0 + id ms`.
pub(crate) fn span(t: u8, id: u8, parent: Option<u8>, kind: i32, name: &str) -> Span {
    let start = T0 + u64::from(id) * 1_000_000;
    Span {
        trace_id: trace_id(t),
        span_id: span_id(id),
        parent_span_id: parent.map(span_id).unwrap_or_default(),
        name: name.into(),
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 10_000_000,
        ..Default::default()
    }
}

pub(crate) fn with_attrs(mut span: Span, attrs: Vec<KeyValue>) -> Span {
    span.attributes = attrs;
    span
}

pub(crate) fn with_status(mut span: Span, code: i32) -> Span {
    span.status = Some(Status {
        code,
        message: String::new(),
    });
    span
}

pub(crate) fn with_link(mut span: Span, t: u8, id: u8) -> Span {
    span.links.push(Link {
        trace_id: trace_id(t),
        span_id: span_id(id),
        ..Default::default()
    });
    span
}

pub(crate) fn resource_spans(attrs: Vec<KeyValue>, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: attrs,
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub(crate) fn service(name: &str) -> Vec<KeyValue> {
    vec![s("service.name", name)]
}

pub(crate) fn request(resource_spans: Vec<ResourceSpans>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest { resource_spans }
}

pub(crate) fn encode(req: &ExportTraceServiceRequest) -> Vec<u8> {
    req.encode_to_vec()
}

/// The request in canonical OTLP/JSON (lowercase hex ids, integer enums,
/// 64-bit integers as strings), as the Collector writes it.
pub(crate) fn to_json(req: &ExportTraceServiceRequest) -> Json {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let attrs = |kvs: &[KeyValue]| -> Json {
        kvs.iter()
            .map(|kv| json!({"key": kv.key, "value": any(kv.value.as_ref())}))
            .collect()
    };
    let rs: Vec<Json> = req
        .resource_spans
        .iter()
        .map(|rs| {
            let scopes: Vec<Json> = rs
                .scope_spans
                .iter()
                .map(|ss| {
                    let spans: Vec<Json> = ss
                        .spans
                        .iter()
                        .map(|sp| {
                            let mut o = json!({
                                "traceId": hex(&sp.trace_id),
                                "spanId": hex(&sp.span_id),
                                "name": sp.name,
                                "kind": sp.kind,
                                "startTimeUnixNano": sp.start_time_unix_nano.to_string(),
                                "endTimeUnixNano": sp.end_time_unix_nano.to_string(),
                                "attributes": attrs(&sp.attributes),
                            });
                            if !sp.parent_span_id.is_empty() {
                                o["parentSpanId"] = json!(hex(&sp.parent_span_id));
                            }
                            if let Some(st) = &sp.status {
                                o["status"] = json!({"code": st.code});
                            }
                            if !sp.links.is_empty() {
                                o["links"] = sp
                                    .links
                                    .iter()
                                    .map(|l| json!({"traceId": hex(&l.trace_id), "spanId": hex(&l.span_id)}))
                                    .collect();
                            }
                            o
                        })
                        .collect();
                    json!({"scope": {"name": "test"}, "spans": spans})
                })
                .collect();
            let res = rs.resource.as_ref().map_or(json!([]), |r| attrs(&r.attributes));
            json!({"resource": {"attributes": res}, "scopeSpans": scopes})
        })
        .collect();
    json!({ "resourceSpans": rs })
}

fn any(value: Option<&AnyValue>) -> Json {
    match value.and_then(|v| v.value.as_ref()) {
        None => json!({}),
        Some(Value::StringValue(s)) => json!({"stringValue": s}),
        Some(Value::BoolValue(b)) => json!({"boolValue": b}),
        Some(Value::IntValue(i)) => json!({"intValue": i.to_string()}),
        Some(Value::DoubleValue(d)) => json!({"doubleValue": d}),
        Some(Value::ArrayValue(a)) => {
            let values: Vec<Json> = a.values.iter().map(|v| any(Some(v))).collect();
            json!({"arrayValue": {"values": values}})
        }
        Some(Value::KvlistValue(_)) => json!({"kvlistValue": {"values": []}}),
        Some(Value::BytesValue(b)) => json!({"bytesValue": format!("{}", b.len())}),
        Some(Value::StringValueStrindex(i)) => json!({"stringValueStrindex": i}),
    }
}

/// Where the shared peer fixtures are, if present: `$EPICENTER_SHARED_DIR`
/// (the shared dir or its `fixtures/`), `<manifest>/../shared/fixtures`,
/// `/work/shared/fixtures`. `None` means "skip".
pub(crate) fn shared_fixtures_dir() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("EPICENTER_SHARED_DIR").map(PathBuf::from) {
        candidates.push(dir.join("fixtures"));
        candidates.push(dir);
    }
    candidates.push(manifest.join("../shared/fixtures"));
    candidates.push(PathBuf::from("/work/shared/fixtures"));
    candidates.into_iter().find(|p| p.join("examples").is_dir())
}
