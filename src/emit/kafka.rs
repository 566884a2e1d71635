//! The Kafka sink: every alert as one JSON record on `epicenter.alerts`,
//! keyed by the alert's service so one service's alerts stay in order.
//!
//! The producer is idempotent with `acks=all` and zstd compression, so
//! librdkafka's own retries neither lose nor duplicate records; on top of
//! that, a delivery that fails after `message.timeout.ms` is retried with
//! backoff up to `max_attempts`, then counted as failed.
//!
//! Never does: block the caller (it reads from its bounded queue).

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use tokio::time;

use crate::model::ALERT_SCHEMA;

use super::config::KafkaSettings;
use super::metrics::{Metrics, Reason, Sink};
use super::queue::QueueRx;
use super::retry::Backoff;

/// The producer configuration: ours first, then the user's overrides.
pub(crate) fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "zstd")
        .set("linger.ms", "5")
        .set(
            "message.timeout.ms",
            settings.message_timeout.as_millis().to_string(),
        );
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    config
}

/// Creates the producer (no broker contact yet).
///
/// # Errors
/// When librdkafka rejects the configuration.
pub(crate) fn producer(
    settings: &KafkaSettings,
) -> Result<FutureProducer, rdkafka::error::KafkaError> {
    client_config(settings).create()
}

/// Produces every queued alert until the queue closes.
pub(crate) async fn run(
    settings: KafkaSettings,
    producer: FutureProducer,
    mut rx: QueueRx,
    metrics: Metrics,
) {
    while let Some(alert) = rx.recv().await {
        let payload = match serde_json::to_vec(alert.alert()) {
            Ok(payload) => payload,
            Err(error) => {
                metrics.failed(Sink::Kafka, Reason::Encode, 1);
                crate::rate_limited!(warn, %error, "alert could not be encoded");
                continue;
            }
        };
        let key = alert.alert().service();
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
        let mut attempt = 1;
        loop {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "content-type",
                    value: Some("application/json"),
                })
                .insert(Header {
                    key: "schema",
                    value: Some(ALERT_SCHEMA),
                })
                .insert(Header {
                    key: "alert_type",
                    value: Some(alert.alert().kind.as_str()),
                });
            let record = FutureRecord::to(&settings.topic)
                .key(key)
                .payload(&payload)
                .headers(headers);
            match producer
                .send(record, Timeout::After(settings.message_timeout))
                .await
            {
                Ok(_) => {
                    metrics.sent(Sink::Kafka, 1);
                    alert.done(Sink::Kafka);
                    break;
                }
                Err((error, _)) if attempt >= settings.max_attempts => {
                    metrics.failed(Sink::Kafka, Reason::Producer, 1);
                    crate::rate_limited!(warn, %error, attempt, "alert delivery to kafka failed");
                    break;
                }
                Err(_) => {
                    metrics.retried(Sink::Kafka);
                    attempt += 1;
                    time::sleep(backoff.next()).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_is_idempotent_acks_all_zstd_and_user_properties_win() {
        let mut settings = KafkaSettings {
            brokers: "127.0.0.1:9".into(),
            topic: "epicenter.alerts".into(),
            queue_capacity: 1,
            message_timeout: Duration::from_secs(5),
            properties: Default::default(),
            max_attempts: 1,
        };
        settings.properties.insert("linger.ms".into(), "50".into());
        let config = client_config(&settings);
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("compression.type"), Some("zstd"));
        assert_eq!(config.get("message.timeout.ms"), Some("5000"));
        assert_eq!(config.get("linger.ms"), Some("50"));
        assert!(producer(&settings).is_ok());
    }
}
