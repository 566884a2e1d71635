//! Pausing and resuming partitions: for backpressure (every assigned
//! partition, while the next stage's queue is full, in
//! [`Worker::wait_for_room`]) and for event-time alignment (one partition,
//! while its parked records are too many; the decisions are
//! [`Alignment`](super::Alignment)'s and the park's, this file only carries
//! them out).
//!
//! A partition paused for its park stays paused through a backpressure pause
//! and its resume; a record fetched before a backpressure pause is sought
//! back to, never stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::message::BorrowedMessage;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::{Held, KafkaError, Route, Worker};
use crate::ingest::kafka::metrics::PauseReason;

/// How long a full queue may hold the consumer before it pauses its
/// partitions. Pausing drops librdkafka's prefetched records and resuming
/// fetches and re-delivers them partition by partition, which costs a fetch
/// round trip per pause and skews event time between partitions; a queue
/// that only filled for a moment (the graph stage is busy with a burst)
/// drains within this long. Measured with `scripts/bench-kafka.sh`.
const PAUSE_GRACE: Duration = Duration::from_millis(500);

/// How long shutdown waits for the graph stage to take a held batch.
const SHUTDOWN_SEND_TIMEOUT: Duration = Duration::from_secs(10);

impl Worker {
    /// A record arrived while consumption is paused (a partition assigned in
    /// the meantime, or fetched just before the pause): pause its partition
    /// and seek back, so it is fetched again after the resume. `rewound`
    /// holds the offset each partition was already sent back to during this
    /// pause; a later record of the same partition is simply dropped, since
    /// the fetch restarts before it anyway (seeking to it would skip the
    /// earlier one). A partition held by alignment was already sought back.
    pub(super) fn rewind(
        &self,
        message: &BorrowedMessage<'_>,
        rewound: &mut HashMap<(String, i32), i64>,
    ) {
        use rdkafka::Message as _;
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
        let key = (topic.to_owned(), partition);
        if rewound.get(&key).is_some_and(|earlier| *earlier <= offset) {
            return;
        }
        rewound.insert(key, offset);
        self.pause_at(
            topic,
            partition,
            offset,
            "rewound a record fetched while paused",
        );
    }

    fn pause_at(&self, topic: &str, partition: i32, offset: i64, what: &'static str) {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        let result = self.consumer.pause(&tpl).and_then(|()| {
            // Timeout zero: librdkafka seeks asynchronously; records fetched
            // before the seek are discarded by its version barrier.
            self.consumer
                .seek(topic, partition, Offset::Offset(offset), Duration::ZERO)
        });
        match result {
            Ok(()) => debug!(topic, partition, offset, "{what}"),
            Err(error) => {
                warn!(topic, partition, offset, %error, "could not pause and seek back a kafka partition");
            }
        }
    }

    /// Releases the parked records of the partitions alignment lets go, and
    /// resumes those paused for their park (unless backpressure holds
    /// everything: then its resume lets them go).
    pub(super) fn resume_aligned(&mut self) {
        if self.alignment.held() == 0 {
            return;
        }
        let lanes = self.alignment.resumable(self.started.elapsed());
        if lanes.is_empty() {
            return;
        }
        let mut paused = Vec::new();
        for (topic, partition) in lanes {
            if self.release(&topic, partition) {
                paused.push((topic, partition));
            }
        }
        self.shared.metrics.held_partitions(self.alignment.held());
        if !paused.is_empty() && !self.shared.paused.load(Ordering::Acquire) {
            self.resume(&paused);
        }
    }

    /// Syncs the alignment with the assignment after a rebalance.
    pub(super) fn realign_if_rebalanced(&mut self) {
        let (generation, owned) = {
            let partitions = self.shared.partitions();
            let generation = partitions.generation();
            if generation == self.generation {
                return;
            }
            let owned: Vec<_> = partitions
                .owned()
                .into_iter()
                .filter_map(|(topic, partition)| {
                    let epoch = partitions.epoch(&topic, partition)?;
                    Some((topic, partition, epoch))
                })
                .collect();
            (generation, owned)
        };
        self.generation = generation;
        self.sole_owner = owned
            .iter()
            .filter(|(_, p, _)| owned.iter().filter(|(_, q, _)| q == p).count() == 1)
            .map(|(topic, partition, _)| (*partition, Arc::from(topic.as_str())))
            .collect();
        self.drop_revoked_parks(&owned);
        let spans = owned.iter().filter(|(topic, ..)| {
            matches!(self.settings.routes.route(topic), Route::Decode(e) if e.spans().is_some())
        });
        let now = self.started.elapsed();
        let fresh = self.alignment.assign(
            spans.map(|(topic, partition, epoch)| (topic.as_str(), *partition, *epoch)),
            now,
        );
        self.shared.metrics.held_partitions(self.alignment.held());
        // A partition held before a revoke may come back still paused in
        // librdkafka; alignment starts it over, so make sure it fetches.
        if !fresh.is_empty() && !self.shared.paused.load(Ordering::Acquire) {
            self.resume(&fresh);
        }
    }

    fn resume(&self, lanes: &[(Arc<str>, i32)]) {
        let mut tpl = TopicPartitionList::with_capacity(lanes.len());
        for (topic, partition) in lanes {
            tpl.add_partition(topic, *partition);
        }
        if let Err(error) = self.consumer.resume(&tpl) {
            warn!(%error, "could not resume kafka partitions");
        }
    }

    /// Backpressure: pauses every assigned partition, or resumes those not
    /// held by alignment.
    pub(super) fn set_paused(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::Release);
        let result = self.consumer.assignment().and_then(|assignment| {
            if paused {
                self.shared.metrics.paused(true, 0.0);
                self.shared
                    .metrics
                    .partitions_paused(PauseReason::Backpressure, assignment.count());
                return self.consumer.pause(&assignment);
            }
            if self.alignment.held() == 0 {
                return self.consumer.resume(&assignment);
            }
            let mut free = TopicPartitionList::with_capacity(assignment.count());
            for element in assignment.elements() {
                if !self.parks.paused(element.topic(), element.partition()) {
                    free.add_partition(element.topic(), element.partition());
                }
            }
            self.consumer.resume(&free)
        });
        if let Err(error) = result {
            warn!(paused, %error, "could not pause or resume kafka partitions");
        }
    }
}

impl Worker {
    /// Backpressure: wait up to [`PAUSE_GRACE`] for room; then pause, keep
    /// polling, and hand `held` off when there is room.
    pub(super) async fn wait_for_room(&mut self, held: Held) -> Result<(), KafkaError> {
        tokio::select! {
            biased;
            // Shutdown: the paused path below finishes the hand-off.
            () = self.shutdown.cancelled() => {}
            waited = tokio::time::timeout(PAUSE_GRACE, self.reserve(&held.item)) => {
                if let Ok(permit) = waited {
                    self.hand_off(permit?, held);
                    return Ok(());
                }
            }
        }
        let since = Instant::now();
        self.set_paused(true);
        let consumer = self.consumer.clone();
        let mut rewound = HashMap::new();
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => {
                    // Finish the in-flight hand-off: the graph stage keeps
                    // draining during shutdown. Bounded, in case it does not.
                    match tokio::time::timeout(SHUTDOWN_SEND_TIMEOUT, self.reserve(&held.item)).await {
                        Ok(Ok(permit)) => self.hand_off(permit, held),
                        Ok(Err(error)) => return Err(error),
                        Err(_) => warn!(topic = %held.topic, partition = held.partition, offset = held.offset,
                            "the next stage did not take the last record before shutdown; it will be consumed again"),
                    }
                    self.shared.metrics.paused(false, since.elapsed().as_secs_f64());
                    return Ok(());
                }
                permit = self.reserve(&held.item) => {
                    self.hand_off(permit?, held);
                    self.set_paused(false);
                    self.shared.metrics.paused(false, since.elapsed().as_secs_f64());
                    return Ok(());
                }
                polled = consumer.recv() => match polled {
                    Ok(message) => self.rewind(&message, &mut rewound),
                    Err(error) => self.consumer_error(error)?,
                },
            }
        }
    }
}
