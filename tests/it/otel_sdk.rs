//! A real OpenTelemetry client: the Python SDK's OTLP exporters, three
//! services calling each other over HTTP with W3C context propagation
//! (`tests/python/three_services.py`), into the in-process receivers and the
//! real graph stage.
//!
//! Needs `EPICENTER_PYTHON` pointing at a Python with `opentelemetry-sdk`
//! and the OTLP exporters (`scripts/test.sh` creates `.venv`). Without it the
//! test is skipped with a message, except under `CI=true`, where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use epicenter::graph::{self, Graph};
use epicenter::model::{ConnectionType, SpanBatch, SpanKind};

use crate::support::otlp::{PATIENCE, Receivers, settings};

const REQUESTS: u64 = 5;

/// The interpreter to use, or `None` (after saying why) to skip.
fn python() -> Option<PathBuf> {
    match std::env::var_os("EPICENTER_PYTHON") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "EPICENTER_PYTHON is not set under CI=true: the OpenTelemetry SDK test cannot be skipped"
            );
            eprintln!(
                "skipped: set EPICENTER_PYTHON to a Python with opentelemetry-sdk and the OTLP exporters \
                 (python3 -m venv .venv && .venv/bin/pip install opentelemetry-sdk \
                 opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-grpc)"
            );
            None
        }
    }
}

/// Runs the three services against `endpoint`; panics unless they exit 0.
async fn run_services(python: &Path, protocol: &str, endpoint: String, compression: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/three_services.py");
    let mut command = Command::new(python);
    command
        .arg(script)
        .args([
            "--protocol",
            protocol,
            "--endpoint",
            &endpoint,
            "--compression",
            compression,
        ])
        .args(["--requests", &REQUESTS.to_string()])
        // The receivers are on 127.0.0.1: never go through a proxy.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    // The script stops itself after 60 s; this bound only guards the test.
    let output = tokio::time::timeout(
        PATIENCE * 6,
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await
    .expect("the python services did not finish")
    .unwrap()
    .expect("failed to start python");
    assert!(
        output.status.success(),
        "three_services.py failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every batch handed off so far.
fn drain(receivers: &mut Receivers) -> Vec<SpanBatch> {
    std::iter::from_fn(|| receivers.batches.try_recv().ok()).collect()
}

/// Client span ids equal the server spans' parent ids, service by service.
fn assert_propagated(batches: &[SpanBatch]) {
    let mut clients = Vec::new();
    let mut servers = Vec::new();
    for batch in batches {
        for span in &batch.spans {
            let service = batch.resource_of(span).service.to_string();
            match span.kind {
                SpanKind::Client => clients.push((service, span.trace_id, span.span_id)),
                SpanKind::Server => servers.push((service, span.trace_id, span.parent_span_id)),
                _ => {}
            }
        }
    }
    for (caller, callee) in [("frontend", "checkout"), ("checkout", "payment")] {
        let paired = servers
            .iter()
            .filter(|(service, trace, parent)| {
                service == callee
                    && clients
                        .iter()
                        .any(|(c, t, id)| c == caller && t == trace && id == parent)
            })
            .count() as u64;
        assert_eq!(
            paired, REQUESTS,
            "{caller} -> {callee} spans not linked by context propagation"
        );
    }
}

/// Feeds the batches through the real graph stage and checks the edges.
fn assert_graph(batches: &[SpanBatch]) {
    let settings = graph::Config::default()
        .validate()
        .expect("default graph config");
    let mut graph = Graph::new(&settings);
    for batch in batches {
        graph.observe(batch);
    }
    graph.finish();
    let snapshot = graph.snapshot();
    let edges: Vec<(&str, &str, ConnectionType, u64, u64)> = snapshot
        .edges
        .iter()
        .map(|e| {
            (
                &*e.client,
                &*e.server,
                e.connection_type,
                e.requests,
                e.failed,
            )
        })
        .collect();
    assert!(
        edges.contains(&("frontend", "checkout", ConnectionType::Direct, REQUESTS, 0)),
        "{edges:?}"
    );
    assert!(
        edges.contains(&("checkout", "payment", ConnectionType::Direct, REQUESTS, 0)),
        "{edges:?}"
    );
    assert!(
        edges
            .iter()
            .any(|(c, s, ..)| *c == "user" && *s == "frontend"),
        "the root server span should come from `user`: {edges:?}"
    );
    let services: Vec<&str> = snapshot.nodes.iter().map(|n| &*n.name).collect();
    for name in ["frontend", "checkout", "payment"] {
        assert!(services.contains(&name), "{services:?}");
    }
}

#[tokio::test]
async fn python_sdk_over_otlp_http_builds_the_three_service_graph() {
    let Some(python) = python() else { return };
    let mut receivers = Receivers::start(1024, settings()).await;
    let endpoint = format!("http://{}", receivers.http);
    run_services(&python, "http", endpoint, "none").await;
    let batches = drain(&mut receivers);
    assert_eq!(
        batches.iter().map(SpanBatch::len).sum::<usize>() as u64,
        5 * REQUESTS
    );
    assert_propagated(&batches);
    assert_graph(&batches);
    assert!(receivers.requests("http", "protobuf", "ok") >= 1.0);
    receivers.stop().await;
}

#[tokio::test]
async fn python_sdk_over_otlp_grpc_with_gzip_builds_the_three_service_graph() {
    let Some(python) = python() else { return };
    let mut receivers = Receivers::start(1024, settings()).await;
    let endpoint = receivers.grpc.to_string();
    run_services(&python, "grpc", endpoint, "gzip").await;
    let batches = drain(&mut receivers);
    assert_eq!(
        batches.iter().map(SpanBatch::len).sum::<usize>() as u64,
        5 * REQUESTS
    );
    assert_propagated(&batches);
    assert_graph(&batches);
    assert!(receivers.requests("grpc", "protobuf", "ok") >= 1.0);
    receivers.stop().await;
}
