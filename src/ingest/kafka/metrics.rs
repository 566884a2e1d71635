//! Self-metrics of the Kafka span consumer, `epicenter_ingest_kafka_*`.
//!
//! Labels are typed and bounded: `topic` is bounded by the configured topics
//! (or what a configured `^regex` matches), `partition` by their partition
//! counts; everything else is a closed enum. Never logs.

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::ingest::decode::{RejectReason, Rejected};
use crate::ingest::deploy;

/// What became of one consumed record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RecordResult {
    /// Decoded and handed to the graph stage.
    HandedOff,
    /// Empty value (tombstone), or a batch with no spans left.
    Empty,
    /// Could not be decoded; forwarded to the DLQ.
    DeadLettered,
    /// Could not be decoded, and the DLQ did not accept it either (dropped).
    DeadLetterFailed,
    /// A DLQ topic matched by a `^regex` subscription; not decoded.
    SkippedDeadLetterTopic,
    /// Its partition was revoked before hand-off; the new owner reads it.
    Revoked,
    /// A well-formed deployment event of a type we do not handle; skipped.
    Unsupported,
    /// Already in the restored state (read again after a crash); skipped.
    Covered,
}

/// Why a record went to the DLQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DlqReason {
    /// The payload is not valid for the topic's encoding.
    DecodeError,
    /// Larger than `max_record_bytes`.
    TooLarge,
    /// No configured topic or pattern gives its encoding.
    UnknownTopic,
}

impl DlqReason {
    /// Stable snake_case name (label value and `x-dlq-error-class` prefix).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::DecodeError => "decode_error",
            Self::TooLarge => "record_too_large",
            Self::UnknownTopic => "unknown_topic",
        }
    }
}

/// What a rebalance callback reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RebalanceEvent {
    /// Partitions assigned.
    Assign,
    /// Partitions revoked.
    Revoke,
    /// The rebalance failed.
    Error,
}

/// Which commit failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum CommitTrigger {
    /// librdkafka's background auto-commit.
    Auto,
    /// The synchronous commit before revoked partitions are given up.
    Revoke,
    /// The final synchronous commit on shutdown.
    Shutdown,
    /// Storing an offset for the next commit.
    Store,
    /// The commit after a durable snapshot.
    Snapshot,
}

/// Why partitions were paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PauseReason {
    /// Its records ran more than `max_event_time_skew_secs` ahead of the
    /// slowest active span partition.
    EventTimeAhead,
    /// The graph (or release) stage's queue stayed full.
    Backpressure,
}

macro_rules! label_value {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
                let name = match self { $(Self::$variant => $name),+ };
                EncodeLabelValue::encode(&name, encoder)
            }
        }
    };
}

label_value!(RecordResult {
    HandedOff => "handed_off",
    Empty => "empty",
    DeadLettered => "dead_lettered",
    DeadLetterFailed => "dead_letter_failed",
    SkippedDeadLetterTopic => "skipped_dead_letter_topic",
    Revoked => "revoked",
    Unsupported => "unsupported",
    Covered => "already_in_state",
});
label_value!(DlqReason { DecodeError => "decode_error", TooLarge => "record_too_large", UnknownTopic => "unknown_topic" });
label_value!(RebalanceEvent { Assign => "assign", Revoke => "revoke", Error => "error" });
label_value!(PauseReason { EventTimeAhead => "event_time_ahead", Backpressure => "backpressure" });
label_value!(CommitTrigger { Auto => "auto", Revoke => "revoke", Shutdown => "shutdown", Store => "store", Snapshot => "snapshot" });

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    topic: Arc<str>,
    reason: Reason,
}

/// [`RejectReason`] as a label value.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct Reason(RejectReason);

impl EncodeLabelValue for Reason {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.0.as_str(), encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordLabels {
    topic: Arc<str>,
    result: RecordResult,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DlqLabels {
    topic: Arc<str>,
    reason: DlqReason,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    topic: Arc<str>,
    partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RebalanceLabels {
    event: RebalanceEvent,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PauseLabels {
    reason: PauseReason,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommitLabels {
    trigger: CommitTrigger,
}

/// The consumer's self-metrics. Cheap to clone (handles share storage).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    records: Family<RecordLabels, Counter>,
    spans_received: Family<TopicLabels, Counter>,
    spans_rejected: Family<RejectLabels, Counter>,
    decode_errors: Family<TopicLabels, Counter>,
    dlq_records: Family<DlqLabels, Counter>,
    consumer_lag: Family<PartitionLabels, Gauge>,
    assigned_partitions: Gauge,
    pauses: Counter,
    paused: Gauge,
    paused_seconds: Counter<f64>,
    partition_pauses: Family<PauseLabels, Counter>,
    held_partitions: Gauge,
    parked_records: Counter,
    rebalances: Family<RebalanceLabels, Counter>,
    commit_failures: Family<CommitLabels, Counter>,
    consumer_errors: Counter,
    deploy: deploy::Metrics,
    incidents: crate::ingest::incident::Metrics,
}

impl Metrics {
    /// Registers under `kafka_` in `registry`, which the caller has already
    /// prefixed with `epicenter_ingest` (so names are `epicenter_ingest_kafka_*`).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let r = registry.sub_registry_with_prefix("kafka");
        // Counters are registered without `_total`: prometheus-client adds it.
        r.register(
            "records",
            "Kafka records consumed, by topic and result",
            metrics.records.clone(),
        );
        r.register(
            "spans_received",
            "Spans decoded from Kafka and handed to the graph stage",
            metrics.spans_received.clone(),
        );
        r.register(
            "spans_rejected",
            "Spans dropped while decoding an otherwise valid record, by reason",
            metrics.spans_rejected.clone(),
        );
        r.register(
            "decode_errors",
            "Records whose value could not be decoded",
            metrics.decode_errors.clone(),
        );
        r.register(
            "dlq_records",
            "Records forwarded to the dead-letter topic, by reason",
            metrics.dlq_records.clone(),
        );
        r.register(
            "consumer_lag",
            "Log end offset minus committed offset, per partition (librdkafka statistics; absent until a first commit)",
            metrics.consumer_lag.clone(),
        );
        r.register(
            "assigned_partitions",
            "Partitions currently assigned to this consumer",
            metrics.assigned_partitions.clone(),
        );
        r.register(
            "pauses",
            "Times consumption was paused because the graph stage queue was full",
            metrics.pauses.clone(),
        );
        r.register(
            "paused",
            "1 while consumption is paused by backpressure",
            metrics.paused.clone(),
        );
        r.register(
            "paused_seconds",
            "Time spent paused by backpressure",
            metrics.paused_seconds.clone(),
        );
        r.register(
            "partition_pauses",
            "Partitions paused, by reason (event_time_ahead: its records parked in memory while it ran ahead of the slowest active span partition outgrew their bound; backpressure: every assigned partition, once per pause)",
            metrics.partition_pauses.clone(),
        );
        r.register(
            "event_time_held_partitions",
            "Span partitions currently held back because they ran ahead in event time (their records wait in memory)",
            metrics.held_partitions.clone(),
        );
        r.register(
            "event_time_parked_records",
            "Span partition records kept in memory because their partition ran ahead in event time",
            metrics.parked_records.clone(),
        );
        r.register(
            "rebalances",
            "Consumer group rebalance callbacks, by event",
            metrics.rebalances.clone(),
        );
        r.register(
            "commit_failures",
            "Offset stores and commits that failed, by trigger",
            metrics.commit_failures.clone(),
        );
        r.register(
            "consumer_errors",
            "Errors reported by the consumer while polling",
            metrics.consumer_errors.clone(),
        );
        metrics
    }

    /// Counts deployment events of `cdevents` topics into `deploy` (the
    /// handle also given to the HTTP route). Without it they are counted
    /// into a handle that is not registered anywhere.
    #[must_use]
    pub fn with_deploy(mut self, deploy: deploy::Metrics) -> Self {
        self.deploy = deploy;
        self
    }

    /// Counts records of `incidents` topics into `incidents` (the handle
    /// also given to `POST /api/v1/incidents`).
    #[must_use]
    pub fn with_incidents(mut self, incidents: crate::ingest::incident::Metrics) -> Self {
        self.incidents = incidents;
        self
    }

    /// The incident-intake counters (see [`Self::with_incidents`]).
    pub(crate) fn incidents(&self) -> &crate::ingest::incident::Metrics {
        &self.incidents
    }

    /// The deployment-event counters (see [`Self::with_deploy`]).
    pub(crate) fn deploy(&self) -> &deploy::Metrics {
        &self.deploy
    }

    /// Pre-resolved handles for the per-record path of one topic.
    pub(crate) fn topic(&self, topic: &str) -> TopicMetrics {
        let topic: Arc<str> = Arc::from(topic);
        let record = |result| {
            self.records.get_or_create_owned(&RecordLabels {
                topic: topic.clone(),
                result,
            })
        };
        let labels = TopicLabels {
            topic: topic.clone(),
        };
        TopicMetrics {
            handed_off: record(RecordResult::HandedOff),
            empty: record(RecordResult::Empty),
            spans_received: self.spans_received.get_or_create_owned(&labels),
            topic,
        }
    }

    /// One record ended with `result` (the rare results; see [`TopicMetrics`]).
    pub(crate) fn record(&self, topic: &str, result: RecordResult) {
        self.records
            .get_or_create(&RecordLabels {
                topic: Arc::from(topic),
                result,
            })
            .inc();
    }

    /// Spans of a decoded record were dropped one by one.
    pub(crate) fn spans_rejected(&self, topic: &str, rejected: &Rejected) {
        let topic: Arc<str> = Arc::from(topic);
        for (reason, count) in rejected.iter() {
            let labels = RejectLabels {
                topic: topic.clone(),
                reason: Reason(reason),
            };
            self.spans_rejected.get_or_create(&labels).inc_by(count);
        }
    }

    /// A record could not be decoded.
    pub(crate) fn decode_error(&self, topic: &str) {
        self.decode_errors
            .get_or_create(&TopicLabels {
                topic: Arc::from(topic),
            })
            .inc();
    }

    /// A record was delivered to the DLQ.
    pub(crate) fn dead_lettered(&self, topic: &str, reason: DlqReason) {
        self.dlq_records
            .get_or_create(&DlqLabels {
                topic: Arc::from(topic),
                reason,
            })
            .inc();
    }

    /// Consumption was paused (`true`) or resumed after `seconds` (`false`).
    pub(crate) fn paused(&self, paused: bool, seconds: f64) {
        if paused {
            self.pauses.inc();
            self.paused.set(1);
        } else {
            self.paused.set(0);
            self.paused_seconds.inc_by(seconds);
        }
    }

    /// `count` partitions were paused for `reason`.
    pub(crate) fn partitions_paused(&self, reason: PauseReason, count: usize) {
        self.partition_pauses
            .get_or_create(&PauseLabels { reason })
            .inc_by(count as u64);
    }

    /// Span partitions now held back by event-time alignment.
    pub(crate) fn held_partitions(&self, held: usize) {
        self.held_partitions
            .set(i64::try_from(held).unwrap_or(i64::MAX));
    }

    /// A record was parked behind its partition's event-time hold.
    pub(crate) fn record_parked(&self) {
        self.parked_records.inc();
    }

    /// Partitions currently assigned (for readiness).
    pub fn assigned_partitions(&self) -> i64 {
        self.assigned_partitions.get()
    }

    /// A rebalance callback ran; `assigned` is the resulting partition count.
    pub(crate) fn rebalanced(&self, event: RebalanceEvent, assigned: usize) {
        self.rebalances
            .get_or_create(&RebalanceLabels { event })
            .inc();
        self.assigned_partitions
            .set(i64::try_from(assigned).unwrap_or(i64::MAX));
    }

    /// A store or commit failed.
    pub(crate) fn commit_failed(&self, trigger: CommitTrigger) {
        self.commit_failures
            .get_or_create(&CommitLabels { trigger })
            .inc();
    }

    /// The consumer reported an error while polling.
    pub(crate) fn consumer_error(&self) {
        self.consumer_errors.inc();
    }

    /// Latest lag of an owned partition.
    pub(crate) fn lag(&self, topic: &str, partition: i32, lag: i64) {
        self.consumer_lag
            .get_or_create(&PartitionLabels {
                topic: Arc::from(topic),
                partition,
            })
            .set(lag);
    }

    /// The partition is no longer ours: drop its lag series.
    pub(crate) fn forget_partition(&self, topic: &str, partition: i32) {
        self.consumer_lag.remove(&PartitionLabels {
            topic: Arc::from(topic),
            partition,
        });
    }
}

/// Counters of one topic, resolved once and reused for every record.
#[derive(Clone, Debug)]
pub(crate) struct TopicMetrics {
    pub(crate) topic: Arc<str>,
    pub(crate) handed_off: Counter,
    pub(crate) empty: Counter,
    pub(crate) spans_received: Counter,
}
