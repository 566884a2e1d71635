//! Self-metrics of deployment-event intake, `epicenter_ingest_deploy_*`,
//! shared by the Kafka consumer (`cdevents` topics) and
//! `POST /api/v1/deployments`.
//!
//! Labels are closed enums. Never logs.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Where a deployment event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A record of a `cdevents` Kafka topic (`kafka`).
    Kafka,
    /// `POST /api/v1/deployments` (`http`).
    Http,
}

impl Source {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kafka => "kafka",
            Self::Http => "http",
        }
    }
}

/// What became of one deployment event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Decoded and handed to the release stage (`accepted`).
    Accepted,
    /// Well-formed, but a type we do not handle; skipped (`unsupported`).
    Unsupported,
    /// Invalid: sent to the DLQ, or answered with 400/413 (`invalid`).
    Invalid,
    /// Valid, but the release stage's queue was full or closed: HTTP 503
    /// (`unavailable`; Kafka pauses instead and never counts this).
    Unavailable,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Unsupported => "unsupported",
            Self::Invalid => "invalid",
            Self::Unavailable => "unavailable",
        }
    }
}

impl EncodeLabelValue for Source {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    source: Source,
    outcome: Outcome,
}

/// Deployment-intake metrics. Cheap to clone (handles share storage).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    events: Family<Labels, Counter>,
}

impl Metrics {
    /// Registers under `deploy_` in `registry`, which the caller has already
    /// prefixed with `epicenter_ingest` (so the counter is
    /// `epicenter_ingest_deploy_events_total`). Register once and share the
    /// handle with the Kafka consumer and the HTTP route.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let r = registry.sub_registry_with_prefix("deploy");
        // Counters are registered without `_total`: prometheus-client adds it.
        r.register(
            "events",
            "Deployment events received, by source and outcome",
            metrics.events.clone(),
        );
        metrics
    }

    /// `count` events from `source` ended with `outcome`.
    pub fn events(&self, source: Source, outcome: Outcome, count: u64) {
        self.events
            .get_or_create(&Labels { source, outcome })
            .inc_by(count);
    }

    /// The count so far of one series (for tests and diagnostics).
    pub fn get(&self, source: Source, outcome: Outcome) -> u64 {
        self.events.get_or_create(&Labels { source, outcome }).get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_is_named_like_the_other_ingest_metrics() {
        let mut registry = Registry::with_prefix("epicenter");
        let metrics = Metrics::register(registry.sub_registry_with_prefix("ingest"));
        metrics.events(Source::Http, Outcome::Accepted, 2);
        metrics.events(Source::Kafka, Outcome::Invalid, 1);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(
                "epicenter_ingest_deploy_events_total{source=\"http\",outcome=\"accepted\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "epicenter_ingest_deploy_events_total{source=\"kafka\",outcome=\"invalid\"} 1"
            ),
            "{text}"
        );
        assert_eq!(metrics.get(Source::Kafka, Outcome::Invalid), 1);
    }
}
