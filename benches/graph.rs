//! Graph stage benchmarks: `observe` (pairing + edge, node and window
//! updates) per span in steady state, window close, the API's snapshot,
//! and the crash-safety snapshot's encoded graph state.
//!
//! Workload: 200 services, 1 000-span batches of client/server pairs (10 %
//! database calls, 5 % calls to a named external peer), 10 000 spans per
//! second of event time, so halves expire and windows close as in production.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_main};
use epicenter::graph::{Config, Graph, Settings};
use epicenter::model::{
    PeerAttrs, ResourceInfo, Span, SpanBatch, SpanId, SpanKind, Timestamp, TraceId,
};

const SERVICES: usize = 200;
const BATCH: usize = 1_000;
/// Event time covered by one batch: 1 000 spans at 10 000 spans/s.
const BATCH_NS: u64 = 100_000_000;
const T0: u64 = 1_700_000_000 * Timestamp::SECOND;

fn settings() -> Settings {
    Config::default().validate().expect("defaults are valid")
}

/// A small deterministic generator (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn resources() -> Vec<ResourceInfo> {
    (0..SERVICES)
        .map(|i| ResourceInfo {
            service: Arc::from(format!("service-{i:03}")),
            namespace: None,
            version: Some(Arc::from(format!("v{}", i % 3))),
            environment: Some(Arc::from("prod")),
            instance: Some(Arc::from(format!("service-{i:03}-pod"))),
        })
        .collect()
}

/// Batch number `n`: 500 calls, each a client span and (usually) its server span.
fn batch(n: u64, resources: &[ResourceInfo], operations: &[Arc<str>]) -> SpanBatch {
    let mut rng = Lcg(n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut spans = Vec::with_capacity(BATCH);
    let base = T0 + n * BATCH_NS;
    for call in 0..(BATCH / 2) as u64 {
        let mut trace = [0u8; 16];
        trace[..8].copy_from_slice(&n.to_be_bytes());
        trace[8..].copy_from_slice(&call.to_be_bytes());
        let trace_id = TraceId(trace);
        let client = (rng.next() as usize) % SERVICES;
        let server = (client * 7 + 1 + (rng.next() as usize) % 5) % SERVICES;
        let end = base + rng.next() % BATCH_NS;
        let duration = 1_000_000 + rng.next() % 50_000_000;
        let roll = rng.next() % 100;
        let mut peer = PeerAttrs::default();
        if roll < 10 {
            peer.db_system = Some("postgresql".into());
            peer.db_namespace = Some(format!("db-{}", client % 20).into());
        } else if roll < 15 {
            peer.peer_service = Some("payments-api".into());
        }
        let span = |kind, id: u64, parent: u64, resource: usize, start, end| Span {
            trace_id,
            span_id: SpanId(id.to_be_bytes()),
            parent_span_id: SpanId(parent.to_be_bytes()),
            resource: resource as u32,
            kind,
            start: Timestamp(start),
            end: Timestamp(end),
            error: roll == 99,
            operation: operations[(rng_free(call) as usize) % operations.len()].clone(),
            peer: PeerAttrs::default(),
            links: Vec::new(),
        };
        let mut client_span = span(SpanKind::Client, 1, 0, client, end - duration, end);
        client_span.peer = peer;
        spans.push(client_span);
        if roll >= 15 {
            spans.push(span(
                SpanKind::Server,
                2,
                1,
                server,
                end - duration + 500_000,
                end - 500_000,
            ));
        } else {
            // Unanswered client: a second client call keeps the batch size.
            spans.push(span(SpanKind::Client, 3, 0, client, end - duration, end));
        }
    }
    SpanBatch {
        resources: resources.to_vec(),
        spans,
    }
}

fn rng_free(x: u64) -> u64 {
    x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40
}

fn operations() -> Vec<Arc<str>> {
    (0..20)
        .map(|i| Arc::from(format!("GET /api/v1/resource-{i}")))
        .collect()
}

fn observe(c: &mut Criterion) {
    let (resources, operations) = (resources(), operations());
    // Pre-built batches covering 60 s of event time; the measured loop walks
    // through them (and wraps with a fresh graph), so generation is not timed.
    let batches: Vec<SpanBatch> = (0..600)
        .map(|n| batch(n, &resources, &operations))
        .collect();
    report_on_cpu(&batches);
    let mut group = c.benchmark_group("graph");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("observe_1000_spans_steady_state", |b| {
        let mut graph = Graph::new(&settings());
        // Warm up the store, nodes, edges and windows: 30 s of traffic.
        for batch in &batches[..300] {
            graph.observe(batch);
            graph.take_closed_windows();
        }
        let mut next = 300;
        b.iter(|| {
            if next == batches.len() {
                graph = Graph::new(&settings());
                next = 0;
            }
            let outcome = graph.observe(black_box(&batches[next]));
            black_box(graph.take_closed_windows());
            next += 1;
            outcome
        });
    });
    group.finish();
}

/// Nanoseconds this thread has spent on a CPU (Linux), independent of how
/// busy the machine is, unlike criterion's wall-clock figures.
fn on_cpu_nanos() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Prints the on-CPU time of steady-state `observe` per span: five runs over
/// the last 30 s of batches after a 30 s warm-up; min and median.
fn report_on_cpu(batches: &[SpanBatch]) {
    let mut runs = Vec::new();
    for _ in 0..5 {
        let mut graph = Graph::new(&settings());
        for batch in &batches[..300] {
            graph.observe(batch);
            graph.take_closed_windows();
        }
        let Some(before) = on_cpu_nanos() else { return };
        for batch in &batches[300..] {
            black_box(graph.observe(black_box(batch)));
            black_box(graph.take_closed_windows());
        }
        let Some(after) = on_cpu_nanos() else { return };
        runs.push((after - before) as f64 / ((batches.len() - 300) * BATCH) as f64);
    }
    runs.sort_by(f64::total_cmp);
    eprintln!(
        "on-cpu graph/observe steady state: min {:.0} ns/span, median {:.0} ns/span",
        runs[0],
        runs[runs.len() / 2]
    );
}

fn close_window(c: &mut Criterion) {
    let (resources, operations) = (resources(), operations());
    let batches: Vec<SpanBatch> = (0..100)
        .map(|n| batch(n, &resources, &operations))
        .collect();
    let mut group = c.benchmark_group("graph");
    // 100 000 spans in one 10 s window, then the watermark passes it.
    group.bench_function("close_window_100k_spans", |b| {
        b.iter_batched(
            || {
                let mut graph = Graph::new(&settings());
                for batch in &batches {
                    graph.observe(batch);
                }
                graph.take_closed_windows();
                graph
            },
            |mut graph| {
                graph.advance_watermark(Timestamp(T0 + 40 * Timestamp::SECOND));
                graph.take_closed_windows()
            },
            BatchSize::LargeInput,
        );
    });
    let mut graph = Graph::new(&settings());
    for batch in &batches {
        graph.observe(batch);
    }
    group.bench_function("snapshot", |b| {
        b.iter(|| black_box(graph.snapshot()));
    });
    // The crash-safety snapshot's graph state (gzip JSON), every 10 s.
    group.bench_function("encode_state", |b| {
        b.iter(|| black_box(graph.encode_state().expect("the state encodes")));
    });
    eprintln!(
        "graph/encode_state: {} bytes",
        graph.encode_state().expect("the state encodes").len()
    );
    group.finish();
}

/// Runs every graph benchmark (written out instead of `criterion_group!`,
/// which generates an undocumented public function).
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    observe(&mut criterion);
    close_window(&mut criterion);
}

criterion_main!(benches);
