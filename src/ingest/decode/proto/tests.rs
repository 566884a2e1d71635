//! Protobuf decoding: round trips from the full OTLP types, agreement with
//! the prost-generated slim types, malformed input, and fuzzing.

use std::borrow::Cow;

use proptest::prelude::*;
use prost::Message;

use super::super::normalize::{AttrValue, Normalizer, RawId, RawSpan, ResourceAttrs};
use super::super::testutil::*;
use super::super::{
    DecodeError, Decoded, Encoding, RejectReason, ResourceCache, decode_cached, decode_otlp_json,
    decode_otlp_proto,
};
use crate::model::{SpanId, SpanKind, Timestamp, TraceId};
use crate::proto::otlp::common::v1::{AnyValue, KeyValueList, any_value::Value};
use crate::proto::otlp::trace::v1::{TracesData, span::Event};
use crate::proto::slim;

/// The reference decoder: prost-generated slim types, then the same
/// normalizer. The hand-written walker must agree with it.
fn via_slim(bytes: &[u8]) -> Result<Decoded, prost::DecodeError> {
    fn value(v: &slim::AnyValue) -> AttrValue<'_> {
        use slim::any_value::Value as V;
        match &v.value {
            Some(V::StringValue(s)) => AttrValue::Str(Cow::Borrowed(s)),
            Some(V::BoolValue(b)) => AttrValue::Bool(*b),
            Some(V::IntValue(i)) => AttrValue::Int(*i),
            Some(V::DoubleValue(d)) => AttrValue::Double(*d),
            Some(V::ArrayValue(a)) => {
                AttrValue::Array(a.values.iter().find_map(|e| match &e.value {
                    Some(V::StringValue(s)) => Some(Cow::Borrowed(&s[..])),
                    _ => None,
                }))
            }
            Some(V::BytesValue(_)) | None => AttrValue::Other,
        }
    }
    let data = slim::TracesData::decode(bytes)?;
    let mut norm = Normalizer::with_capacity(0);
    for rs in &data.resource_spans {
        let mut attrs = ResourceAttrs::default();
        for kv in rs.resource.iter().flat_map(|r| &r.attributes) {
            if let Some(v) = &kv.value {
                attrs.set(&kv.key, value(v));
            } else {
                attrs.set(&kv.key, AttrValue::Other);
            }
        }
        let mut ctx = norm.resource(attrs);
        for ss in rs
            .scope_spans
            .iter()
            .chain(&rs.instrumentation_library_spans)
        {
            for s in &ss.spans {
                let mut raw = RawSpan {
                    trace_id: RawId::from_slice(&s.trace_id),
                    span_id: RawId::from_slice(&s.span_id),
                    parent_span_id: RawId::from_slice(&s.parent_span_id),
                    name: Cow::Borrowed(&s.name),
                    kind: s.kind,
                    start: s.start_time_unix_nano,
                    end: s.end_time_unix_nano,
                    status_code: s.status.as_ref().map_or(0, |st| st.code),
                    ..RawSpan::default()
                };
                for kv in &s.attributes {
                    let v = kv.value.as_ref().map_or(AttrValue::Other, value);
                    raw.attrs.set(&kv.key, v);
                }
                raw.links = s
                    .links
                    .iter()
                    .map(|l| {
                        (
                            RawId::from_slice(&l.trace_id),
                            RawId::from_slice(&l.span_id),
                        )
                    })
                    .collect();
                norm.span(&mut ctx, &raw);
            }
        }
    }
    Ok(norm.finish())
}

fn realistic_request() -> crate::proto::otlp::collector::trace::v1::ExportTraceServiceRequest {
    let mut client = with_attrs(
        span(7, 1, Some(9), 3, "POST"),
        vec![
            s("http.request.method", "POST"),
            s("server.address", "checkout-api"),
            i("server.port", 8080),
            i("http.response.status_code", 503),
            kv("bytes", Value::BytesValue(vec![1, 2, 3])),
            kv(
                "map",
                Value::KvlistValue(KeyValueList {
                    values: vec![s("a", "b")],
                }),
            ),
            kv("flag", Value::BoolValue(true)),
            kv("ratio", Value::DoubleValue(0.5)),
        ],
    );
    client.flags = 0x101;
    client.trace_state = "vendor=1".into();
    client.events.push(Event {
        name: "retry".into(),
        attributes: vec![s("k", "v")],
        ..Default::default()
    });
    let server = with_link(
        with_status(
            with_attrs(
                span(7, 2, Some(1), 2, "POST /checkout"),
                vec![
                    s("http.request.method", "POST"),
                    s("http.route", "/checkout"),
                ],
            ),
            2,
        ),
        8,
        3,
    );
    let mut frontend = service("frontend");
    frontend.extend([
        s("service.version", "2.4.1"),
        s("deployment.environment.name", "production"),
    ]);
    request(vec![
        resource_spans(frontend, vec![client]),
        resource_spans(service("checkout-api"), vec![server]),
    ])
}

#[test]
fn full_otlp_request_round_trips_into_the_model() {
    let bytes = encode(&realistic_request());
    let d = decode_otlp_proto(&bytes).unwrap();
    assert!(d.rejected.is_empty());
    assert_eq!(d.batch.resources.len(), 2);
    let r0 = &d.batch.resources[0];
    assert_eq!(
        (
            &*r0.service,
            r0.version.as_deref(),
            r0.environment.as_deref()
        ),
        ("frontend", Some("2.4.1"), Some("production"))
    );
    let [c, srv] = &d.batch.spans[..] else {
        panic!("two spans")
    };
    assert_eq!(c.trace_id, TraceId::from_slice(&trace_id(7)).unwrap());
    assert_eq!(c.span_id, SpanId::from_slice(&span_id(1)).unwrap());
    assert_eq!(c.parent_span_id, SpanId::from_slice(&span_id(9)).unwrap());
    assert_eq!(
        (c.kind, c.resource, &*c.operation, c.error),
        (SpanKind::Client, 0, "POST", true)
    );
    assert_eq!(c.start, Timestamp(T0 + 1_000_000));
    assert_eq!(c.duration_nanos(), 10_000_000);
    assert_eq!(
        (c.peer.server_address.as_deref(), c.peer.server_port),
        (Some("checkout-api"), Some(8080))
    );
    assert_eq!(
        (srv.kind, srv.resource, &*srv.operation, srv.error),
        (SpanKind::Server, 1, "POST /checkout", true)
    );
    assert_eq!(srv.links.len(), 1);
    // TracesData is the same wire format.
    let td = TracesData {
        resource_spans: realistic_request().resource_spans,
    };
    assert_eq!(decode_otlp_proto(&td.encode_to_vec()).unwrap(), d);
    assert_eq!(via_slim(&bytes).unwrap(), d);
}

fn slim_span(name: &[u8]) -> slim::Span {
    slim::Span {
        trace_id: trace_id(1),
        span_id: span_id(1),
        name: name.to_vec(),
        kind: 2,
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + 1,
        ..Default::default()
    }
}

fn slim_kv(key: &str, value: &[u8]) -> slim::KeyValue {
    slim::KeyValue {
        key: key.as_bytes().to_vec(),
        value: Some(slim::AnyValue {
            value: Some(slim::any_value::Value::StringValue(value.to_vec())),
        }),
    }
}

fn slim_request(resource: Vec<slim::KeyValue>, spans: Vec<slim::Span>) -> Vec<u8> {
    slim::TracesData {
        resource_spans: vec![slim::ResourceSpans {
            resource: Some(slim::Resource {
                attributes: resource,
            }),
            scope_spans: vec![slim::ScopeSpans { spans }],
            instrumentation_library_spans: vec![],
        }],
    }
    .encode_to_vec()
}

#[test]
fn invalid_utf8_costs_only_its_span() {
    let mut peer = slim_span(b"ok");
    peer.span_id = span_id(3);
    peer.kind = 3;
    peer.attributes.push(slim_kv("peer.service", b"pay\xc3"));
    let mut ignored = slim_span(b"fine");
    ignored.span_id = span_id(4);
    ignored
        .attributes
        .push(slim_kv("user.comment", b"\xff\xfe"));
    let mut route = slim_span(b"r");
    route.span_id = span_id(5);
    route.attributes.push(slim_kv("http.route", b"/\xff"));
    let mut good = slim_span(b"good");
    good.span_id = span_id(2);
    let spans = vec![slim_span(b"bad \xff name"), good, peer, ignored, route];
    let resource = vec![
        slim_kv("service.name", b"svc"),
        slim_kv("service.version", b"1.\xff"),
    ];
    let bytes = slim_request(resource, spans);
    let d = decode_otlp_proto(&bytes).unwrap();
    assert_eq!(
        d.rejected.count(RejectReason::InvalidUtf8),
        2,
        "the name and the route"
    );
    assert_eq!(d.rejected.total(), 2);
    let names: Vec<_> = d.batch.spans.iter().map(|s| &*s.operation).collect();
    assert_eq!(names, ["good", "ok", "fine"]);
    assert_eq!(
        d.batch.spans[1].peer.peer_service.as_deref(),
        Some("pay\u{fffd}"),
        "repaired"
    );
    assert_eq!(
        d.batch.resources[0].version.as_deref(),
        Some("1.\u{fffd}"),
        "repaired"
    );
    assert!(d.rejected.first_error().unwrap().contains("in name"));
    assert_eq!(via_slim(&bytes).unwrap(), d);

    let bad_service = slim_request(
        vec![slim_kv("service.name", b"\xff")],
        vec![slim_span(b"x")],
    );
    let d = decode_otlp_proto(&bad_service).unwrap();
    assert_eq!(d.rejected.count(RejectReason::InvalidUtf8), 1);
    assert!(d.batch.resources.is_empty());
    assert!(
        d.rejected
            .first_error()
            .unwrap()
            .contains("service.name that is not utf-8")
    );
}

#[test]
fn json_with_invalid_utf8_in_a_name_rejects_that_span_only() {
    let mut json = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},"scopeSpans":[{"spans":[
        {"traceId":"abababababababababababababababab","spanId":"cdcdcdcdcdcdcd01","name":"NAME","kind":2,"startTimeUnixNano":"5","endTimeUnixNano":"6"},
        {"traceId":"abababababababababababababababab","spanId":"cdcdcdcdcdcdcd02","name":"good","kind":2,"startTimeUnixNano":"5","endTimeUnixNano":"6"}]}]}]}"#.to_vec();
    let at = json.windows(4).position(|w| w == b"NAME").unwrap();
    json.splice(at..at + 4, b"b\xffd".iter().copied());
    let d = decode_otlp_json(&json).unwrap();
    assert_eq!(d.rejected.count(RejectReason::InvalidUtf8), 1);
    assert_eq!(d.batch.spans.len(), 1);
    assert_eq!(&*d.batch.spans[0].operation, "good");
}

#[test]
fn truncated_protobuf_is_an_error_never_a_panic() {
    let bytes = encode(&realistic_request());
    let err = decode_otlp_proto(&bytes[..bytes.len() - 1]).unwrap_err();
    assert!(matches!(err, DecodeError::Protobuf { .. }), "{err}");
    assert!(err.to_string().starts_with("invalid protobuf at byte "));
    for cut in 0..bytes.len() {
        // Every prefix either decodes (cut on a field boundary) or errors.
        let _outcome = decode_otlp_proto(&bytes[..cut]);
    }
    assert_eq!(
        DecodeError::Protobuf {
            offset: 0,
            reason: "x"
        }
        .kind(),
        "protobuf"
    );
}

#[test]
fn wrong_wire_type_for_a_known_field_is_an_error() {
    // TracesData { resource_spans: varint 1 } and Span { start_time: varint }.
    assert!(decode_otlp_proto(&[0x08, 0x01]).is_err());
    let mut s = slim_span(b"x");
    s.start_time_unix_nano = 0;
    let mut bytes = slim_request(vec![slim_kv("service.name", b"s")], vec![s]);
    // Unknown fields of any wire type are fine.
    bytes.extend([0xa0, 0x1f, 0x01, 0xad, 0x1f, 1, 2, 3, 4]); // field 500 varint, field 501 fixed32
    assert!(decode_otlp_proto(&bytes).is_ok());
}

#[test]
fn resource_after_scope_spans_and_legacy_field_1000() {
    // Protobuf concatenation merges: spans first, then the resource.
    let spans_only = slim::ResourceSpans {
        resource: None,
        scope_spans: vec![],
        instrumentation_library_spans: vec![slim::ScopeSpans {
            spans: vec![slim_span(b"legacy")],
        }],
    };
    let resource_only = slim::ResourceSpans {
        resource: Some(slim::Resource {
            attributes: vec![slim_kv("service.name", b"old-sdk")],
        }),
        ..Default::default()
    };
    let mut rs = spans_only.encode_to_vec();
    rs.extend(resource_only.encode_to_vec());
    let mut bytes = vec![0x0a];
    prost::encoding::encode_varint(rs.len() as u64, &mut bytes);
    bytes.extend(rs);
    let d = decode_otlp_proto(&bytes).unwrap();
    assert_eq!(d.batch.spans.len(), 1);
    assert_eq!(&*d.batch.resources[0].service, "old-sdk");
    assert_eq!(&*d.batch.spans[0].operation, "legacy");
    assert_eq!(via_slim(&bytes).unwrap(), d);
}

#[test]
fn empty_any_value_and_missing_value_are_fine() {
    let mut s = span(1, 1, None, 2, "x");
    s.attributes.push(crate::proto::otlp::common::v1::KeyValue {
        key: "http.route".into(),
        value: Some(AnyValue { value: None }),
        ..Default::default()
    });
    s.attributes.push(crate::proto::otlp::common::v1::KeyValue {
        key: "peer.service".into(),
        value: None,
        ..Default::default()
    });
    let d = decode_otlp_proto(&encode(&request(vec![resource_spans(
        service("s"),
        vec![s],
    )])))
    .unwrap();
    assert_eq!(&*d.batch.spans[0].operation, "x");
    assert_eq!(d.batch.spans[0].peer.peer_service, None);
}

fn arb_request()
-> impl Strategy<Value = crate::proto::otlp::collector::trace::v1::ExportTraceServiceRequest> {
    let attr = prop_oneof![
        Just(s("http.route", "/r")),
        Just(s("http.request.method", "GET")),
        (100i64..600).prop_map(|c| i("http.response.status_code", c)),
        (0i64..20).prop_map(|c| i("rpc.grpc.status_code", c)),
        Just(s("peer.service", "p")),
        Just(s("db.system", "redis")),
        Just(s("server.address", "host")),
        (0i64..70_000).prop_map(|p| i("server.port", p)),
        Just(s("unrelated", "x")),
    ];
    let sp = (
        0u8..3,
        0u8..20,
        proptest::option::of(0u8..20),
        0i32..7,
        0i32..3,
        proptest::collection::vec(attr, 0..5),
        any::<bool>(),
    )
        .prop_map(|(t, id, parent, kind, status, attrs, backwards)| {
            let mut sp = with_status(with_attrs(span(t, id, parent, kind, "op"), attrs), status);
            if backwards {
                sp.end_time_unix_nano = sp.start_time_unix_nano - 1;
            }
            sp
        });
    let res = prop_oneof![
        Just(service("a")),
        Just(service("b")),
        Just(vec![s("service.namespace", "no-name")]),
    ];
    proptest::collection::vec((res, proptest::collection::vec(sp, 0..6)), 0..4)
        .prop_map(|rs| request(rs.into_iter().map(|(r, s)| resource_spans(r, s)).collect()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _proto = decode_otlp_proto(&bytes);
        let _json = decode_otlp_json(&bytes);
    }

    #[test]
    fn walker_agrees_with_prost_slim_and_json(req in arb_request()) {
        let bytes = encode(&req);
        let walked = decode_otlp_proto(&bytes).unwrap();
        prop_assert_eq!(&via_slim(&bytes).unwrap(), &walked);
        let json = to_json(&req).to_string();
        prop_assert_eq!(&decode_otlp_json(json.as_bytes()).unwrap(), &walked);
        let spans: usize = req.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
        prop_assert_eq!(walked.batch.len() as u64 + walked.rejected.total(), spans as u64);
    }

    #[test]
    fn mutated_valid_messages_never_panic(req in arb_request(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = encode(&req);
        if !bytes.is_empty() {
            for (at, b) in flips {
                let n = bytes.len();
                bytes[at % n] = b;
            }
        }
        let walked = decode_otlp_proto(&bytes);
        // Where prost accepts the slim message, the walker must agree.
        if let Ok(reference) = via_slim(&bytes) {
            prop_assert_eq!(walked.ok(), Some(reference));
        }
    }

    #[test]
    fn the_resource_cache_changes_no_result(
        reqs in proptest::collection::vec(arb_request(), 1..6),
        flips in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<u8>()), 0..4),
    ) {
        let mut payloads: Vec<Vec<u8>> = reqs.iter().map(encode).collect();
        for (which, at, b) in flips {
            let bytes = &mut payloads[which % reqs.len()];
            if !bytes.is_empty() {
                let n = bytes.len();
                bytes[at % n] = b;
            }
        }
        let mut cache = ResourceCache::new();
        for bytes in payloads.iter().chain(&payloads) {
            let cached = decode_cached(Encoding::OtlpProto, bytes, &mut cache);
            prop_assert_eq!(cached.ok(), decode_otlp_proto(bytes).ok());
        }
    }
}
