//! Metrics of the analysis stage: alerts by type, attributions, time to
//! attribution, and the latest verdict of every release
//! (`epicenter_release_verdict`). Registered under the root registry's
//! prefix (`epicenter_`).
//!
//! `epicenter_release_verdict` is the one family labelled with service names:
//! one series per (service, environment) holding the latest verdict, so its
//! cardinality is bounded by the services tracked, like Tempo's graph series.
//!
//! Never does: decide anything; the task calls [`Metrics::record`] per step.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::analyzer::Outcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    service: String,
    environment: String,
    version: String,
    verdict: &'static str,
}

/// The analysis stage's metrics. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Metrics {
    alerts: Family<TypeLabels, Counter>,
    windows: Counter,
    attribution_seconds: Histogram,
    verdicts: Family<VerdictLabels, Gauge>,
    latest: Arc<Mutex<BTreeMap<(String, String), VerdictLabels>>>,
    incidents: Family<TypeLabels, Counter>,
    resent: Counter,
    history_windows: Gauge,
    history_bytes: Gauge,
    journal_unstored: Gauge,
}

impl Metrics {
    /// Creates the metrics and registers them under `registry` (prefix `epicenter`).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            alerts: Family::default(),
            windows: Counter::default(),
            attribution_seconds: Histogram::new([
                15.0, 30.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 1200.0,
            ]),
            verdicts: Family::default(),
            latest: Arc::default(),
            incidents: Family::default(),
            resent: Counter::default(),
            history_windows: Gauge::default(),
            history_bytes: Gauge::default(),
            journal_unstored: Gauge::default(),
        };
        let analysis = registry.sub_registry_with_prefix("analysis");
        analysis.register(
            "alerts",
            "Alerts produced by type (anomaly, attribution, release_verdict, resolved, topology_change)",
            m.alerts.clone(),
        );
        analysis.register("windows", "Closed windows analyzed", m.windows.clone());
        analysis.register(
            "time_to_attribution_seconds",
            "Event time from an anomaly's onset to its first attribution alert",
            m.attribution_seconds.clone(),
        );
        analysis.register(
            "incidents_answered",
            "Reported incidents answered, by the answer's type (attribution, anomaly)",
            m.incidents.clone(),
        );
        analysis.register(
            "alerts_resent",
            "Alerts derived again while rebuilding from the journal that some sink had not delivered before the stop, sent to it after the restart",
            m.resent.clone(),
        );
        analysis.register(
            "history_windows",
            "Closed windows in the recent history attribution reads (lookback and soak)",
            m.history_windows.clone(),
        );
        analysis.register(
            "history_bytes",
            "Bytes the recent history's rows and its table of key ids take (the interned series keys, shared with the journal, aside)",
            m.history_bytes.clone(),
        );
        analysis.register(
            "journal_unstored_windows",
            "Closed windows the journal holds whole because they are not in the state store yet",
            m.journal_unstored.clone(),
        );
        registry.sub_registry_with_prefix("release").register(
            "verdict",
            "Latest verdict of the latest judged release per service and environment (1 = this verdict)",
            m.verdicts.clone(),
        );
        m
    }

    /// Records one analyzer step.
    pub fn record(&self, outcome: &Outcome) {
        self.windows.inc();
        self.record_alerts(outcome);
        for delay in &outcome.attribution_delays {
            self.attribution_seconds.observe(*delay);
        }
        for (key, verdict) in &outcome.verdicts {
            let labels = VerdictLabels {
                service: key.service.to_string(),
                environment: key.environment.to_string(),
                version: key.version.to_string(),
                verdict: verdict.as_str(),
            };
            let scope = (labels.service.clone(), labels.environment.clone());
            let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(old) = latest.insert(scope, labels.clone()) {
                self.verdicts.remove(&old);
            }
            self.verdicts.get_or_create(&labels).set(1);
        }
    }

    /// Records the alerts and answered incidents of a step that is not a
    /// window (an incident answered on arrival).
    pub fn record_alerts(&self, outcome: &Outcome) {
        for alert in &outcome.alerts {
            let r#type = alert.kind.as_str();
            self.alerts.get_or_create(&TypeLabels { r#type }).inc();
        }
        for answer in &outcome.incidents {
            let r#type = answer.alert.kind.as_str();
            self.incidents.get_or_create(&TypeLabels { r#type }).inc();
        }
    }

    /// Sets the history and journal gauges: `history` is
    /// [`crate::analyze::Analyzer::history_footprint`], `unstored`
    /// [`crate::analyze::Journal::unstored`].
    pub fn footprint(&self, history: (usize, usize), unstored: usize) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.history_windows.set(gauge(history.0));
        self.history_bytes.set(gauge(history.1));
        self.journal_unstored.set(gauge(unstored));
    }

    /// Counts an alert sent after a restart (see `alerts_resent`).
    pub fn resent(&self) {
        self.resent.inc();
    }

    /// Alerts of `kind` recorded so far (for tests).
    pub fn alerts_of(&self, kind: &'static str) -> u64 {
        self.alerts
            .get_or_create(&TypeLabels { r#type: kind })
            .get()
    }
}
