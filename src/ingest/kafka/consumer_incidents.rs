//! The consumer's path for records of `incidents` topics: one reported
//! incident per record (plain, PagerDuty v3 webhook, CDEvents; see
//! [`crate::ingest::incident`]), exactly like deployment events:
//!
//! * an incident → handed to the analysis stage's queue (pausing when it is
//!   full), offset stored after the hand-off;
//! * well-formed but nothing to answer → counted, offset stored, skipped;
//! * invalid → the DLQ (`decode_error.incidents`), counted, offset stored
//!   after the DLQ acknowledged it.
//!
//! Never does: deduplication (the analyzer ignores an id it already took).

use rdkafka::Message;
use rdkafka::message::{BorrowedMessage, Headers};
use tokio::sync::mpsc::error::TrySendError;

use super::{Held, Item, KafkaError, RecordResult, TopicMetrics, Worker, failure};
use crate::ingest::incident::{Format, Outcome, Transport, decode_with_format};
use crate::ingest::kafka::metrics::DlqReason;
use crate::ingest::kafka::offsets::Epoch;

/// `x-dlq-error-class` suffix of an invalid incident record.
const DLQ_KIND: &str = "incidents";

impl Worker {
    pub(super) fn incident_invalid(&self) {
        self.shared.metrics.incidents().incident(
            Transport::Kafka,
            Format::Unknown,
            Outcome::Invalid,
        );
    }

    pub(super) fn incident_accepted(&self, format: Format) {
        self.shared
            .metrics
            .incidents()
            .incident(Transport::Kafka, format, Outcome::Accepted);
    }

    /// Handles one non-empty record of an `incidents` topic; returns the
    /// incident if the analysis stage's queue is full.
    pub(super) async fn process_incident(
        &mut self,
        message: &BorrowedMessage<'_>,
        epoch: Epoch,
        metrics: TopicMetrics,
    ) -> Result<Option<Held>, KafkaError> {
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
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
        // Incidents are small JSON documents (max_record_bytes bounds them):
        // decoded inline.
        match decode_with_format(payload, &headers) {
            Ok((format, Some(incident))) => {
                let Some(incidents) = &self.incidents else {
                    return Err(KafkaError::IncidentsClosed);
                };
                match incidents.try_send(incident) {
                    Ok(()) => {
                        metrics.handed_off.inc();
                        self.incident_accepted(format);
                        self.store(topic, partition, offset, epoch);
                        Ok(None)
                    }
                    Err(TrySendError::Full(incident)) => Ok(Some(Held {
                        topic: topic.to_owned(),
                        partition,
                        offset,
                        epoch,
                        item: Item::Incident(incident, format),
                        metrics,
                    })),
                    Err(TrySendError::Closed(_)) => Err(KafkaError::IncidentsClosed),
                }
            }
            Ok((format, None)) => {
                self.shared.metrics.record(topic, RecordResult::Unsupported);
                self.shared.metrics.incidents().incident(
                    Transport::Kafka,
                    format,
                    Outcome::Ignored,
                );
                self.store(topic, partition, offset, epoch);
                Ok(None)
            }
            Err(error) => {
                self.shared.metrics.decode_error(topic);
                self.incident_invalid();
                let failure = failure(DlqReason::DecodeError, Some(DLQ_KIND), &error.to_string());
                self.dead_letter(message, epoch, failure).await;
                Ok(None)
            }
        }
    }
}
