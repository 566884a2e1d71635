//! The dead-letter queue: records that cannot be decoded are forwarded,
//! unchanged (key, value, headers), to `<topic><dlq_suffix>` with `x-dlq-*`
//! headers modelled on Kafka Connect's (CONVENTIONS.md §8.3, §8 item 5).
//!
//! The consumer stores a poison record's offset only after the broker
//! acknowledged the dead-letter copy. Headers are built by a pure function
//! ([`headers`]); only [`DeadLetters::forward`] does I/O.

use std::time::Duration;

use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use tokio_util::sync::CancellationToken;

use super::metrics::DlqReason;

/// Original topic of a dead-lettered record.
pub const HEADER_ORIGINAL_TOPIC: &str = "x-dlq-original-topic";
/// Original partition (decimal).
pub const HEADER_ORIGINAL_PARTITION: &str = "x-dlq-original-partition";
/// Original offset (decimal).
pub const HEADER_ORIGINAL_OFFSET: &str = "x-dlq-original-offset";
/// Original record timestamp, milliseconds since the epoch (decimal); absent
/// when the record had none.
pub const HEADER_ORIGINAL_TIMESTAMP: &str = "x-dlq-original-timestamp";
/// Stable error class: `decode_error`, `decode_error.<kind>`,
/// `record_too_large` or `unknown_topic`.
pub const HEADER_ERROR_CLASS: &str = "x-dlq-error-class";
/// Human-readable error, at most [`MAX_ERROR_MESSAGE_BYTES`].
pub const HEADER_ERROR_MESSAGE: &str = "x-dlq-error-message";
/// The consumer group that gave up on the record.
pub const HEADER_CONSUMER_GROUP: &str = "x-dlq-consumer-group";

/// Longest `x-dlq-error-message` value.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;

/// Attempts to deliver one dead-letter record before giving up on it.
const ATTEMPTS: u32 = 4;
/// Backoff before the second attempt; doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// Where a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Record timestamp (create or log-append time), ms since the epoch.
    pub timestamp_ms: Option<i64>,
}

/// Why a record is dead-lettered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) reason: DlqReason,
    /// `x-dlq-error-class`.
    pub(crate) class: String,
    /// `x-dlq-error-message` (truncated when built).
    pub(crate) message: String,
}

/// The DLQ topic of `topic`.
pub fn topic_for(topic: &str, suffix: &str) -> String {
    format!("{topic}{suffix}")
}

/// The `x-dlq-*` headers of a dead-letter record, in a fixed order.
pub fn headers(
    origin: &Origin<'_>,
    class: &str,
    message: &str,
    group: &str,
) -> Vec<(&'static str, String)> {
    let mut out = vec![
        (HEADER_ORIGINAL_TOPIC, origin.topic.to_owned()),
        (HEADER_ORIGINAL_PARTITION, origin.partition.to_string()),
        (HEADER_ORIGINAL_OFFSET, origin.offset.to_string()),
    ];
    if let Some(timestamp) = origin.timestamp_ms {
        out.push((HEADER_ORIGINAL_TIMESTAMP, timestamp.to_string()));
    }
    out.push((HEADER_ERROR_CLASS, class.to_owned()));
    out.push((
        HEADER_ERROR_MESSAGE,
        truncate(message, MAX_ERROR_MESSAGE_BYTES).to_owned(),
    ));
    out.push((HEADER_CONSUMER_GROUP, group.to_owned()));
    out
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// How forwarding one record ended.
#[derive(Debug)]
pub(crate) enum Forwarded {
    /// The broker acknowledged the dead-letter copy.
    Delivered,
    /// Every attempt failed; the last error.
    Failed(rdkafka::error::KafkaError),
    /// Shutdown was requested while retrying; the record stays unstored.
    Cancelled,
}

/// The dead-letter producer.
pub(crate) struct DeadLetters {
    producer: FutureProducer,
    suffix: String,
    group: String,
}

impl DeadLetters {
    /// Creates the producer (connects lazily).
    ///
    /// # Errors
    /// librdkafka refused the configuration.
    pub(crate) fn new(
        config: &ClientConfig,
        suffix: &str,
        group: &str,
    ) -> Result<Self, rdkafka::error::KafkaError> {
        Ok(Self {
            producer: config.create()?,
            suffix: suffix.to_owned(),
            group: group.to_owned(),
        })
    }

    /// Forwards `message` to its DLQ topic and waits for the delivery report,
    /// retrying with backoff. Bounded: at most [`ATTEMPTS`] times librdkafka's
    /// `message.timeout.ms` plus the backoffs, well inside `max.poll.interval.ms`.
    pub(crate) async fn forward(
        &self,
        message: &BorrowedMessage<'_>,
        failure: &Failure,
        shutdown: &CancellationToken,
    ) -> Forwarded {
        let origin = Origin {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms: message.timestamp().to_millis(),
        };
        let topic = topic_for(origin.topic, &self.suffix);
        let mut record_headers = OwnedHeaders::new();
        if let Some(original) = message.headers() {
            for header in original.iter() {
                record_headers = record_headers.insert(header);
            }
        }
        for (key, value) in headers(&origin, &failure.class, &failure.message, &self.group) {
            record_headers = record_headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let mut record = FutureRecord::<[u8], [u8]>::to(&topic).headers(record_headers.clone());
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(payload) = message.payload() {
                record = record.payload(payload);
            }
            if let Some(timestamp) = origin.timestamp_ms {
                record = record.timestamp(timestamp);
            }
            let error = match self.producer.send(record, Duration::from_secs(5)).await {
                Ok(_) => return Forwarded::Delivered,
                Err((error, _)) => error,
            };
            if attempt == ATTEMPTS {
                return Forwarded::Failed(error);
            }
            crate::rate_limited!(warn, topic = %topic, attempt, %error, "dead-letter delivery failed, retrying");
            tokio::select! {
                () = shutdown.cancelled() => return Forwarded::Cancelled,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff *= 2;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(timestamp_ms: Option<i64>) -> Origin<'static> {
        Origin {
            topic: "otlp_spans",
            partition: 3,
            offset: 42,
            timestamp_ms,
        }
    }

    #[test]
    fn headers_name_the_origin_the_error_and_the_group() {
        let headers = headers(
            &origin(Some(1_700_000_000_123)),
            "decode_error.protobuf",
            "bad wire type",
            "epicenter",
        );
        assert_eq!(
            headers,
            [
                (HEADER_ORIGINAL_TOPIC, "otlp_spans".to_owned()),
                (HEADER_ORIGINAL_PARTITION, "3".to_owned()),
                (HEADER_ORIGINAL_OFFSET, "42".to_owned()),
                (HEADER_ORIGINAL_TIMESTAMP, "1700000000123".to_owned()),
                (HEADER_ERROR_CLASS, "decode_error.protobuf".to_owned()),
                (HEADER_ERROR_MESSAGE, "bad wire type".to_owned()),
                (HEADER_CONSUMER_GROUP, "epicenter".to_owned()),
            ]
        );
    }

    #[test]
    fn a_record_without_timestamp_gets_no_timestamp_header() {
        let headers = headers(&origin(None), "record_too_large", "x", "g");
        assert!(
            headers
                .iter()
                .all(|(key, _)| *key != HEADER_ORIGINAL_TIMESTAMP)
        );
        assert_eq!(headers.len(), 6);
    }

    #[test]
    fn long_error_messages_are_cut_on_a_character_boundary() {
        let message = "é".repeat(MAX_ERROR_MESSAGE_BYTES);
        let headers = headers(&origin(None), "decode_error", &message, "g");
        let (_, value) = headers
            .iter()
            .find(|(key, _)| *key == HEADER_ERROR_MESSAGE)
            .unwrap();
        assert_eq!(value.len(), MAX_ERROR_MESSAGE_BYTES);
        assert!(value.chars().all(|c| c == 'é'));
    }

    #[test]
    fn dlq_topic_appends_the_suffix() {
        assert_eq!(topic_for("otlp_spans", ".dlq"), "otlp_spans.dlq");
    }
}
