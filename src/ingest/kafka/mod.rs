//! Kafka source: a consumer group reading OTLP batches the way the
//! OpenTelemetry Collector's `kafkaexporter` writes them (CONVENTIONS.md §1),
//! and deployment events.
//!
//! Input: records of the configured topics (default `otlp_spans` and
//! `deployments`), a span topic's records each an arbitrary batch (many
//! services, partial traces) in the topic's encoding (`otlp_proto` by
//! default, or `otlp_json`); a `cdevents` topic's records each one
//! deployment event (CDEvents structured, `ce_*` binary mode, bare, or the
//! plain form; see [`crate::ingest::deploy`]). Output: one [`SpanBatch`] per
//! span record on the graph stage's bounded channel, one [`DeployEvent`] per
//! supported deployment record on the release stage's.
//!
//! Guarantees (CONVENTIONS.md §8):
//! * at least once: a record's offset is stored only after its batch was
//!   accepted by the graph stage's channel, or after its dead-letter copy
//!   was acknowledged; librdkafka auto-commits stored offsets every
//!   `auto_commit_interval_ms`, and revoked partitions and shutdown commit
//!   synchronously. Duplicates are possible only after a crash or a lost
//!   assignment, never after a clean stop or a rebalance.
//! * poison records (undecodable, too large) go to `<topic><dlq_suffix>`
//!   with their original key, value and headers plus `x-dlq-*` headers
//!   ([`dlq`]); the consumer moves on.
//! * backpressure pauses partitions instead of blocking the poll loop;
//!   nothing is dropped.
//! * cooperative-sticky rebalancing; `read_committed`.
//!
//! Never does: interpret record keys, or headers outside `cdevents` topics
//! (the key is only a partitioning hint), pair spans, deduplicate
//! deployments, or read the wall clock for analysis.

mod align;
mod client;
pub mod config;
mod consumer;
mod context;
pub mod dlq;
mod metrics;
mod offsets;
mod route;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use config::{
    Config, Encoding, OffsetReset, SaslMechanism, Secret, SecurityConfig, SecurityProtocol,
    Settings, TopicConfig,
};
pub use consumer::Checkpointing;
pub use metrics::Metrics;

use crate::model::{DeployEvent, Incident, SpanBatch};

/// Why the Kafka consumer could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// `ingest.kafka.brokers` is empty.
    #[error("no kafka brokers configured")]
    NoBrokers,
    /// librdkafka refused to create a client.
    #[error("failed to create the kafka {role}")]
    Client {
        /// `consumer` or `dead-letter producer`.
        role: &'static str,
        /// librdkafka's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The subscription was refused.
    #[error("failed to subscribe to kafka topics {topics}")]
    Subscribe {
        /// The subscription, comma-separated.
        topics: String,
        /// librdkafka's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The graph stage dropped its receiver while the consumer was running.
    #[error("the graph stage stopped accepting span batches")]
    OutputClosed,
    /// The release stage dropped its receiver while a `cdevents` topic
    /// record was waiting to be handed off.
    #[error("the release stage stopped accepting deployment events")]
    DeploymentsClosed,
    /// The analysis stage dropped its incident receiver while an
    /// `incidents` topic record was waiting to be handed off.
    #[error("the analysis stage stopped accepting incidents")]
    IncidentsClosed,
    /// librdkafka reported a fatal error (e.g. a fenced static member).
    #[error("fatal kafka consumer error")]
    Fatal(#[source] rdkafka::error::KafkaError),
}

/// Runs the Kafka consumer until `shutdown` is cancelled.
///
/// Joins the consumer group `settings.group_id()`, subscribes to the
/// configured topics, and sends one [`SpanBatch`] per decoded record of a
/// span topic to `spans`, and one [`DeployEvent`] per supported record of a
/// `cdevents` topic to `deployments` (unsupported event types are counted
/// and skipped; invalid records go to the DLQ), and one [`Incident`] per
/// answerable record of an `incidents` topic to `incidents` (the same way). On cancellation it stops
/// fetching, finishes the hand-off in flight (waiting up to 10 s for room),
/// commits every stored offset synchronously, leaves the group and returns
/// `Ok(())`. Register `metrics` once with [`Metrics::register`] and attach
/// the shared deployment counters with [`Metrics::with_deploy`].
///
/// # Errors
/// * [`KafkaError::NoBrokers`], [`KafkaError::Client`],
///   [`KafkaError::Subscribe`]: at startup, before any record is read.
/// * [`KafkaError::OutputClosed`]: `spans`'s receiver was dropped.
/// * [`KafkaError::DeploymentsClosed`]: `deployments`'s receiver was dropped.
/// * [`KafkaError::Fatal`]: librdkafka gave up on this member.
///
/// Offsets handed off before an error are still committed.
pub async fn run_consumer(
    settings: Settings,
    spans: mpsc::Sender<SpanBatch>,
    deployments: mpsc::Sender<DeployEvent>,
    incidents: mpsc::Sender<Incident>,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), KafkaError> {
    consumer::Worker::start(settings, spans, deployments, metrics, shutdown, None)?
        .with_incidents(incidents)
        .run()
        .await
}

/// [`run_consumer`] with crash-safe snapshots: offsets are committed only
/// once a snapshot covering them is durable (see [`Checkpointing`]), and
/// records the restored state already covers are skipped. `spans` must be a
/// queue only this consumer sends to (the graph stage counts its batches to
/// place the barriers).
///
/// # Errors
/// As [`run_consumer`].
pub async fn run_consumer_with_snapshots(
    settings: Settings,
    spans: mpsc::Sender<SpanBatch>,
    deployments: mpsc::Sender<DeployEvent>,
    incidents: mpsc::Sender<Incident>,
    metrics: Metrics,
    shutdown: CancellationToken,
    checkpointing: Checkpointing,
) -> Result<(), KafkaError> {
    let checkpointing = Some(checkpointing);
    consumer::Worker::start(
        settings,
        spans,
        deployments,
        metrics,
        shutdown,
        checkpointing,
    )?
    .with_incidents(incidents)
    .run()
    .await
}
