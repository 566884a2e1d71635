//! An OTLP trace load generator for the receiver and peer benchmarks
//! (`scripts/bench-otlp.sh`, `scripts/bench-peer.sh`): simulator traffic
//! (`epicenter::sim`, the same spans `epicenter simulate` sends), encoded
//! once as `ExportTraceServiceRequest` protobufs before anything is timed,
//! then sent over OTLP/gRPC (tonic, raw bytes) or OTLP/HTTP (protobuf,
//! `POST /v1/traces`) to any OTLP receiver: Epicenter or the Collector.
//!
//! The base set covers `--duration` seconds of event time at `--rate` root
//! requests per second; it is sent `--passes` times, each pass re-stamped
//! (times shifted by one duration, trace ids changed, see `patch.rs`) so
//! every pass is new traffic in event time. Event time ends about now.
//!
//! * `closed`: `--concurrency` requests in flight until every request was
//!   sent once (the maximum throughput).
//! * `open`: requests started at a fixed `--rps` whatever the responses do
//!   (open loop); latency is measured from each request's scheduled start,
//!   so a stalled server is not hidden (no coordinated omission), and
//!   recorded in an HDR histogram.
//!
//! With `--pid`, the server's CPU time (utime + stime from `/proc`) is read
//! before the first request and when done, and its `VmHWM`/`VmRSS` at the
//! end; with `--drained URL METRIC`, "done" waits until `METRIC` at `URL`
//! (summed over its series) reaches the spans sent, for servers that queue
//! work behind the receiver (Epicenter's graph stage). Prints one line of
//! `key=value` pairs. Never retries a failed request: it is counted.

mod patch;
mod proc;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use bytes::{Buf as _, BufMut as _, Bytes};
use clap::Parser;
use epicenter::model::Timestamp;
use epicenter::sim::{Scenario, Simulator, Topology, preset, span_count, split_to_fit};
use hdrhistogram::Histogram;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use tokio::time::Instant;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

use patch::Stamps;

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

#[derive(Parser, Debug)]
#[command(about = "OTLP trace load generator (simulator spans, pre-encoded)")]
struct Args {
    /// `closed` (max throughput) or `open` (fixed request rate, latency).
    #[arg(value_parser = ["closed", "open"])]
    mode: String,
    /// `grpc` or `http` (protobuf).
    #[arg(long, default_value = "grpc", value_parser = ["grpc", "http"])]
    transport: String,
    /// host:port of the receiver.
    #[arg(long)]
    endpoint: String,
    /// Root requests per second of event time in the base set.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Seconds of event time in the base set.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// A generated fleet of N services instead of the default shop.
    #[arg(long)]
    services: Option<usize>,
    /// Event time of the first span, Unix seconds (default: so that the last
    /// pass ends a minute before now). Give the same value to runs that must
    /// send identical bytes.
    #[arg(long)]
    start: Option<u64>,
    /// PRNG seed of the simulator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Largest request body; simulator batches are split to fit.
    #[arg(long, default_value_t = 192 * 1024)]
    max_request_bytes: usize,
    /// How many times the base set is sent (re-stamped each time).
    #[arg(long, default_value_t = 1)]
    passes: u64,
    /// Closed loop: requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// gRPC connections (requests are spread over them).
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Open loop: requests started per second.
    #[arg(long)]
    rps: Option<f64>,
    /// Open loop: most requests in flight; a request due beyond it is counted as `skipped`.
    #[arg(long, default_value_t = 2048)]
    max_in_flight: usize,
    /// The server's process id, for its CPU time and memory.
    #[arg(long)]
    pid: Option<String>,
    /// `URL METRIC`: when done, wait until METRIC at URL reaches the spans sent.
    #[arg(long, num_args = 2, value_names = ["URL", "METRIC"])]
    drained: Vec<String>,
    /// Worker threads of the client's runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.duration > 0.0 && args.rate > 0.0,
        "--duration and --rate must be > 0"
    );
    ensure!(
        args.passes > 0 && args.concurrency > 0 && args.connections > 0,
        "counts must be > 0"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

/// The base set: encoded requests and their stamps.
struct Load {
    requests: Vec<(Bytes, Stamps)>,
    spans_per_pass: u64,
    period_ns: u64,
}

fn generate(args: &Args) -> anyhow::Result<Load> {
    let period_ns = (args.duration * 1e9) as u64;
    let now = epicenter::app::wall_clock_now();
    // Every pass ends before now (plus a minute for the last spans' latency).
    let start = match args.start {
        Some(secs) => Timestamp::from_secs(secs),
        None => Timestamp(
            now.nanos()
                .saturating_sub(period_ns.saturating_mul(args.passes) + 60 * Timestamp::SECOND),
        ),
    };
    let steady = preset("steady", 0.0).context("the steady preset")?;
    let topology = match args.services {
        Some(n) => Topology::generated(n, args.seed),
        None => steady.topology,
    };
    let scenario = Scenario {
        duration_secs: Some(args.duration),
        ..steady.scenario
    };
    let mut sim = Simulator::new(topology, scenario, args.seed, start, args.rate)?;
    let mut requests = Vec::new();
    let mut spans = 0u64;
    while let Some(batch) = sim.next_batch() {
        for part in split_to_fit(batch, args.max_request_bytes) {
            let count = span_count(&part);
            if count == 0 {
                continue;
            }
            spans += count as u64;
            let bytes = part.encode_to_vec();
            let stamps = Stamps::find(&bytes).context("re-reading an encoded request")?;
            ensure!(stamps.time_count() >= 2 * count, "timestamps not found");
            requests.push((Bytes::from(bytes), stamps));
        }
    }
    ensure!(!requests.is_empty(), "the simulator produced no spans");
    Ok(Load {
        requests,
        spans_per_pass: spans,
        period_ns,
    })
}

/// One client, either transport.
#[derive(Clone)]
enum Client {
    Grpc(Vec<tonic::client::Grpc<Channel>>),
    Http(reqwest::Client, String),
}

impl Client {
    async fn connect(args: &Args) -> anyhow::Result<Self> {
        if args.transport == "http" {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(args.concurrency.max(args.max_in_flight))
                .tcp_nodelay(true)
                .build()?;
            return Ok(Self::Http(
                client,
                format!("http://{}/v1/traces", args.endpoint),
            ));
        }
        let mut channels = Vec::new();
        for _ in 0..args.connections {
            let channel = Channel::from_shared(format!("http://{}", args.endpoint))?
                .tcp_nodelay(true)
                .connect()
                .await
                .with_context(|| format!("connecting to {}", args.endpoint))?;
            channels.push(tonic::client::Grpc::new(channel));
        }
        Ok(Self::Grpc(channels))
    }

    /// Sends one request; `Ok(rejected spans)` on success.
    async fn send(&self, n: usize, body: Bytes) -> anyhow::Result<u64> {
        match self {
            Self::Grpc(channels) => {
                let mut grpc = channels[n % channels.len()].clone();
                grpc.ready().await?;
                let path = PathAndQuery::from_static(EXPORT_PATH);
                let response = grpc
                    .unary(tonic::Request::new(body), path, RawCodec)
                    .await?;
                Ok(rejected(&response.into_inner()))
            }
            Self::Http(client, url) => {
                let response = client
                    .post(url)
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await?;
                let status = response.status();
                let body = response.bytes().await?;
                if !status.is_success() {
                    bail!("http {status}");
                }
                let decoded = ExportTraceServiceResponse::decode(body).unwrap_or_default();
                Ok(rejected(&decoded))
            }
        }
    }
}

fn rejected(response: &ExportTraceServiceResponse) -> u64 {
    response
        .partial_success
        .as_ref()
        .map_or(0, |p| u64::try_from(p.rejected_spans).unwrap_or(0))
}

/// What a run counted.
#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    failed: AtomicU64,
    rejected_spans: AtomicU64,
    skipped: AtomicU64,
}

async fn run(args: Args) -> anyhow::Result<()> {
    let load = Arc::new(generate(&args)?);
    let client = Client::connect(&args).await?;
    let total = load.requests.len() * args.passes as usize;
    let spans = load.spans_per_pass * args.passes;
    let body = {
        let load = Arc::clone(&load);
        move |i: usize| {
            let (bytes, stamps) = &load.requests[i % load.requests.len()];
            let pass = (i / load.requests.len()) as u64;
            if pass == 0 {
                bytes.clone()
            } else {
                Bytes::from(stamps.apply(bytes, pass, load.period_ns))
            }
        }
    };
    let counts = Arc::new(Counts::default());
    let histogram = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let server_cpu_before = args.pid.as_deref().and_then(proc::cpu_seconds);
    let client_cpu_before = proc::cpu_seconds("self");
    let started = Instant::now();
    match (args.mode.as_str(), args.rps) {
        ("closed", _) => {
            let next = Arc::new(AtomicUsize::new(0));
            let mut workers = tokio::task::JoinSet::new();
            for _ in 0..args.concurrency {
                let (client, next, counts, body, hist) = (
                    client.clone(),
                    Arc::clone(&next),
                    Arc::clone(&counts),
                    body.clone(),
                    Arc::clone(&histogram),
                );
                workers.spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= total {
                            break;
                        }
                        let sent = Instant::now();
                        let result = client.send(i, body(i)).await;
                        record(&counts, &hist, result, sent.elapsed());
                    }
                });
            }
            while workers.join_next().await.is_some() {}
        }
        ("open", Some(rps)) if rps > 0.0 => {
            let in_flight = Arc::new(AtomicUsize::new(0));
            let mut tasks = tokio::task::JoinSet::new();
            let interval = Duration::from_secs_f64(1.0 / rps);
            let mut i = 0usize;
            while i < total {
                let now = Instant::now();
                while i < total && started + interval.mul_f64(i as f64) <= now {
                    let due = started + interval.mul_f64(i as f64);
                    if in_flight.load(Ordering::Relaxed) >= args.max_in_flight {
                        counts.skipped.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                        continue;
                    }
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    let (client, counts, hist, in_flight, request) = (
                        client.clone(),
                        Arc::clone(&counts),
                        Arc::clone(&histogram),
                        Arc::clone(&in_flight),
                        body(i),
                    );
                    tasks.spawn(async move {
                        let result = client.send(i, request).await;
                        record(&counts, &hist, result, due.elapsed());
                        in_flight.fetch_sub(1, Ordering::Relaxed);
                    });
                    i += 1;
                }
                while tasks.try_join_next().is_some() {}
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            while tasks.join_next().await.is_some() {}
        }
        _ => bail!("open needs --rps > 0"),
    }
    let sent_secs = started.elapsed().as_secs_f64();
    let mut drained_secs = sent_secs;
    if let [url, metric] = args.drained.as_slice() {
        let http = reqwest::Client::new();
        let expected = spans.saturating_sub(counts.rejected_spans.load(Ordering::Relaxed)) as f64;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let text = http.get(url).send().await?.text().await?;
            if proc::metric_sum(&text, metric) >= expected {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "{metric} never reached {expected}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drained_secs = started.elapsed().as_secs_f64();
    }
    let server_cpu = args
        .pid
        .as_deref()
        .and_then(proc::cpu_seconds)
        .zip(server_cpu_before)
        .map_or(-1.0, |(after, before)| after - before);
    let client_cpu = proc::cpu_seconds("self")
        .zip(client_cpu_before)
        .map_or(-1.0, |(after, before)| after - before);
    let (hwm, rss) = args.pid.as_deref().map_or((0, 0), |pid| {
        (
            proc::status_kib(pid, "VmHWM").unwrap_or(0),
            proc::status_kib(pid, "VmRSS").unwrap_or(0),
        )
    });
    let h = histogram
        .lock()
        .map_err(|_| anyhow::anyhow!("histogram lock"))?;
    let q = |p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    let bytes: usize = load.requests.iter().map(|(b, _)| b.len()).sum();
    let line = format!(
        "mode={} transport={} requests={total} spans={spans} bytes={} ok={} failed={} \
         rejected_spans={} skipped={} seconds={sent_secs:.3} drained_seconds={drained_secs:.3} \
         server_cpu_seconds={server_cpu:.2} server_vmhwm_kib={hwm} server_vmrss_kib={rss} \
         client_cpu_seconds={client_cpu:.2} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} \
         p999_ms={:.3} max_ms={:.3} spans_per_request={:.0}",
        args.mode,
        args.transport,
        bytes as u64 * args.passes,
        counts.ok.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
        counts.rejected_spans.load(Ordering::Relaxed),
        counts.skipped.load(Ordering::Relaxed),
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        h.max() as f64 / 1000.0,
        load.spans_per_pass as f64 / load.requests.len() as f64,
    );
    use std::io::Write as _;
    writeln!(std::io::stdout(), "{line}")?;
    Ok(())
}

fn record(
    counts: &Counts,
    histogram: &std::sync::Mutex<Histogram<u64>>,
    result: anyhow::Result<u64>,
    latency: Duration,
) {
    match result {
        Ok(rejected) => {
            counts.ok.fetch_add(1, Ordering::Relaxed);
            counts.rejected_spans.fetch_add(rejected, Ordering::Relaxed);
        }
        Err(error) => {
            if counts.failed.fetch_add(1, Ordering::Relaxed) < 3 {
                eprintln!("otlp_load: request failed: {error:#}");
            }
        }
    }
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    if let Ok(mut h) = histogram.lock() {
        h.saturating_record(micros.max(1));
    }
}

/// Sends pre-encoded bytes as the request; decodes the standard response.
#[derive(Clone, Copy, Debug, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawEncoder;
    type Decoder = ResponseDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ResponseDecoder
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct ResponseDecoder;

impl Decoder for ResponseDecoder {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        ExportTraceServiceResponse::decode(bytes)
            .map(Some)
            .map_err(|error| tonic::Status::internal(error.to_string()))
    }
}
