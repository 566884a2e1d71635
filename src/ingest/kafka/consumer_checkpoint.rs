//! The consumer's part in crash-safe snapshots: every `interval` it puts a
//! barrier carrying the offsets handed off so far behind the span batches
//! already queued for the graph stage; once the snapshot that carries the
//! barrier is durable the wiring layer sends it back and the consumer
//! commits those offsets (asynchronously; a rebalance or the stop commits
//! what is durable synchronously). On a clean stop a last barrier is sent
//! and awaited, so the state saved at the stop and the committed offsets
//! agree.
//!
//! Never does: store offsets for librdkafka's auto-commit (it is off in this
//! mode), or commit an offset no durable snapshot covers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tracing::{debug, info, warn};

use super::{CommitTrigger, Worker, is_no_offset, offsets_list};
use crate::model::{Checkpoint, PartitionOffset};

/// How long a clean stop waits for its last snapshot to become durable.
const LAST_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(15);

/// What the consumer needs to take part in snapshots.
#[derive(Debug)]
pub struct Checkpointing {
    /// Wall time between barriers.
    pub interval: Duration,
    /// The graph stage's barrier queue (ordered with the span queue by count).
    pub barriers: mpsc::Sender<Checkpoint>,
    /// Barriers coming back once their snapshot is durable.
    pub durable: mpsc::Receiver<Checkpoint>,
    /// Offsets the restored state covers (from the last snapshot).
    pub restored: Vec<PartitionOffset>,
}

/// The consumer's snapshot state.
pub(super) struct Checkpoints {
    tick: Interval,
    barriers: mpsc::Sender<Checkpoint>,
    durable: mpsc::Receiver<Checkpoint>,
    seq: u64,
    /// Span batches put on the graph stage's queue so far.
    batches: AtomicU64,
    /// The barrier on its way and since when: no new one is sent until it
    /// comes back durable (or is given up), so a slow pipeline is not
    /// loaded with snapshots it cannot keep up with.
    outstanding: Option<(u64, Instant)>,
}

/// What happened while waiting for a record.
pub(super) enum Event {
    /// A barrier is due.
    Due,
    /// A snapshot became durable.
    Durable(Checkpoint),
}

impl Checkpoints {
    pub(super) fn new(checkpointing: Checkpointing) -> Self {
        let mut tick = tokio::time::interval(checkpointing.interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            tick,
            barriers: checkpointing.barriers,
            durable: checkpointing.durable,
            seq: 0,
            batches: AtomicU64::new(0),
            outstanding: None,
        }
    }
}

/// The next snapshot event; pending forever without snapshots.
pub(super) async fn next_event(checkpoints: &mut Option<Checkpoints>) -> Event {
    let Some(c) = checkpoints else {
        return std::future::pending().await;
    };
    tokio::select! {
        Some(reply) = c.durable.recv() => Event::Durable(reply),
        _ = c.tick.tick() => Event::Due,
    }
}

impl Worker {
    /// A span batch was put on the graph stage's queue.
    pub(super) fn count_batch(&self) {
        if let Some(c) = &self.checkpoints {
            c.batches.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// True in snapshot mode (offsets are not stored for auto-commit).
    pub(super) fn snapshots(&self) -> bool {
        self.checkpoints.is_some()
    }

    pub(super) async fn on_checkpoint_event(&mut self, event: Event) {
        match event {
            Event::Due => {
                let Some(c) = self.checkpoints.as_mut() else {
                    return;
                };
                // A barrier skipped on the way (writer busy) never returns.
                let give_up = (c.tick.period() * 10).max(Duration::from_secs(30));
                if c.outstanding
                    .is_some_and(|(_, since)| since.elapsed() < give_up)
                {
                    return;
                }
                self.send_barrier(false).await;
            }
            Event::Durable(reply) => {
                if let Some(c) = self.checkpoints.as_mut()
                    && c.outstanding.is_some_and(|(seq, _)| seq <= reply.seq)
                {
                    c.outstanding = None;
                }
                self.commit_durable(&reply, CommitMode::Async);
            }
        }
    }

    /// Queues a barrier behind every batch handed off so far; returns its
    /// sequence number, or `None` when the graph stage did not take it in
    /// time (the next tick tries again).
    async fn send_barrier(&mut self, last: bool) -> Option<u64> {
        let offsets = self.shared.partitions().handed_off_offsets();
        let c = self.checkpoints.as_mut()?;
        c.seq += 1;
        let barrier = Checkpoint {
            seq: c.seq,
            batches: c.batches.load(Ordering::Relaxed),
            offsets: offsets
                .into_iter()
                .map(|(topic, partition, next)| PartitionOffset {
                    topic,
                    partition,
                    next,
                })
                .collect(),
            last,
            ..Checkpoint::default()
        };
        let patience = if last {
            LAST_SNAPSHOT_TIMEOUT / 3
        } else {
            c.tick.period().max(Duration::from_secs(1))
        };
        match tokio::time::timeout(patience, c.barriers.send(barrier)).await {
            Ok(Ok(())) => {
                c.outstanding = Some((c.seq, Instant::now()));
                Some(c.seq)
            }
            Ok(Err(_)) => None, // the graph stage has stopped
            Err(_) => {
                debug!("graph stage busy; snapshot barrier skipped");
                None
            }
        }
    }

    /// Marks the offsets of a durable snapshot committable and, unless the
    /// stop commits them synchronously, commits them.
    fn commit_durable(&self, reply: &Checkpoint, mode: CommitMode) {
        let to_commit: Vec<(String, i32, i64)> = {
            let mut partitions = self.shared.partitions();
            reply
                .offsets
                .iter()
                .filter(|o| partitions.durable(&o.topic, o.partition, o.next))
                .map(|o| (o.topic.clone(), o.partition, o.next))
                .collect()
        };
        if to_commit.is_empty() || !matches!(mode, CommitMode::Async) {
            return;
        }
        let result =
            offsets_list(&to_commit).and_then(|tpl| self.consumer.commit(&tpl, CommitMode::Async));
        match result {
            Err(error) if !is_no_offset(&error) => {
                self.shared.metrics.commit_failed(CommitTrigger::Snapshot);
                crate::rate_limited!(warn, %error, "kafka commit after a snapshot failed");
            }
            _ => debug!(
                partitions = to_commit.len(),
                seq = reply.seq,
                "committing offsets of a durable snapshot"
            ),
        }
    }

    /// Clean stop in snapshot mode: a last barrier, then wait until its
    /// snapshot is durable so the final commit covers everything handed off.
    pub(super) async fn last_checkpoint(&mut self) {
        if self.checkpoints.is_none() {
            return;
        }
        let Some(seq) = self.send_barrier(true).await else {
            warn!(
                "last snapshot barrier not taken; offsets since the last snapshot stay uncommitted"
            );
            return;
        };
        let deadline = tokio::time::Instant::now() + LAST_SNAPSHOT_TIMEOUT;
        loop {
            let Some(c) = self.checkpoints.as_mut() else {
                return;
            };
            match tokio::time::timeout_at(deadline, c.durable.recv()).await {
                Ok(Some(reply)) => {
                    self.commit_durable(&reply, CommitMode::Sync);
                    if reply.seq >= seq {
                        info!(seq, "last snapshot durable");
                        return;
                    }
                }
                Ok(None) => return,
                Err(_) => {
                    warn!(
                        "last snapshot not durable in time; records since the previous one will be read again"
                    );
                    return;
                }
            }
        }
    }
}
