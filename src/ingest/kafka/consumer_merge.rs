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
use std::hash::BuildHasher as _;

use foldhash::fast::FixedState;
use hashbrown::HashTable;

use crate::model::{ResourceInfo, Span, SpanBatch};
use tokio::sync::mpsc::error::TrySendError;

/// The most spans reserved up front for a merged batch.
const RESERVE_MAX: usize = 4096;

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
    /// `batch.resources` by content. Records of a keyed topic carry one
    /// trace each, so the same few resources repeat in every record; the
    /// graph stage then resolves each distinct resource once per batch
    /// instead of once per record.
    distinct: Distinct,
}

/// An index of a batch's resources by content.
#[derive(Debug, Default)]
struct Distinct {
    table: HashTable<u32>,
    hasher: FixedState,
}

impl Distinct {
    /// The position of `resource` in `resources`, added if it is new.
    fn position(&mut self, resources: &mut Vec<ResourceInfo>, resource: ResourceInfo) -> u32 {
        let hasher = &self.hasher;
        let hash = hasher.hash_one(&resource);
        let found = self
            .table
            .find(hash, |&i| resources[i as usize] == resource);
        if let Some(&i) = found {
            return i;
        }
        let i = u32::try_from(resources.len()).unwrap_or(u32::MAX);
        resources.push(resource);
        self.table
            .insert_unique(hash, i, |&i| hasher.hash_one(&resources[i as usize]));
        i
    }
}

impl Merged {
    pub(super) fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Appends a record's batch; `expect` is the merged batch's expected
    /// size, reserved once when a second record joins (appending record by
    /// record would reallocate and copy it a few times over; a record handed
    /// off alone reserves nothing).
    fn push(&mut self, part: Part, mut batch: SpanBatch, expect: usize) {
        if self.batch.spans.is_empty() && self.batch.resources.is_empty() {
            self.batch = batch;
        } else {
            let spans = &mut self.batch.spans;
            if spans.capacity() < expect {
                spans.reserve_exact(expect - spans.len());
            }
            if self.distinct.table.is_empty() {
                // The first record's resources, indexed once a second comes.
                let first = std::mem::take(&mut self.batch.resources);
                let remap: Vec<u32> = first
                    .into_iter()
                    .map(|r| self.distinct.position(&mut self.batch.resources, r))
                    .collect();
                remap_spans(&mut self.batch.spans, &remap);
            }
            let remap: Vec<u32> = batch
                .resources
                .drain(..)
                .map(|r| self.distinct.position(&mut self.batch.resources, r))
                .collect();
            remap_spans(&mut batch.spans, &remap);
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

/// Points spans at their resources' new positions; an index that was out of
/// range stays out of range (the graph stage counts such spans as invalid).
fn remap_spans(spans: &mut [Span], remap: &[u32]) {
    for span in spans {
        span.resource = remap
            .get(span.resource as usize)
            .copied()
            .unwrap_or(u32::MAX);
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
        self.pending
            .push(part, batch, self.settings.max_merged_spans.min(RESERVE_MAX));
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
        let Merged { batch, parts, .. } = merged;
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
                item: Item::Merged(Merged {
                    batch,
                    parts,
                    distinct: Distinct::default(),
                }),
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
        let Merged { batch, parts, .. } = merged;
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
            distinct: Distinct::default(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PeerAttrs, SpanId, SpanKind, Timestamp, TraceId};

    fn resource(service: &str, instance: &str) -> ResourceInfo {
        ResourceInfo {
            service: service.into(),
            namespace: None,
            version: None,
            environment: None,
            instance: Some(instance.into()),
        }
    }

    fn span(n: u8, resource: u32) -> Span {
        Span {
            trace_id: TraceId([n; 16]),
            span_id: SpanId([n; 8]),
            parent_span_id: SpanId::default(),
            resource,
            kind: SpanKind::Server,
            start: Timestamp(1),
            end: Timestamp(2),
            error: false,
            operation: "op".into(),
            peer: PeerAttrs::default(),
            links: Vec::new(),
        }
    }

    fn part() -> Part {
        Part {
            topic: 0,
            partition: 0,
            offset: 0,
            epoch: Epoch::default(),
            spans: 1,
        }
    }

    fn record(resources: Vec<ResourceInfo>, spans: Vec<Span>) -> SpanBatch {
        SpanBatch { resources, spans }
    }

    #[test]
    fn records_share_their_repeated_resources() {
        let (a, b, c) = (resource("a", "1"), resource("b", "1"), resource("a", "2"));
        let mut merged = Merged::default();
        merged.push(
            part(),
            record(vec![a.clone(), b.clone()], vec![span(1, 1), span(2, 0)]),
            8,
        );
        merged.push(
            part(),
            record(vec![b.clone(), c.clone()], vec![span(3, 0), span(4, 1)]),
            8,
        );
        merged.push(
            part(),
            record(vec![a.clone()], vec![span(5, 0), span(6, 7)]),
            8,
        );
        let batch = &merged.batch;
        assert_eq!(batch.resources, vec![a.clone(), b.clone(), c.clone()]);
        let by_span: Vec<Option<&ResourceInfo>> = batch
            .spans
            .iter()
            .map(|s| batch.resources.get(s.resource as usize))
            .collect();
        let want = [Some(&b), Some(&a), Some(&b), Some(&c), Some(&a), None];
        assert_eq!(by_span, want);
        assert_eq!(batch.spans.len(), 6);
        assert_eq!(merged.parts.len(), 3);
    }
}
