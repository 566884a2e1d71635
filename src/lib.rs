//! Epicenter: what changed, and what did it break?
//!
//! A long-running daemon that ingests OpenTelemetry spans (Kafka, OTLP/gRPC,
//! OTLP/HTTP, files), keeps a live service dependency graph in event time,
//! and exposes it through Grafana-compatible Prometheus series and an HTTP
//! API. Later stages (baselines, detection, release attribution) consume the
//! per-window aggregates the graph closes.
//!
//! # Architecture
//!
//! One pipeline, one stage per module. Every arrow is a bounded channel
//! created in [`app`]; every message type lives in [`model`].
//!
//! ```text
//!  Kafka otlp_spans ─┐
//!  OTLP gRPC :4317  ─┼─▶ ingest ─SpanBatch─▶ graph ─WindowStats─▶ (detect, attribute: next)
//!  OTLP HTTP :4318  ─┤                         │
//!  replay files     ─┘                         └─GraphSnapshot─▶ store ◀── api (HTTP, /metrics)
//! ```
//!
//! * [`model`]: domain types and inter-stage messages; plain data.
//! * [`telemetry`]: tracing setup, metric registry helpers, log rate limiting.
//! * [`ingest`]: decoders (OTLP protobuf with a slim schema, lenient OTLP/JSON),
//!   normalization of semantic conventions, OTLP servers, Kafka consumer, files.
//! * [`graph`]: event-time pairing of spans into edges, virtual nodes, windows.
//! * [`release`]: the release index: deployment events and versions seen in
//!   spans become releases with a rollout state and timeline.
//! * [`baseline`]: robust per-series baselines over trailing windows (pure, no telemetry).
//! * [`detect`]: anomaly detectors, false-alarm control, onset, recovery and origins.
//! * [`attribute`]: release attribution (ranked suspects with evidence and a
//!   calibrated confidence), release verdicts, and building alerts.
//! * [`analyze`]: drives the release index, detection and attribution over
//!   closed windows and deployment events; the same core in the daemon and replay.
//! * [`emit`]: alert delivery to Kafka, Alertmanager and a JSON-lines file,
//!   each behind a bounded queue that drops the newest when full.
//! * [`store`]: latest snapshots for readers; durable state in the data directory.
//! * [`audit`]: the append-only, hash-chained audit log (SHA-256) of
//!   configuration loads, deployment events and alerts; verify and export.
//! * [`history`]: the durable history (`DATA_DIR/history.redb`): releases,
//!   anomalies, alerts, incidents, topology and per-window series by event time.
//! * [`query`]: answers over the history ("which release?", release reports,
//!   impact), for the API, the CLI and reports.
//! * [`api`]: the HTTP API and `/metrics`; reads [`store`] and, through
//!   [`query`], the history.
//! * [`report`]: post-mortem drafts: Markdown and hand-written SVG charts
//!   from alerts, releases and per-window series (any [`report::ReportSource`]).
//! * [`sim`]: a seeded, deterministic traffic simulator (demo, tests, benches).
//! * [`config`], [`app`], [`shutdown`]: loading, wiring and stopping.
//!
//! # Dependency rules
//!
//! | module | may use |
//! |---|---|
//! | `model`, `telemetry` | nothing |
//! | `ingest` | `model`, `telemetry`, `proto` |
//! | `graph` | `model`, `telemetry` |
//! | `release` | `model`, `telemetry` |
//! | `baseline` | `model` |
//! | `detect` | `model`, `baseline`, `telemetry` |
//! | `store` | `model`, `telemetry` |
//! | `history` | `model`, `telemetry` |
//! | `query` | `model`, `history`, `analyze`, `attribute` |
//! | `api` | `model`, `store`, `telemetry`, `proto`, `history`, `query` |
//! | `sim` | `model`, `proto` |
//! | `attribute` | `model`, `telemetry` |
//! | `emit` | `model`, `telemetry`, `proto` |
//! | `audit` | `model`, `telemetry` |
//! | `analyze` | `model`, `telemetry`, `release`, `detect`, `attribute`, `emit`, `store`, `audit`, `history` |
//! | `report` | `model` |
//!
//! `app`, `config`, `shutdown` and `main` are the wiring layer. The table is
//! enforced by `tests/it/architecture.rs`.

pub mod analyze;
pub mod api;
pub mod app;
pub mod attribute;
pub mod audit;
pub mod baseline;
pub mod config;
pub mod detect;
pub mod emit;
pub mod graph;
pub mod history;
pub mod ingest;
pub mod model;
pub mod proto;
pub mod query;
pub mod release;
pub mod report;
pub mod shutdown;
pub mod sim;
pub mod store;
pub mod telemetry;
