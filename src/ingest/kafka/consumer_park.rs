//! Parking the records of a span partition that runs ahead in event time.
//!
//! When [`Alignment`](super::Alignment) holds a decoded span record, the
//! record waits here, in memory, and so does every later record of its
//! partition, in order (a record without spans, or one sent to the DLQ, as
//! an offset-only entry, so that no offset is stored past a parked record).
//! When the alignment lets the partition go, its parked records join the
//! merged batch in order, each admitted again (one may be held again, and
//! the rest stay parked). Before this, a hold paused the partition and
//! sought back to the record: every hold discarded librdkafka's prefetched
//! records and fetched them again, and the consumer sat idle for the round
//! trip.
//!
//! A park bigger than [`PARK_MAX_SPANS`] pauses its partition in librdkafka,
//! without a seek: librdkafka resumes after the last record it delivered,
//! which is parked. Draining the park resumes the partition (unless
//! backpressure holds every partition; its resume does it then).
//!
//! Released records go through the same merge as fresh ones (so
//! `max_merged_spans` and backpressure apply), all before the next poll.
//! Parked offsets are not stored, so after a crash, a revoke or a stop the
//! records are read again. Never does: decoding, or I/O other than pausing
//! and resuming partitions.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rdkafka::consumer::Consumer;
use rdkafka::topic_partition_list::TopicPartitionList;
use tracing::{debug, warn};

use super::Admit;
use super::{Epoch, Held, KafkaError, RecordResult, Worker};
use crate::ingest::kafka::metrics::PauseReason;
use crate::model::{SpanBatch, Timestamp};

/// Spans one partition may park before it is paused in librdkafka (a few MB
/// of decoded spans; a 256 KiB fetch of Collector-keyed records is ≈700).
pub(super) const PARK_MAX_SPANS: usize = 20_000;

/// One parked record.
#[derive(Debug)]
struct Entry {
    offset: i64,
    /// Newest span end (unused for offset-only entries).
    end: Timestamp,
    /// `None`: a record without spans, waiting only for its offset.
    batch: Option<SpanBatch>,
}

/// The parked records of one partition, under the epoch they were read in.
#[derive(Debug)]
struct Park {
    topic: Arc<str>,
    partition: i32,
    epoch: Epoch,
    entries: VecDeque<Entry>,
    spans: usize,
    /// Paused in librdkafka because it outgrew [`PARK_MAX_SPANS`].
    paused: bool,
}

/// A record let go, waiting for the consumer loop to merge it.
#[derive(Debug)]
struct Released {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    epoch: Epoch,
    batch: Option<SpanBatch>,
}

/// Every partition's parked records (a handful of partitions: a vector),
/// and the records let go, in order. The consumer loop merges every
/// released record before it polls a new one, so a partition's records
/// keep their order.
#[derive(Debug, Default)]
pub(super) struct Parks {
    parks: Vec<Park>,
    released: VecDeque<Released>,
}

impl Parks {
    fn find(&self, topic: &str, partition: i32) -> Option<usize> {
        self.parks
            .iter()
            .position(|p| p.partition == partition && &*p.topic == topic)
    }

    /// True when the partition has parked records.
    pub(super) fn holds(&self, topic: &str, partition: i32) -> bool {
        self.find(topic, partition).is_some()
    }

    /// True when released records wait to be merged.
    pub(super) fn has_released(&self) -> bool {
        !self.released.is_empty()
    }

    /// True when the partition is paused in librdkafka for its park.
    pub(super) fn paused(&self, topic: &str, partition: i32) -> bool {
        self.find(topic, partition)
            .is_some_and(|index| self.parks[index].paused)
    }
}

impl Worker {
    /// Parks a record of `topic`/`partition`: a span record the alignment
    /// held (or one behind parked ones), or, with `batch` `None`, a record
    /// without spans behind parked ones.
    pub(super) fn park(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        epoch: Epoch,
        end: Timestamp,
        batch: Option<SpanBatch>,
    ) {
        let index = match self.parks.find(topic, partition) {
            Some(index) if self.parks.parks[index].epoch == epoch => index,
            found => {
                // Parked under an earlier assignment: not ours to hand off.
                if let Some(stale) = found {
                    self.drop_park(stale);
                }
                self.parks.parks.push(Park {
                    topic: Arc::from(topic),
                    partition,
                    epoch,
                    entries: VecDeque::new(),
                    spans: 0,
                    paused: false,
                });
                self.parks.parks.len() - 1
            }
        };
        let spans = batch.as_ref().map_or(0, |b| b.spans.len());
        let park = &mut self.parks.parks[index];
        debug!(topic, partition, offset, end = %end, spans, parked = park.entries.len(), "record parked");
        park.entries.push_back(Entry { offset, end, batch });
        park.spans += spans;
        self.shared.metrics.record_parked();
        if park.paused || park.spans <= PARK_MAX_SPANS {
            return;
        }
        park.paused = true;
        // Under backpressure every partition is paused already, and its
        // resume leaves this one paused.
        if !self.shared.paused.load(Ordering::Acquire) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(topic, partition);
            if let Err(error) = self.consumer.pause(&tpl) {
                warn!(topic, partition, %error, "could not pause a kafka partition ahead in event time");
            }
        }
        let metrics = &self.shared.metrics;
        metrics.partitions_paused(PauseReason::EventTimeAhead, 1);
    }

    /// The alignment let `topic`/`partition` go: its parked records move to
    /// the released queue in order until one is held again. Returns true
    /// when the park is empty and librdkafka must resume the partition.
    pub(super) fn release(&mut self, topic: &str, partition: i32) -> bool {
        let Some(index) = self.parks.find(topic, partition) else {
            return false;
        };
        let mut park = self.parks.parks.swap_remove(index);
        let now = self.started.elapsed();
        debug!(
            topic,
            partition,
            parked = park.entries.len(),
            paused = park.paused,
            "park released"
        );
        while let Some(entry) = park.entries.pop_front() {
            if let Some(batch) = &entry.batch {
                if self
                    .alignment
                    .admit_parked(topic, partition, entry.end, now)
                    == Admit::Hold
                {
                    park.entries.push_front(entry);
                    self.parks.parks.push(park);
                    return false;
                }
                park.spans -= batch.spans.len();
            }
            self.parks.released.push_back(Released {
                topic: park.topic.clone(),
                partition,
                offset: entry.offset,
                epoch: park.epoch,
                batch: entry.batch,
            });
        }
        park.paused
    }

    /// Hands the oldest released record on, as the consumer loop does a
    /// fresh one: merged (returned if the queue is full), or, without
    /// spans, its offset stored after the merged records of its partition.
    pub(super) fn merge_released(&mut self) -> Result<Option<Held>, KafkaError> {
        let Some(r) = self.parks.released.pop_front() else {
            return Ok(None);
        };
        match r.batch {
            Some(batch) => self.merge(&r.topic, r.partition, r.offset, r.epoch, batch),
            None => {
                self.store_unparked(&r.topic, r.partition, r.offset, r.epoch);
                Ok(None)
            }
        }
    }

    /// Forgets the parks of partitions no longer owned under their epoch.
    pub(super) fn drop_revoked_parks(&mut self, owned: &[(String, i32, Epoch)]) {
        let mut index = 0;
        while index < self.parks.parks.len() {
            let park = &self.parks.parks[index];
            let kept = owned.iter().any(|(topic, partition, epoch)| {
                *partition == park.partition && **topic == *park.topic && *epoch == park.epoch
            });
            if kept {
                index += 1;
            } else {
                self.drop_park(index);
            }
        }
    }

    fn drop_park(&mut self, index: usize) {
        let park = self.parks.parks.swap_remove(index);
        let dropped = park.entries.iter().filter(|e| e.batch.is_some()).count();
        for _ in 0..dropped {
            self.shared
                .metrics
                .record(&park.topic, RecordResult::Revoked);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn park(topic: &str, partition: i32, spans: usize, paused: bool) -> Park {
        Park {
            topic: Arc::from(topic),
            partition,
            epoch: 1,
            entries: VecDeque::new(),
            spans,
            paused,
        }
    }

    #[test]
    fn parks_are_found_by_topic_and_partition() {
        let parks = Parks {
            parks: vec![park("a", 0, 10, false), park("b", 0, 5, true)],
            released: VecDeque::new(),
        };
        assert!(parks.holds("a", 0));
        assert!(!parks.holds("a", 1));
        assert!(!parks.paused("a", 0));
        assert!(parks.paused("b", 0));
        assert!(!parks.paused("c", 0));
        assert!(!Parks::default().holds("a", 0));
    }
}
