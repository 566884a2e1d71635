//! The consumer's path for records of `cdevents` topics: one deployment
//! event per record, decoded with its Kafka headers (structured or `ce_*`
//! binary mode, see [`crate::ingest::deploy`]).
//!
//! * supported → handed to the release stage's queue (pausing like spans
//!   when it is full), offset stored after the hand-off;
//! * unsupported type → counted, offset stored, skipped;
//! * invalid → the DLQ (`decode_error.cdevents`), counted, offset stored
//!   after the DLQ acknowledged it.
//!
//! Never does: deduplication (the release stage does).

use rdkafka::Message;
use rdkafka::message::{BorrowedMessage, Headers};
use tokio::sync::mpsc::error::TrySendError;

use super::{
    BLOCKING_DECODE_BYTES, Held, Item, KafkaError, RecordResult, TopicMetrics, Worker, failure,
};
use crate::ingest::deploy::{self, DeployError, Outcome, Source, decode_deploy_event};
use crate::ingest::kafka::metrics::DlqReason;
use crate::ingest::kafka::offsets::Epoch;
use crate::model::DeployEvent;

/// `x-dlq-error-class` suffix of an invalid deployment record.
const DLQ_KIND: &str = "cdevents";

impl Worker {
    pub(super) fn deploy_metrics(&self) -> &deploy::Metrics {
        self.shared.metrics.deploy()
    }

    /// Handles one non-empty record of a `cdevents` topic; returns the event
    /// if the release stage's queue is full.
    pub(super) async fn process_deployment(
        &mut self,
        message: &BorrowedMessage<'_>,
        epoch: Epoch,
        metrics: TopicMetrics,
    ) -> Result<Option<Held>, KafkaError> {
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
        match decode(message).await {
            Ok(Some(event)) => match self.deployments.try_send(event) {
                Ok(()) => {
                    metrics.handed_off.inc();
                    self.deploy_metrics()
                        .events(Source::Kafka, Outcome::Accepted, 1);
                    self.store(topic, partition, offset, epoch);
                    Ok(None)
                }
                Err(TrySendError::Full(event)) => Ok(Some(Held {
                    topic: topic.to_owned(),
                    partition,
                    offset,
                    epoch,
                    item: Item::Deployment(event),
                    metrics,
                })),
                Err(TrySendError::Closed(_)) => Err(KafkaError::DeploymentsClosed),
            },
            Ok(None) => {
                self.shared.metrics.record(topic, RecordResult::Unsupported);
                self.deploy_metrics()
                    .events(Source::Kafka, Outcome::Unsupported, 1);
                self.store(topic, partition, offset, epoch);
                Ok(None)
            }
            Err(error) => {
                self.shared.metrics.decode_error(topic);
                self.deploy_metrics()
                    .events(Source::Kafka, Outcome::Invalid, 1);
                let failure = failure(DlqReason::DecodeError, Some(DLQ_KIND), &error.to_string());
                self.dead_letter(message, epoch, failure).await;
                Ok(None)
            }
        }
    }
}

/// Decodes inline, or on the blocking pool when the record is large.
async fn decode(message: &BorrowedMessage<'_>) -> Result<Option<DeployEvent>, DeployError> {
    let payload = message.payload().unwrap_or_default();
    let headers: Vec<(&str, &[u8])> = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| (h.key, h.value.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    if payload.len() < BLOCKING_DECODE_BYTES {
        return decode_deploy_event(payload, &headers);
    }
    let owned_payload = payload.to_vec();
    let owned_headers: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.to_vec()))
        .collect();
    let decoded = tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &[u8])> = owned_headers
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_slice()))
            .collect();
        decode_deploy_event(&owned_payload, &headers)
    })
    .await;
    match decoded {
        Ok(result) => result,
        // A panic in the decoder is a bug: propagate it (STYLE.md §8.6).
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}
