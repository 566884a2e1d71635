//! Decode benchmarks: realistic OTLP batches (500 spans from 10 services with
//! typical HTTP, database and internal attributes) through our protobuf
//! walker, OTLP/JSON decoder, and, for comparison, plain prost decodes of the
//! slim and full generated types (no normalization). Throughput is in spans.

// `criterion_group!` generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use epicenter::ingest::decode::{decode_otlp_json, decode_otlp_proto};
use epicenter::proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use epicenter::proto::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use epicenter::proto::otlp::resource::v1::Resource;
use epicenter::proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use epicenter::proto::slim;
use prost::Message;

const SERVICES: usize = 10;
const SPANS_PER_SERVICE: usize = 50;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

fn i(key: &str, value: i64) -> KeyValue {
    kv(key, Value::IntValue(value))
}

/// A deterministic pseudo-random sequence (no RNG dependency).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn batch() -> ExportTraceServiceRequest {
    let names = [
        "frontend",
        "checkout",
        "cart",
        "payment",
        "shipping",
        "email",
        "currency",
        "ad",
        "recommendation",
        "quote",
    ];
    let routes = [
        "/api/cart",
        "/api/checkout/{id}",
        "/api/products/{id}",
        "/health",
        "/api/pay",
    ];
    let mut n = 0u64;
    let resource_spans = names
        .iter()
        .take(SERVICES)
        .enumerate()
        .map(|(si, name)| {
            let resource = Resource {
                attributes: vec![
                    s("service.name", *name),
                    s("service.namespace", "shop"),
                    s("service.version", format!("1.{si}.3")),
                    s("service.instance.id", format!("{name}-7d9f8c-{si:05}")),
                    s("deployment.environment.name", "production"),
                    s("k8s.namespace.name", "shop"),
                    s("k8s.pod.name", format!("{name}-7d9f8c-x2x{si}")),
                    s("k8s.node.name", "node-3"),
                    s("host.name", format!("{name}-7d9f8c-x2x{si}")),
                    s("telemetry.sdk.name", "opentelemetry"),
                    s("telemetry.sdk.language", "java"),
                    s("telemetry.sdk.version", "1.44.0"),
                    s("process.runtime.name", "OpenJDK Runtime Environment"),
                ],
                ..Default::default()
            };
            let spans = (0..SPANS_PER_SERVICE)
                .map(|k| {
                    n += 1;
                    let r = mix(n);
                    let route = routes[(r % routes.len() as u64) as usize];
                    let start = 1_787_230_025_000_000_000 + n * 1_000_000;
                    let mut trace_id = r.to_le_bytes().to_vec();
                    trace_id.extend(mix(r).to_le_bytes());
                    let (kind, span_name, attributes) = match k % 10 {
                        0..=3 => (
                            2,
                            format!("GET {route}"),
                            vec![
                                s("http.request.method", "GET"),
                                s("http.route", route),
                                s("url.path", route.replace("{id}", "42")),
                                s("url.scheme", "http"),
                                i(
                                    "http.response.status_code",
                                    if r % 50 == 0 { 500 } else { 200 },
                                ),
                                s("server.address", *name),
                                i("server.port", 8080),
                                s("client.address", "10.1.2.3"),
                                s("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
                                s("network.protocol.version", "1.1"),
                            ],
                        ),
                        4..=7 => (
                            3,
                            "GET".to_owned(),
                            vec![
                                s("http.request.method", "GET"),
                                s("server.address", names[(si + 1) % SERVICES]),
                                i("server.port", 8080),
                                s(
                                    "url.full",
                                    format!("http://{}:8080{route}", names[(si + 1) % SERVICES]),
                                ),
                                i("http.response.status_code", 200),
                                s("network.peer.address", "10.4.5.6"),
                                i("network.peer.port", 8080),
                                s("network.protocol.version", "1.1"),
                            ],
                        ),
                        8 => (
                            3,
                            "SELECT orders".to_owned(),
                            vec![
                                s("db.system.name", "postgresql"),
                                s("db.namespace", "orders"),
                                s("db.operation.name", "SELECT"),
                                s("db.collection.name", "orders"),
                                s(
                                    "db.query.text",
                                    "SELECT id, total FROM orders WHERE customer_id = $1",
                                ),
                                s("server.address", "postgres.shop.svc"),
                                i("server.port", 5432),
                            ],
                        ),
                        _ => (
                            1,
                            "render".to_owned(),
                            vec![s("thread.name", "worker-3"), i("code.lineno", 120)],
                        ),
                    };
                    Span {
                        trace_id,
                        span_id: mix(r ^ 1).to_le_bytes().to_vec(),
                        parent_span_id: if k % 10 < 2 {
                            Vec::new()
                        } else {
                            mix(r ^ 2).to_le_bytes().to_vec()
                        },
                        flags: 0x101,
                        name: span_name,
                        kind,
                        start_time_unix_nano: start,
                        end_time_unix_nano: start + 1_000_000 + (r % 50_000_000),
                        attributes,
                        status: (r % 50 == 0).then(|| Status {
                            code: 2,
                            message: "boom".into(),
                        }),
                        ..Default::default()
                    }
                })
                .collect();
            ResourceSpans {
                resource: Some(resource),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

/// Canonical OTLP/JSON of the batch (as the Collector writes it).
fn to_json(req: &ExportTraceServiceRequest) -> String {
    use serde_json::{Value as J, json};
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let attrs = |kvs: &[KeyValue]| -> J {
        kvs.iter()
            .map(|kv| {
                let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Value::StringValue(s)) => json!({"stringValue": s}),
                    Some(Value::IntValue(i)) => json!({"intValue": i.to_string()}),
                    _ => json!({}),
                };
                json!({"key": kv.key, "value": v})
            })
            .collect()
    };
    let rs: Vec<J> = req
        .resource_spans
        .iter()
        .map(|rs| {
            let spans: Vec<J> = rs.scope_spans[0]
                .spans
                .iter()
                .map(|sp| {
                    let mut o = json!({
                        "traceId": hex(&sp.trace_id), "spanId": hex(&sp.span_id),
                        "flags": sp.flags, "name": sp.name, "kind": sp.kind,
                        "startTimeUnixNano": sp.start_time_unix_nano.to_string(),
                        "endTimeUnixNano": sp.end_time_unix_nano.to_string(),
                        "attributes": attrs(&sp.attributes), "status": {},
                    });
                    if !sp.parent_span_id.is_empty() {
                        o["parentSpanId"] = json!(hex(&sp.parent_span_id));
                    }
                    if let Some(st) = &sp.status {
                        o["status"] = json!({"code": st.code, "message": st.message});
                    }
                    o
                })
                .collect();
            let res = attrs(&rs.resource.as_ref().map(|r| r.attributes.clone()).unwrap_or_default());
            json!({"resource": {"attributes": res},
                   "scopeSpans": [{"scope": {"name": "io.opentelemetry.tomcat-10.0", "version": "2.6.0"}, "spans": spans}]})
        })
        .collect();
    json!({ "resourceSpans": rs }).to_string()
}

fn bench(c: &mut Criterion) {
    let req = batch();
    let spans = (SERVICES * SPANS_PER_SERVICE) as u64;
    let proto = req.encode_to_vec();
    let json = to_json(&req);
    // Sanity: every span decodes, in both encodings, to the same batch.
    let from_proto = decode_otlp_proto(&proto).expect("protobuf decodes");
    assert_eq!(from_proto.batch.len() as u64, spans);
    assert_eq!(
        decode_otlp_json(json.as_bytes()).expect("json decodes"),
        from_proto
    );
    eprintln!(
        "batch: {spans} spans, protobuf {} bytes ({} B/span), json {} bytes ({} B/span)",
        proto.len(),
        proto.len() as u64 / spans,
        json.len(),
        json.len() as u64 / spans
    );

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(spans));
    g.bench_function("otlp_proto", |b| {
        b.iter(|| decode_otlp_proto(black_box(&proto)))
    });
    g.bench_function("otlp_json", |b| {
        b.iter(|| decode_otlp_json(black_box(json.as_bytes())))
    });
    // References: prost alone, without normalization.
    g.bench_function("prost_slim_only", |b| {
        b.iter(|| slim::TracesData::decode(black_box(&proto[..])))
    });
    g.bench_function("prost_full_only", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(black_box(&proto[..])))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
