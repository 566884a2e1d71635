//! librdkafka properties of the span consumer and the dead-letter producer,
//! derived from [`Settings`]. Builds property maps only; never connects.

use rdkafka::ClientConfig;

use super::config::Settings;

/// librdkafka's upper bound for `message.max.bytes`.
pub(crate) const MAX_MESSAGE_BYTES: usize = 1_000_000_000;

/// `max.partition.fetch.bytes` (librdkafka's default is 1 MiB).
const MAX_PARTITION_FETCH_BYTES: &str = "262144";

/// `queued.max.messages.kbytes` (librdkafka's default is 64 MiB).
const QUEUED_MAX_KBYTES: &str = "16384";

/// `fetch.queue.backoff.ms` (librdkafka's default is 1,000 ms): how long a
/// partition's next fetch waits once the prefetch queue is over its limit.
/// With a 16 MiB prefetch the pipeline drains the queue in well under a
/// second, so the default left the consumer idle most of the time while
/// catching up on a backlog (`scripts/bench-kafka.sh`, 2 M keyed spans, idle
/// machine: 257,000 -> 391,000 spans/s, the daemon on 0.67 -> 1.16 cores).
const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// `fetch.wait.max.ms` (librdkafka's default is 500 ms): how long the broker
/// may hold a fetch that finds no new data. librdkafka keeps one fetch in
/// flight per broker, so a partition resumed after an event-time pause waits
/// for the fetch of its caught-up neighbours to come back empty before its
/// own records are asked for; on a backlog each such resume cost up to the
/// whole wait (unkeyed bench, 2 M spans: 4.1-4.7 s -> 1.9-2.3 s). An idle
/// consumer sends up to 10 fetches a second per broker instead of 2.
const FETCH_WAIT_MAX_MS: &str = "100";

/// Room for the `x-dlq-*` headers added to a forwarded record.
const DLQ_HEADER_ALLOWANCE: usize = 64 << 10;

/// The consumer's properties. The at-least-once contract (CONVENTIONS.md §8):
/// offsets are *stored* by us only after a record was handed off (or
/// dead-lettered) and *committed* by librdkafka in the background.
pub(crate) fn consumer(settings: &Settings) -> ClientConfig {
    let mut config = common(settings);
    config
        .set("client.id", &settings.client_id)
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "true")
        .set(
            "auto.commit.interval.ms",
            millis(settings.auto_commit_interval),
        )
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", settings.auto_offset_reset.as_str())
        .set("session.timeout.ms", millis(settings.session_timeout))
        .set("max.poll.interval.ms", millis(settings.max_poll_interval))
        .set("statistics.interval.ms", millis(settings.stats_interval))
        // "Caught up" events: a span partition at its end stops holding the
        // others back at once instead of after `partition_idle_ms`.
        .set("enable.partition.eof", "true")
        // Smaller fetch chunks per partition interleave the partitions more
        // finely in the fetch queue (fewer event-time alignment holds on a
        // backlog), and a smaller prefetch costs less to discard when a
        // pause or a seek-back purges it. Overridable below.
        .set("max.partition.fetch.bytes", MAX_PARTITION_FETCH_BYTES)
        .set("queued.max.messages.kbytes", QUEUED_MAX_KBYTES)
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
        .set("fetch.wait.max.ms", FETCH_WAIT_MAX_MS);
    // KIP-848 (`group.protocol: consumer`) assigns on the broker and rejects
    // a client-side strategy; the classic protocol gets cooperative-sticky.
    let kip848 = settings
        .librdkafka
        .get("group.protocol")
        .is_some_and(|p| p == "consumer");
    if !kip848 {
        config.set("partition.assignment.strategy", "cooperative-sticky");
    }
    overrides(&mut config, settings);
    config
}

/// The dead-letter producer: idempotent, acks from all replicas, zstd, and
/// Java-compatible key hashing (CONVENTIONS.md §8, "DLQ/alert producer").
pub(crate) fn dead_letter_producer(settings: &Settings) -> ClientConfig {
    let mut config = common(settings);
    let max_bytes = (settings.max_record_bytes.get() + DLQ_HEADER_ALLOWANCE)
        .clamp(1_000_000, MAX_MESSAGE_BYTES);
    config
        .set("client.id", format!("{}-dlq", settings.client_id))
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "zstd")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "10000")
        .set("message.max.bytes", max_bytes.to_string());
    overrides(&mut config, settings);
    config
}

/// Checks that librdkafka accepts every property, without connecting.
///
/// # Errors
/// librdkafka's message for the first property it rejects.
pub(crate) fn check(settings: &Settings) -> Result<(), String> {
    consumer(settings)
        .create_native_config()
        .map_err(|error| error.to_string())?;
    dead_letter_producer(settings)
        .create_native_config()
        .map_err(|error| error.to_string())?;
    Ok(())
}

fn common(settings: &Settings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", settings.brokers.join(","));
    let security = &settings.security;
    config.set("security.protocol", security.protocol.as_str());
    if let Some(mechanism) = security.sasl_mechanism {
        config
            .set("sasl.mechanism", mechanism.as_str())
            .set("sasl.username", &security.username)
            .set("sasl.password", &security.password.0);
    }
    let files = [
        ("ssl.ca.location", &security.ca_file),
        ("ssl.certificate.location", &security.certificate_file),
        ("ssl.key.location", &security.key_file),
        ("ssl.key.password", &security.key_password.0),
    ];
    for (key, value) in files.into_iter().filter(|(_, value)| !value.is_empty()) {
        config.set(key, value);
    }
    if matches!(security.protocol.as_str(), "SSL" | "SASL_SSL") {
        let verify = if security.verify_hostname {
            "https"
        } else {
            "none"
        };
        config.set("ssl.endpoint.identification.algorithm", verify);
    }
    config
}

fn overrides(config: &mut ClientConfig, settings: &Settings) {
    for (key, value) in &settings.librdkafka {
        config.set(key, value);
    }
}

fn millis(duration: std::time::Duration) -> String {
    duration.as_millis().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::kafka::config::{Config, SaslMechanism, SecurityProtocol};

    fn settings(config: Config) -> Settings {
        config.validate().unwrap()
    }

    #[test]
    fn consumer_stores_offsets_itself_and_rebalances_cooperatively() {
        let config = consumer(&settings(Config {
            brokers: vec!["k:9092".into()],
            ..Config::default()
        }));
        for (key, want) in [
            ("bootstrap.servers", "k:9092"),
            ("group.id", "epicenter"),
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "false"),
            ("partition.assignment.strategy", "cooperative-sticky"),
            ("isolation.level", "read_committed"),
            ("auto.offset.reset", "latest"),
        ] {
            assert_eq!(config.get(key), Some(want), "{key}");
        }
    }

    #[test]
    fn fetch_tuning_has_measured_defaults_that_librdkafka_overrides_win() {
        let mut base = Config {
            brokers: vec!["k:9092".into()],
            ..Config::default()
        };
        let config = consumer(&settings(base.clone()));
        assert_eq!(config.get("fetch.wait.max.ms"), Some("100"));
        assert_eq!(config.get("fetch.queue.backoff.ms"), Some("10"));
        base.librdkafka
            .insert("fetch.wait.max.ms".into(), "50".into());
        let config = consumer(&settings(base));
        assert_eq!(config.get("fetch.wait.max.ms"), Some("50"));
    }

    #[test]
    fn kip848_protocol_drops_the_client_side_strategy() {
        let mut base = Config {
            brokers: vec!["k:9092".into()],
            ..Config::default()
        };
        base.librdkafka
            .insert("group.protocol".into(), "consumer".into());
        let config = consumer(&settings(base));
        assert_eq!(config.get("partition.assignment.strategy"), None);
        assert_eq!(config.get("group.protocol"), Some("consumer"));
    }

    #[test]
    fn sasl_and_tls_settings_reach_both_clients() {
        let mut base = Config {
            brokers: vec!["k:9093".into()],
            ..Config::default()
        };
        base.security.protocol = SecurityProtocol::SaslSsl;
        base.security.sasl_mechanism = Some(SaslMechanism::ScramSha512);
        base.security.username = "svc".into();
        base.security.password.0 = "pw".into();
        base.security.ca_file = "/etc/ca.pem".into();
        let settings = settings(base);
        for config in [consumer(&settings), dead_letter_producer(&settings)] {
            assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
            assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
            assert_eq!(config.get("sasl.username"), Some("svc"));
            assert_eq!(config.get("ssl.ca.location"), Some("/etc/ca.pem"));
            assert_eq!(
                config.get("ssl.endpoint.identification.algorithm"),
                Some("https")
            );
        }
        let producer = dead_letter_producer(&settings);
        assert_eq!(producer.get("enable.idempotence"), Some("true"));
        assert_eq!(producer.get("acks"), Some("all"));
    }
}
