//! The `ingest.kafka` configuration section and its validation.
//!
//! [`Config`] is what the YAML file and the environment overlay deserialize
//! into; [`Config::validate`] checks every field, reports every problem at
//! once, and returns the [`Settings`] the consumer accepts. Never does I/O:
//! certificate files are checked by librdkafka when the client is created.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::client;
pub use super::route::Encoding;
use super::route::Routes;
use crate::model::Invalid;

use security::validate_security;
pub use security::{SaslMechanism, Secret, SecurityConfig, SecurityProtocol};

#[path = "config_security.rs"]
mod security;

/// Key prefix of every validation error of this section.
const KEY: &str = "ingest.kafka";

/// librdkafka properties that `librdkafka:` may not override, because the
/// consumer's delivery guarantees depend on them (or a typed option exists).
const RESERVED: &[(&str, &str)] = &[
    ("bootstrap.servers", "use ingest.kafka.brokers"),
    ("group.id", "use ingest.kafka.group_id"),
    (
        "enable.auto.commit",
        "offsets are stored after hand-off and auto-committed",
    ),
    (
        "enable.auto.offset.store",
        "offsets are stored only after hand-off",
    ),
    ("auto.offset.reset", "use ingest.kafka.auto_offset_reset"),
];

/// `ingest.kafka:` section. Every option has a default; Kafka ingest is
/// enabled when `brokers` is not empty.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Bootstrap brokers as `host:port`, a list or one comma-separated
    /// string. Empty (the default) disables Kafka ingest.
    #[serde(deserialize_with = "list_or_comma_string")]
    pub brokers: Vec<String>,
    /// Consumer group. Instances sharing it split the partitions.
    pub group_id: String,
    /// `client.id` reported to the brokers (the DLQ producer appends `-dlq`).
    pub client_id: String,
    /// Topics to consume, each with its encoding (default: `otlp_spans` as
    /// `otlp_proto`, `deployments` as `cdevents` and `incidents` as
    /// `incidents`). A name starting with `^`
    /// is a regular expression, as in librdkafka (and the Collector's
    /// receiver); dead-letter topics it happens to match are skipped.
    pub topics: Vec<TopicConfig>,
    /// Records that fail to decode go to `<topic><dlq_suffix>`.
    pub dlq_suffix: String,
    /// Where a group with no committed offset starts: `latest` or `earliest`.
    pub auto_offset_reset: OffsetReset,
    /// Records with a larger value go to the DLQ instead of being decoded.
    /// The Collector's exporter sends up to 1 MB by default.
    pub max_record_bytes: usize,
    /// How often stored offsets are committed in the background.
    pub auto_commit_interval_ms: u64,
    /// Group session timeout (`session.timeout.ms`).
    pub session_timeout_ms: u64,
    /// Longest pause between polls before the group evicts this member.
    /// Must be at least `session_timeout_ms`.
    pub max_poll_interval_ms: u64,
    /// How often librdkafka reports statistics, which refresh the consumer
    /// lag gauge.
    pub stats_interval_ms: u64,
    /// Event-time alignment of the span partitions, seconds: a partition
    /// whose records end more than this ahead of the slowest other active
    /// partition is paused until that one catches up to half of it, so that
    /// catching up on a backlog does not push the graph's watermark past
    /// spans still waiting in slower partitions. Keep it well below
    /// `graph.lateness_secs` (it must be smaller); `0` turns alignment off.
    pub max_event_time_skew_secs: u64,
    /// A span partition with no record for this long (wall clock) is caught
    /// up or empty and no longer holds the others back, milliseconds (one
    /// read to its end stops at once, see `Alignment::reached_end`). Also
    /// the longest a newly assigned partition that stays empty delays the
    /// others.
    pub partition_idle_ms: u64,
    /// Decoded span records are merged into one batch for the graph stage
    /// until it holds this many spans, or no record is ready to read; `1`
    /// hands every record off alone. Fewer, larger batches cost less per span
    /// (queue slots, graph calls, offset stores); a full queue holds up to
    /// `ingest.queue_batches` of them.
    pub max_merged_spans: usize,
    /// TLS and SASL.
    pub security: SecurityConfig,
    /// Extra librdkafka properties, applied last to the consumer and the DLQ
    /// producer (e.g. `group.protocol: consumer`, `fetch.max.bytes`).
    pub librdkafka: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            brokers: Vec::new(),
            group_id: "epicenter".to_owned(),
            client_id: "epicenter".to_owned(),
            topics: vec![
                TopicConfig::default(),
                TopicConfig {
                    name: "deployments".to_owned(),
                    encoding: Encoding::Cdevents,
                },
                TopicConfig {
                    name: "incidents".to_owned(),
                    encoding: Encoding::Incidents,
                },
            ],
            dlq_suffix: ".dlq".to_owned(),
            auto_offset_reset: OffsetReset::Latest,
            max_record_bytes: 16 << 20,
            auto_commit_interval_ms: 1_000,
            session_timeout_ms: 45_000,
            max_poll_interval_ms: 300_000,
            stats_interval_ms: 5_000,
            max_event_time_skew_secs: 5,
            partition_idle_ms: 2_000,
            max_merged_spans: 512,
            security: SecurityConfig::default(),
            librdkafka: BTreeMap::new(),
        }
    }
}

/// One subscribed topic (or `^regex`) and the encoding of its records.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TopicConfig {
    /// Topic name, or a regular expression starting with `^`.
    pub name: String,
    /// `otlp_proto` (the Collector exporter's default) or `otlp_json` for
    /// spans; `cdevents` for deployment events; `incidents` for reported
    /// incidents.
    pub encoding: Encoding,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            name: "otlp_spans".to_owned(),
            encoding: Encoding::OtlpProto,
        }
    }
}

/// Where a consumer group without a committed offset starts reading.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OffsetReset {
    /// Only records produced after the group first joined.
    #[default]
    Latest,
    /// Everything the topic still retains.
    Earliest,
}

impl OffsetReset {
    /// The librdkafka value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Latest => "latest",
            Self::Earliest => "earliest",
        }
    }
}

/// Validated `ingest.kafka` settings: the only form the consumer accepts.
#[derive(Clone, Debug)]
pub struct Settings {
    pub(crate) brokers: Vec<String>,
    pub(crate) group_id: String,
    pub(crate) client_id: String,
    pub(crate) routes: Routes,
    pub(crate) dlq_suffix: String,
    pub(crate) auto_offset_reset: OffsetReset,
    pub(crate) max_record_bytes: NonZeroUsize,
    pub(crate) auto_commit_interval: Duration,
    pub(crate) session_timeout: Duration,
    pub(crate) max_poll_interval: Duration,
    pub(crate) stats_interval: Duration,
    pub(crate) max_event_time_skew: Duration,
    pub(crate) partition_idle: Duration,
    pub(crate) max_merged_spans: usize,
    pub(crate) security: SecurityConfig,
    pub(crate) librdkafka: BTreeMap<String, String>,
}

impl Settings {
    /// True when brokers are configured, i.e. Kafka ingest should run.
    pub fn enabled(&self) -> bool {
        !self.brokers.is_empty()
    }

    /// The bootstrap brokers, comma-separated.
    pub fn brokers(&self) -> String {
        self.brokers.join(",")
    }

    /// The consumer group.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The subscription: topic names and `^regex` patterns as configured.
    pub fn subscription(&self) -> Vec<&str> {
        self.routes.subscription()
    }
}

impl Config {
    /// Checks every constraint, collecting all errors (keys `ingest.kafka.*`).
    ///
    /// # Errors
    /// Every invalid value, each with its key and a reason.
    pub fn validate(&self) -> Result<Settings, Vec<Invalid>> {
        let mut errors = Vec::new();
        let mut bad = |field: &str, reason: String| {
            errors.push(Invalid::new(format!("{KEY}.{field}"), reason))
        };

        for broker in &self.brokers {
            if !is_host_port(broker) {
                bad("brokers", format!("`{broker}` is not host:port"));
            }
        }
        if self.group_id.trim().is_empty() {
            bad("group_id", "must not be empty".to_owned());
        }
        if self.client_id.trim().is_empty() {
            bad("client_id", "must not be empty".to_owned());
        }
        if self.dlq_suffix.is_empty() || !self.dlq_suffix.chars().all(is_topic_char) {
            bad(
                "dlq_suffix",
                "must be non-empty and use only [a-zA-Z0-9._-]".to_owned(),
            );
        }
        let routes = match Routes::new(&self.topics, &self.dlq_suffix) {
            Ok(routes) => Some(routes),
            Err(reasons) => {
                reasons.into_iter().for_each(|reason| bad("topics", reason));
                None
            }
        };
        let max_record_bytes = NonZeroUsize::new(self.max_record_bytes)
            .filter(|n| n.get() <= client::MAX_MESSAGE_BYTES);
        if max_record_bytes.is_none() {
            bad(
                "max_record_bytes",
                format!("must be between 1 and {}", client::MAX_MESSAGE_BYTES),
            );
        }
        for (field, value) in [
            ("auto_commit_interval_ms", self.auto_commit_interval_ms),
            ("session_timeout_ms", self.session_timeout_ms),
            ("max_poll_interval_ms", self.max_poll_interval_ms),
            ("stats_interval_ms", self.stats_interval_ms),
            ("partition_idle_ms", self.partition_idle_ms),
        ] {
            if value == 0 || value > i32::MAX as u64 {
                bad(field, format!("must be between 1 and {}", i32::MAX));
            }
        }
        if self.max_merged_spans == 0 {
            bad("max_merged_spans", "must be at least 1".to_owned());
        }
        if self.max_poll_interval_ms < self.session_timeout_ms {
            bad(
                "max_poll_interval_ms",
                "must be at least session_timeout_ms".to_owned(),
            );
        }
        validate_security(&self.security, &mut bad);
        for (key, value) in &self.librdkafka {
            if let Some((_, instead)) = RESERVED.iter().find(|(reserved, _)| reserved == key) {
                bad(
                    "librdkafka",
                    format!("`{key}` may not be overridden: {instead}"),
                );
            } else if key.trim().is_empty() || value.trim().is_empty() {
                bad(
                    "librdkafka",
                    format!("`{key}` needs a non-empty key and value"),
                );
            }
        }

        let (Some(routes), Some(max_record_bytes), true) =
            (routes, max_record_bytes, errors.is_empty())
        else {
            return Err(errors);
        };
        let settings = Settings {
            brokers: self.brokers.clone(),
            group_id: self.group_id.clone(),
            client_id: self.client_id.clone(),
            routes,
            dlq_suffix: self.dlq_suffix.clone(),
            auto_offset_reset: self.auto_offset_reset,
            max_record_bytes,
            auto_commit_interval: Duration::from_millis(self.auto_commit_interval_ms),
            session_timeout: Duration::from_millis(self.session_timeout_ms),
            max_poll_interval: Duration::from_millis(self.max_poll_interval_ms),
            stats_interval: Duration::from_millis(self.stats_interval_ms),
            max_event_time_skew: Duration::from_secs(self.max_event_time_skew_secs),
            partition_idle: Duration::from_millis(self.partition_idle_ms),
            max_merged_spans: self.max_merged_spans,
            security: self.security.clone(),
            librdkafka: self.librdkafka.clone(),
        };
        // librdkafka checks property names and values without connecting:
        // a typo in `librdkafka:` fails here, at startup, with the others.
        if let Err(reason) = client::check(&settings) {
            return Err(vec![Invalid::new(format!("{KEY}.librdkafka"), reason)]);
        }
        Ok(settings)
    }
}

/// `host:port` with a non-empty host and a numeric port (`[v6]:port` too).
fn is_host_port(broker: &str) -> bool {
    match broker.trim().rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}

/// Characters Kafka allows in topic names.
pub(crate) fn is_topic_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Accepts `["a:1", "b:2"]` or `"a:1,b:2"` (what an environment variable gives).
fn list_or_comma_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize, Serialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let items = match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(text) => text.split(',').map(str::to_owned).collect(),
        OneOrMany::Many(items) => items,
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
