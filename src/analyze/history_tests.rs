//! Tests of the attribution history (`history.rs`).

use super::*;

// Stats of a window: p95 = 3 × p50, p99 = 6 × p50, max = 10 × p50.
use crate::detect::detectors::tests::window as stats;

#[test]
fn merge_adds_counts_and_weights_quantiles_by_samples() {
    let mut a = stats(30, 3, 0.1);
    merge(&mut a, &stats(10, 1, 0.5));
    assert_eq!((a.requests, a.errors, a.latency.count), (40, 4, 40));
    assert!((a.latency.p50 - 0.2).abs() < 1e-12);
    assert!((a.latency.max - 5.0).abs() < 1e-12);
}

#[test]
fn history_forgets_windows_older_than_the_retention() {
    let mut history = History::new(30 * Timestamp::SECOND);
    for i in 0..10u64 {
        let env: Arc<str> = "prod".into();
        history.push(&KeptWindow::new(&crate::model::WindowStats {
            start: Timestamp::from_secs(i * 10),
            end: Timestamp::from_secs(i * 10 + 10),
            series: vec![(
                SeriesKey::Service {
                    environment: env,
                    service: "a".into(),
                },
                stats(5, 0, 0.1),
            )],
        }));
    }
    assert_eq!(history.len(), 4);
    let w = history
        .between(Timestamp::from_secs(0), Timestamp::from_secs(1000))
        .next()
        .map(|w| w.start);
    assert_eq!(w, Some(Timestamp::from_secs(60)));
    let last = history
        .between(Timestamp::from_secs(90), Timestamp::from_secs(100))
        .next()
        .and_then(|w| w.slice("prod", "a"))
        .and_then(|s| s.service())
        .map(|s| s.requests);
    assert_eq!(last, Some(5));
}

/// A closed window of two services, every kind of row, sorted by key.
fn every_kind() -> crate::model::WindowStats {
    let a = |s: &str| -> Arc<str> { s.into() };
    let (env, v1, v2) = (a("prod"), a("1"), a("2"));
    let mut series = Vec::new();
    for (n, (client, server)) in [("a", "b"), ("b", "a")].into_iter().enumerate() {
        let n = n as u64 * 100;
        let (client, server) = (a(client), a(server));
        series.extend([
            (
                SeriesKey::Service {
                    environment: env.clone(),
                    service: client.clone(),
                },
                stats(n + 10, 1, 0.1),
            ),
            (
                SeriesKey::Operation {
                    environment: env.clone(),
                    service: client.clone(),
                    operation: a("GET /"),
                },
                stats(n + 10, 1, 0.1),
            ),
            (
                SeriesKey::ServiceVersion {
                    environment: env.clone(),
                    service: client.clone(),
                    version: v1.clone(),
                },
                stats(n + 4, 0, 0.1),
            ),
            (
                SeriesKey::ServiceVersion {
                    environment: env.clone(),
                    service: client.clone(),
                    version: v2.clone(),
                },
                stats(n + 6, 1, 0.1),
            ),
            (
                SeriesKey::Edge {
                    environment: env.clone(),
                    client: client.clone(),
                    server: server.clone(),
                    connection_type: ConnectionType::Direct,
                },
                stats(n + 20, 2, 0.3),
            ),
            (
                SeriesKey::EdgeByClientVersion {
                    environment: env.clone(),
                    client: client.clone(),
                    client_version: v2.clone(),
                    server: server.clone(),
                },
                stats(n + 20, 2, 0.3),
            ),
            (
                SeriesKey::EdgeByServerVersion {
                    environment: env.clone(),
                    client: client.clone(),
                    server: server.clone(),
                    server_version: v1.clone(),
                },
                stats(n + 20, 2, 0.3),
            ),
        ]);
    }
    series.sort_by(|x, y| x.0.cmp(&y.0));
    crate::model::WindowStats {
        start: Timestamp::from_secs(0),
        end: Timestamp::from_secs(10),
        series,
    }
}

#[test]
fn a_window_holds_only_the_rows_read_and_each_service_reads_its_own() {
    let closed = every_kind();
    let kept = KeptWindow::new(&closed);
    let mut history = History::new(3600 * Timestamp::SECOND);
    history.push(&kept);
    let window = history.between(Timestamp(0), Timestamp(1)).next().unwrap();
    // 14 rows closed, 10 read (operations and edges by the callee's
    // version are not); 2 services.
    assert_eq!(
        (window.stored.rows.ids.len(), window.stored.scopes.len()),
        (10, 2)
    );
    let (windows, bytes) = history.footprint();
    assert_eq!(windows, 1);
    assert_eq!(
        bytes,
        window.stored.heap_bytes() + history.keys.heap_bytes()
    );
    // The rows: 4 bytes of id each, 8 distinct stats written once and 2
    // repeats (each edge has its caller version's stats) by reference.
    let rows = &window.stored.rows;
    let (ids, stats_bytes) = (rows.ids.len() * 4, rows.bytes.len());
    assert_eq!(window.stored.heap_bytes(), ids + stats_bytes + 2 * 8);
    let mut at = 0;
    let mut repeats = 0;
    for _ in 0..rows.ids.len() {
        repeats += usize::from(rows.bytes[at] == 0x80);
        at = rows.read(at).1;
    }
    assert_eq!((repeats, at), (2, stats_bytes));
    assert!(
        ids + stats_bytes < kept.heap_bytes() * 3 / 4,
        "{} vs {}",
        ids + stats_bytes,
        kept.heap_bytes()
    );

    let scopes: Vec<_> = window.slices().map(|((e, s), _)| (&**e, &**s)).collect();
    assert_eq!(scopes, [("prod", "a"), ("prod", "b")]);
    for (n, (service, peer)) in [("a", "b"), ("b", "a")].into_iter().enumerate() {
        let n = n as u64 * 100;
        let slice = window.slice("prod", service).unwrap();
        assert_eq!(slice.service().map(|s| s.requests), Some(n + 10));
        let versions: Vec<_> = slice.versions().map(|(v, s)| (&**v, s.requests)).collect();
        assert_eq!(versions, [("1", n + 4), ("2", n + 6)]);
        let edges: Vec<_> = slice.edges().map(|(s, _, x)| (&**s, x)).collect();
        assert_eq!(edges, [(peer, stats(n + 20, 2, 0.3))]);
        let by_version: Vec<_> = slice
            .edges_by_version()
            .map(|(s, v, x)| (&**s, &**v, x.requests))
            .collect();
        assert_eq!(by_version, [(peer, "2", n + 20)]);
    }
    assert!(window.slice("prod", "c").is_none());
    assert!(window.slice("test", "a").is_none());
}
