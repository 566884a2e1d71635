//! End to end, per core: protobuf bytes → slim decode → normalize → pair and
//! update edges → close windows, over simulator batches of the default fleet
//! (Collector-like batches: many services, traces cut across batches).
//!
//! `cargo bench --bench pipeline`. Throughput is reported in spans.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_main};
use epicenter::graph::{Config, Graph};
use epicenter::ingest::decode::decode_otlp_proto;
use epicenter::model::Timestamp;
use epicenter::sim::{Scenario, Simulator, Topology, span_count};
use prost::Message as _;

/// Encoded batches covering `secs` of simulated traffic at `rate` requests/s.
fn batches(topology: Topology, rate: f64, secs: f64) -> (Vec<Vec<u8>>, u64) {
    let start = Timestamp::from_secs(1_790_000_000);
    let mut sim = Simulator::new(topology, Scenario::steady(Some(secs)), 7, start, rate)
        .expect("the default fleet is valid");
    let (mut out, mut spans) = (Vec::new(), 0u64);
    while let Some(request) = sim.next_batch() {
        spans += span_count(&request) as u64;
        out.push(request.encode_to_vec());
    }
    (out, spans)
}

fn pipeline(c: &mut Criterion) {
    let settings = Config::default().validate().expect("defaults are valid");
    let mut group = c.benchmark_group("pipeline");
    for (name, topology, rate) in [
        ("default_fleet", Topology::default_fleet(), 200.0),
        ("generated_500", Topology::generated(500, 3), 200.0),
    ] {
        let (encoded, spans) = batches(topology, rate, 60.0);
        group.throughput(Throughput::Elements(spans));
        group.sample_size(10);
        group.bench_function(format!("decode_pair_window/{name}"), |b| {
            b.iter(|| {
                let mut graph = Graph::new(&settings);
                let mut windows = 0usize;
                for bytes in &encoded {
                    let decoded = decode_otlp_proto(bytes).expect("simulator output decodes");
                    graph.observe(&decoded.batch);
                    windows += graph.take_closed_windows().len();
                }
                windows += graph.finish().len();
                black_box(windows)
            })
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
