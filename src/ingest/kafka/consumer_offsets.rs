//! Storing offsets, dead-lettering, poll errors (and end-of-partition
//! events) and the final commit: the
//! consumer loop's bookkeeping around a record, split from `consumer.rs`.
//! An offset is stored only after its record was handed off or
//! dead-lettered; never before, never backwards.

use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::message::BorrowedMessage;
use tracing::{debug, error, info};

use super::{
    CommitTrigger, Epoch, Failure, Forwarded, KafkaError, RecordResult, Store, Worker,
    is_no_offset, offsets_list,
};

impl Worker {
    /// Forwards an undecodable record to the DLQ, then stores its offset.
    pub(super) async fn dead_letter(
        &mut self,
        message: &BorrowedMessage<'_>,
        epoch: Epoch,
        failure: Failure,
    ) {
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
        match self
            .dead_letters
            .forward(message, &failure, &self.shutdown)
            .await
        {
            Forwarded::Delivered => {
                self.shared.metrics.dead_lettered(topic, failure.reason);
                self.shared
                    .metrics
                    .record(topic, RecordResult::DeadLettered);
                crate::rate_limited!(warn, topic, partition, offset, reason = failure.reason.as_str(),
                    error = %failure.message, "undecodable record sent to the dead-letter topic");
            }
            Forwarded::Failed(error) => {
                // The record is undecodable, so no span is lost by moving on;
                // blocking the partition forever would lose every later one.
                self.shared
                    .metrics
                    .record(topic, RecordResult::DeadLetterFailed);
                error!(topic, partition, offset, %error, "undecodable record dropped: the dead-letter topic did not accept it");
            }
            Forwarded::Cancelled => return, // not stored: read again after restart
        }
        self.store(topic, partition, offset, epoch);
    }

    /// Stores the offset now (see [`Self::store`] for records that must wait
    /// for merged ones).
    pub(super) fn store_now(&self, topic: &str, partition: i32, offset: i64, epoch: Epoch) {
        let decision = self
            .shared
            .partitions()
            .handed_off(topic, partition, offset, epoch);
        if decision == Store::Next(offset + 1) && !self.snapshots() {
            // `store_offset` takes the record's offset and stores offset + 1.
            if let Err(error) = self.consumer.store_offset(topic, partition, offset) {
                self.shared.metrics.commit_failed(CommitTrigger::Store);
                crate::rate_limited!(warn, topic, partition, offset, %error, "kafka offset store failed");
            }
        }
    }

    /// A poll error: an end-of-partition event marks the partition caught
    /// up; a fatal error stops the consumer; any other is counted and logged.
    pub(super) fn poll_error(&mut self, error: RdKafkaError) -> Result<(), KafkaError> {
        if let RdKafkaError::PartitionEOF(partition) = error {
            self.partition_at_end(partition);
            return Ok(());
        }
        self.consumer_error(error)
    }

    /// [`Self::poll_error`] while paused for backpressure: an end of
    /// partition is not tracked there (the stall keeps every partition
    /// active anyway, see `Alignment::stalled`).
    pub(super) fn consumer_error(&self, error: RdKafkaError) -> Result<(), KafkaError> {
        if matches!(error, RdKafkaError::PartitionEOF(_)) {
            return Ok(());
        }
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
            return Err(KafkaError::Fatal(error));
        }
        self.shared.metrics.consumer_error();
        crate::rate_limited!(warn, %error, "kafka consumer error");
        Ok(())
    }

    /// librdkafka's end-of-partition event names the partition number only:
    /// it is applied when exactly one assigned partition (of any topic, span
    /// or deployment) has that number, else the partition turns idle by the
    /// `partition_idle_ms` rule as before.
    fn partition_at_end(&mut self, partition: i32) {
        self.realign_if_rebalanced();
        let Some((_, topic)) = self.sole_owner.iter().find(|(p, _)| *p == partition) else {
            return;
        };
        let topic = topic.clone();
        debug!(%topic, partition, "partition read to its end");
        self.alignment.reached_end(&topic, partition);
        self.resume_aligned();
    }

    /// Shutdown: commit what was handed off, synchronously, then close the
    /// consumer (which leaves the group) off the async workers.
    pub(super) async fn finish(mut self) {
        self.last_checkpoint().await;
        let to_commit = self.shared.partitions().uncommitted();
        let consumer = self.consumer;
        let shared = self.shared.clone();
        let closed = tokio::task::spawn_blocking(move || {
            if !to_commit.is_empty() {
                let result = offsets_list(&to_commit).and_then(|tpl| consumer.commit(&tpl, CommitMode::Sync));
                match result {
                    Err(error) if !is_no_offset(&error) => {
                        shared.metrics.commit_failed(CommitTrigger::Shutdown);
                        error!(%error, "final kafka offset commit failed; the last records may be read again");
                    }
                    _ => {
                        let mut partitions = shared.partitions();
                        for (topic, partition, next) in &to_commit {
                            partitions.committed(topic, *partition, *next);
                        }
                    }
                }
            }
            drop(consumer);
        })
        .await;
        if let Err(error) = closed {
            error!(%error, "kafka consumer close panicked");
        }
        info!("kafka consumer stopped");
    }
}
