//! The consumer loop: the only async part of the Kafka source.
//!
//! One task polls one `StreamConsumer`. Per record, in order: skip empty
//! values, decode by the topic's encoding, hand the batch to the graph stage
//! (or, on a `cdevents` topic, the deployment event to the release stage;
//! see [`deployments`]), or forward an undecodable record to the DLQ and
//! wait for its delivery report, and only then store the offset for the
//! background auto-commit.
//! One record is in flight at a time, so offsets are stored in order per
//! partition.
//!
//! Backpressure (in [`pause`]): when the graph stage's (or release stage's)
//! queue is full, every assigned partition is paused and the loop keeps polling (rebalances and liveness
//! continue, `max.poll.interval.ms` is never exceeded) until the queue has
//! room for the held batch; then consumption resumes where it stopped.
//! Nothing is dropped.
//!
//! Event-time alignment ([`Alignment`], glue in [`pause`] and [`park`]): a
//! decoded span record whose partition runs too far ahead of the slowest
//! active span partition is not handed off; it and the later records of its
//! partition wait in memory (the partition is paused only when they grow
//! large) and go on (on a later hand-off or the periodic tick) once the
//! slowest has caught up.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::KafkaError;
use super::align::{Admit, Alignment};
use super::config::Settings;
use super::context::{Context, Shared, is_no_offset, offsets_list};
use super::dlq::{DeadLetters, Failure, Forwarded};
use super::metrics::{CommitTrigger, DlqReason, Metrics, RecordResult, TopicMetrics};
use super::offsets::{Epoch, Store};
use super::route::Encoding;
use super::route::Route;
use crate::ingest::decode::{self, Decoded};
use crate::ingest::deploy;
use crate::model::{DeployEvent, Incident, SpanBatch};

pub use checkpoint::Checkpointing;

#[path = "consumer_checkpoint.rs"]
mod checkpoint;
#[path = "consumer_deployments.rs"]
mod deployments;
#[path = "consumer_handoff.rs"]
mod handoff;
#[path = "consumer_incidents.rs"]
mod incidents;
#[path = "consumer_merge.rs"]
mod merge;
#[path = "consumer_offsets.rs"]
mod offsets_store;
#[path = "consumer_park.rs"]
mod park;
#[path = "consumer_pause.rs"]
mod pause;

/// How often the loop re-checks held partitions (a partition may turn idle
/// without any record arriving) and the assignment. Short, because the tick
/// also re-polls the consumer: while partitions were held, `recv()` often
/// stayed pending with records fetched and waiting (seen in librdkafka's
/// fetch log) until another branch woke the loop, so at 100 ms the unkeyed
/// bench admitted about one record per tick (`scripts/bench-kafka.sh`
/// `BENCH_KEYED=0`, same minutes: 57,000 -> 170,000 spans/s; keyed runs
/// unchanged within their noise). Why the wake-up is missed is not known.
const ALIGN_TICK: Duration = Duration::from_millis(5);

/// Records at least this large are decoded on the blocking pool, so a
/// multi-megabyte batch does not stall the async worker it runs on.
const BLOCKING_DECODE_BYTES: usize = 256 << 10;

/// A decoded record waiting for room in its stage's queue.
struct Held {
    topic: String,
    partition: i32,
    offset: i64,
    epoch: Epoch,
    item: Item,
    metrics: TopicMetrics,
}

/// What a held record carries.
enum Item {
    /// Merged span records for the graph stage.
    Merged(merge::Merged),
    /// A deployment event for the release stage.
    Deployment(DeployEvent),
    /// A reported incident for the analysis stage (with its form, for metrics).
    Incident(Incident, crate::ingest::incident::Format),
}

/// Room reserved in the queue an [`Item`] goes to.
enum Permit<'a> {
    Spans(mpsc::Permit<'a, SpanBatch>),
    Deployment(mpsc::Permit<'a, DeployEvent>),
    Incident(mpsc::Permit<'a, Incident>),
}

/// The running consumer.
pub(crate) struct Worker {
    consumer: Arc<StreamConsumer<Context>>,
    shared: Arc<Shared>,
    dead_letters: DeadLetters,
    settings: Settings,
    output: mpsc::Sender<SpanBatch>,
    deployments: mpsc::Sender<DeployEvent>,
    /// Where `incidents` topic records go (`None`: such records are
    /// dead-lettered as undeliverable).
    incidents: Option<mpsc::Sender<Incident>>,
    shutdown: CancellationToken,
    topics: Vec<TopicMetrics>,
    alignment: Alignment,
    /// Admitted span records not yet handed off.
    pending: merge::Merged,
    /// Records of partitions held by the alignment, waiting in memory.
    parks: park::Parks,
    /// The assignment the alignment was last synced with.
    generation: (Epoch, usize),
    /// Partition number → its topic, for the numbers only one assigned
    /// partition (of any topic) has: an end-of-partition event names only
    /// the number. Rebuilt with the alignment.
    sole_owner: Vec<(i32, Arc<str>)>,
    /// Origin of the wall time given to the alignment.
    started: Instant,
    /// Crash-safe snapshots, when on.
    checkpoints: Option<checkpoint::Checkpoints>,
    /// Normalized resources by their bytes: the records of a keyed topic
    /// repeat the same few (see `decode::ResourceCache`).
    resources: decode::ResourceCache,
}

impl Worker {
    /// Creates the clients and subscribes.
    ///
    /// # Errors
    /// No brokers configured, a client could not be created, or the
    /// subscription was refused.
    pub(crate) fn start(
        settings: Settings,
        output: mpsc::Sender<SpanBatch>,
        deployments: mpsc::Sender<DeployEvent>,
        metrics: Metrics,
        shutdown: CancellationToken,
        checkpointing: Option<Checkpointing>,
    ) -> Result<Self, KafkaError> {
        if !settings.enabled() {
            return Err(KafkaError::NoBrokers);
        }
        let shared = Shared::new(metrics);
        let mut config = super::client::consumer(&settings);
        if let Some(c) = &checkpointing {
            // Offsets are committed after each durable snapshot instead.
            config.set("enable.auto.commit", "false");
            let restored = c
                .restored
                .iter()
                .map(|o| (o.topic.clone(), o.partition, o.next));
            shared.partitions().snapshots(restored);
        }
        let consumer: StreamConsumer<Context> = config
            .create_with_context(Context::new(shared.clone()))
            .map_err(|source| KafkaError::Client {
                role: "consumer",
                source,
            })?;
        let dead_letters = DeadLetters::new(
            &super::client::dead_letter_producer(&settings),
            &settings.dlq_suffix,
            &settings.group_id,
        )
        .map_err(|source| KafkaError::Client {
            role: "dead-letter producer",
            source,
        })?;
        let subscription = settings.subscription();
        consumer
            .subscribe(&subscription)
            .map_err(|source| KafkaError::Subscribe {
                topics: subscription.join(","),
                source,
            })?;
        info!(brokers = %settings.brokers(), group = %settings.group_id, topics = %subscription.join(","), "kafka consumer started");
        let alignment = Alignment::new(settings.max_event_time_skew, settings.partition_idle);
        Ok(Self {
            consumer: Arc::new(consumer),
            shared,
            dead_letters,
            settings,
            output,
            deployments,
            incidents: None,
            shutdown,
            topics: Vec::new(),
            alignment,
            pending: merge::Merged::default(),
            parks: park::Parks::default(),
            generation: (0, 0),
            sole_owner: Vec::new(),
            started: Instant::now(),
            checkpoints: checkpointing.map(checkpoint::Checkpoints::new),
            resources: decode::ResourceCache::new(),
        })
    }

    /// Hands records of `incidents` topics to `incidents`.
    pub(crate) fn with_incidents(mut self, incidents: mpsc::Sender<Incident>) -> Self {
        self.incidents = Some(incidents);
        self
    }

    /// Consumes until `shutdown` is cancelled (or a fatal error), then
    /// commits every stored offset synchronously and leaves the group.
    pub(crate) async fn run(mut self) -> Result<(), KafkaError> {
        let result = self.consume().await;
        self.finish().await;
        result
    }

    async fn consume(&mut self) -> Result<(), KafkaError> {
        let consumer = self.consumer.clone();
        let mut tick = tokio::time::interval(ALIGN_TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let polled = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => {
                    if let Some(held) = self.flush()? {
                        self.wait_for_room(held).await?;
                    }
                    return Ok(());
                }
                _ = tick.tick(), if self.alignment.enabled() => {
                    self.realign_if_rebalanced();
                    self.resume_aligned();
                    continue;
                }
                event = checkpoint::next_event(&mut self.checkpoints) => {
                    self.on_checkpoint_event(event).await;
                    continue;
                }
                // Records let go by the alignment go before any new one.
                () = std::future::ready(()), if self.parks.has_released() => {
                    if let Some(held) = self.merge_released()? {
                        self.wait_for_room(held).await?;
                        self.alignment.stalled(self.started.elapsed());
                    }
                    if !self.parks.has_released() {
                        // Released records moved their partition on: it
                        // may let others go (not only at the next tick).
                        self.resume_aligned();
                    }
                    continue;
                }
                polled = consumer.recv() => polled,
                // Nothing ready to read: hand off what was merged so far.
                () = std::future::ready(()), if !self.pending.is_empty() => {
                    if let Some(held) = self.flush()? {
                        self.wait_for_room(held).await?;
                        self.alignment.stalled(self.started.elapsed());
                    }
                    continue;
                }
            };
            let message = match polled {
                Ok(message) => message,
                Err(error) => {
                    self.poll_error(error)?;
                    continue;
                }
            };
            if let Some(held) = self.process(&message).await? {
                drop(message);
                self.wait_for_room(held).await?;
                // Nothing could arrive meanwhile: no partition turned idle.
                self.alignment.stalled(self.started.elapsed());
            }
        }
    }

    /// Handles one record; returns it decoded if its stage's queue is full.
    async fn process(&mut self, message: &BorrowedMessage<'_>) -> Result<Option<Held>, KafkaError> {
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
        // One lock per record for all three answers.
        let (epoch, generation, covered) = {
            let partitions = self.shared.partitions();
            (
                partitions.epoch(topic, partition),
                partitions.generation(),
                partitions.covered(topic, partition, offset),
            )
        };
        let Some(epoch) = epoch else {
            // Fetched before a revoke that has happened since; not ours to store.
            self.shared.metrics.record(topic, RecordResult::Revoked);
            return Ok(None);
        };
        if covered {
            // Already in the restored (or kept) state: read again after a
            // crash or a rebalance back to this member.
            self.shared.metrics.record(topic, RecordResult::Covered);
            return Ok(None);
        }
        if generation != self.generation {
            self.realign_if_rebalanced();
        }
        let index = self.topic_index(topic);
        let payload = message.payload().unwrap_or_default();
        if payload.is_empty() {
            self.topics[index].empty.inc();
            self.store(topic, partition, offset, epoch);
            return Ok(None);
        }
        let encoding = match self.settings.routes.route(topic) {
            Route::Decode(encoding) => encoding,
            Route::SkipDeadLetter => {
                self.shared
                    .metrics
                    .record(topic, RecordResult::SkippedDeadLetterTopic);
                self.store(topic, partition, offset, epoch);
                return Ok(None);
            }
            Route::Unknown => {
                let failure = failure(
                    DlqReason::UnknownTopic,
                    None,
                    "no configured topic or pattern matches",
                );
                self.dead_letter(message, epoch, failure).await;
                return Ok(None);
            }
        };
        let limit = self.settings.max_record_bytes.get();
        if payload.len() > limit {
            let text = format!(
                "value of {} bytes exceeds max_record_bytes {limit}",
                payload.len()
            );
            if encoding == Encoding::Cdevents {
                self.deploy_metrics()
                    .events(deploy::Source::Kafka, deploy::Outcome::Invalid, 1);
            }
            if encoding == Encoding::Incidents {
                self.incident_invalid();
            }
            self.dead_letter(message, epoch, failure(DlqReason::TooLarge, None, &text))
                .await;
            return Ok(None);
        }
        if encoding == Encoding::Incidents {
            let metrics = self.topics[index].clone();
            return self.process_incident(message, epoch, metrics).await;
        }
        let Some(encoding) = encoding.spans() else {
            let metrics = self.topics[index].clone();
            return self.process_deployment(message, epoch, metrics).await;
        };
        let decoded = match decode_payload(encoding, payload, &mut self.resources).await {
            Ok(decoded) => decoded,
            Err(error) => {
                self.shared.metrics.decode_error(topic);
                let failure = failure(
                    DlqReason::DecodeError,
                    Some(error.kind()),
                    &error.to_string(),
                );
                self.dead_letter(message, epoch, failure).await;
                return Ok(None);
            }
        };
        if !decoded.rejected.is_empty() {
            self.shared.metrics.spans_rejected(topic, &decoded.rejected);
        }
        if self.alignment.enabled() && !decoded.batch.is_empty() {
            let end = decoded
                .batch
                .spans
                .iter()
                .map(|s| s.end)
                .max()
                .unwrap_or_default();
            let now = self.started.elapsed();
            let admit = if self.parks.holds(topic, partition) {
                // Behind parked records of its partition: waits in order.
                self.alignment.note(topic, partition, now);
                Admit::Hold
            } else {
                self.alignment.admit(topic, partition, end, now)
            };
            if admit == Admit::Hold {
                self.park(topic, partition, offset, epoch, end, Some(decoded.batch));
                self.shared.metrics.held_partitions(self.alignment.held());
                return Ok(None);
            }
            self.resume_aligned();
        }
        if decoded.batch.is_empty() {
            self.topics[index].empty.inc();
            self.store(topic, partition, offset, epoch);
            return Ok(None);
        }
        self.merge(topic, partition, offset, epoch, decoded.batch)
    }

    /// Index of the topic's metrics in `topics` (stable: only appended).
    fn topic_index(&mut self, topic: &str) -> usize {
        if let Some(found) = self.topics.iter().position(|m| &*m.topic == topic) {
            return found;
        }
        self.topics.push(self.shared.metrics.topic(topic));
        self.topics.len() - 1
    }
}

/// Decodes inline (with the worker's resource cache), or on the blocking
/// pool when the record is large (without: a large record is a batch that
/// names each resource once).
async fn decode_payload(
    encoding: decode::Encoding,
    payload: &[u8],
    resources: &mut decode::ResourceCache,
) -> Result<Decoded, decode::DecodeError> {
    if payload.len() < BLOCKING_DECODE_BYTES {
        return decode::decode_cached(encoding, payload, resources);
    }
    let owned = payload.to_vec();
    match tokio::task::spawn_blocking(move || decode::decode(encoding, &owned)).await {
        Ok(result) => result,
        // A panic in the decoder is a bug: propagate it, so the app's task
        // supervision shuts the pipeline down (STYLE.md §8.6).
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

fn failure(reason: DlqReason, kind: Option<&str>, message: &str) -> Failure {
    let class = match kind {
        Some(kind) => format!("{}.{kind}", reason.as_str()),
        None => reason.as_str().to_owned(),
    };
    Failure {
        reason,
        class,
        message: message.to_owned(),
    }
}
