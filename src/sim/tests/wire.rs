//! The OTLP/JSON encoder and the Kafka-style splitting.

use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValueList};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use serde_json::Value;

use super::*;

fn keys_are_lower_camel_case(v: &Value, path: &str) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let ok = k.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && k.chars().all(|c| c.is_ascii_alphanumeric());
                // Attribute keys are values (`"key": "service.name"`), not JSON keys.
                assert!(ok, "key {k:?} at {path}");
                keys_are_lower_camel_case(child, &format!("{path}.{k}"));
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|i| keys_are_lower_camel_case(i, path)),
        _ => {}
    }
}

#[test]
fn json_lines_follow_the_otlp_json_rules() {
    let mut s = sim(
        Topology::default_fleet(),
        Scenario::steady(Some(10.0)),
        1,
        30.0,
    );
    let batch = s.next_batch().unwrap();
    let line = to_otlp_json_line(&TracesData {
        resource_spans: batch.resource_spans.clone(),
    });
    assert!(!line.contains('\n'));
    assert_eq!(line, request_to_otlp_json(&batch));
    let v: Value = serde_json::from_str(&line).unwrap();
    keys_are_lower_camel_case(&v, "");
    let rs = v["resourceSpans"].as_array().unwrap();
    assert_eq!(rs.len(), batch.resource_spans.len());
    let mut seen_int = false;
    for (r, proto) in rs.iter().zip(&batch.resource_spans) {
        assert!(
            r["schemaUrl"]
                .as_str()
                .unwrap()
                .starts_with("https://opentelemetry.io/schemas/")
        );
        let spans = r["scopeSpans"][0]["spans"].as_array().unwrap();
        for (j, (span, p)) in spans.iter().zip(&proto.scope_spans[0].spans).enumerate() {
            let trace = span["traceId"].as_str().unwrap();
            assert_eq!(trace.len(), 32);
            assert!(
                trace
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            );
            assert_eq!(
                crate::model::TraceId::from_hex(trace).unwrap().0.as_slice(),
                p.trace_id.as_slice()
            );
            assert_eq!(span["spanId"].as_str().unwrap().len(), 16);
            assert_eq!(
                span["startTimeUnixNano"],
                Value::String(p.start_time_unix_nano.to_string()),
                "span {j}"
            );
            assert_eq!(
                span["endTimeUnixNano"],
                Value::String(p.end_time_unix_nano.to_string())
            );
            assert_eq!(span["kind"], Value::from(p.kind));
            assert_eq!(span["flags"], Value::from(p.flags));
            match &p.status {
                Some(st) => assert_eq!(span["status"]["code"], Value::from(st.code)),
                None => assert!(span.get("status").is_none()),
            }
            if p.parent_span_id.is_empty() {
                assert!(
                    span.get("parentSpanId").is_none(),
                    "roots omit parentSpanId"
                );
            }
            for a in span["attributes"].as_array().unwrap() {
                if let Some(i) = a["value"].get("intValue") {
                    assert!(i.is_string(), "intValue {i} must be a string");
                    seen_int = true;
                }
            }
        }
    }
    assert!(seen_int);
}

#[test]
fn json_encodes_every_value_kind_and_escapes_strings() {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    let value = |v| Some(AnyValue { value: Some(v) });
    let kv = |k: &str, v| KeyValue {
        key: k.to_owned(),
        value: value(v),
        ..KeyValue::default()
    };
    let span = Span {
        trace_id: vec![0xAB; 16],
        span_id: vec![1; 8],
        name: "quote \" back \\ nl \n ctl \u{1}".to_owned(),
        kind: 2,
        start_time_unix_nano: 1,
        end_time_unix_nano: u64::MAX,
        attributes: vec![
            kv("b", V::BoolValue(true)),
            kv("d", V::DoubleValue(1.5)),
            kv("nan", V::DoubleValue(f64::NAN)),
            kv("i", V::IntValue(-42)),
            kv("bytes", V::BytesValue(b"foob".to_vec())),
            kv(
                "arr",
                V::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(V::IntValue(1)),
                    }],
                }),
            ),
            kv(
                "kv",
                V::KvlistValue(KeyValueList {
                    values: vec![kv("x", V::StringValue("y".into()))],
                }),
            ),
        ],
        ..Span::default()
    };
    let data = TracesData {
        resource_spans: vec![opentelemetry_proto::tonic::trace::v1::ResourceSpans {
            scope_spans: vec![opentelemetry_proto::tonic::trace::v1::ScopeSpans {
                spans: vec![span.clone()],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let v: Value = serde_json::from_str(&to_otlp_json_line(&data)).unwrap();
    let s = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(s["traceId"], "abababababababababababababababab");
    assert_eq!(s["name"], span.name.as_str());
    assert_eq!(s["endTimeUnixNano"], u64::MAX.to_string());
    let a = &s["attributes"];
    assert_eq!(a[0]["value"]["boolValue"], true);
    assert_eq!(a[1]["value"]["doubleValue"], 1.5);
    assert_eq!(a[2]["value"]["doubleValue"], "NaN");
    assert_eq!(a[3]["value"]["intValue"], "-42");
    assert_eq!(a[4]["value"]["bytesValue"], "Zm9vYg==");
    assert_eq!(a[5]["value"]["arrayValue"]["values"][0]["intValue"], "1");
    assert_eq!(
        a[6]["value"]["kvlistValue"]["values"][0]["value"]["stringValue"],
        "y"
    );
    assert_eq!(to_otlp_json_line(&TracesData::default()), "{}");
}

#[test]
fn splitting_by_trace_or_size_keeps_every_span_with_its_resource() {
    use prost::Message as _;
    let mut s = sim(
        Topology::default_fleet(),
        Scenario::steady(Some(10.0)),
        1,
        100.0,
    );
    let batch = loop {
        let b = s.next_batch().unwrap();
        if span_count(&b) > 200 {
            break b;
        }
    };
    let original = flatten(std::slice::from_ref(&batch));
    let per_trace = split_by_trace(&batch);
    assert!(per_trace.len() > 10);
    let mut total = 0;
    for (id, part) in &per_trace {
        let flat = flatten(std::slice::from_ref(part));
        assert!(flat.iter().all(|f| f.span.trace_id == id.as_slice()));
        for f in &flat {
            let o = original
                .iter()
                .find(|o| o.span.span_id == f.span.span_id)
                .unwrap();
            assert_eq!(o.resource, f.resource);
        }
        total += flat.len();
    }
    assert_eq!(total, original.len());
    let limit = batch.encoded_len() / 5;
    let parts = split_to_fit(batch.clone(), limit);
    assert!(parts.len() >= 5 && parts.iter().all(|p| p.encoded_len() <= limit));
    let rejoined: Vec<Vec<u8>> = flatten(&parts)
        .into_iter()
        .map(|f| f.span.span_id)
        .collect();
    let expected: Vec<Vec<u8>> = original.into_iter().map(|f| f.span.span_id).collect();
    assert_eq!(rejoined, expected, "order and content preserved");
}
