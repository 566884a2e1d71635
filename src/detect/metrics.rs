//! Self-metrics of the detect stage, registered under `epicenter_detect_`.
//!
//! Driven only by [`DetectOutcome`]s: the core never touches metrics.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::DetectOutcome;
use crate::model::Signal;

/// The `signal` label (bounded: five values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum SignalLabel {
    error_ratio,
    latency_p50,
    latency_p95,
    latency_p99,
    throughput,
}

impl From<Signal> for SignalLabel {
    fn from(signal: Signal) -> Self {
        match signal {
            Signal::ErrorRatio => Self::error_ratio,
            Signal::LatencyP50 => Self::latency_p50,
            Signal::LatencyP95 => Self::latency_p95,
            Signal::LatencyP99 => Self::latency_p99,
            Signal::Throughput => Self::throughput,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SignalLabels {
    signal: SignalLabel,
}

/// Counters and gauges of the detect stage.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    series_tracked: Gauge,
    series_rejected: Counter,
    evaluations: Counter,
    anomalies_opened: Family<SignalLabels, Counter>,
    anomalies_recovered: Family<SignalLabels, Counter>,
}

impl Metrics {
    /// Registers every metric in `registry` (already prefixed for the module).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "series_tracked",
            "Series with a baseline",
            m.series_tracked.clone(),
        );
        registry.register(
            "series_rejected",
            "New series refused because detect.max_series was reached",
            m.series_rejected.clone(),
        );
        registry.register(
            "evaluations",
            "(series, signal) windows judged against a baseline",
            m.evaluations.clone(),
        );
        registry.register(
            "anomalies_opened",
            "Anomalies confirmed, by signal",
            m.anomalies_opened.clone(),
        );
        registry.register(
            "anomalies_recovered",
            "Anomalies recovered, by signal",
            m.anomalies_recovered.clone(),
        );
        m
    }

    /// Records one window's outcome.
    pub fn observed(&self, outcome: &DetectOutcome) {
        self.series_tracked
            .set(i64::try_from(outcome.series_tracked).unwrap_or(i64::MAX));
        self.series_rejected.inc_by(outcome.series_rejected);
        self.evaluations.inc_by(outcome.evaluations);
        for a in &outcome.opened {
            self.anomalies_opened
                .get_or_create(&SignalLabels {
                    signal: a.signal.into(),
                })
                .inc();
        }
        for a in &outcome.recovered {
            self.anomalies_recovered
                .get_or_create(&SignalLabels {
                    signal: a.signal.into(),
                })
                .inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;
    use crate::model::{Anomaly, SeriesKey, Timestamp};

    #[test]
    fn outcome_is_counted_by_signal() {
        let mut registry = Registry::with_prefix("epicenter_detect");
        let metrics = Metrics::register(&mut registry);
        let anomaly = Anomaly {
            id: "x".into(),
            series: SeriesKey::Service {
                environment: "".into(),
                service: "a".into(),
            },
            signal: Signal::LatencyP95,
            onset: Timestamp(0),
            detected_at: Timestamp(0),
            baseline: 0.1,
            observed: 0.3,
            significance: 0.99,
            requests: 100,
            origins: Vec::new(),
            recovered_at: None,
        };
        metrics.observed(&DetectOutcome {
            opened: vec![anomaly],
            evaluations: 7,
            series_tracked: 3,
            series_rejected: 2,
            ..DetectOutcome::default()
        });
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("epicenter_detect_anomalies_opened_total{signal=\"latency_p95\"} 1"),
            "{text}"
        );
        assert!(text.contains("epicenter_detect_evaluations_total 7"));
        assert!(text.contains("epicenter_detect_series_rejected_total 2"));
        assert!(text.contains("epicenter_detect_series_tracked 3"));
    }
}
