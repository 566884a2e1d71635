//! Normalization through both decoders: every case is encoded as protobuf
//! (full OTLP types) and as OTLP/JSON, and both must give the same model.

use std::sync::Arc;

use super::super::testutil::*;
use super::super::{Decoded, RejectReason, decode_otlp_json, decode_otlp_proto};
use crate::model::{PeerAttrs, SpanKind};
use crate::proto::otlp::collector::trace::v1::ExportTraceServiceRequest;

const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const CONSUMER: i32 = 5;

/// Decodes `req` with both decoders, asserts they agree, returns the result.
fn both(req: &ExportTraceServiceRequest) -> Decoded {
    let proto = decode_otlp_proto(&encode(req)).expect("protobuf decodes");
    let json = decode_otlp_json(to_json(req).to_string().as_bytes()).expect("json decodes");
    assert_eq!(proto, json, "protobuf and json decoders disagree");
    proto
}

fn one(
    resource: Vec<crate::proto::otlp::common::v1::KeyValue>,
    span: crate::proto::otlp::trace::v1::Span,
) -> Decoded {
    both(&request(vec![resource_spans(resource, vec![span])]))
}

#[test]
fn resource_identity_with_current_names() {
    let d = one(
        vec![
            s("service.name", "checkout"),
            s("service.namespace", "shop"),
            s("service.version", "2.5.0"),
            s("vcs.ref.head.revision", "abc123"),
            s("deployment.environment.name", "production"),
            s("deployment.environment", "legacy"),
            s("service.instance.id", "i-1"),
            s("k8s.pod.uid", "pod-uid"),
        ],
        span(1, 1, None, SERVER, "GET"),
    );
    let r = &d.batch.resources[0];
    assert_eq!(&*r.service, "checkout");
    assert_eq!(r.namespace.as_deref(), Some("shop"));
    assert_eq!(r.version.as_deref(), Some("2.5.0"));
    assert_eq!(r.environment.as_deref(), Some("production"));
    assert_eq!(r.instance.as_deref(), Some("i-1"));
}

#[test]
fn resource_fallbacks_in_order() {
    let version = |attrs: Vec<_>| {
        let mut all = service("svc");
        all.extend(attrs);
        one(all, span(1, 1, None, SERVER, "x")).batch.resources[0]
            .version
            .clone()
    };
    assert_eq!(
        version(vec![
            s("vcs.ref.head.revision", "sha1"),
            s("vcs.repository.ref.revision", "sha0")
        ])
        .as_deref(),
        Some("sha1")
    );
    assert_eq!(
        version(vec![
            s("vcs.repository.ref.revision", "sha0"),
            strings("container.image.tags", &["v3", "latest"])
        ])
        .as_deref(),
        Some("sha0")
    );
    assert_eq!(
        version(vec![strings("container.image.tags", &["v3", "latest"])]).as_deref(),
        Some("v3")
    );
    assert_eq!(version(vec![s("service.version", "")]), None);

    let ident = |attrs: Vec<_>| {
        let mut all = service("svc");
        all.extend(attrs);
        let d = one(all, span(1, 1, None, SERVER, "x"));
        let r = &d.batch.resources[0];
        (r.environment.clone(), r.instance.clone())
    };
    let (env, inst) = ident(vec![
        s("deployment.environment", "staging"),
        s("k8s.pod.name", "pod-a"),
        s("host.name", "h"),
    ]);
    assert_eq!(
        (env.as_deref(), inst.as_deref()),
        (Some("staging"), Some("pod-a"))
    );
    let (_, inst) = ident(vec![s("host.name", "h"), s("k8s.pod.uid", "u")]);
    assert_eq!(inst.as_deref(), Some("u"));
    let (env, inst) = ident(vec![s("host.name", "h")]);
    assert_eq!((env, inst.as_deref()), (None, Some("h")));
}

#[test]
fn missing_service_name_rejects_that_resource_only() {
    let req = request(vec![
        resource_spans(
            vec![s("service.version", "1")],
            vec![span(1, 1, None, SERVER, "a"), span(1, 2, None, SERVER, "b")],
        ),
        resource_spans(
            vec![s("service.name", "")],
            vec![span(1, 3, None, SERVER, "c")],
        ),
        resource_spans(service("ok"), vec![span(1, 4, None, SERVER, "d")]),
    ]);
    let d = both(&req);
    assert_eq!(d.rejected.count(RejectReason::MissingServiceName), 3);
    assert_eq!(d.rejected.total(), 3);
    assert_eq!(
        d.batch.resources.len(),
        1,
        "rejected resources are not in the batch"
    );
    assert_eq!(d.batch.spans.len(), 1);
    assert_eq!(d.batch.spans[0].resource, 0);
    assert_eq!(&*d.batch.resource_of(&d.batch.spans[0]).service, "ok");
    assert!(
        d.rejected
            .first_error()
            .unwrap()
            .contains("resource 0 has no service.name")
    );
}

#[test]
fn resources_without_valid_spans_are_dropped_and_indices_stay_right() {
    let mut bad = span(1, 1, None, SERVER, "a");
    bad.end_time_unix_nano = bad.start_time_unix_nano - 1;
    let req = request(vec![
        resource_spans(service("a"), vec![bad]),
        resource_spans(
            service("b"),
            vec![span(1, 2, None, SERVER, "x"), span(1, 3, None, CLIENT, "y")],
        ),
        resource_spans(service("c"), vec![span(1, 4, None, SERVER, "z")]),
    ]);
    let d = both(&req);
    let services: Vec<_> = d
        .batch
        .spans
        .iter()
        .map(|s| d.batch.resource_of(s).service.to_string())
        .collect();
    assert_eq!(services, ["b", "b", "c"]);
    assert_eq!(d.batch.resources.len(), 2);
}

#[test]
fn kinds_map_with_unspecified_as_internal() {
    let spans = (0..7)
        .map(|k| span(1, k as u8 + 1, None, if k == 6 { 99 } else { k }, "op"))
        .collect();
    let d = both(&request(vec![resource_spans(service("s"), spans)]));
    let kinds: Vec<_> = d.batch.spans.iter().map(|s| s.kind).collect();
    use SpanKind::*;
    assert_eq!(
        kinds,
        [
            Internal, Internal, Server, Client, Producer, Consumer, Internal
        ]
    );
}

#[test]
fn invalid_ids_and_times_are_rejected_by_reason() {
    let base = || span(1, 1, Some(9), SERVER, "op");
    let mut cases = Vec::new();
    let mut s1 = base();
    s1.trace_id.pop();
    cases.push((s1, RejectReason::InvalidTraceId));
    let mut s2 = base();
    s2.trace_id = vec![0; 16];
    cases.push((s2, RejectReason::InvalidTraceId));
    let mut s3 = base();
    s3.span_id = vec![0; 8];
    cases.push((s3, RejectReason::InvalidSpanId));
    let mut s4 = base();
    s4.span_id.push(1);
    cases.push((s4, RejectReason::InvalidSpanId));
    let mut s5 = base();
    s5.parent_span_id = vec![1; 7];
    cases.push((s5, RejectReason::InvalidParentSpanId));
    let mut s6 = base();
    s6.start_time_unix_nano = 0;
    cases.push((s6, RejectReason::MissingTimestamp));
    let mut s7 = base();
    s7.end_time_unix_nano = 0;
    cases.push((s7, RejectReason::MissingTimestamp));
    let mut s8 = base();
    s8.end_time_unix_nano = s8.start_time_unix_nano - 1;
    cases.push((s8, RejectReason::EndBeforeStart));
    for (bad, reason) in cases {
        let d = both(&request(vec![resource_spans(
            service("s"),
            vec![bad, span(2, 2, None, SERVER, "ok")],
        )]));
        assert_eq!(d.rejected.count(reason), 1, "{reason}");
        assert_eq!(d.rejected.total(), 1, "{reason}");
        assert_eq!(d.batch.spans.len(), 1, "the good span survives ({reason})");
        assert!(
            d.rejected
                .first_error()
                .unwrap()
                .contains(reason.describe())
        );
    }
}

#[test]
fn zero_length_span_and_zero_parent_are_fine() {
    let mut s = span(1, 1, None, SERVER, "op");
    s.end_time_unix_nano = s.start_time_unix_nano;
    let mut child = span(1, 2, None, SERVER, "op");
    child.parent_span_id = vec![0; 8];
    let d = both(&request(vec![resource_spans(service("s"), vec![s, child])]));
    assert_eq!(d.batch.spans.len(), 2);
    assert!(d.batch.spans.iter().all(|s| s.is_root()));
    assert_eq!(d.batch.spans[0].duration_nanos(), 0);
}

#[test]
fn operation_from_route_on_servers_and_consumers_else_name() {
    let route = |kind, attrs| with_attrs(span(1, 1, None, kind, "name"), attrs);
    let op = |s| one(service("s"), s).batch.spans[0].operation.to_string();
    assert_eq!(
        op(route(
            SERVER,
            vec![
                s("http.request.method", "GET"),
                s("http.route", "/cart/{id}")
            ]
        )),
        "GET /cart/{id}"
    );
    assert_eq!(
        op(route(
            SERVER,
            vec![s("http.method", "POST"), s("http.route", "/pay")]
        )),
        "POST /pay"
    );
    assert_eq!(
        op(route(
            SERVER,
            vec![
                s("http.method", "POST"),
                s("http.request.method", "PUT"),
                s("http.route", "/pay")
            ]
        )),
        "PUT /pay"
    );
    assert_eq!(op(route(SERVER, vec![s("http.route", "/pay")])), "/pay");
    assert_eq!(op(route(CONSUMER, vec![s("http.route", "/hook")])), "/hook");
    assert_eq!(
        op(route(
            CLIENT,
            vec![s("http.request.method", "GET"), s("http.route", "/x")]
        )),
        "name"
    );
    assert_eq!(
        op(route(SERVER, vec![s("http.request.method", "GET")])),
        "name"
    );
}

#[test]
fn repeated_operations_share_one_allocation() {
    let attrs = || vec![s("http.request.method", "GET"), s("http.route", "/a")];
    let spans = vec![
        with_attrs(span(1, 1, None, SERVER, "GET /a"), attrs()),
        with_attrs(span(1, 2, None, SERVER, "GET /a"), attrs()),
        span(1, 3, None, CLIENT, "GET /a"),
    ];
    let d = both(&request(vec![resource_spans(service("s"), spans)]));
    let ops: Vec<_> = d.batch.spans.iter().map(|s| &s.operation).collect();
    assert!(Arc::ptr_eq(ops[0], ops[1]) && Arc::ptr_eq(ops[1], ops[2]));
}

#[test]
fn deprecated_and_current_peer_names_give_the_same_model() {
    let current = vec![
        s("service.peer.name", "payments"),
        s("db.system.name", "postgresql"),
        s("db.namespace", "orders"),
        s("server.address", "db.internal"),
        i("server.port", 5432),
        s("network.peer.address", "10.0.0.7"),
        i("network.peer.port", 5432),
        s("messaging.system", "kafka"),
        s("messaging.destination.name", "orders"),
    ];
    let deprecated = vec![
        s("peer.service", "payments"),
        s("db.system", "postgresql"),
        s("db.name", "orders"),
        s("net.peer.name", "db.internal"),
        i("net.peer.port", 5432),
        s("net.sock.peer.addr", "10.0.0.7"),
        i("network.peer.port", 5432),
        s("messaging.system", "kafka"),
        s("messaging.destination", "orders"),
    ];
    let a = one(
        service("s"),
        with_attrs(span(1, 1, None, CLIENT, "q"), current),
    );
    let b = one(
        service("s"),
        with_attrs(span(1, 1, None, CLIENT, "q"), deprecated),
    );
    assert_eq!(a.batch, b.batch);
    let want = PeerAttrs {
        peer_service: Some("payments".into()),
        db_system: Some("postgresql".into()),
        db_namespace: Some("orders".into()),
        server_address: Some("db.internal".into()),
        server_port: Some(5432),
        network_peer_address: Some("10.0.0.7".into()),
        network_peer_port: Some(5432),
        messaging_system: Some("kafka".into()),
        messaging_destination: Some("orders".into()),
    };
    assert_eq!(a.batch.spans[0].peer, want);
}

#[test]
fn current_names_win_whatever_the_order() {
    let attrs = vec![
        s("service.peer.name", "new"),
        s("peer.service", "old"),
        s("db.name", "old-db"),
        s("db.namespace", "new-db"),
        s("net.peer.name", "old-host"),
        s("server.address", "new-host"),
        i("net.peer.port", 1),
        s("server.port", "2"),
    ];
    let d = one(
        service("s"),
        with_attrs(span(1, 1, None, CLIENT, "q"), attrs),
    );
    let p = &d.batch.spans[0].peer;
    assert_eq!(p.peer_service.as_deref(), Some("new"));
    assert_eq!(p.db_namespace.as_deref(), Some("new-db"));
    assert_eq!(p.server_address.as_deref(), Some("new-host"));
    assert_eq!(p.server_port, Some(2));
}

#[test]
fn net_peer_name_means_the_caller_on_server_spans() {
    let d = one(
        service("s"),
        with_attrs(
            span(1, 1, None, SERVER, "q"),
            vec![s("net.peer.name", "caller"), i("server.port", 70000)],
        ),
    );
    assert_eq!(d.batch.spans[0].peer.server_address, None);
    assert_eq!(
        d.batch.spans[0].peer.server_port, None,
        "out-of-range port is dropped"
    );
    let d = one(
        service("s"),
        with_attrs(
            span(1, 1, None, PRODUCER, "q"),
            vec![s("net.peer.name", "broker")],
        ),
    );
    assert_eq!(
        d.batch.spans[0].peer.server_address.as_deref(),
        Some("broker")
    );
}

#[test]
fn resource_db_and_messaging_system_are_fallbacks_for_outgoing_spans() {
    let mut res = service("s");
    res.push(s("db.system", "redis"));
    res.push(s("messaging.system", "rabbitmq"));
    let spans = vec![
        span(1, 1, None, CLIENT, "get"),
        with_attrs(
            span(1, 2, None, CLIENT, "q"),
            vec![
                s("db.system.name", "postgresql"),
                s("messaging.system", "kafka"),
            ],
        ),
        span(1, 3, None, CONSUMER, "recv"),
        span(1, 4, None, SERVER, "serve"),
    ];
    let d = both(&request(vec![resource_spans(res, spans)]));
    let peers: Vec<_> = d
        .batch
        .spans
        .iter()
        .map(|s| {
            (
                s.peer.db_system.as_deref(),
                s.peer.messaging_system.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        peers,
        [
            (Some("redis"), Some("rabbitmq")),
            (Some("postgresql"), Some("kafka")),
            (Some("redis"), Some("rabbitmq")),
            (None, None),
        ]
    );
}

#[test]
fn links_keep_valid_ids_only() {
    let mut s = with_link(with_link(span(1, 1, None, CONSUMER, "process"), 2, 5), 3, 6);
    s.links[1].span_id = vec![0; 8];
    let d = one(service("s"), s);
    let links = &d.batch.spans[0].links;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].trace_id.0.to_vec(), trace_id(2));
    assert_eq!(links[0].span_id.0.to_vec(), span_id(5));
}

#[test]
fn error_flag_follows_status_then_codes() {
    let spans = vec![
        with_status(span(1, 1, None, SERVER, "a"), 2),
        with_attrs(
            span(1, 2, None, SERVER, "b"),
            vec![i("http.response.status_code", 503)],
        ),
        with_attrs(
            span(1, 3, None, SERVER, "c"),
            vec![i("http.response.status_code", 404)],
        ),
        with_attrs(
            span(1, 4, None, CLIENT, "d"),
            vec![i("http.status_code", 404)],
        ),
        with_status(
            with_attrs(
                span(1, 5, None, CLIENT, "e"),
                vec![i("http.status_code", 500)],
            ),
            1,
        ),
        with_attrs(
            span(1, 6, None, SERVER, "f"),
            vec![s("rpc.response.status_code", "UNAVAILABLE")],
        ),
        with_attrs(
            span(1, 7, None, SERVER, "g"),
            vec![i("rpc.grpc.status_code", 5)],
        ),
    ];
    let d = both(&request(vec![resource_spans(service("s"), spans)]));
    let errors: Vec<_> = d.batch.spans.iter().map(|s| s.error).collect();
    assert_eq!(errors, [true, true, false, true, false, true, false]);
}
