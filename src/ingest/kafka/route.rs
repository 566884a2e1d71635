//! Which encoding a record's topic uses: exact names first, then `^regex`
//! patterns in configuration order (librdkafka's convention for regex
//! subscriptions). Pure: no I/O, no clock.

use std::collections::{HashMap, HashSet};

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::config::{TopicConfig, is_topic_char};
use crate::ingest::decode;

/// The encoding of a subscribed topic's records (`ingest.kafka.topics[].encoding`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// OTLP protobuf span batches (the Collector exporter's default).
    #[default]
    OtlpProto,
    /// OTLP/JSON span batches.
    OtlpJson,
    /// Deployment events: CDEvents (structured CloudEvents, `ce_*` binary
    /// mode, bare) or the plain JSON form, one event per record.
    Cdevents,
    /// Reported incidents: the plain form, PagerDuty v3 webhooks or CDEvents
    /// `incident.detected`, one per record (see [`crate::ingest::incident`]).
    Incidents,
}

impl Encoding {
    /// The configuration name (`otlp_proto`, `otlp_json`, `cdevents`, `incidents`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OtlpProto => "otlp_proto",
            Self::OtlpJson => "otlp_json",
            Self::Cdevents => "cdevents",
            Self::Incidents => "incidents",
        }
    }

    /// The span decoder's encoding, or `None` for a deployment or incident topic.
    pub(crate) fn spans(self) -> Option<decode::Encoding> {
        match self {
            Self::OtlpProto => Some(decode::Encoding::OtlpProto),
            Self::OtlpJson => Some(decode::Encoding::OtlpJson),
            Self::Cdevents | Self::Incidents => None,
        }
    }
}

/// Longest topic name Kafka accepts.
const MAX_TOPIC_LEN: usize = 249;

/// What to do with a record, judged by its topic alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Decode with this encoding.
    Decode(Encoding),
    /// A dead-letter topic matched by a regex subscription: never decode our
    /// own DLQ output (it would only be dead-lettered again).
    SkipDeadLetter,
    /// No configured name or pattern matches (librdkafka's regex dialect
    /// differs from ours in some corner): treated as undecodable.
    Unknown,
}

/// The validated topic table.
#[derive(Clone, Debug)]
pub(crate) struct Routes {
    exact: HashMap<String, Encoding>,
    patterns: Vec<(Regex, Encoding)>,
    /// Names and patterns as configured, for `subscribe`.
    subscription: Vec<String>,
    dlq_suffix: String,
}

impl Routes {
    /// Builds the table.
    ///
    /// # Errors
    /// One reason per invalid or duplicate entry.
    pub(crate) fn new(topics: &[TopicConfig], dlq_suffix: &str) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut exact = HashMap::new();
        let mut patterns = Vec::new();
        let mut seen = HashSet::new();
        if topics.is_empty() {
            errors.push("at least one topic is required".to_owned());
        }
        for topic in topics {
            let name = topic.name.as_str();
            if !seen.insert(name) {
                errors.push(format!("`{name}` is listed twice"));
            } else if name.starts_with('^') {
                match Regex::new(name) {
                    Ok(regex) => patterns.push((regex, topic.encoding)),
                    Err(error) => errors.push(format!("`{name}` is not a valid regex: {error}")),
                }
            } else if name.is_empty()
                || name.len() > MAX_TOPIC_LEN
                || !name.chars().all(is_topic_char)
            {
                errors.push(format!(
                    "`{name}` is not a valid topic name (1 to {MAX_TOPIC_LEN} of [a-zA-Z0-9._-])"
                ));
            } else {
                exact.insert(name.to_owned(), topic.encoding);
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let subscription = topics.iter().map(|t| t.name.clone()).collect();
        Ok(Self {
            exact,
            patterns,
            subscription,
            dlq_suffix: dlq_suffix.to_owned(),
        })
    }

    /// The route of a record from `topic`.
    pub(crate) fn route(&self, topic: &str) -> Route {
        if let Some(encoding) = self.exact.get(topic) {
            return Route::Decode(*encoding);
        }
        if topic.ends_with(&self.dlq_suffix) {
            return Route::SkipDeadLetter;
        }
        match self
            .patterns
            .iter()
            .find(|(regex, _)| regex.is_match(topic))
        {
            Some((_, encoding)) => Route::Decode(*encoding),
            None => Route::Unknown,
        }
    }

    /// Names and patterns to subscribe to.
    pub(crate) fn subscription(&self) -> Vec<&str> {
        self.subscription.iter().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, encoding: Encoding) -> TopicConfig {
        TopicConfig {
            name: name.to_owned(),
            encoding,
        }
    }

    #[test]
    fn exact_names_win_over_patterns_and_patterns_keep_their_order() {
        let routes = Routes::new(
            &[
                topic("^otlp_.*", Encoding::OtlpJson),
                topic("otlp_spans", Encoding::OtlpProto),
                topic("^otlp_s.*", Encoding::OtlpProto),
            ],
            ".dlq",
        )
        .unwrap();
        assert_eq!(
            routes.route("otlp_spans"),
            Route::Decode(Encoding::OtlpProto)
        );
        assert_eq!(
            routes.route("otlp_spans_eu"),
            Route::Decode(Encoding::OtlpJson)
        );
        assert_eq!(routes.route("other"), Route::Unknown);
        assert_eq!(
            routes.subscription(),
            ["^otlp_.*", "otlp_spans", "^otlp_s.*"]
        );
    }

    #[test]
    fn dead_letter_topics_matched_by_a_pattern_are_skipped() {
        let routes = Routes::new(&[topic("^otlp_.*", Encoding::OtlpProto)], ".dlq").unwrap();
        assert_eq!(routes.route("otlp_spans.dlq"), Route::SkipDeadLetter);
        // Listed by name, a DLQ topic is consumed like any other.
        let routes = Routes::new(&[topic("otlp_spans.dlq", Encoding::OtlpJson)], ".dlq").unwrap();
        assert_eq!(
            routes.route("otlp_spans.dlq"),
            Route::Decode(Encoding::OtlpJson)
        );
    }

    #[test]
    fn every_bad_entry_is_reported() {
        let errors = Routes::new(
            &[
                topic("a b", Encoding::OtlpProto),
                topic("^(", Encoding::OtlpProto),
                topic("ok", Encoding::OtlpProto),
                topic("ok", Encoding::OtlpJson),
                topic("", Encoding::OtlpJson),
            ],
            ".dlq",
        )
        .unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("`a b` is not a valid topic name"));
        assert!(errors[1].contains("not a valid regex"));
        assert!(errors[2].contains("listed twice"));
        assert!(Routes::new(&[], ".dlq").is_err());
    }
}
