//! Sends simulator batches somewhere: OTLP/HTTP (`POST {url}/v1/traces`,
//! protobuf), Kafka (topic `otlp_spans`, value = protobuf `TracesData`, key
//! none or the trace id in hex), or a file (OTLP/JSON lines, gzip when the
//! name ends in `.gz`). Paces event time against wall time (times a speed
//! factor), or runs as fast as possible.
//!
//! This is the only part of `sim` that does I/O or reads a clock, and the
//! clock is `tokio::time` (monotonic, pausable in tests); event time comes
//! from [`SimulateOptions::start`], which the caller takes from the wall clock.
//! File writes are synchronous: the file sink is the only work of this task.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;

use crate::model::Timestamp;

use super::{
    BatchOptions, DeployFormat, Scenario, Simulator, Topology, request_to_otlp_json, span_count,
    split_by_trace, split_to_fit,
};

/// Where the traffic goes.
#[derive(Clone, Debug, PartialEq)]
pub enum SimTarget {
    /// An OTLP/HTTP receiver; `/v1/traces` is appended unless present.
    OtlpHttp {
        /// Base URL (`http://127.0.0.1:4318`).
        url: String,
    },
    /// A Kafka topic, as the Collector's Kafka exporter writes it.
    Kafka {
        /// `bootstrap.servers`.
        brokers: String,
        /// Topic (`otlp_spans`).
        topic: String,
        /// One record per trace keyed by its hex id (`partition_traces_by_id`);
        /// otherwise one unkeyed record per batch.
        key_by_trace_id: bool,
    },
    /// OTLP/JSON lines, gzip-compressed when the path ends in `.gz`.
    File {
        /// Output path.
        path: PathBuf,
    },
}

/// How fast event time runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// Event time advances `speed` times as fast as wall time.
    RealTime {
        /// Speed factor (> 0).
        speed: f64,
    },
    /// No waiting at all.
    AsFastAsPossible,
}

/// Everything `epicenter simulate` needs.
#[derive(Clone, Debug)]
pub struct SimulateOptions {
    /// Destination.
    pub target: SimTarget,
    /// The fleet.
    pub topology: Topology,
    /// What happens (its `duration_secs` bounds the run; `None` = until cancelled).
    pub scenario: Scenario,
    /// PRNG seed.
    pub seed: u64,
    /// Root requests per second.
    pub rate_rps: f64,
    /// Event time of the first request (usually "now" for live targets).
    pub start: Timestamp,
    /// Real time or as fast as possible.
    pub pacing: Pacing,
    /// Batching model.
    pub batch: BatchOptions,
    /// Also write the scenario's deployment records (JSON lines) here.
    pub deployments_out: Option<PathBuf>,
    /// The form of those records (plain, CDEvents v0.4 or v0.5).
    pub deployments_format: DeployFormat,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimulateReport {
    /// Non-empty batches produced.
    pub batches: u64,
    /// Spans produced.
    pub spans: u64,
    /// Requests, records or lines sent successfully.
    pub sent: u64,
    /// Requests or records that failed after retries (their spans are lost).
    pub failed: u64,
    /// Retries of retryable failures (HTTP 429/502/503/504, connection errors).
    pub retries: u64,
    /// Payload bytes sent or written (before gzip).
    pub bytes: u64,
    /// Deployment records written.
    pub deploy_events: u64,
    /// Event time covered, seconds.
    pub simulated_secs: f64,
    /// True when the run stopped on the cancellation token.
    pub cancelled: bool,
}

/// Largest Kafka record value we produce (broker default `message.max.bytes` is 1 MB).
const KAFKA_MAX_RECORD_BYTES: usize = 900_000;
/// Attempts per OTLP request before it is counted as failed.
const HTTP_ATTEMPTS: u32 = 6;

enum Sink {
    Http {
        client: reqwest::Client,
        url: String,
    },
    Kafka {
        producer: FutureProducer,
        topic: String,
        keyed: bool,
        inflight: Vec<DeliveryFuture>,
    },
    File {
        out: Box<dyn Write + Send>,
    },
}

impl Sink {
    fn open(target: &SimTarget) -> anyhow::Result<Self> {
        Ok(match target {
            SimTarget::OtlpHttp { url } => {
                let base = url.trim_end_matches('/');
                let url = if base.ends_with("/v1/traces") {
                    base.to_owned()
                } else {
                    format!("{base}/v1/traces")
                };
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .context("building the http client")?;
                Self::Http { client, url }
            }
            SimTarget::Kafka {
                brokers,
                topic,
                key_by_trace_id,
            } => {
                let producer: FutureProducer = rdkafka::ClientConfig::new()
                    .set("bootstrap.servers", brokers)
                    .set("linger.ms", "10")
                    .set("acks", "1")
                    .set("message.timeout.ms", "30000")
                    .create()
                    .context("creating the kafka producer")?;
                Self::Kafka {
                    producer,
                    topic: topic.clone(),
                    keyed: *key_by_trace_id,
                    inflight: Vec::new(),
                }
            }
            SimTarget::File { path } => Self::File {
                out: open_file(path)?,
            },
        })
    }

    async fn send(
        &mut self,
        request: ExportTraceServiceRequest,
        report: &mut SimulateReport,
    ) -> anyhow::Result<()> {
        match self {
            Self::Http { client, url } => {
                let body = request.encode_to_vec();
                let len = body.len() as u64;
                if post_with_retries(client, url, body, report).await {
                    report.sent += 1;
                    report.bytes += len;
                } else {
                    report.failed += 1;
                }
            }
            Self::Kafka {
                producer,
                topic,
                keyed,
                inflight,
            } => {
                let records: Vec<(Option<String>, ExportTraceServiceRequest)> = if *keyed {
                    split_by_trace(&request)
                        .into_iter()
                        .map(|(id, r)| (Some(crate::model::TraceId(id).to_hex()), r))
                        .collect()
                } else {
                    vec![(None, request)]
                };
                for (key, r) in records {
                    for part in split_to_fit(r, KAFKA_MAX_RECORD_BYTES) {
                        // TracesData and ExportTraceServiceRequest share field 1: same bytes.
                        let value = part.encode_to_vec();
                        report.bytes += value.len() as u64;
                        produce(producer, topic, key.as_deref(), &value, inflight, report).await;
                    }
                }
                if inflight.len() >= 10_000 {
                    drain(inflight, report).await;
                }
            }
            Self::File { out } => {
                let line = request_to_otlp_json(&request);
                out.write_all(line.as_bytes())
                    .context("writing the output file")?;
                out.write_all(b"\n").context("writing the output file")?;
                report.sent += 1;
                report.bytes += line.len() as u64 + 1;
            }
        }
        Ok(())
    }

    async fn close(self, report: &mut SimulateReport) -> anyhow::Result<()> {
        match self {
            Self::Http { .. } => {}
            Self::Kafka { mut inflight, .. } => drain(&mut inflight, report).await,
            Self::File { mut out } => out.flush().context("flushing the output file")?,
        }
        Ok(())
    }
}

/// A buffered file; gzip when the name ends in `.gz` (finished on drop of the
/// wrapper via `flush` + `try_finish` in [`GzFile`]).
fn open_file(path: &PathBuf) -> anyhow::Result<Box<dyn Write + Send>> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let buffered = BufWriter::new(file);
    if path.extension().is_some_and(|e| e == "gz") {
        Ok(Box::new(GzFile(flate2::write::GzEncoder::new(
            buffered,
            flate2::Compression::default(),
        ))))
    } else {
        Ok(Box::new(buffered))
    }
}

/// A gzip stream whose `flush` also writes the trailer, so that closing the
/// sink leaves a complete `.gz` file.
struct GzFile(flate2::write::GzEncoder<BufWriter<File>>);

// `write` is banned in callers (short writes); implementing it by delegation is fine.
#[allow(clippy::disallowed_methods)]
impl Write for GzFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.try_finish()?;
        self.0.get_mut().flush()
    }
}

/// Logs the first problem and then one in a thousand: `sim` does not use the
/// daemon's telemetry helpers (module rules), and the report counts them all.
fn should_log(report: &SimulateReport) -> bool {
    (report.failed + report.retries).is_multiple_of(1000)
}

async fn post_with_retries(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    report: &mut SimulateReport,
) -> bool {
    let mut backoff = Duration::from_millis(200);
    for attempt in 1..=HTTP_ATTEMPTS {
        let result = client
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body.clone())
            .send()
            .await;
        let retry_after = match result {
            Ok(resp) if resp.status().is_success() => return true,
            Ok(resp) if matches!(resp.status().as_u16(), 429 | 502 | 503 | 504) => resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
            Ok(resp) => {
                if should_log(report) {
                    tracing::warn!(status = resp.status().as_u16(), "otlp request rejected");
                }
                return false;
            }
            Err(error) => {
                if attempt == 1 && should_log(report) {
                    tracing::warn!(%error, "otlp request failed, retrying");
                }
                None
            }
        };
        if attempt == HTTP_ATTEMPTS {
            break;
        }
        report.retries += 1;
        tokio::time::sleep(retry_after.unwrap_or(backoff).min(Duration::from_secs(10))).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
    false
}

async fn produce(
    producer: &FutureProducer,
    topic: &str,
    key: Option<&str>,
    value: &[u8],
    inflight: &mut Vec<DeliveryFuture>,
    report: &mut SimulateReport,
) {
    for _ in 0..2 {
        let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        match producer.send_result(record) {
            Ok(delivery) => {
                inflight.push(delivery);
                return;
            }
            Err((error, _)) => {
                if should_log(report) {
                    tracing::warn!(%error, "kafka enqueue failed");
                }
                // Usually a full local queue: wait for what is in flight, then retry once.
                drain(inflight, report).await;
            }
        }
    }
    report.failed += 1;
}

async fn drain(inflight: &mut Vec<DeliveryFuture>, report: &mut SimulateReport) {
    for delivery in inflight.drain(..) {
        match delivery.await {
            Ok(Ok(_)) => report.sent += 1,
            Ok(Err((error, _))) => {
                if should_log(report) {
                    tracing::warn!(%error, "kafka delivery failed");
                }
                report.failed += 1;
            }
            Err(_canceled) => report.failed += 1,
        }
    }
}

/// Runs the simulator into the target until the scenario ends or `shutdown`
/// is cancelled.
///
/// # Errors
/// An invalid topology, scenario or option; a target that cannot be opened;
/// a file that cannot be written. Send failures are counted, not returned.
pub async fn run_simulate(
    opts: SimulateOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<SimulateReport> {
    if let Pacing::RealTime { speed } = opts.pacing {
        anyhow::ensure!(
            speed > 0.0 && speed.is_finite(),
            "speed must be a finite number > 0"
        );
    }
    let mut sim = Simulator::with_options(
        opts.topology,
        opts.scenario,
        opts.seed,
        opts.start,
        opts.rate_rps,
        opts.batch,
    )?;
    let mut sink = Sink::open(&opts.target)?;
    let mut deploys = match &opts.deployments_out {
        Some(path) => Some(open_file(path)?),
        None => None,
    };
    let records = sim.deploy_events().to_vec();
    let mut next_record = 0usize;
    let mut report = SimulateReport::default();
    let began = tokio::time::Instant::now();
    let start = sim.start().nanos();
    tracing::info!(
        seed = opts.seed,
        rate_rps = opts.rate_rps,
        "simulation started"
    );
    loop {
        if shutdown.is_cancelled() {
            report.cancelled = true;
            break;
        }
        let Some(batch) = sim.next_batch() else { break };
        let horizon = sim.simulated_until().nanos();
        if let Pacing::RealTime { speed } = opts.pacing {
            let due =
                began + Duration::from_secs_f64(horizon.saturating_sub(start) as f64 / 1e9 / speed);
            tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                () = shutdown.cancelled() => {
                    report.cancelled = true;
                    break;
                }
            }
        } else {
            // Let other tasks (and cancellation) run between batches.
            tokio::task::yield_now().await;
        }
        if let Some(out) = deploys.as_mut() {
            while let Some(r) = records
                .get(next_record)
                .filter(|r| r.started_at.nanos() < horizon)
            {
                writeln!(out, "{}", r.encode(opts.deployments_format))
                    .context("writing deployment records")?;
                next_record += 1;
                report.deploy_events += 1;
            }
        }
        let spans = span_count(&batch) as u64;
        if spans == 0 {
            continue;
        }
        report.batches += 1;
        report.spans += spans;
        sink.send(batch, &mut report).await?;
    }
    report.simulated_secs = sim.simulated_until().nanos().saturating_sub(start) as f64 / 1e9;
    sink.close(&mut report).await?;
    if let Some(mut out) = deploys {
        if !report.cancelled {
            for r in &records[next_record..] {
                writeln!(out, "{}", r.encode(opts.deployments_format))
                    .context("writing deployment records")?;
                report.deploy_events += 1;
            }
        }
        out.flush().context("flushing deployment records")?;
    }
    tracing::info!(
        batches = report.batches,
        spans = report.spans,
        failed = report.failed,
        "simulation finished"
    );
    Ok(report)
}
