//! Self-metrics of the emit stage, registered under `epicenter_emit_`.
//!
//! Labels are bounded enums (`sink`, `reason`), never services or URLs.
//! Queue depth is kept as pushed/popped counters (a scraped gauge hides
//! bursts) plus a gauge for convenience.
//!
//! Never does: decide anything; it only counts what the sinks report.

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Which sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sink {
    /// The Kafka topic.
    Kafka,
    /// Alertmanager (all URLs).
    Alertmanager,
    /// The JSON-lines file.
    File,
    /// The CDEvents `incident.detected` queue (shared by both destinations:
    /// pushed, popped, depth and drops before any attempt).
    Cdevents,
    /// CDEvents delivered to (or failed on) the Kafka topic.
    CdeventsKafka,
    /// CDEvents written to (or failed on) the file.
    CdeventsFile,
}

impl Sink {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kafka => "kafka",
            Self::Alertmanager => "alertmanager",
            Self::File => "file",
            Self::Cdevents => "cdevents",
            Self::CdeventsKafka => "cdevents_kafka",
            Self::CdeventsFile => "cdevents_file",
        }
    }
}

/// Why an alert was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The sink's queue was full: the newest alert was dropped.
    QueueFull,
    /// The sink had stopped.
    Closed,
    /// A 4xx answer: not retried.
    Rejected,
    /// 5xx answers until attempts ran out.
    ServerError,
    /// Connection errors or timeouts until attempts ran out.
    Network,
    /// The Kafka producer failed until attempts ran out.
    Producer,
    /// Writing the file failed.
    Io,
    /// The alert could not be serialized.
    Encode,
}

impl Reason {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::Closed => "closed",
            Self::Rejected => "rejected",
            Self::ServerError => "server_error",
            Self::Network => "network",
            Self::Producer => "producer",
            Self::Io => "io",
            Self::Encode => "encode",
        }
    }
}

impl EncodeLabelValue for Sink {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for Reason {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SinkLabels {
    sink: Sink,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    sink: Sink,
    reason: Reason,
}

/// The emit stage's counters. Cheap to clone (shared handles).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    sent: Family<SinkLabels, Counter>,
    failed: Family<ReasonLabels, Counter>,
    dropped: Family<ReasonLabels, Counter>,
    retries: Family<SinkLabels, Counter>,
    pushed: Family<SinkLabels, Counter>,
    popped: Family<SinkLabels, Counter>,
    depth: Family<SinkLabels, Gauge>,
}

impl Metrics {
    /// Registers every metric in `registry` (already prefixed `epicenter_emit`
    /// by the caller, or not: names here are relative).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        // Counters are registered without `_total`: prometheus-client adds it.
        registry.register(
            "alerts_sent",
            "Alerts delivered, by sink (per Alertmanager URL)",
            m.sent.clone(),
        );
        registry.register(
            "alerts_failed",
            "Alerts given up on after retries, by sink and reason",
            m.failed.clone(),
        );
        registry.register(
            "alerts_dropped",
            "Alerts never attempted, by sink and reason",
            m.dropped.clone(),
        );
        registry.register("retries", "Delivery retries, by sink", m.retries.clone());
        registry.register(
            "queue_pushed",
            "Alerts put on a sink's queue",
            m.pushed.clone(),
        );
        registry.register(
            "queue_popped",
            "Alerts taken off a sink's queue",
            m.popped.clone(),
        );
        registry.register(
            "queue_depth",
            "Alerts waiting in a sink's queue",
            m.depth.clone(),
        );
        m
    }

    /// `n` alerts were delivered by `sink`.
    pub fn sent(&self, sink: Sink, n: u64) {
        self.sent.get_or_create(&SinkLabels { sink }).inc_by(n);
    }

    /// `n` alerts failed for good.
    pub fn failed(&self, sink: Sink, reason: Reason, n: u64) {
        self.failed
            .get_or_create(&ReasonLabels { sink, reason })
            .inc_by(n);
    }

    /// An alert (or batch of `n`) was dropped before any attempt.
    pub fn dropped(&self, sink: Sink, reason: Reason, n: u64) {
        self.dropped
            .get_or_create(&ReasonLabels { sink, reason })
            .inc_by(n);
    }

    /// One retry.
    pub fn retried(&self, sink: Sink) {
        self.retries.get_or_create(&SinkLabels { sink }).inc();
    }

    /// An alert entered a queue.
    pub fn pushed(&self, sink: Sink) {
        self.pushed.get_or_create(&SinkLabels { sink }).inc();
        self.depth.get_or_create(&SinkLabels { sink }).inc();
    }

    /// An alert left a queue.
    pub fn popped(&self, sink: Sink) {
        self.popped.get_or_create(&SinkLabels { sink }).inc();
        self.depth.get_or_create(&SinkLabels { sink }).dec();
    }

    /// Current count of one family member, for tests and the API.
    pub fn sent_count(&self, sink: Sink) -> u64 {
        self.sent.get_or_create(&SinkLabels { sink }).get()
    }

    /// Current failed count.
    pub fn failed_count(&self, sink: Sink, reason: Reason) -> u64 {
        self.failed
            .get_or_create(&ReasonLabels { sink, reason })
            .get()
    }

    /// Current dropped count.
    pub fn dropped_count(&self, sink: Sink, reason: Reason) -> u64 {
        self.dropped
            .get_or_create(&ReasonLabels { sink, reason })
            .get()
    }

    /// Current queue depth.
    pub fn depth(&self, sink: Sink) -> i64 {
        self.depth.get_or_create(&SinkLabels { sink }).get()
    }
}
