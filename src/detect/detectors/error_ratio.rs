//! Error-ratio spike.
//!
//! **Statistic.** The one-sided upper tail of a quasi-binomial test: with
//! `n` requests and `e` errors in the window, a baseline ratio `p₀` and the
//! baseline's over-dispersion `φ ≥ 1`, the p-value is
//! `P(X ≥ e/φ)` for `X ~ Binomial(n/φ, p̃)`, where `p̃ = max((E + ½)/(N + 1), 10⁻⁴)`
//! is the baseline `E` errors in `N` requests shrunk towards ½ (Jeffreys), so
//! a baseline that saw no error is not treated as "errors are impossible".
//! Dividing both counts by `φ` widens the test exactly as much as the
//! series' windows scattered around the pooled ratio in the past. Because
//! `φ` is itself estimated from few windows, the p-value is the larger of that
//! tail and a Student-t tail of `z = (e − n·p̃) / √(n·p̃(1 − p̃)·φ)` with
//! `0.37 × windows` degrees of freedom (the efficiency of a median-based
//! scale): young or short baselines ask for more evidence.
//!
//! **Parameters.** `min_requests` (window volume, default 20), `min_errors`
//! (default 5), `min_increase` (absolute, default +0.02), `min_factor`
//! (relative, default 2×), `band_p` (default 0.01). The window is outside the
//! band only when every gate passes and the p-value is below `band_p`.
//!
//! **How it fails.** Volume gates make low-traffic series blind: 3 errors in
//! 9 requests is never a finding, and neither is a total outage of a series
//! serving fewer than `min_requests` per window. Errors that arrive in bursts
//! shorter than a window but larger than past burstiness can look like a
//! spike. A ratio that creeps up slowly is learned by the baseline before it
//! crosses the gates. Correlated failures across series are not modelled.

use super::super::{Detector, Finding, SeriesWindow};
use crate::baseline::Baseline;
use crate::baseline::stats::{binomial_sf, mad_degrees_of_freedom, student_t_sf};
use crate::model::Signal;

/// Floor for the baseline ratio used in the test.
const MIN_BASE_RATIO: f64 = 1e-4;

/// Detects error-ratio spikes. See the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorRatioSpike {
    /// Fewest requests in the window.
    pub min_requests: u64,
    /// Fewest errors in the window.
    pub min_errors: u64,
    /// Smallest absolute increase over the baseline ratio.
    pub min_increase: f64,
    /// Smallest multiple of the baseline ratio.
    pub min_factor: f64,
    /// p-value below which the window is outside the band.
    pub band_p: f64,
}

impl Detector for ErrorRatioSpike {
    fn name(&self) -> &'static str {
        "error_ratio_spike"
    }

    fn signal(&self) -> Signal {
        Signal::ErrorRatio
    }

    fn can_judge(&self, window: &SeriesWindow<'_>, baseline: &Baseline) -> bool {
        baseline.ready()
            && baseline.summary().errors.is_some()
            && window.stats.requests >= self.min_requests.max(1)
    }

    fn evaluate(&self, window: &SeriesWindow<'_>, baseline: &Baseline) -> Option<Finding> {
        if !self.can_judge(window, baseline) {
            return None;
        }
        let base = baseline.summary().errors?;
        let requests = window.stats.requests;
        let errors = window.stats.errors.min(requests);
        let (n, e) = (requests as f64, errors as f64);
        let ratio = e / n;
        if errors < self.min_errors
            || ratio - base.ratio < self.min_increase
            || ratio < self.min_factor * base.ratio
        {
            return None;
        }
        let shrunk = (base.errors as f64 + 0.5) / (base.requests as f64 + 1.0);
        let p_ref = shrunk.max(base.ratio).max(MIN_BASE_RATIO);
        let phi = base.dispersion.max(1.0);
        let exact = binomial_sf(e / phi, n / phi, p_ref);
        let z = (e - n * p_ref) / (n * p_ref * (1.0 - p_ref) * phi).sqrt();
        let p_value = exact.max(student_t_sf(z, mad_degrees_of_freedom(base.points)));
        (p_value <= self.band_p).then_some(Finding {
            signal: Signal::ErrorRatio,
            observed: ratio,
            baseline: base.ratio,
            p_value,
            requests,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{baseline_with, window};
    use super::*;

    fn detector() -> ErrorRatioSpike {
        let s = crate::detect::Settings::default();
        ErrorRatioSpike {
            min_requests: s.min_requests,
            min_errors: s.min_errors,
            min_increase: s.error_min_increase,
            min_factor: s.error_min_factor,
            band_p: s.band_p,
        }
    }

    #[test]
    fn table() {
        // Baseline: 0.4 % errors on 1,000 requests a window, 30 s windows, 20 min.
        let base = baseline_with(40, |_| window(1000, 4, 0.1));
        let d = detector();
        let cases: &[(u64, u64, bool, &str)] = &[
            (9, 3, false, "3 errors in 9 requests is not an incident"),
            (1000, 270, true, "27 % vs 0.4 % on 1,000 requests is"),
            (1000, 4, false, "the baseline itself"),
            (
                1000,
                12,
                false,
                "3x but below the absolute minimum increase",
            ),
            (1000, 30, true, "+2.6 points on 1,000 requests"),
            (40, 4, false, "too few errors"),
            (40, 8, true, "20 % on 40 requests"),
            (1000, 1000, true, "total failure"),
            (0, 0, false, "no traffic"),
            (
                5,
                50,
                false,
                "nonsense: more errors than requests, low volume",
            ),
        ];
        for &(requests, errors, fires, why) in cases {
            let stats = window(requests, errors, 0.1);
            let found = d.evaluate(
                &SeriesWindow {
                    stats: &stats,
                    secs: 30.0,
                },
                &base,
            );
            assert_eq!(found.is_some(), fires, "{why}: {found:?}");
            if let Some(f) = found {
                assert!(f.p_value < 1e-3 && f.observed > f.baseline, "{why}: {f:?}");
            }
        }
    }

    #[test]
    fn overdispersed_baselines_need_more_evidence() {
        // Bursty history: 0 or 40 errors per 1,000 (mean 2 %).
        let bursty = baseline_with(40, |i| window(1000, if i % 2 == 0 { 0 } else { 40 }, 0.1));
        let steady = baseline_with(40, |_| window(1000, 20, 0.1));
        let d = detector();
        let stats = window(1000, 60, 0.1);
        let w = SeriesWindow {
            stats: &stats,
            secs: 30.0,
        };
        let p_bursty = d.evaluate(&w, &bursty).map_or(1.0, |f| f.p_value);
        let p_steady = d.evaluate(&w, &steady).map_or(1.0, |f| f.p_value);
        assert!(p_steady < 1e-6, "{p_steady}");
        assert!(p_bursty > 100.0 * p_steady, "{p_bursty} vs {p_steady}");
    }

    proptest::proptest! {
        /// The verdict ignores the window length (a ratio has no time unit),
        /// more errors never look less anomalous, and the same ratio on more
        /// requests never weakens the evidence.
        #[test]
        fn invariant_to_window_length_and_monotone_in_evidence(
            requests in 20u64..5000,
            ratio in 0.0f64..1.0,
            extra in 0u64..100,
            k in 2u64..10,
            secs in 1.0f64..600.0,
        ) {
            let base = baseline_with(40, |_| window(1000, 4, 0.1));
            let d = detector();
            let p = |n: u64, e: u64, secs: f64| {
                let stats = window(n, e, 0.1);
                d.evaluate(&SeriesWindow { stats: &stats, secs }, &base).map_or(1.0, |f| f.p_value)
            };
            let errors = (requests as f64 * ratio) as u64;
            proptest::prop_assert_eq!(p(requests, errors, 30.0), p(requests, errors, secs));
            proptest::prop_assert!(p(requests, (errors + extra).min(requests), 30.0) <= p(requests, errors, 30.0));
            proptest::prop_assert!(p(requests * k, errors * k, 30.0) <= p(requests, errors, 30.0) + 1e-12);
        }
    }

    #[test]
    fn not_ready_baselines_judge_nothing() {
        let young = baseline_with(5, |_| window(1000, 4, 0.1));
        let stats = window(1000, 900, 0.1);
        let w = SeriesWindow {
            stats: &stats,
            secs: 30.0,
        };
        assert!(!detector().can_judge(&w, &young));
        assert_eq!(detector().evaluate(&w, &young), None);
    }
}
