//! End to end, per core: protobuf bytes → slim decode → normalize → pair and
//! update edges → close windows, over simulator batches of the default fleet
//! (Collector-like batches: many services, traces cut across batches).
//!
//! `cargo bench --bench pipeline`. Throughput is reported in spans.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_main};
use epicenter::graph::{Config, Graph};
use epicenter::ingest::decode::{Encoding, ResourceCache, decode_cached, decode_otlp_proto};
use epicenter::model::Timestamp;
use epicenter::sim::{Scenario, Simulator, Topology, span_count, split_by_trace};
use prost::Message as _;

/// Encoded batches covering `secs` of simulated traffic at `rate` requests/s;
/// `keyed` splits them into one record per trace, as the Collector's Kafka
/// exporter writes with `partition_traces_by_id`.
fn batches(topology: Topology, rate: f64, secs: f64, keyed: bool) -> (Vec<Vec<u8>>, u64) {
    let start = Timestamp::from_secs(1_790_000_000);
    let mut sim = Simulator::new(topology, Scenario::steady(Some(secs)), 7, start, rate)
        .expect("the default fleet is valid");
    let (mut out, mut spans) = (Vec::new(), 0u64);
    while let Some(request) = sim.next_batch() {
        spans += span_count(&request) as u64;
        if keyed {
            out.extend(
                split_by_trace(&request)
                    .iter()
                    .map(|(_, r)| r.encode_to_vec()),
            );
        } else {
            out.push(request.encode_to_vec());
        }
    }
    (out, spans)
}

/// Prints on-CPU ns per span of decoding one-trace records (the keyed Kafka
/// layout: every record repeats its services' resources), without and with
/// the resource cache the Kafka consumer decodes them through.
fn report_keyed_decode(records: &[Vec<u8>], spans: u64) {
    let Some(plain) = on_cpu_per_span(records, spans, |bytes| {
        black_box(decode_otlp_proto(bytes).expect("simulator output decodes"));
    }) else {
        return;
    };
    eprintln!(
        "on-cpu decode/keyed_records: {plain:.0} ns/span ({} records, {:.1} spans each)",
        records.len(),
        spans as f64 / records.len() as f64
    );
    let mut cache = ResourceCache::new();
    let Some(cached) = on_cpu_per_span(records, spans, |bytes| {
        let decoded = decode_cached(Encoding::OtlpProto, bytes, &mut cache);
        black_box(decoded.expect("simulator output decodes"));
    }) else {
        return;
    };
    eprintln!("on-cpu decode/keyed_records_resource_cache: {cached:.0} ns/span");
}

/// On-CPU ns per span of `decode` over all `records`, `RUNS_PER_SAMPLE` times.
fn on_cpu_per_span(records: &[Vec<u8>], spans: u64, mut decode: impl FnMut(&[u8])) -> Option<f64> {
    let before = on_cpu_nanos()?;
    for _ in 0..RUNS_PER_SAMPLE {
        for bytes in records {
            decode(bytes);
        }
    }
    let after = on_cpu_nanos()?;
    Some((after - before) as f64 / (spans * RUNS_PER_SAMPLE) as f64)
}

/// Nanoseconds this thread has spent on a CPU (Linux), independent of how
/// busy the machine is, unlike criterion's wall-clock figures.
fn on_cpu_nanos() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Decode → graph → windows over all `encoded` batches with a fresh graph.
fn run(settings: &epicenter::graph::Settings, encoded: &[Vec<u8>]) -> usize {
    let mut graph = Graph::new(settings);
    let mut windows = 0usize;
    for bytes in encoded {
        let decoded = decode_otlp_proto(bytes).expect("simulator output decodes");
        graph.observe(&decoded.batch);
        windows += graph.take_closed_windows().len();
    }
    windows + graph.finish().len()
}

/// Runs per on-CPU sample: the kernel's per-thread CPU time advances in
/// scheduler ticks (4 ms here), so one ~0.1 s run would be quantized by ~4 %.
const RUNS_PER_SAMPLE: u64 = 5;

/// Prints on-CPU ns per span of the whole path (five samples: min and median).
fn report_on_cpu(
    name: &str,
    settings: &epicenter::graph::Settings,
    encoded: &[Vec<u8>],
    spans: u64,
) {
    let mut runs = Vec::new();
    for _ in 0..5 {
        let Some(before) = on_cpu_nanos() else { return };
        for _ in 0..RUNS_PER_SAMPLE {
            black_box(run(settings, encoded));
        }
        let Some(after) = on_cpu_nanos() else { return };
        runs.push((after - before) as f64 / (spans * RUNS_PER_SAMPLE) as f64);
    }
    runs.sort_by(f64::total_cmp);
    eprintln!(
        "on-cpu pipeline/{name}: min {:.0} ns/span ({:.2} M spans/s per core), median {:.0} ns/span",
        runs[0],
        1e3 / runs[0],
        runs[runs.len() / 2]
    );
}

fn pipeline(c: &mut Criterion) {
    let settings = Config::default().validate().expect("defaults are valid");
    let mut group = c.benchmark_group("pipeline");
    for (name, topology, rate) in [
        ("default_fleet", Topology::default_fleet(), 200.0),
        ("generated_500", Topology::generated(500, 3), 200.0),
    ] {
        // `PIPELINE_ONLY=default_fleet` skips the other fleets (for profiling).
        if std::env::var("PIPELINE_ONLY").is_ok_and(|only| only != name) {
            continue;
        }
        let (encoded, spans) = batches(topology.clone(), rate, 60.0, false);
        if name == "default_fleet" {
            let (records, spans) = batches(topology, rate, 60.0, true);
            report_keyed_decode(&records, spans);
        }
        report_on_cpu(name, &settings, &encoded, spans);
        group.throughput(Throughput::Elements(spans));
        group.sample_size(10);
        group.bench_function(format!("decode_pair_window/{name}"), |b| {
            b.iter(|| black_box(run(&settings, &encoded)))
        });
    }
    group.finish();
}

/// Runs the pipeline benchmark (written out instead of `criterion_group!`,
/// which generates an undocumented function).
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    pipeline(&mut criterion);
}

criterion_main!(benches);
