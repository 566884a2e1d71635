//! OTLP/JSON conformance: every rule of CONVENTIONS.md §2.5 and the lenient
//! extras (names for enums, base64 ids, snake_case keys, nulls), plus the
//! shared fixtures when present.

use super::super::testutil::shared_fixtures_dir;
use super::super::{DecodeError, Decoded, RejectReason, decode_otlp_json};
use crate::model::{SpanId, SpanKind, TraceId};

const TRACE: &str = "5b8efff798038103d269b633813fc60c";
const SPAN: &str = "eee19b7ec3c1b174";

fn ok(json: &str) -> Decoded {
    decode_otlp_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{json}"))
}

/// One span in a resource named `svc`; `span` is the span object's body.
fn doc(span: &str) -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc"}}}}]}},"scopeSpans":[{{"spans":[{{{span}}}]}}]}}]}}"#
    )
}

fn base(extra: &str) -> String {
    let sep = if extra.is_empty() { "" } else { "," };
    doc(&format!(
        r#""traceId":"{TRACE}","spanId":"{SPAN}","name":"op","kind":2,"startTimeUnixNano":"1787230025000000000","endTimeUnixNano":"1787230025120000000"{sep}{extra}"#
    ))
}

#[test]
fn conformance_table() {
    let reference = ok(&base(""));
    assert_eq!(reference.batch.spans.len(), 1);
    let same_as_reference: &[(&str, String)] = &[
        ("uppercase hex ids", doc(&format!(r#""traceId":"{}","spanId":"{}","name":"op","kind":2,"startTimeUnixNano":"1787230025000000000","endTimeUnixNano":"1787230025120000000""#, TRACE.to_uppercase(), SPAN.to_uppercase()))),
        ("base64 ids (jsonpb)", doc(r#""traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXQ=","name":"op","kind":2,"startTimeUnixNano":"1787230025000000000","endTimeUnixNano":"1787230025120000000""#)),
        ("kind as name", doc(&format!(r#""traceId":"{TRACE}","spanId":"{SPAN}","name":"op","kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1787230025000000000","endTimeUnixNano":"1787230025120000000""#))),
        ("kind as numeric string", doc(&format!(r#""traceId":"{TRACE}","spanId":"{SPAN}","name":"op","kind":"2","startTimeUnixNano":"1787230025000000000","endTimeUnixNano":"1787230025120000000""#))),
        ("times as numbers", doc(&format!(r#""traceId":"{TRACE}","spanId":"{SPAN}","name":"op","kind":2,"startTimeUnixNano":1787230025000000000,"endTimeUnixNano":1787230025120000000"#))),
        ("snake_case span keys", doc(&format!(r#""trace_id":"{TRACE}","span_id":"{SPAN}","parent_span_id":"","name":"op","kind":2,"start_time_unix_nano":"1787230025000000000","end_time_unix_nano":"1787230025120000000""#))),
        ("unknown fields everywhere", base(r#""flags":257,"traceState":"a=b","droppedAttributesCount":0,"events":[{"timeUnixNano":"1","name":"e","attributes":[{"key":"k","value":{"kvlistValue":{"values":[]}}}]}],"futureField":{"nested":[1,{"x":null}]}"#).replace(r#"{"resourceSpans""#, r#"{"schemaVersion":3,"resourceSpans""#).replace(r#""scopeSpans""#, r#""schemaUrl":"https://x","entityRefs":[],"scopeSpans""#)),
        ("explicit defaults and nulls", base(r#""parentSpanId":"","status":{},"links":[],"attributes":null,"events":null"#)),
        ("null parent and status", base(r#""parentSpanId":null,"status":null,"links":null"#)),
        ("status UNSET by name", base(r#""status":{"code":"STATUS_CODE_UNSET","message":"m"}"#)),
        ("attributes we do not read, any shape", base(r#""attributes":[{"key":"a","value":{}},{"key":"b"},{"key":"c","value":null},{"key":"d","value":{"bytesValue":"AAE="}},{"key":"e","value":{"arrayValue":{}}},{"value":{"stringValue":"no key"}},null]"#)),
        ("whitespace and BOM", format!("\u{feff}\n  {}  \n", base(""))),
    ];
    for (name, json) in same_as_reference {
        assert_eq!(ok(json), reference, "{name}");
    }
}

#[test]
fn empty_and_missing_envelopes_are_empty_batches() {
    for json in [
        "{}",
        "null",
        r#"{"resourceSpans":[]}"#,
        r#"{"resourceSpans":null}"#,
        r#"{"resource_spans":[{}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[]}]}]}"#,
        r#"{"resourceSpans":[null]}"#,
    ] {
        let d = ok(json);
        assert!(d.batch.is_empty() && d.rejected.is_empty(), "{json}");
    }
}

#[test]
fn snake_case_and_legacy_container_keys() {
    let camel = ok(&base(
        r#""attributes":[{"key":"http.route","value":{"stringValue":"/x"}},{"key":"http.response.status_code","value":{"intValue":"500"}},{"key":"server.port","value":{"intValue":8080}},{"key":"db.system","value":{"stringValue":"redis"}}]"#,
    ));
    assert_eq!(&*camel.batch.spans[0].operation, "/x");
    assert!(camel.batch.spans[0].error);
    let snake = base(
        r#""attributes":[{"key":"http.route","value":{"string_value":"/x"}},{"key":"http.response.status_code","value":{"int_value":500}},{"key":"server.port","value":{"int_value":"8080"}},{"key":"db.system","value":{"string_value":"redis"}}]"#,
    );
    let variants = [
        snake
            .replace("resourceSpans", "resource_spans")
            .replace("scopeSpans", "scope_spans"),
        snake.replace("scopeSpans", "instrumentationLibrarySpans"),
        snake.replace("scopeSpans", "instrumentation_library_spans"),
        snake.replace("resourceSpans", "batches"),
    ];
    for json in variants {
        assert_eq!(ok(&json), camel, "{json}");
    }
}

#[test]
fn enums_by_name_and_status() {
    let kinds = [
        ("SPAN_KIND_UNSPECIFIED", SpanKind::Internal),
        ("SPAN_KIND_INTERNAL", SpanKind::Internal),
        ("SPAN_KIND_CLIENT", SpanKind::Client),
        ("SPAN_KIND_PRODUCER", SpanKind::Producer),
        ("SPAN_KIND_CONSUMER", SpanKind::Consumer),
        ("5", SpanKind::Consumer),
    ];
    for (name, kind) in kinds {
        let json = base("").replace(r#""kind":2"#, &format!(r#""kind":"{name}""#));
        assert_eq!(ok(&json).batch.spans[0].kind, kind, "{name}");
    }
    assert!(
        ok(&base(r#""status":{"code":"STATUS_CODE_ERROR"}"#))
            .batch
            .spans[0]
            .error
    );
    assert!(ok(&base(r#""status":{"code":2}"#)).batch.spans[0].error);
    let ok_overrides = r#""status":{"code":"STATUS_CODE_OK"},"attributes":[{"key":"http.response.status_code","value":{"intValue":"503"}}]"#;
    assert!(!ok(&base(ok_overrides)).batch.spans[0].error);
}

#[test]
fn member_order_does_not_matter() {
    let reference = ok(&base(
        r#""attributes":[{"key":"peer.service","value":{"stringValue":"p"}}]"#,
    ));
    let reordered = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"endTimeUnixNano":"1787230025120000000","attributes":[{{"value":{{"stringValue":"p"}},"key":"peer.service"}}],"kind":2,"name":"op","spanId":"{SPAN}","startTimeUnixNano":"1787230025000000000","traceId":"{TRACE}"}}]}}],"resource":{{"attributes":[{{"value":{{"stringValue":"svc"}},"key":"service.name"}}]}}}}]}}"#
    );
    assert_eq!(ok(&reordered), reference);
}

#[test]
fn escaped_strings_and_64_bit_edges() {
    let d = ok(&base(r#""name":"caf\u00e9 \"q\"","attributes":[{"key":"peer.\u0073ervice","value":{"stringValue":"a\nb"}},{"key":"rpc.grpc.status_code","value":{"intValue":"14"}}]"#).replace(r#""name":"op","#, ""));
    let s = &d.batch.spans[0];
    assert_eq!(&*s.operation, "café \"q\"");
    assert_eq!(s.peer.peer_service.as_deref(), Some("a\nb"));
    assert!(s.error, "grpc 14 on a server span");
    let big = base("").replace(
        r#""endTimeUnixNano":"1787230025120000000""#,
        r#""endTimeUnixNano":"18446744073709551615""#,
    );
    assert_eq!(ok(&big).batch.spans[0].end.0, u64::MAX);
}

#[test]
fn bad_spans_are_rejected_one_by_one() {
    let cases = [
        (
            r#""traceId":"zz","spanId":"eee19b7ec3c1b174""#,
            RejectReason::InvalidTraceId,
        ),
        (
            r#""traceId":"00000000000000000000000000000000","spanId":"eee19b7ec3c1b174""#,
            RejectReason::InvalidTraceId,
        ),
        (
            r#""traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7e""#,
            RejectReason::InvalidSpanId,
        ),
        (
            r#""traceId":"5b8efff798038103d269b633813fc60c""#,
            RejectReason::InvalidSpanId,
        ),
        (
            r#""traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"abc""#,
            RejectReason::InvalidParentSpanId,
        ),
    ];
    for (ids, reason) in cases {
        let json = doc(&format!(
            r#"{ids},"name":"x","startTimeUnixNano":"5","endTimeUnixNano":"6""#
        ));
        let d = ok(&json);
        assert_eq!(
            (d.batch.len(), d.rejected.count(reason)),
            (0, 1),
            "{reason}: {json}"
        );
    }
    let backwards = ok(&base("").replace(
        r#""endTimeUnixNano":"1787230025120000000""#,
        r#""endTimeUnixNano":"1787230024000000000""#,
    ));
    assert_eq!(backwards.rejected.count(RejectReason::EndBeforeStart), 1);
    let garbage_time = ok(&base("").replace(
        r#""startTimeUnixNano":"1787230025000000000""#,
        r#""startTimeUnixNano":"yesterday""#,
    ));
    assert_eq!(
        garbage_time.rejected.count(RejectReason::MissingTimestamp),
        1
    );
    let no_resource = ok(&base("").replace(
        r#""resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},"#,
        "",
    ));
    assert_eq!(
        no_resource.rejected.count(RejectReason::MissingServiceName),
        1
    );
}

#[test]
fn syntax_and_shape_errors_have_positions() {
    let syntax = decode_otlp_json(b"{\"resourceSpans\":[\n{\"resource\": }]}").unwrap_err();
    assert!(
        matches!(
            syntax,
            DecodeError::JsonSyntax {
                line: 2,
                column: 14,
                ..
            }
        ),
        "{syntax:?}"
    );
    assert_eq!(syntax.kind(), "json_syntax");
    assert!(
        syntax
            .to_string()
            .starts_with("invalid json at line 2 column 14: expected value"),
        "{syntax}"
    );
    let shape = decode_otlp_json(br#"{"resourceSpans":"many"}"#).unwrap_err();
    assert!(
        matches!(shape, DecodeError::JsonShape { line: 1, .. }),
        "{shape:?}"
    );
    assert!(
        shape
            .to_string()
            .contains("expected an array of ResourceSpans"),
        "{shape}"
    );
    for bad in [
        &b"[]"[..],
        b"{} {}",
        b"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":5}]}]}]}",
        b"{\"resourceSpans\":[",
        b"\xff",
    ] {
        assert!(
            decode_otlp_json(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn shared_example_fixture() {
    let Some(dir) = shared_fixtures_dir() else {
        eprintln!("skipped: shared fixtures not found (set EPICENTER_SHARED_DIR)");
        return;
    };
    let bytes = std::fs::read(dir.join("examples/otlp_trace.json")).unwrap();
    let d = decode_otlp_json(&bytes).unwrap();
    assert!(d.rejected.is_empty());
    let [client, server] = &d.batch.spans[..] else {
        panic!("two spans")
    };
    assert_eq!(client.trace_id, TraceId::from_hex(TRACE).unwrap());
    assert_eq!(server.parent_span_id, client.span_id);
    assert_eq!(client.span_id, SpanId::from_hex(SPAN).unwrap());
    assert_eq!(
        (client.kind, server.kind),
        (SpanKind::Client, SpanKind::Server)
    );
    assert!(client.error && server.error);
    assert_eq!(&*server.operation, "POST /checkout");
    assert_eq!(client.peer.server_address.as_deref(), Some("checkout-api"));
    assert_eq!(client.peer.server_port, Some(8080));
    let fe = d.batch.resource_of(client);
    assert_eq!(
        (&*fe.service, fe.namespace.as_deref(), fe.version.as_deref()),
        ("frontend", Some("shop"), Some("2.4.1"))
    );
    assert_eq!(fe.environment.as_deref(), Some("production"));
    assert_eq!(
        fe.instance.as_deref(),
        Some("627cc493-f310-47de-96bd-71410b7dec09")
    );
    assert_eq!(client.duration_nanos(), 120_000_000);
}

#[test]
fn shared_service_graph_fixtures_decode() {
    let Some(dir) = shared_fixtures_dir() else {
        eprintln!("skipped: shared fixtures not found (set EPICENTER_SHARED_DIR)");
        return;
    };
    let mut checked = 0;
    for sub in ["servicegraph/alloy-static", "servicegraph/authored"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let d = decode_otlp_json(&std::fs::read(&path).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!d.batch.is_empty(), "{}", path.display());
                assert!(
                    d.rejected.is_empty(),
                    "{}: {:?}",
                    path.display(),
                    d.rejected
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 3);
    // Alloy's snake_case file with enum names: 17 spans, servers and clients.
    let alloy = std::fs::read(dir.join("servicegraph/alloy-static/trace-sample.json")).unwrap();
    let d = decode_otlp_json(&alloy).unwrap();
    assert_eq!(d.batch.len(), 17);
    assert!(d.batch.spans.iter().any(|s| s.kind == SpanKind::Server));
    assert!(d.batch.spans.iter().any(|s| s.kind == SpanKind::Client));
}
