//! Memory bounds under hostile traffic (issue #5): a flood of unpaired
//! spans, and a flood of distinct operation names. The limits must hold,
//! every refusal must be counted by reason, and good traffic must survive.

use std::sync::Arc;

use crate::model::{
    PeerAttrs, SeriesKey, Span, SpanBatch, SpanId, SpanKind, Timestamp, TraceId, WindowStats,
};

use super::super::{Expiry, Graph, HalfKind, OTHER_OPERATION, ObserveOutcome};
use super::{MS, SEC, T0, resource, settings_with};

/// Distinct ids from a counter (the shared test helpers stop at `u16`).
fn ids(n: u64) -> (TraceId, SpanId) {
    let mut trace = [0x77u8; 16];
    trace[8..].copy_from_slice(&n.to_be_bytes());
    (TraceId(trace), SpanId(n.to_be_bytes()))
}

fn span(kind: SpanKind, n: u64, parent: Option<SpanId>, end_ns: u64, operation: &Arc<str>) -> Span {
    let (trace_id, span_id) = ids(n);
    Span {
        trace_id,
        span_id,
        parent_span_id: parent.unwrap_or_default(),
        resource: 0,
        kind,
        start: Timestamp(end_ns - MS),
        end: Timestamp(end_ns),
        error: false,
        operation: operation.clone(),
        peer: PeerAttrs::default(),
        links: Vec::new(),
    }
}

fn batch_of(service: &str, spans: Vec<Span>) -> SpanBatch {
    SpanBatch {
        resources: vec![resource(service)],
        spans,
    }
}

#[test]
fn a_flood_of_unpaired_spans_stays_within_the_store_and_cannot_evict_good_halves() {
    const MAX: usize = 1_000;
    let settings = settings_with(|c| c.max_pending_spans = MAX);
    let mut graph = Graph::new(&settings);
    let op: Arc<str> = Arc::from("op");
    let mut totals = ObserveOutcome::default();
    // 50 good clients, held before the flood.
    let good: Vec<Span> = (1..=50)
        .map(|i| span(SpanKind::Client, i, None, T0 + MS, &op))
        .collect();
    totals.merge(&graph.observe(&batch_of("frontend", good.clone())));
    // 5 s of flood: 200,000 spans, half clients nobody answers, half servers
    // whose parent never comes.
    let mut serial = 1_000_000u64;
    for tick in 0..50u64 {
        let end = T0 + 2 * MS + tick * 100 * MS;
        let spans = (0..4_000)
            .map(|i| {
                serial += 1;
                if i % 2 == 0 {
                    span(SpanKind::Client, serial, None, end, &op)
                } else {
                    let parent = ids(serial + (1 << 40)).1;
                    span(SpanKind::Server, serial, Some(parent), end, &op)
                }
            })
            .collect();
        totals.merge(&graph.observe(&batch_of("flood", spans)));
        assert!(graph.held_halves() <= MAX, "{}", graph.held_halves());
    }
    let flooded = 200_000u64;
    assert_eq!(graph.held_halves(), MAX);
    assert_eq!(totals.rejected_full, flooded - (MAX as u64 - 50));
    // The good servers answer after the flood: every good client is still held.
    let answers: Vec<Span> = good
        .iter()
        .enumerate()
        .map(|(i, client)| {
            let mut server = span(SpanKind::Server, 10_000 + i as u64, None, T0 + 6 * SEC, &op);
            server.trace_id = client.trace_id;
            server.parent_span_id = client.span_id;
            server
        })
        .collect();
    let outcome = graph.observe(&batch_of("backend", answers));
    assert_eq!(outcome.edges_paired, 50, "good halves survived the flood");
    totals.merge(&outcome);
    // Everything held expires; the flood's halves are counted by kind and reason.
    graph.finish();
    let expired = graph.totals().advance.expired;
    assert_eq!(
        expired.get(HalfKind::Client, Expiry::Unpaired)
            + expired.get(HalfKind::Server, Expiry::Unpaired),
        MAX as u64 - 50
    );
    assert_eq!(expired.get(HalfKind::Server, Expiry::Unpaired), 475);
    assert_eq!(graph.held_halves(), 0);
    let snapshot = graph.snapshot();
    assert_eq!(snapshot.pairing.dropped, totals.rejected_full);
    assert_eq!(snapshot.edges.len(), 1);
    assert_eq!(snapshot.edges[0].requests, 50);
}

#[test]
fn a_full_store_recovers_once_the_flood_expires() {
    let settings = settings_with(|c| c.max_pending_spans = 100);
    let mut graph = Graph::new(&settings);
    let op: Arc<str> = Arc::from("op");
    let flood = (1..=1_000)
        .map(|i| span(SpanKind::Client, i, None, T0, &op))
        .collect();
    assert_eq!(graph.observe(&batch_of("flood", flood)).rejected_full, 900);
    // Once the watermark passes the flood's end + ttl, it has expired and new
    // pairs are held again.
    let (client, server) = (
        span(SpanKind::Client, 5_000, None, T0 + 30 * SEC, &op),
        span(
            SpanKind::Server,
            5_001,
            Some(ids(5_000).1),
            T0 + 30 * SEC,
            &op,
        ),
    );
    let mut server = server;
    server.trace_id = client.trace_id;
    let advanced = graph.advance_watermark(Timestamp(T0 + 25 * SEC));
    assert_eq!(
        advanced.expired.get(HalfKind::Client, Expiry::Unpaired),
        100
    );
    assert_eq!(graph.held_halves(), 0);
    assert_eq!(graph.observe(&batch_of("a", vec![client])).rejected_full, 0);
    assert_eq!(graph.observe(&batch_of("b", vec![server])).edges_paired, 1);
}

/// Operation series in `windows`, and how many of them are `__other__`.
fn operation_series(windows: &[WindowStats]) -> (usize, usize) {
    let mut all = 0;
    let mut other = 0;
    for window in windows {
        for (key, _) in &window.series {
            if let SeriesKey::Operation { operation, .. } = key {
                all += 1;
                other += usize::from(&**operation == OTHER_OPERATION);
            }
        }
    }
    (all, other)
}

#[test]
fn a_flood_of_distinct_operation_names_is_capped_and_counted() {
    const MAX: usize = 500;
    let settings = settings_with(|c| {
        c.max_operations = MAX;
        c.max_operations_per_service = 100_000;
    });
    let mut graph = Graph::new(&settings);
    let mut totals = ObserveOutcome::default();
    let mut windows = Vec::new();
    let services = 10u64;
    let mut serial = 0u64;
    // 200,000 root server spans, every one with a new name, over 20 s.
    for tick in 0..200u64 {
        let end = T0 + tick * 100 * MS;
        for service in 0..services {
            let spans = (0..100)
                .map(|_| {
                    serial += 1;
                    let name: Arc<str> = Arc::from(format!("GET /item/{serial}"));
                    span(SpanKind::Server, serial, None, end, &name)
                })
                .collect();
            totals.merge(&graph.observe(&batch_of(&format!("svc-{service}"), spans)));
            assert!(graph.operations() <= MAX);
        }
        windows.extend(graph.take_closed_windows());
    }
    windows.extend(graph.finish());
    assert_eq!(graph.operations(), MAX);
    assert_eq!(totals.operations_overflowed, serial - MAX as u64);
    assert_eq!(totals.operations_over_total, serial - MAX as u64);
    let (series, other) = operation_series(&windows);
    // Named series only in the windows where the first MAX names came, plus
    // one __other__ per service and window.
    assert_eq!(series - other, MAX);
    assert!(other <= windows.len() * services as usize, "{other}");
}

#[test]
fn the_per_service_operation_limit_is_counted_apart_from_the_total() {
    let settings = settings_with(|c| {
        c.max_operations = 1_000;
        c.max_operations_per_service = 3;
    });
    let mut graph = Graph::new(&settings);
    let spans = (0..10u64)
        .map(|i| {
            let name: Arc<str> = Arc::from(format!("op-{i}"));
            span(SpanKind::Server, i, None, T0, &name)
        })
        .collect();
    let outcome = graph.observe(&batch_of("svc", spans));
    assert_eq!(outcome.operations_overflowed, 7);
    assert_eq!(outcome.operations_over_total, 0);
    assert_eq!(graph.operations(), 3);
}
