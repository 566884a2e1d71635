//! Hostile traffic for the memory-bound benchmark (`scripts/bench-memory.sh`,
//! issue #5): sends OTLP/HTTP protobuf batches to a daemon at a fixed rate of
//! spans per second, with event time following the wall clock.
//!
//! Modes:
//!
//! * `unpaired`: half CLIENT spans whose SERVER never arrives (random trace
//!   and span ids, no peer attributes, so they can only expire `unpaired`),
//!   half SERVER spans whose parent is a random id that never arrives. Every
//!   one of them is held by the pairing store until it expires.
//! * `operations`: root SERVER spans, each with a never-seen-before
//!   operation name (`op-<n>`), spread over 50 services: the per-operation
//!   series' cardinality limit is what holds memory.
//!
//! Never does: anything but send; the script reads the daemon's metrics.
//!
//! Usage (`cargo run --release --example flood -- ...`):
//! `flood MODE URL SPANS_PER_SEC SECONDS` (URL is the OTLP/HTTP base, e.g.
//! `http://127.0.0.1:4318`). Prints one `key=value` line: spans sent and
//! requests rejected.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

const USAGE: &str = "usage: flood unpaired|operations URL SPANS_PER_SEC SECONDS";
/// Spans per request.
const BATCH: usize = 1000;
/// Services the flood's spans come from.
const SERVICES: u64 = 50;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unpaired,
    Operations,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, url, rate, seconds] = &args[..] else {
        bail!(USAGE);
    };
    let mode = match mode.as_str() {
        "unpaired" => Mode::Unpaired,
        "operations" => Mode::Operations,
        _ => bail!(USAGE),
    };
    let rate: u64 = rate.parse().context("SPANS_PER_SEC")?;
    let seconds: u64 = seconds.parse().context("SECONDS")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let url = format!("{}/v1/traces", url.trim_end_matches('/'));
    let (sent, rejected) = runtime.block_on(send(mode, &url, rate.max(1), seconds))?;
    writeln!(
        std::io::stdout(),
        "spans={sent} rejected_requests={rejected}"
    )?;
    Ok(())
}

/// A small xorshift PRNG: ids only need to be distinct, not secure.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes<const N: usize>(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(N);
        while out.len() < N {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(N);
        out
    }
}

async fn send(mode: Mode, url: &str, rate: u64, seconds: u64) -> anyhow::Result<(u64, u64)> {
    let client = reqwest::Client::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let total = rate * seconds;
    let per_tick = (rate / 10).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut sent, mut rejected, mut serial) = (0u64, 0u64, 0u64);
    while sent < total {
        tick.tick().await;
        let mut due = per_tick.min(total - sent);
        while due > 0 {
            let n = due.min(BATCH as u64);
            let now = epicenter::app::wall_clock_now().0;
            let body = request(mode, &mut rng, &mut serial, n, now).encode_to_vec();
            let response = client
                .post(url)
                .header("content-type", "application/x-protobuf")
                .body(body)
                .send()
                .await
                .context("posting a batch")?;
            if !response.status().is_success() {
                rejected += 1;
            }
            sent += n;
            due -= n;
        }
    }
    Ok((sent, rejected))
}

fn string(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..KeyValue::default()
    }
}

/// `n` spans ending at `now_ns`, grouped by service.
fn request(
    mode: Mode,
    rng: &mut Rng,
    serial: &mut u64,
    n: u64,
    now_ns: u64,
) -> ExportTraceServiceRequest {
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES as usize];
    for _ in 0..n {
        *serial += 1;
        let (kind, parent, name) = match mode {
            Mode::Unpaired if serial.is_multiple_of(2) => {
                (SpanKind::Client, Vec::new(), "call".into())
            }
            Mode::Unpaired => (SpanKind::Server, rng.bytes::<8>(), "serve".into()),
            Mode::Operations => (SpanKind::Server, Vec::new(), format!("op-{serial}")),
        };
        by_service[(*serial % SERVICES) as usize].push(Span {
            trace_id: rng.bytes::<16>(),
            span_id: rng.bytes::<8>(),
            parent_span_id: parent,
            name,
            kind: kind as i32,
            start_time_unix_nano: now_ns - 1_000_000,
            end_time_unix_nano: now_ns,
            ..Span::default()
        });
    }
    let resource_spans = by_service
        .into_iter()
        .enumerate()
        .filter(|(_, spans)| !spans.is_empty())
        .map(|(i, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", format!("flood-{i}"))],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}
