//! The detectors, one per signal, and [`build`], which makes them from settings.
//!
//! * [`error_ratio::ErrorRatioSpike`]: quasi-binomial upper tail.
//! * [`latency::LatencyShift`]: robust z-score of log latency (p50, p95, p99).
//! * [`throughput::ThroughputDrop`]: quasi-Poisson lower tail.

pub mod error_ratio;
pub mod latency;
pub mod throughput;

use super::{Detector, Settings};
use crate::model::Signal;

/// Every detector, configured from `settings`, in signal order
/// (error ratio, p50, p95, p99, throughput).
pub fn build(settings: &Settings) -> Vec<Box<dyn Detector>> {
    let latency = |signal| -> Box<dyn Detector> {
        Box::new(latency::LatencyShift {
            signal,
            min_requests: settings.min_requests,
            min_increase_ratio: settings.latency_min_increase_ratio,
            min_increase_secs: settings.latency_min_increase_secs,
            band_p: settings.band_p,
        })
    };
    vec![
        Box::new(error_ratio::ErrorRatioSpike {
            min_requests: settings.min_requests,
            min_errors: settings.min_errors,
            min_increase: settings.error_min_increase,
            min_factor: settings.error_min_factor,
            band_p: settings.band_p,
        }),
        latency(Signal::LatencyP50),
        latency(Signal::LatencyP95),
        latency(Signal::LatencyP99),
        Box::new(throughput::ThroughputDrop {
            min_expected: settings.min_requests,
            min_drop_ratio: settings.throughput_min_drop_ratio,
            band_p: settings.band_p,
        }),
    ]
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::baseline::{Baseline, SIGNALS};
    use crate::detect::SeriesWindow;
    use crate::model::{LatencySummary, SeriesStats};

    /// A window with `requests` latency samples; p95 = 3 × p50, p99 = 6 × p50.
    pub(crate) fn window(requests: u64, errors: u64, p50: f64) -> SeriesStats {
        SeriesStats {
            requests,
            errors,
            latency: LatencySummary {
                count: requests,
                sum: p50 * requests as f64,
                p50,
                p95: 3.0 * p50,
                p99: 6.0 * p50,
                max: 10.0 * p50,
            },
            instances: 1,
        }
    }

    /// A baseline of `n` 30-second windows made by `make(i)`.
    pub(crate) fn baseline_with(n: u64, make: impl Fn(u64) -> SeriesStats) -> Baseline {
        let params = Settings::default().baseline;
        let mut b = Baseline::new();
        for i in 0..n {
            b.fold(&make(i), 30.0, 0, &params);
        }
        b
    }

    #[test]
    fn build_covers_every_signal_once_with_distinct_names() {
        let detectors = build(&Settings::default());
        let signals: Vec<Signal> = detectors.iter().map(|d| d.signal()).collect();
        assert_eq!(signals, SIGNALS);
        let mut names: Vec<&str> = detectors.iter().map(|d| d.name()).collect();
        names.dedup();
        assert_eq!(names.len(), 5);
    }

    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-1.0),
            Just(0.0),
            Just(f64::MAX),
            0.0f64..100.0,
        ]
    }

    fn any_stats() -> impl Strategy<Value = SeriesStats> {
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any_f64(),
            any_f64(),
            any_f64(),
        )
            .prop_map(|(requests, errors, count, p50, p95, p99)| SeriesStats {
                requests,
                errors,
                latency: LatencySummary {
                    count,
                    sum: p50,
                    p50,
                    p95,
                    p99,
                    max: p99,
                },
                instances: 0,
            })
    }

    proptest! {
        /// Whatever the history and the window, no detector panics, and every
        /// finding carries a p-value in [0, band] and finite values.
        #[test]
        fn detectors_never_panic(
            history in proptest::collection::vec((any_stats(), any_f64()), 0..40),
            stats in any_stats(),
            secs in any_f64(),
        ) {
            let settings = Settings::default();
            let mut b = Baseline::new();
            for (s, secs) in &history {
                b.fold(s, *secs * 100.0, 0, &settings.baseline);
            }
            for d in build(&settings) {
                let w = SeriesWindow { stats: &stats, secs };
                let judged = d.can_judge(&w, &b);
                if let Some(f) = d.evaluate(&w, &b) {
                    prop_assert!(judged);
                    prop_assert!(f.p_value >= 0.0 && f.p_value <= settings.band_p);
                    prop_assert!(f.observed.is_finite() && f.baseline.is_finite());
                }
            }
        }
    }
}
