//! Window assignment, closing and series content.

use super::*;
use crate::model::{ConnectionType, SeriesKey, SeriesStats, SpanKind::*, WindowStats};

fn series<'a>(window: &'a WindowStats, key: &SeriesKey) -> &'a SeriesStats {
    &window
        .series
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key:?}"))
        .1
}

fn s(v: &str) -> Arc<str> {
    Arc::from(v)
}

#[test]
fn a_pair_fills_service_operation_version_and_edge_series() {
    let front = versioned("frontend", "f1", "pod-f");
    let back = versioned("checkout", "c7", "pod-c");
    let spans = [
        (&front, SpanSpec::new(Client, 1, 1).at(0, 50).error()),
        (
            &back,
            SpanSpec::new(Server, 1, 2)
                .parent(1)
                .at(5, 40)
                .op("POST /pay"),
        ),
    ];
    let (_, windows) = run_finished(&settings(), &[batch(&spans)]);
    assert_eq!(windows.len(), 1);
    let window = &windows[0];
    assert_eq!(
        (window.start, window.end),
        (Timestamp(T0), Timestamp(T0 + 10 * SEC))
    );
    let env = s("prod");
    let service = series(
        window,
        &SeriesKey::Service {
            environment: env.clone(),
            service: s("checkout"),
        },
    );
    assert_eq!(
        (service.requests, service.errors, service.instances),
        (1, 0, 1)
    );
    assert_eq!(service.latency.count, 1);
    assert!((service.latency.p50 - 0.035).abs() < 0.001);
    let op = SeriesKey::Operation {
        environment: env.clone(),
        service: s("checkout"),
        operation: s("POST /pay"),
    };
    assert_eq!(series(window, &op).requests, 1);
    let version = SeriesKey::ServiceVersion {
        environment: env.clone(),
        service: s("checkout"),
        version: s("c7"),
    };
    assert_eq!(series(window, &version).instances, 1);
    let edge = SeriesKey::Edge {
        environment: env.clone(),
        client: s("frontend"),
        server: s("checkout"),
        connection_type: ConnectionType::Direct,
    };
    let edge = series(window, &edge);
    assert_eq!((edge.requests, edge.errors, edge.instances), (1, 1, 0));
    assert!(
        (edge.latency.max - 0.035).abs() < 1e-9,
        "edge latency is the server side"
    );
    let by_client = SeriesKey::EdgeByClientVersion {
        environment: env.clone(),
        client: s("frontend"),
        client_version: s("f1"),
        server: s("checkout"),
    };
    assert_eq!(series(window, &by_client).errors, 1);
    let by_server = SeriesKey::EdgeByServerVersion {
        environment: env,
        client: s("frontend"),
        server: s("checkout"),
        server_version: s("c7"),
    };
    assert_eq!(series(window, &by_server).requests, 1);
    assert_eq!(window.series.len(), 6);
    let mut sorted = window.series.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(sorted, window.series, "series are sorted");
}

#[test]
fn a_window_closes_only_after_its_halves_could_expire() {
    let svc = resource("svc");
    let mut graph = Graph::new(&settings());
    graph.observe(&batch(&[(
        &svc,
        SpanSpec::new(Server, 1, 1).at(9_000, 9_990),
    )]));
    // Window [T0, T0+10 s) closes when the watermark reaches T0 + 20 s, i.e.
    // once a span ending at T0 + 30 s arrives (lateness 10 s).
    graph.observe(&batch(&[(
        &svc,
        SpanSpec::new(Internal, 2, 1).at(0, 29_999),
    )]));
    assert!(graph.take_closed_windows().is_empty());
    let outcome = graph.observe(&batch(&[(
        &svc,
        SpanSpec::new(Internal, 2, 2).at(0, 30_000),
    )]));
    assert_eq!(outcome.advance.windows_closed, 1);
    let closed = graph.take_closed_windows();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].start, Timestamp(T0));
    // Service, Operation, ServiceVersion, and the root span's `user` edge
    // (Edge, EdgeByClientVersion, EdgeByServerVersion) after it expired.
    assert_eq!(closed[0].series.len(), 6);
}

#[test]
fn an_expired_half_lands_in_the_window_of_its_end() {
    let svc = resource("svc");
    let client = SpanSpec::new(Client, 1, 1)
        .at(9_000, 9_999)
        .peer(|p| p.peer_service = boxed("ext"));
    let mut graph = Graph::new(&settings());
    graph.observe(&batch(&[(&svc, client)]));
    graph.advance_watermark(Timestamp(T0 + 20 * SEC));
    let closed = graph.take_closed_windows();
    assert_eq!(closed.len(), 1);
    let edge = SeriesKey::Edge {
        environment: s(""),
        client: s("svc"),
        server: s("ext"),
        connection_type: ConnectionType::VirtualNode,
    };
    assert_eq!(series(&closed[0], &edge).requests, 1);
}

#[test]
fn idle_time_closes_empty_windows_in_order() {
    let svc = resource("svc");
    let mut graph = Graph::new(&settings());
    graph.observe(&batch(&[(&svc, SpanSpec::new(Server, 1, 1).at(0, 5))]));
    graph.advance_watermark(Timestamp(T0 + 50 * SEC));
    let starts: Vec<u64> = graph
        .take_closed_windows()
        .iter()
        .map(|w| (w.start.0 - T0) / SEC)
        .collect();
    assert_eq!(starts, [0, 10, 20, 30]);
    assert!(
        graph.advance_watermark(Timestamp(T0)).windows_closed == 0,
        "never moves back"
    );
    assert_eq!(graph.watermark(), Timestamp(T0 + 50 * SEC));
}

#[test]
fn finish_closes_everything_and_later_spans_are_late() {
    let svc = resource("svc");
    let mut graph = Graph::new(&settings());
    graph.observe(&batch(&[(&svc, SpanSpec::new(Server, 1, 1).at(0, 5))]));
    graph.observe(&batch(&[(&svc, SpanSpec::new(Server, 1, 2).at(0, 25_000))]));
    let windows = graph.finish();
    let starts: Vec<u64> = windows.iter().map(|w| (w.start.0 - T0) / SEC).collect();
    assert_eq!(starts, [0, 10, 20]);
    assert!(graph.take_closed_windows().is_empty());
    assert_eq!(
        graph
            .observe(&batch(&[(&svc, SpanSpec::new(Server, 1, 3).at(0, 29_000))]))
            .late,
        1
    );
}
