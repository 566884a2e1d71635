//! Throughput drop.
//!
//! **Statistic.** The lower tail of a quasi-Poisson count: with `x` requests
//! in a window of `t` seconds, a baseline median rate `r` and the baseline's
//! over-dispersion `φ ≥ 1` (variance of past per-window counts over their
//! Poisson variance, from the scaled MAD), the p-value is the larger of
//! `P(X ≤ x/φ)` for `X ~ Poisson(r·t/φ)` and the Student-t lower tail of
//! `z = (r·t − x) / √(r·t·φ)` with `0.37 × windows` degrees of freedom (the
//! scale is a MAD from few windows). Series that vanish from a window are judged as zero
//! requests, so a full outage is seen.
//!
//! **Parameters.** `min_expected` (the window must be expected to carry at
//! least `min_requests`, default 20), `min_drop_ratio` (default −50 %) and
//! `band_p` (default 0.01).
//!
//! **How it fails.** Traffic with daily or weekly seasonality is not modelled:
//! the baseline is the last `history_secs`, so a steep evening decline can
//! look like a drop at high sensitivity. A drop in a series whose callers
//! stopped calling (an upstream outage) is reported here too; origins and
//! attribution sort out cause. Increases are never reported.

use super::super::{Detector, Finding, SeriesWindow};
use crate::baseline::Baseline;
use crate::baseline::stats::{mad_degrees_of_freedom, poisson_cdf, student_t_sf};
use crate::model::Signal;

/// Detects a drop in request rate. See the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct ThroughputDrop {
    /// Fewest requests the window must be expected to carry.
    pub min_expected: u64,
    /// Smallest relative drop (0.5 = half the baseline rate).
    pub min_drop_ratio: f64,
    /// p-value below which the window is outside the band.
    pub band_p: f64,
}

impl Detector for ThroughputDrop {
    fn name(&self) -> &'static str {
        "throughput_drop"
    }

    fn signal(&self) -> Signal {
        Signal::Throughput
    }

    fn can_judge(&self, window: &SeriesWindow<'_>, baseline: &Baseline) -> bool {
        let secs = window.secs;
        baseline.ready()
            && secs.is_finite()
            && secs > 0.0
            && baseline
                .summary()
                .rate
                .is_some_and(|rate| rate.per_sec * secs >= self.min_expected.max(1) as f64)
    }

    fn evaluate(&self, window: &SeriesWindow<'_>, baseline: &Baseline) -> Option<Finding> {
        if !self.can_judge(window, baseline) {
            return None;
        }
        let rate = baseline.summary().rate?;
        let x = window.stats.requests as f64;
        let observed = x / window.secs;
        if observed > rate.per_sec * (1.0 - self.min_drop_ratio) {
            return None;
        }
        let phi = rate.dispersion.max(1.0);
        let expected = rate.per_sec * window.secs;
        let exact = poisson_cdf(x / phi, expected / phi);
        let z = (expected - x) / (expected * phi).sqrt();
        let p_value = exact.max(student_t_sf(z, mad_degrees_of_freedom(rate.points)));
        (p_value <= self.band_p).then_some(Finding {
            signal: Signal::Throughput,
            observed,
            baseline: rate.per_sec,
            p_value,
            requests: window.stats.requests,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::tests::{baseline_with, window};
    use super::*;

    fn detector() -> ThroughputDrop {
        let s = crate::detect::Settings::default();
        ThroughputDrop {
            min_expected: s.min_requests,
            min_drop_ratio: s.throughput_min_drop_ratio,
            band_p: s.band_p,
        }
    }

    #[test]
    fn table() {
        // 600 requests per 30 s window, with Poisson-like wobble.
        let b = baseline_with(40, |i| window(600 + (i % 5) * 10 - 20, 0, 0.1));
        let cases: &[(u64, f64, bool, &str)] = &[
            (600, 30.0, false, "baseline"),
            (400, 30.0, false, "a third less: below the minimum drop"),
            (250, 30.0, true, "less than half"),
            (0, 30.0, true, "outage"),
            (
                5,
                0.25,
                false,
                "short window: expected volume too small to judge",
            ),
            (0, 0.0, false, "zero-length window"),
            (0, f64::NAN, false, "nonsense length"),
        ];
        for &(requests, secs, fires, why) in cases {
            let stats = window(requests, 0, 0.1);
            let found = detector().evaluate(
                &SeriesWindow {
                    stats: &stats,
                    secs,
                },
                &b,
            );
            assert_eq!(found.is_some(), fires, "{why}: {found:?}");
        }
    }

    #[test]
    fn low_traffic_series_cannot_alarm() {
        let b = baseline_with(40, |i| window(i % 2, 0, 0.1)); // ~0.5 requests a window
        let stats = window(0, 0, 0.1);
        let w = SeriesWindow {
            stats: &stats,
            secs: 30.0,
        };
        assert!(!detector().can_judge(&w, &b));
    }

    proptest! {
        /// The verdict depends on the rate, not on the window length, once both
        /// windows are long enough to judge; longer windows give more evidence.
        /// (Drops right at the minimum-drop gate are excluded: rounding the
        /// count can put one window on each side of the gate.)
        #[test]
        fn longer_windows_never_weaken_evidence(
            drop in prop_oneof![0.0f64..0.45, 0.55f64..1.0],
            k in 1u64..5,
        ) {
            let b = baseline_with(40, |i| window(600 + (i % 5) * 10 - 20, 0, 0.1));
            let d = detector();
            let p = |mult: u64| {
                let stats = window((600.0 * mult as f64 * (1.0 - drop)) as u64, 0, 0.1);
                d.evaluate(&SeriesWindow { stats: &stats, secs: 30.0 * mult as f64 }, &b)
                    .map_or(1.0, |f| f.p_value)
            };
            prop_assert!(p(k + 1) <= p(k) + 1e-12);
        }
    }
}
