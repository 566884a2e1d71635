//! `emit:` configuration: the three sinks (Kafka, Alertmanager, file), the
//! validation that collects every error, and the validated [`Settings`].
//!
//! Never does: open connections or files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::Invalid;

/// `emit:` section. A sink with no destination configured is off.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Kafka topic sink (`epicenter.alerts`).
    pub kafka: KafkaConfig,
    /// Alertmanager API v2 sink.
    pub alertmanager: AlertmanagerConfig,
    /// JSON-lines file sink (replay output).
    pub file: FileConfig,
    /// CDEvents `incident.detected` for answered incidents.
    pub cdevents: CdEventsConfig,
}

/// `emit.cdevents:` where answered incidents go as CDEvents v0.5.1
/// `incident.detected` events.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CdEventsConfig {
    /// Kafka topic (CloudEvents binary mode), on the brokers of
    /// `emit.kafka`; empty = not to Kafka.
    pub topic: String,
    /// JSON-lines file the events are appended to; unset = no file.
    pub path: Option<PathBuf>,
    /// `context.source` of the events (a URI reference).
    pub source: String,
    /// Events waiting for delivery; when full, the newest is dropped and counted.
    pub queue_capacity: usize,
}

impl Default for CdEventsConfig {
    fn default() -> Self {
        Self {
            topic: "epicenter.cdevents".into(),
            path: None,
            source: "/epicenter".into(),
            queue_capacity: 256,
        }
    }
}

/// `emit.kafka:`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers (`host:port,…`); empty = sink off.
    pub brokers: String,
    /// Topic alerts are written to; the record key is the alert's service.
    pub topic: String,
    /// Alerts waiting for the producer; when full, the newest is dropped and counted.
    pub queue_capacity: usize,
    /// librdkafka `message.timeout.ms`: how long one delivery may take,
    /// including the producer's own retries, milliseconds.
    pub message_timeout_ms: u64,
    /// Extra librdkafka properties (e.g. `security.protocol`); they override ours.
    pub properties: BTreeMap<String, String>,
    /// Delivery attempts per alert after the producer gave up (then counted failed).
    pub max_attempts: u32,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: String::new(),
            topic: "epicenter.alerts".into(),
            queue_capacity: 1024,
            message_timeout_ms: 30_000,
            properties: BTreeMap::new(),
            max_attempts: 3,
        }
    }
}

/// `emit.alertmanager:`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Base URLs of **every** Alertmanager replica (no load balancer);
    /// alerts are posted to `{url}{path}`. Empty = sink off.
    pub urls: Vec<String>,
    /// API path; Mimir uses `/alertmanager/api/v2/alerts`.
    pub path: String,
    /// Extra request headers, e.g. `X-Scope-OrgID` for Mimir.
    pub headers: BTreeMap<String, String>,
    /// Epicenter's externally reachable API base; `generatorURL` is
    /// `{public_url}/api/v1/alerts/{id}`.
    pub public_url: String,
    /// When set, `runbook_url` is `{runbook_base_url}/{alertname}`.
    pub runbook_base_url: String,
    /// Firing alerts are re-sent this often, with `endsAt = now + 4 × resend`, seconds.
    pub resend_secs: u64,
    /// Resolved alerts are re-sent for this long after resolution, seconds.
    pub resolved_resend_secs: u64,
    /// Verdict and topology alerts are events: they fire this long, then resolve, seconds.
    pub event_hold_secs: u64,
    /// Alerts waiting for the lifecycle task; when full, the newest is dropped and counted.
    pub queue_capacity: usize,
    /// Batches waiting per Alertmanager URL; when full, the newest batch is dropped.
    pub batches_per_url: usize,
    /// Per-request timeout, milliseconds.
    pub request_timeout_ms: u64,
    /// First retry delay after a 5xx or network error, milliseconds; doubles each attempt.
    pub backoff_initial_ms: u64,
    /// Largest retry delay, milliseconds.
    pub backoff_max_ms: u64,
    /// Attempts per batch before it is counted failed (the next re-send carries it again).
    pub max_attempts: u32,
    /// Alerts tracked for re-sending; beyond it the oldest resolved, then oldest firing, are forgotten.
    pub max_active: usize,
    /// The `source` label.
    pub source: String,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            path: "/api/v2/alerts".into(),
            headers: BTreeMap::new(),
            public_url: "http://127.0.0.1:9470".into(),
            runbook_base_url: String::new(),
            resend_secs: 60,
            resolved_resend_secs: 300,
            event_hold_secs: 900,
            queue_capacity: 1024,
            batches_per_url: 8,
            request_timeout_ms: 10_000,
            backoff_initial_ms: 500,
            backoff_max_ms: 30_000,
            max_attempts: 5,
            max_active: 10_000,
            source: "epicenter".into(),
        }
    }
}

/// `emit.file:`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// JSON-lines file alerts are appended to; unset = sink off.
    pub path: Option<PathBuf>,
    /// Alerts waiting for the writer; when full, the newest is dropped and counted.
    pub queue_capacity: usize,
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            path: None,
            queue_capacity: 4096,
        }
    }
}

/// Validated Kafka sink settings.
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaSettings {
    pub(crate) brokers: String,
    pub(crate) topic: String,
    pub(crate) queue_capacity: usize,
    pub(crate) message_timeout: Duration,
    pub(crate) properties: BTreeMap<String, String>,
    pub(crate) max_attempts: u32,
}

/// Validated Alertmanager sink settings.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertmanagerSettings {
    /// Full endpoint URLs (`{url}{path}`).
    pub(crate) endpoints: Vec<String>,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) public_url: String,
    pub(crate) runbook_base_url: String,
    pub(crate) resend: Duration,
    pub(crate) resolved_resend: Duration,
    pub(crate) event_hold: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) batches_per_url: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) max_active: usize,
    pub(crate) source: String,
}

/// Validated file sink settings.
#[derive(Clone, Debug, PartialEq)]
pub struct FileSettings {
    pub(crate) path: PathBuf,
    pub(crate) queue_capacity: usize,
}

/// The validated form of [`Config`]: `None` = sink off.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    /// Kafka sink.
    pub kafka: Option<KafkaSettings>,
    /// Alertmanager sink.
    pub alertmanager: Option<AlertmanagerSettings>,
    /// File sink.
    pub file: Option<FileSettings>,
    /// CDEvents output; `None` when neither Kafka nor a file is configured.
    pub cdevents: Option<super::cdevents::CdEventsSettings>,
}

fn positive(errors: &mut Vec<Invalid>, key: &str, value: u64) {
    if value == 0 {
        errors.push(Invalid::new(format!("emit.{key}"), "must be positive"));
    }
}

fn http_url(errors: &mut Vec<Invalid>, key: &str, url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    let ok = reqwest::Url::parse(trimmed)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !ok {
        errors.push(Invalid::new(
            format!("emit.{key}"),
            format!("not an http(s) url: {url:?}"),
        ));
    }
    trimmed.to_string()
}

impl Config {
    /// Checks every constraint, collecting all errors.
    ///
    /// # Errors
    /// Every invalid value, keyed `emit.<sink>.<field>`.
    pub fn validate(&self) -> Result<Settings, Vec<Invalid>> {
        let mut errors = Vec::new();
        let k = &self.kafka;
        positive(&mut errors, "kafka.queue_capacity", k.queue_capacity as u64);
        positive(
            &mut errors,
            "kafka.message_timeout_ms",
            k.message_timeout_ms,
        );
        positive(&mut errors, "kafka.max_attempts", u64::from(k.max_attempts));
        if k.topic.trim().is_empty() {
            errors.push(Invalid::new("emit.kafka.topic", "must not be empty"));
        }
        let kafka = (!k.brokers.trim().is_empty()).then(|| KafkaSettings {
            brokers: k.brokers.trim().to_string(),
            topic: k.topic.clone(),
            queue_capacity: k.queue_capacity,
            message_timeout: Duration::from_millis(k.message_timeout_ms),
            properties: k.properties.clone(),
            max_attempts: k.max_attempts,
        });

        let a = &self.alertmanager;
        for (key, value) in [
            ("resend_secs", a.resend_secs),
            ("resolved_resend_secs", a.resolved_resend_secs),
            ("event_hold_secs", a.event_hold_secs),
            ("queue_capacity", a.queue_capacity as u64),
            ("batches_per_url", a.batches_per_url as u64),
            ("request_timeout_ms", a.request_timeout_ms),
            ("backoff_initial_ms", a.backoff_initial_ms),
            ("max_attempts", u64::from(a.max_attempts)),
            ("max_active", a.max_active as u64),
        ] {
            positive(&mut errors, &format!("alertmanager.{key}"), value);
        }
        if a.backoff_max_ms < a.backoff_initial_ms {
            errors.push(Invalid::new(
                "emit.alertmanager.backoff_max_ms",
                "must not be below backoff_initial_ms",
            ));
        }
        if !a.path.starts_with('/') {
            errors.push(Invalid::new(
                "emit.alertmanager.path",
                "must start with '/'",
            ));
        }
        let endpoints: Vec<String> = a
            .urls
            .iter()
            .enumerate()
            .map(|(i, url)| {
                format!(
                    "{}{}",
                    http_url(&mut errors, &format!("alertmanager.urls[{i}]"), url),
                    a.path
                )
            })
            .collect();
        let public_url = http_url(&mut errors, "alertmanager.public_url", &a.public_url);
        let alertmanager = (!a.urls.is_empty()).then(|| AlertmanagerSettings {
            endpoints,
            headers: a.headers.clone(),
            public_url,
            runbook_base_url: a.runbook_base_url.trim_end_matches('/').to_string(),
            resend: Duration::from_secs(a.resend_secs),
            resolved_resend: Duration::from_secs(a.resolved_resend_secs),
            event_hold: Duration::from_secs(a.event_hold_secs),
            queue_capacity: a.queue_capacity,
            batches_per_url: a.batches_per_url,
            request_timeout: Duration::from_millis(a.request_timeout_ms),
            backoff_initial: Duration::from_millis(a.backoff_initial_ms),
            backoff_max: Duration::from_millis(a.backoff_max_ms),
            max_attempts: a.max_attempts,
            max_active: a.max_active,
            source: a.source.clone(),
        });

        positive(
            &mut errors,
            "file.queue_capacity",
            self.file.queue_capacity as u64,
        );
        let file = self.file.path.as_ref().map(|path| FileSettings {
            path: path.clone(),
            queue_capacity: self.file.queue_capacity,
        });
        let c = &self.cdevents;
        positive(
            &mut errors,
            "cdevents.queue_capacity",
            c.queue_capacity as u64,
        );
        if c.source.trim().is_empty() {
            errors.push(Invalid::new("emit.cdevents.source", "must not be empty"));
        }
        let cdevents_kafka = kafka
            .as_ref()
            .filter(|_| !c.topic.trim().is_empty())
            .map(|k| KafkaSettings {
                topic: c.topic.trim().to_string(),
                ..k.clone()
            });
        let cdevents = (cdevents_kafka.is_some() || c.path.is_some()).then(|| {
            super::cdevents::CdEventsSettings {
                source: c.source.trim().to_string(),
                kafka: cdevents_kafka,
                path: c.path.clone(),
                queue_capacity: c.queue_capacity,
            }
        });
        if errors.is_empty() {
            Ok(Settings {
                kafka,
                alertmanager,
                file,
                cdevents,
            })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_with_every_sink_off() {
        assert_eq!(Config::default().validate().unwrap(), Settings::default());
    }

    #[test]
    fn configured_sinks_are_on_with_normalized_urls() {
        let mut config = Config::default();
        config.kafka.brokers = "127.0.0.1:9092".into();
        config.alertmanager.urls = vec!["http://am-0:9093/".into(), "http://am-1:9093".into()];
        config.file.path = Some("alerts.jsonl".into());
        let settings = config.validate().unwrap();
        assert_eq!(settings.kafka.unwrap().topic, "epicenter.alerts");
        let am = settings.alertmanager.unwrap();
        assert_eq!(
            am.endpoints,
            [
                "http://am-0:9093/api/v2/alerts",
                "http://am-1:9093/api/v2/alerts"
            ]
        );
        assert_eq!(am.resend, Duration::from_secs(60));
        assert!(settings.file.is_some());
    }

    #[test]
    fn every_invalid_value_is_reported_at_once() {
        let mut config = Config::default();
        config.kafka.topic = " ".into();
        config.alertmanager.urls = vec!["am-0:9093".into()];
        config.alertmanager.resend_secs = 0;
        config.alertmanager.backoff_max_ms = 1;
        config.alertmanager.path = "api".into();
        config.file.queue_capacity = 0;
        let keys: Vec<String> = config
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(
            keys,
            [
                "emit.kafka.topic",
                "emit.alertmanager.resend_secs",
                "emit.alertmanager.backoff_max_ms",
                "emit.alertmanager.path",
                "emit.alertmanager.urls[0]",
                "emit.file.queue_capacity",
            ]
        );
    }
}
