//! Merging decoded span records into larger batches for the graph stage.
//!
//! A keyed Collector topic carries one small record per trace (≈5 spans), and
//! every record handed off alone costs a queue slot, a graph `observe` call
//! and an offset store. So admitted span records collect in [`Merged`] until
//! it holds `ingest.kafka.max_merged_spans` spans or librdkafka has no record ready, and go
//! out as one batch; then the offset of each partition's last record is
//! stored once. A record without spans of a partition that has records in
//! the merged batch (an empty or dead-lettered one) waits in it too, so
//! offsets are still stored in order. Before the batch goes out, the records
//! of partitions revoked meanwhile are cut from it (their new owner reads
//! them again), exactly as a single held record would be dropped.

use super::{Held, Item, KafkaError, RecordResult, Worker};
use crate::ingest::kafka::offsets::Epoch;
use crate::model::SpanBatch;
use tokio::sync::mpsc::error::TrySendError;

/// One record of a merged batch.
#[derive(Debug)]
pub(super) struct Part {
    /// Index into the worker's per-topic metrics.
    topic: usize,
    partition: i32,
    offset: i64,
    epoch: Epoch,
    /// Spans it added (0 for a record waiting only for its offset).
    spans: usize,
}

/// Span records decoded and admitted, not yet handed off.
#[derive(Debug, Default)]
pub(super) struct Merged {
    pub(super) batch: SpanBatch,
    pub(super) parts: Vec<Part>,
}

impl Merged {
    pub(super) fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    fn push(&mut self, part: Part, mut batch: SpanBatch) {
        if self.batch.spans.is_empty() && self.batch.resources.is_empty() {
            self.batch = batch;
        } else {
            let base = u32::try_from(self.batch.resources.len()).unwrap_or(u32::MAX);
            for span in &mut batch.spans {
                span.resource = span.resource.saturating_add(base);
            }
            self.batch.resources.append(&mut batch.resources);
            self.batch.spans.append(&mut batch.spans);
        }
        self.parts.push(part);
    }

    fn holds(&self, topic: usize, partition: i32) -> bool {
        self.parts
            .iter()
            .any(|p| p.topic == topic && p.partition == partition)
    }
}

impl Worker {
    /// Adds an admitted record's spans; hands the merged batch off when it is
    /// large enough (returned if the queue is full).
    pub(super) fn merge(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        epoch: Epoch,
        batch: SpanBatch,
    ) -> Result<Option<Held>, KafkaError> {
        let part = Part {
            topic: self.topic_index(topic),
            partition,
            offset,
            epoch,
            spans: batch.spans.len(),
        };
        self.pending.push(part, batch);
        if self.pending.batch.spans.len() >= self.settings.max_merged_spans {
            return self.flush();
        }
        Ok(None)
    }

    /// Stores the offset of a record without spans, after the parked or
    /// merged records of its partition when there are any.
    pub(super) fn store(&mut self, topic: &str, partition: i32, offset: i64, epoch: Epoch) {
        if self.parks.holds(topic, partition) {
            let end = crate::model::Timestamp::default();
            self.park(topic, partition, offset, epoch, end, None);
            return;
        }
        self.store_unparked(topic, partition, offset, epoch);
    }

    /// [`Self::store`] for a record not behind parked ones (one released
    /// from its park).
    pub(super) fn store_unparked(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        epoch: Epoch,
    ) {
        if !self.pending.is_empty() {
            let index = self.topic_index(topic);
            if self.pending.holds(index, partition) {
                self.pending.parts.push(Part {
                    topic: index,
                    partition,
                    offset,
                    epoch,
                    spans: 0,
                });
                return;
            }
        }
        self.store_now(topic, partition, offset, epoch);
    }

    /// Hands the merged batch off if there is room; returns it if not.
    pub(super) fn flush(&mut self) -> Result<Option<Held>, KafkaError> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        let taken = std::mem::take(&mut self.pending);
        let merged = self.without_revoked(taken);
        let Some(last) = merged.parts.last() else {
            return Ok(None);
        };
        if merged.batch.is_empty() {
            self.merged_handed_off(&merged.parts);
            return Ok(None);
        }
        let (metrics, partition, offset, epoch) = (
            self.topics[last.topic].clone(),
            last.partition,
            last.offset,
            last.epoch,
        );
        let Merged { batch, parts } = merged;
        match self.output.try_send(batch) {
            Ok(()) => {
                self.count_batch();
                self.merged_handed_off(&parts);
                Ok(None)
            }
            Err(TrySendError::Full(batch)) => Ok(Some(Held {
                topic: metrics.topic.to_string(),
                partition,
                offset,
                epoch,
                item: Item::Merged(Merged { batch, parts }),
                metrics,
            })),
            Err(TrySendError::Closed(_)) => Err(KafkaError::OutputClosed),
        }
    }

    /// Cuts the records of partitions no longer owned under the epoch they
    /// were read in (a rebalance ran inside a poll since).
    pub(super) fn without_revoked(&self, merged: Merged) -> Merged {
        let owned: Vec<bool> = {
            let partitions = self.shared.partitions();
            merged
                .parts
                .iter()
                .map(|p| {
                    partitions.epoch(&self.topics[p.topic].topic, p.partition) == Some(p.epoch)
                })
                .collect()
        };
        if owned.iter().all(|o| *o) {
            return merged;
        }
        let Merged { batch, parts } = merged;
        let mut spans = Vec::with_capacity(batch.spans.len());
        let mut rest = batch.spans.into_iter();
        let mut kept = Vec::with_capacity(parts.len());
        for (part, owned) in parts.into_iter().zip(owned) {
            let taken = rest.by_ref().take(part.spans);
            if owned {
                spans.extend(taken);
                kept.push(part);
            } else {
                taken.for_each(drop);
                if part.spans > 0 {
                    let topic = &self.topics[part.topic].topic;
                    self.shared.metrics.record(topic, RecordResult::Revoked);
                }
            }
        }
        Merged {
            batch: SpanBatch {
                resources: batch.resources,
                spans,
            },
            parts: kept,
        }
    }

    /// The merged batch was handed off: count its records and store each
    /// partition's last offset.
    pub(super) fn merged_handed_off(&self, parts: &[Part]) {
        let mut last: Vec<(usize, i32, i64, Epoch)> = Vec::new();
        for part in parts {
            if part.spans > 0 {
                let metrics = &self.topics[part.topic];
                metrics.handed_off.inc();
                metrics.spans_received.inc_by(part.spans as u64);
            }
            match last
                .iter_mut()
                .find(|(t, p, ..)| *t == part.topic && *p == part.partition)
            {
                Some(entry) => *entry = (part.topic, part.partition, part.offset, part.epoch),
                None => last.push((part.topic, part.partition, part.offset, part.epoch)),
            }
        }
        for (topic, partition, offset, epoch) in last {
            let topic = self.topics[topic].topic.clone();
            self.store_now(&topic, partition, offset, epoch);
        }
    }
}
