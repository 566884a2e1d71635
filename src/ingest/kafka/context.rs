//! librdkafka callbacks: rebalances, commit results, statistics, errors.
//!
//! Callbacks run on the thread that polls the consumer, inside
//! `StreamConsumer::recv`, so they never race the consumer loop's own use of
//! [`Partitions`] (which happens between polls). They stay short: the only
//! blocking call is the synchronous commit of revoked partitions, which must
//! finish before the partitions are given up (CONVENTIONS.md §8 item 3).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError as RdKafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::{debug, info, warn};

use super::metrics::{CommitTrigger, Metrics, RebalanceEvent};
use super::offsets::Partitions;

/// State shared by the consumer loop and the callbacks.
#[derive(Debug)]
pub(crate) struct Shared {
    partitions: Mutex<Partitions>,
    /// Set while backpressure holds consumption paused, so that partitions
    /// assigned meanwhile start paused too.
    pub(crate) paused: AtomicBool,
    pub(crate) metrics: Metrics,
}

impl Shared {
    pub(crate) fn new(metrics: Metrics) -> Arc<Self> {
        Arc::new(Self {
            partitions: Mutex::default(),
            paused: AtomicBool::new(false),
            metrics,
        })
    }

    /// Locks the partition table. Held for microseconds, never across `.await`.
    pub(crate) fn partitions(&self) -> MutexGuard<'_, Partitions> {
        // A panic while holding the lock leaves the table consistent (every
        // method completes its update before returning), so keep going.
        self.partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The consumer's librdkafka context.
pub(crate) struct Context {
    shared: Arc<Shared>,
}

impl Context {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// `(topic, partition)` pairs of a list.
fn pairs(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

/// A list with explicit next-offsets, for `commit`.
pub(crate) fn offsets_list(offsets: &[(String, i32, i64)]) -> KafkaResult<TopicPartitionList> {
    let mut tpl = TopicPartitionList::with_capacity(offsets.len());
    for (topic, partition, next) in offsets {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
    }
    Ok(tpl)
}

/// True for the harmless "nothing to commit" result.
pub(crate) fn is_no_offset(error: &RdKafkaError) -> bool {
    error.rdkafka_error_code() == Some(RDKafkaErrorCode::NoOffset)
}

impl ClientContext for Context {
    fn stats(&self, statistics: Statistics) {
        let owned = self.shared.partitions().owned();
        for (topic, partition) in owned {
            let lag = statistics
                .topics
                .get(&topic)
                .and_then(|t| t.partitions.get(&partition))
                .map(|p| p.consumer_lag);
            if let Some(lag) = lag.filter(|lag| *lag >= 0) {
                self.shared.metrics.lag(&topic, partition, lag);
            }
        }
    }

    fn error(&self, error: RdKafkaError, reason: &str) {
        // The same error is also returned by `recv`, where the consumer loop
        // counts and logs it; log it only once.
        debug!(%error, reason, "kafka client error");
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let revoked = pairs(tpl);
                let (to_commit, remaining) = {
                    let mut partitions = self.shared.partitions();
                    let to_commit =
                        partitions.revoke(revoked.iter().map(|(t, p)| (t.as_str(), *p)));
                    (to_commit, partitions.len())
                };
                for (topic, partition) in &revoked {
                    self.shared.metrics.forget_partition(topic, *partition);
                }
                self.shared
                    .metrics
                    .rebalanced(RebalanceEvent::Revoke, remaining);
                info!(
                    partitions = revoked.len(),
                    committing = to_commit.len(),
                    "kafka partitions revoked"
                );
                if to_commit.is_empty() {
                    return;
                }
                if consumer.assignment_lost() {
                    // Another member may already own them; a commit would fail
                    // or move its offsets. Those records will be read again.
                    warn!(
                        partitions = to_commit.len(),
                        "kafka assignment lost, offsets not committed"
                    );
                    self.shared.metrics.commit_failed(CommitTrigger::Revoke);
                    return;
                }
                let result = offsets_list(&to_commit)
                    .and_then(|tpl| consumer.commit(&tpl, CommitMode::Sync));
                match result {
                    Err(error) if !is_no_offset(&error) => {
                        self.shared.metrics.commit_failed(CommitTrigger::Revoke);
                        warn!(%error, "commit of revoked partitions failed; their last records may be read again");
                    }
                    _ => debug!(partitions = to_commit.len(), "committed revoked partitions"),
                }
            }
            Rebalance::Assign(_) => {}
            Rebalance::Error(error) => {
                let assigned = self.shared.partitions().len();
                self.shared
                    .metrics
                    .rebalanced(RebalanceEvent::Error, assigned);
                warn!(%error, "kafka rebalance failed");
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(tpl) = rebalance else {
            return;
        };
        let assigned = pairs(tpl);
        let total = {
            let mut partitions = self.shared.partitions();
            partitions.assign(assigned.iter().map(|(t, p)| (t.as_str(), *p)));
            partitions.len()
        };
        self.shared
            .metrics
            .rebalanced(RebalanceEvent::Assign, total);
        info!(
            partitions = assigned.len(),
            total, "kafka partitions assigned"
        );
        if self.shared.paused.load(Ordering::Acquire)
            && tpl.count() > 0
            && let Err(error) = consumer.pause(tpl)
        {
            warn!(%error, "could not pause newly assigned partitions");
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => {
                let mut partitions = self.shared.partitions();
                for element in offsets.elements() {
                    if let (Offset::Offset(next), Ok(())) = (element.offset(), element.error()) {
                        partitions.committed(element.topic(), element.partition(), next);
                    }
                }
            }
            Err(error) if is_no_offset(&error) => {}
            Err(error) => {
                self.shared.metrics.commit_failed(CommitTrigger::Auto);
                crate::rate_limited!(warn, %error, "kafka offset commit failed");
            }
        }
    }
}
