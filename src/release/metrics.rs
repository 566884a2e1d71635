//! Metrics of the release index (registered under the module's prefixed
//! registry, e.g. `epicenter_release_*`). Labels take only the bounded names
//! of [`EventOutcome`] and [`ChangeKind`](crate::model::ChangeKind), never a
//! service name.
//!
//! Never does: decide anything; the task calls one method per event.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{EventOutcome, ReleaseIndex};
use crate::model::ReleaseChange;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChangeLabels {
    kind: &'static str,
}

/// Counters and gauges of the release index.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    events: Family<OutcomeLabels, Counter>,
    changes: Family<ChangeLabels, Counter>,
    releases: Gauge,
    services: Gauge,
}

impl Metrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "events",
            "Deployment events by outcome: applied, duplicate, or the reason it was ignored",
            m.events.clone(),
        );
        registry.register(
            "changes",
            "Release changes reported, by kind",
            m.changes.clone(),
        );
        registry.register("releases", "Releases kept in the index", m.releases.clone());
        registry.register(
            "services",
            "(service, environment) pairs tracked",
            m.services.clone(),
        );
        m
    }

    /// One deployment event went through `apply_event`.
    pub fn event(&self, outcome: &EventOutcome) {
        let outcome = match outcome {
            EventOutcome::Applied(_) => "applied",
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::Ignored(reason) => reason.as_str(),
        };
        self.events.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Changes reported by `apply_event` or `observe_window`.
    pub fn changes(&self, changes: &[ReleaseChange]) {
        for c in changes {
            self.changes
                .get_or_create(&ChangeLabels {
                    kind: c.kind.as_str(),
                })
                .inc();
        }
    }

    /// Refreshes the size gauges.
    pub fn sizes(&self, index: &ReleaseIndex) {
        self.releases
            .set(i64::try_from(index.release_count()).unwrap_or(i64::MAX));
        self.services
            .set(i64::try_from(index.service_count()).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::{IgnoreReason, Settings};

    #[test]
    fn counters_are_encoded_without_service_names() {
        let mut registry = Registry::with_prefix("epicenter_release");
        let m = Metrics::register(&mut registry);
        m.event(&EventOutcome::Duplicate);
        m.event(&EventOutcome::Ignored(IgnoreReason::NoVersion));
        m.sizes(&ReleaseIndex::new(Settings::default()));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("epicenter_release_events_total{outcome=\"duplicate\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("epicenter_release_events_total{outcome=\"no_version\"} 1"),
            "{text}"
        );
        assert!(text.contains("epicenter_release_releases 0"), "{text}");
    }
}
