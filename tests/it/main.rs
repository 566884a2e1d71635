//! Integration tests: one binary (`cargo test --test it <filter>`).

// Test helpers outside `#[test]` functions unwrap too: a failed setup is a failed test.
#![allow(clippy::unwrap_used)]

/// Shared helpers: fixtures, in-process servers, an exposition parser.
mod support;

// The module dependency table of src/lib.rs, checked.
mod architecture;

// deploy/config/example.yaml parses, validates and shows the defaults.
mod config_example;

// The service-graph peer suite (Tempo, Alloy, OTel, Jaeger cases).
mod peer_fixtures;

// OTLP receivers over real sockets: gRPC and HTTP, protobuf/JSON/gzip, shutdown.
mod otlp;

/// Bad input to the receivers: each gets a clear answer and a counter.
mod bad_input;

/// The HTTP API over hand-built snapshots.
mod api;

/// `/metrics`: Tempo-compatible series in both exposition formats.
mod api_metrics;

/// A real OpenTelemetry SDK (Python) exporting over OTLP/HTTP and OTLP/gRPC.
mod otel_sdk;

// The simulator end to end: files, OTLP/HTTP, pacing, Kafka.
mod sim;
// The Kafka span consumer against a real broker (scripts/test.sh starts it).
mod kafka_real;
mod live_alerts;
mod live_restart;

// The whole daemon: node limit, SIGTERM and restart, replay determinism.
mod daemon;
// Release scenarios simulated, replayed by the binary and scored (issue 3).
mod scenarios;
// POST /api/v1/deployments on the whole daemon, with our and the shared fixtures.
mod deploy_http;
// Alert delivery: fake Alertmanager, file sink, and Kafka when a broker is configured.
mod emit;

// The audit log end to end: the daemon records, `epicenter audit verify`
// catches altered, removed and reordered records; export.
mod audit;

// The durable history end to end: `replay --data-dir` fills it, `epicenter
// query` answers offline and through a running daemon (`--server`).
mod history;
// Reported incidents end to end: HTTP intake, answers, CDEvents output,
// replay --incidents.
mod incidents;

// Post-mortem reports: `epicenter report` on a bad release; charts in headless Chromium.
mod report;
