//! Event-time alignment of the assigned span partitions.
//!
//! The graph stage has one watermark (`max span end seen - lateness`), so a
//! partition consumed faster than the others (a backlog with skewed volumes,
//! prefetch order, a resume) drags the watermark past spans the slower
//! partitions have not delivered yet, and those arrive late. [`Alignment`]
//! decides, per decoded record, whether it may be handed off: a record whose
//! newest span end is more than `max_skew` ahead of the slowest other
//! *active* partition is held (the caller parks it, and every later record
//! of its partition, in memory, so nothing is lost); a held partition
//! resumes once the slowest has come within `max_skew / 2` of it.
//!
//! A partition's *position* is the newest span end handed off from it, or
//! that of its held record (records parked behind a held one do not count).
//! A partition is *active* unless it is idle: not held and either at its
//! end (librdkafka said so, and no record came since; records released from
//! its park were read before and do not count) or without a span record for
//! `idle` (wall time, given by the caller) — caught up, or empty.
//! Idle partitions never hold the others back, so live consumption
//! with a quiet partition does not stall. A partition assigned but not read
//! yet has no position: until it delivers or turns idle, every other
//! partition is held, because its spans could be older than anything seen.
//! The partition with the lowest position is never held, so consumption
//! always makes progress.
//!
//! Pure: no I/O, no clock (the caller passes `now`, the wall time since the
//! consumer started), no librdkafka. Never looks at offsets or payloads.

use std::sync::Arc;
use std::time::Duration;

use super::offsets::Epoch;
use crate::model::Timestamp;

/// Whether a decoded record may be handed off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Hand it off.
    Go,
    /// Its partition runs ahead: keep the record (and every later record of
    /// the partition, see [`Alignment::note`]) until the partition resumes.
    Hold,
}

/// One assigned span partition.
#[derive(Debug)]
struct Lane {
    topic: Arc<str>,
    partition: i32,
    epoch: Epoch,
    /// Newest span end decoded from this partition, `None` before the first.
    position: Option<Timestamp>,
    /// When a span record last came (or the lane was assigned or resumed).
    last_seen: Duration,
    /// Held by [`Alignment::admit`], not yet resumed.
    held: bool,
    /// Every record of the partition has been read ([`Alignment::reached_end`]).
    at_end: bool,
}

/// The alignment state of every assigned span partition.
#[derive(Debug)]
pub(crate) struct Alignment {
    /// `max_skew` in nanoseconds; 0 disables alignment.
    skew_ns: u64,
    idle: Duration,
    lanes: Vec<Lane>,
    held: usize,
}

impl Alignment {
    /// Holds partitions more than `max_skew` ahead; `idle` without a span
    /// record makes a partition inactive. A zero `max_skew` turns it off:
    /// every record is admitted.
    pub(crate) fn new(max_skew: Duration, idle: Duration) -> Self {
        Self {
            skew_ns: u64::try_from(max_skew.as_nanos()).unwrap_or(u64::MAX),
            idle,
            lanes: Vec::new(),
            held: 0,
        }
    }

    /// True unless configured off.
    pub(crate) fn enabled(&self) -> bool {
        self.skew_ns > 0
    }

    /// The assigned span partitions changed: keeps the lanes whose epoch is
    /// unchanged, starts new ones without a position (idle from `now`), and
    /// forgets the rest. Returns the new lanes (the caller makes sure
    /// librdkafka does not keep an old pause on them).
    pub(crate) fn assign<'a>(
        &mut self,
        owned: impl IntoIterator<Item = (&'a str, i32, Epoch)>,
        now: Duration,
    ) -> Vec<(Arc<str>, i32)> {
        let mut lanes = Vec::new();
        let mut fresh = Vec::new();
        for (topic, partition, epoch) in owned {
            let kept = self
                .lanes
                .iter()
                .position(|l| &*l.topic == topic && l.partition == partition && l.epoch == epoch);
            let lane = match kept {
                Some(index) => self.lanes.swap_remove(index),
                None => {
                    let topic: Arc<str> = Arc::from(topic);
                    fresh.push((topic.clone(), partition));
                    Lane {
                        topic,
                        partition,
                        epoch,
                        position: None,
                        last_seen: now,
                        held: false,
                        at_end: false,
                    }
                }
            };
            lanes.push(lane);
        }
        self.lanes = lanes;
        self.held = self.lanes.iter().filter(|l| l.held).count();
        fresh
    }

    /// True while the partition is held (its records are parked).
    #[cfg(test)]
    pub(crate) fn is_held(&self, topic: &str, partition: i32) -> bool {
        self.held > 0
            && self
                .lane(topic, partition)
                .is_some_and(|index| self.lanes[index].held)
    }

    /// Partitions currently held.
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// A record of `topic`/`partition` whose newest span ends at `end` was
    /// decoded at `now`. An unknown partition (not assigned as a span
    /// partition) is always admitted.
    pub(crate) fn admit(
        &mut self,
        topic: &str,
        partition: i32,
        end: Timestamp,
        now: Duration,
    ) -> Admit {
        self.admit_record(topic, partition, end, now, true)
    }

    /// [`Alignment::admit`] for a parked record released at `now`: it was
    /// read before anything librdkafka said since, so a partition read to
    /// its end stays at its end (were it made active again, the others
    /// would wait `idle` for records that will not come).
    pub(crate) fn admit_parked(
        &mut self,
        topic: &str,
        partition: i32,
        end: Timestamp,
        now: Duration,
    ) -> Admit {
        self.admit_record(topic, partition, end, now, false)
    }

    fn admit_record(
        &mut self,
        topic: &str,
        partition: i32,
        end: Timestamp,
        now: Duration,
        fresh: bool,
    ) -> Admit {
        if !self.enabled() {
            return Admit::Go;
        }
        let Some(index) = self.lane(topic, partition) else {
            return Admit::Go;
        };
        let lane = &mut self.lanes[index];
        lane.last_seen = now;
        if fresh {
            lane.at_end = false;
        }
        lane.position = Some(lane.position.map_or(end, |p| p.max(end)));
        match self.floor(index, now) {
            Floor::Free => Admit::Go,
            Floor::At(floor) if end.nanos() <= floor.nanos().saturating_add(self.skew_ns) => {
                Admit::Go
            }
            Floor::At(_) | Floor::Unknown => {
                self.lanes[index].held = true;
                self.held += 1;
                Admit::Hold
            }
        }
    }

    /// A record of a held partition was decoded at `now` and parked behind
    /// the held one. It keeps the partition from turning idle but does not
    /// move its position: the held record, not yet handed off, is where the
    /// partition stands for the others (were it the newest parked span end,
    /// the others could run ahead of records still to come from it).
    pub(crate) fn note(&mut self, topic: &str, partition: i32, now: Duration) {
        if let Some(index) = self.lane(topic, partition) {
            self.lanes[index].last_seen = now;
            self.lanes[index].at_end = false;
        }
    }

    /// The consumer has read every record of `topic`/`partition` (librdkafka's
    /// end-of-partition event): it is idle until its next record, so it no
    /// longer holds the others back. A held partition stays held (its parked
    /// records are still to be handed off).
    pub(crate) fn reached_end(&mut self, topic: &str, partition: i32) {
        if let Some(index) = self.lane(topic, partition) {
            self.lanes[index].at_end = true;
        }
    }

    /// Held partitions that may resume at `now` (the slowest other active
    /// partition came within `max_skew / 2`, or turned idle). They count as
    /// resumed from here on.
    pub(crate) fn resumable(&mut self, now: Duration) -> Vec<(Arc<str>, i32)> {
        let mut out = Vec::new();
        if self.held == 0 {
            return out;
        }
        for index in 0..self.lanes.len() {
            if !self.lanes[index].held {
                continue;
            }
            let position = self.lanes[index].position.unwrap_or_default();
            let go = match self.floor(index, now) {
                Floor::Free => true,
                Floor::At(floor) => {
                    position.nanos() <= floor.nanos().saturating_add(self.skew_ns / 2)
                }
                Floor::Unknown => false,
            };
            if go {
                let lane = &mut self.lanes[index];
                lane.held = false;
                lane.last_seen = now;
                self.held -= 1;
                out.push((lane.topic.clone(), lane.partition));
            }
        }
        out
    }

    /// Consumption was stalled (backpressure) until `now`: no partition could
    /// deliver, so none counts as idle for that time.
    pub(crate) fn stalled(&mut self, now: Duration) {
        for lane in &mut self.lanes {
            lane.last_seen = now;
        }
    }

    fn lane(&self, topic: &str, partition: i32) -> Option<usize> {
        self.lanes
            .iter()
            .position(|l| l.partition == partition && &*l.topic == topic)
    }

    /// The lowest position among the active lanes other than `index`.
    fn floor(&self, index: usize, now: Duration) -> Floor {
        let mut floor = Floor::Free;
        for (other, lane) in self.lanes.iter().enumerate() {
            let idle =
                !lane.held && (lane.at_end || now.saturating_sub(lane.last_seen) >= self.idle);
            if other == index || idle {
                continue;
            }
            match (lane.position, floor) {
                (None, _) => return Floor::Unknown,
                (Some(p), Floor::Free) => floor = Floor::At(p),
                (Some(p), Floor::At(f)) => floor = Floor::At(f.min(p)),
                (Some(_), Floor::Unknown) => {}
            }
        }
        floor
    }
}

/// What the other active lanes allow.
#[derive(Clone, Copy, Debug)]
enum Floor {
    /// No other active lane: nothing to wait for.
    Free,
    /// The slowest other active lane is here.
    At(Timestamp),
    /// An active lane has not delivered yet: its spans could be older than
    /// anything seen.
    Unknown,
}

#[cfg(test)]
#[path = "align_tests.rs"]
mod tests;
