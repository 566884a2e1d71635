//! The whole daemon: `app::start` in-process and the real binary.
//!
//! * a flood of distinct service names hits the node limit, is counted, and
//!   the daemon keeps serving;
//! * SIGTERM stops the binary with exit 0 after saving its graph, and a
//!   restart neither loses nor double-counts what was ingested;
//! * `replay` gives the simulator's ground truth and the same graph however
//!   the input is split into lines and files.

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use epicenter::app::replay::{ReplayOptions, replay};
use epicenter::config::{self, Settings, Source};
use epicenter::model::Timestamp;
use epicenter::sim::{Scenario, Simulator, Topology, to_otlp_json_line};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message as _;
use serde_json::Value;

use crate::support::otlp::{PATIENCE, http_client};

const START: Timestamp = Timestamp::from_secs(1_790_000_000);

fn settings(data_dir: &Path) -> Settings {
    let source = Source::default()
        .flag("data_dir", data_dir.display().to_string())
        .flag("api.listen", "127.0.0.1:0")
        .flag("ingest.otlp.grpc_listen", "127.0.0.1:0")
        .flag("ingest.otlp.http_listen", "127.0.0.1:0");
    config::load(&source).unwrap()
}

/// All batches of `secs` of the default fleet's traffic.
fn simulated(secs: f64, rate: f64) -> (Vec<ExportTraceServiceRequest>, Simulator) {
    let mut sim = Simulator::new(
        Topology::default_fleet(),
        Scenario::steady(Some(secs)),
        11,
        START,
        rate,
    )
    .unwrap();
    let mut batches = Vec::new();
    while let Some(batch) = sim.next_batch() {
        batches.push(batch);
    }
    (batches, sim)
}

async fn post(url: &str, request: &ExportTraceServiceRequest) -> u16 {
    http_client()
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The `/metrics` text of the daemon at `api` (`http://host:port`).
pub(crate) async fn metrics_text(api: &str) -> String {
    http_client()
        .get(format!("{api}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn edge_requests(graph: &Value, client: &str, server: &str) -> u64 {
    graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["client"] == client && e["server"] == server)
        .and_then(|e| e["requests"].as_u64())
        .unwrap_or(0)
}

fn total_requests(graph: &Value) -> u64 {
    graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["requests"].as_u64().unwrap())
        .sum()
}

/// Polls `GET url` until `done(json)` holds, or fails after PATIENCE.
async fn until(url: &str, mut done: impl FnMut(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Ok(response) = http_client().get(url).send().await
            && let Ok(json) = response.json::<Value>().await
            && done(&json)
        {
            return json;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition on {url} never held"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn ten_thousand_service_names_hit_the_node_limit_and_the_daemon_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let running = epicenter::app::start(
        settings(dir.path()),
        epicenter::telemetry::new_registry(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let http = format!("http://{}/v1/traces", running.otlp_http_addr.unwrap());
    let api = format!("http://{}", running.api_addr);

    // 10,000 distinct service names, each with one server span, in 10 requests.
    for chunk in 0..10u32 {
        let resources = (0..1000u32)
            .map(|i| {
                let n = chunk * 1000 + i;
                let mut span = crate::support::otlp::span(
                    (n % 250) as u8 + 1,
                    (n % 200) as u8 + 1,
                    0,
                    opentelemetry_proto::tonic::trace::v1::span::SpanKind::Server,
                    "GET /",
                    1,
                );
                span.trace_id[..4].copy_from_slice(&n.to_be_bytes());
                span.span_id[..4].copy_from_slice(&n.to_be_bytes());
                (Some(format!("svc-{n:05}")), vec![span])
            })
            .collect::<Vec<_>>();
        let resources: Vec<(Option<&str>, _)> = resources
            .iter()
            .map(|(name, spans)| (name.as_deref(), spans.clone()))
            .collect();
        let request = crate::support::otlp::request(resources);
        assert_eq!(post(&http, &request).await, 200);
    }
    let graph = until(&format!("{api}/api/v1/services"), |v| {
        v["services"].as_array().is_some_and(|s| s.len() >= 8000)
    })
    .await;
    let nodes = graph["services"].as_array().unwrap().len();
    assert!(
        nodes <= 8192,
        "the node limit (graph.max_nodes = 8192) did not hold: {nodes} nodes"
    );
    let text = metrics_text(&api).await;
    let limited = text
        .lines()
        .find(|l| l.starts_with("epicenter_graph_spans_discarded_total{reason=\"node_limit\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        limited >= (10_000 - 8192) as f64 - 1.0,
        "node-limit drops not counted: {limited}"
    );

    // Still serving: a normal request is accepted and health is fine.
    let request = crate::support::otlp::two_services();
    assert_eq!(post(&http, &request).await, 200);
    let health = http_client()
        .get(format!("{api}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    running.stop();
    running.wait().await.unwrap();
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Daemon {
    child: Child,
    api: String,
    http: String,
}

fn spawn_daemon(data_dir: &Path) -> Daemon {
    let (api, grpc, http) = (free_port(), free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_epicenter"))
        .args(["run", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{api}")])
        .args(["--otlp-grpc", &format!("127.0.0.1:{grpc}")])
        .args(["--otlp-http", &format!("127.0.0.1:{http}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Daemon {
        child,
        api: format!("http://127.0.0.1:{api}"),
        http: format!("http://127.0.0.1:{http}/v1/traces"),
    }
}

async fn sigterm_and_wait(mut daemon: Daemon) {
    let status = Command::new("kill")
        .args(["-TERM", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(exit) = daemon.child.try_wait().unwrap() {
            assert!(exit.success(), "the daemon exited with {exit} on SIGTERM");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the daemon ignored SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sigterm_exits_zero_and_a_restart_neither_loses_nor_double_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (batches, sim) = simulated(30.0, 20.0);
    let (first, second) = batches.split_at(batches.len() / 2);
    let truth = sim.truth();
    let expected = truth.edge("frontend", "checkout").unwrap().requests;
    assert!(expected > 0);

    let daemon = spawn_daemon(dir.path());
    until(&format!("{}/readyz", daemon.api), |v| v["ready"] == true).await;
    for batch in first {
        assert_eq!(post(&daemon.http, batch).await, 200);
    }
    // Every span handed over was observed before the stop (the snapshot is
    // published every second); pending halves are part of the saved state.
    let spans_first: u64 = first
        .iter()
        .map(|b| epicenter::sim::span_count(b) as u64)
        .sum();
    let _ = until(&format!("{}/api/v1/graph", daemon.api), |g| {
        total_requests(g) > 0
    })
    .await;
    let before = metrics_text(&daemon.api).await;
    assert!(
        before.contains("epicenter_graph_spans_received_total"),
        "{before}"
    );
    sigterm_and_wait(daemon).await;
    assert!(
        dir.path().join("epicenter.redb").exists(),
        "no state was saved"
    );

    let daemon = spawn_daemon(dir.path());
    until(&format!("{}/readyz", daemon.api), |v| v["ready"] == true).await;
    for batch in second {
        assert_eq!(post(&daemon.http, batch).await, 200);
    }
    // The pairing TTL and lateness are 10 s of event time; the simulator's
    // clock stopped, so wait for the idle advance to expire the last halves.
    let graph = until(&format!("{}/api/v1/graph", daemon.api), |g| {
        edge_requests(g, "frontend", "checkout") >= expected
    })
    .await;
    assert_eq!(
        edge_requests(&graph, "frontend", "checkout"),
        expected,
        "restart lost or double-counted requests ({spans_first} spans before the stop)"
    );
    // The periodic snapshot (every 10 s by default) is counted and sized.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let text = loop {
        let text = metrics_text(&daemon.api).await;
        if series_value(&text, "epicenter_snapshot_written_total") >= 1.0 {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no snapshot: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert!(series_value(&text, "epicenter_snapshot_graph_bytes") > 0.0);
    assert!(series_value(&text, "epicenter_snapshot_last_written_timestamp_seconds") > 1.7e9);
    assert_eq!(series_value(&text, "epicenter_snapshot_failed_total"), 0.0);
    sigterm_and_wait(daemon).await;
}

/// The value of the series named exactly `name` (no labels), 0 if absent.
fn series_value(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn replay_graph(settings: &Settings, files: Vec<std::path::PathBuf>, out: &Path) -> Value {
    let options = ReplayOptions {
        spans: files,
        deployments: Vec::new(),
        incidents: Vec::new(),
        alerts: out.with_extension("alerts.jsonl"),
        graph: Some(out.to_path_buf()),
        progress: false,
    };
    let report = replay(settings, &options).unwrap();
    assert_eq!(report.bad_lines, 0);
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

#[test]
fn replay_matches_ground_truth_whatever_the_batching() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    let (batches, sim) = simulated(120.0, 30.0);
    let truth = sim.truth();

    // Layout A: one Collector batch per line, one file.
    let lines: Vec<String> = batches
        .iter()
        .map(|b| {
            to_otlp_json_line(&TracesData {
                resource_spans: b.resource_spans.clone(),
            })
        })
        .collect();
    write_lines(&dir.path().join("a.jsonl"), &lines);
    // Layout B: one trace per line, lines reversed, spread over two files.
    let mut per_trace: Vec<String> = batches
        .iter()
        .flat_map(epicenter::sim::split_by_trace)
        .map(|(_, b)| {
            to_otlp_json_line(&TracesData {
                resource_spans: b.resource_spans,
            })
        })
        .collect();
    per_trace.reverse();
    let half = per_trace.len() / 2;
    write_lines(&dir.path().join("b1.jsonl"), &per_trace[..half]);
    write_lines(&dir.path().join("b2.jsonl"), &per_trace[half..]);

    let a = replay_graph(
        &settings,
        vec![dir.path().join("a.jsonl")],
        &dir.path().join("a.json"),
    );
    let b = replay_graph(
        &settings,
        vec![dir.path().join("b2.jsonl"), dir.path().join("b1.jsonl")],
        &dir.path().join("b.json"),
    );
    assert_eq!(a, b, "replay depends on how the input was batched");

    for edge in &truth.edges {
        let got = edge_requests(&a, &edge.edge.client, &edge.edge.server);
        assert_eq!(
            got, edge.count.requests,
            "edge {} -> {}: replay counted {got}, the simulator sent {}",
            edge.edge.client, edge.edge.server, edge.count.requests
        );
    }
}

#[test]
fn an_invalid_configuration_reports_every_error_and_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "api:\n  listen: nowhere\ngraph:\n  window_secs: 0\nbogus: 1\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_epicenter"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for key in ["api.listen", "graph.window_secs", "bogus"] {
        assert!(stderr.contains(key), "no error for {key} in:\n{stderr}");
    }
    // `run` refuses the same file with the same code, before binding anything.
    let run = Command::new(env!("CARGO_BIN_EXE_epicenter"))
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(64));
}

#[tokio::test]
async fn readyz_waits_for_kafka_until_partitions_are_assigned() {
    let dir = tempfile::tempdir().unwrap();
    let free = free_port();
    let source = Source::default()
        .flag("data_dir", dir.path().display().to_string())
        .flag("api.listen", "127.0.0.1:0")
        .flag("ingest.otlp.grpc_listen", "127.0.0.1:0")
        .flag("ingest.otlp.http_listen", "127.0.0.1:0")
        // Nothing listens there: the consumer never gets a partition.
        .flag(
            "ingest.kafka.brokers",
            serde_json::json!([format!("127.0.0.1:{free}")]),
        );
    let settings = config::load(&source).unwrap();
    let running = epicenter::app::start(
        settings,
        epicenter::telemetry::new_registry(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let response = http_client()
        .get(format!("http://{}/readyz", running.api_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["waiting_for"], serde_json::json!(["kafka"]), "{body}");
    running.stop();
    running.wait().await.unwrap();
}
