//! Latency shift on one quantile (p50, p95 or p99).
//!
//! **Statistic.** A robust z-score in log space:
//! `z = (ln q − median(ln q_past)) / max(1.4826 · MAD(ln q_past), 0.05)`, where
//! `q` is the window's quantile and `q_past` the same quantile of the
//! baseline windows that had enough samples. The p-value is the Student-t
//! upper tail `P(T ≥ z)` with `0.37 × windows` degrees of freedom (the
//! efficiency of the MAD), so a σ estimated from few windows asks for more. Working in logs makes the test invariant to the unit and
//! scale of latency (a service at 2 ms and one at 2 s are judged alike), and
//! the σ floor of 0.05 (≈ 5 %) keeps an unnaturally steady series from
//! alarming on a jitter.
//!
//! **Parameters.** Minimum samples in the window: `min_requests` for p50, and
//! at least 40 for p95 and 200 for p99 (two samples above the quantile);
//! `min_increase_ratio` (default +25 %), `min_increase_secs` (default 5 ms;
//! the only parameter that is not scale-free) and `band_p` (default 0.01).
//!
//! **How it fails.** Only increases are reported. p99 needs 200 samples per
//! window, so tail shifts of low-traffic series go unseen. A quantile
//! estimated from few samples is noisier than the baseline's windows were, so
//! sudden low-volume windows are judged with too small a σ (the relative and
//! absolute minimums limit the damage). Quantiles with heavier tails than
//! the t distribution jump more often than the p-value says; confirmation
//! over several windows compensates. Bimodal latency (cache hit/miss) can shift a quantile by a
//! large factor with a small change in mix.

use super::super::{Detector, Finding, SeriesWindow};
use crate::baseline::stats::{mad_degrees_of_freedom, student_t_sf};
use crate::baseline::{Baseline, latency_index, min_latency_samples};
use crate::model::Signal;

/// Floor on the robust σ of log latency.
pub const MIN_SIGMA_LOG: f64 = 0.05;

/// Detects a latency increase on one quantile. See the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyShift {
    /// `LatencyP50`, `LatencyP95` or `LatencyP99`.
    pub signal: Signal,
    /// Base volume; the quantile raises it (see [`min_latency_samples`]).
    pub min_requests: u64,
    /// Smallest relative increase (0.25 = +25 %).
    pub min_increase_ratio: f64,
    /// Smallest absolute increase, seconds.
    pub min_increase_secs: f64,
    /// p-value below which the window is outside the band.
    pub band_p: f64,
}

impl LatencyShift {
    fn quantile(&self, window: &SeriesWindow<'_>) -> Option<f64> {
        let l = &window.stats.latency;
        let q = match latency_index(self.signal)? {
            0 => l.p50,
            1 => l.p95,
            _ => l.p99,
        };
        (q.is_finite() && q > 0.0).then_some(q)
    }
}

impl Detector for LatencyShift {
    fn name(&self) -> &'static str {
        match self.signal {
            Signal::LatencyP95 => "latency_p95_shift",
            Signal::LatencyP99 => "latency_p99_shift",
            _ => "latency_p50_shift",
        }
    }

    fn signal(&self) -> Signal {
        self.signal
    }

    fn can_judge(&self, window: &SeriesWindow<'_>, baseline: &Baseline) -> bool {
        let Some(index) = latency_index(self.signal) else {
            return false;
        };
        baseline.ready()
            && baseline.summary().latency[index].is_some()
            && window.stats.latency.count >= min_latency_samples(self.signal, self.min_requests)
            && self.quantile(window).is_some()
    }

    fn evaluate(&self, window: &SeriesWindow<'_>, baseline: &Baseline) -> Option<Finding> {
        if !self.can_judge(window, baseline) {
            return None;
        }
        let base = baseline.summary().latency[latency_index(self.signal)?]?;
        let observed = self.quantile(window)?;
        let expected = base.median_log.exp();
        if observed < expected * (1.0 + self.min_increase_ratio)
            || observed - expected < self.min_increase_secs
        {
            return None;
        }
        let z = (observed.ln() - base.median_log) / base.sigma_log.max(MIN_SIGMA_LOG);
        let p_value = student_t_sf(z, mad_degrees_of_freedom(base.points));
        (p_value <= self.band_p).then_some(Finding {
            signal: self.signal,
            observed,
            baseline: expected,
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

    fn detector(signal: Signal, min_increase_secs: f64) -> LatencyShift {
        let s = crate::detect::Settings::default();
        LatencyShift {
            signal,
            min_requests: s.min_requests,
            min_increase_ratio: s.latency_min_increase_ratio,
            min_increase_secs,
            band_p: s.band_p,
        }
    }

    /// p50 around 100 ms with ±5 % wobble; p95 = 3×, p99 = 6× (see `window`).
    fn base(scale: f64) -> Baseline {
        baseline_with(40, |i| {
            window(
                1000,
                2,
                scale * 0.1 * (1.0 + 0.05 * ((i % 5) as f64 - 2.0) / 2.0),
            )
        })
    }

    #[test]
    fn table() {
        let b = base(1.0);
        let cases: &[(Signal, u64, f64, bool, &str)] = &[
            (Signal::LatencyP50, 1000, 0.1, false, "baseline"),
            (
                Signal::LatencyP50,
                1000,
                0.115,
                false,
                "+15 % is below the minimum increase",
            ),
            (Signal::LatencyP50, 1000, 0.15, true, "+50 %"),
            (Signal::LatencyP50, 10, 0.5, false, "too few samples"),
            (
                Signal::LatencyP95,
                1000,
                0.6,
                true,
                "p95 doubled (p50 = 0.2, p95 = 3x)",
            ),
            (Signal::LatencyP99, 100, 5.0, false, "p99 needs 200 samples"),
            (
                Signal::LatencyP99,
                1000,
                0.2,
                true,
                "p99 from 0.6 s to 1.2 s",
            ),
            (
                Signal::LatencyP50,
                1000,
                0.05,
                false,
                "faster is not an anomaly",
            ),
            (Signal::LatencyP50, 1000, f64::NAN, false, "garbage latency"),
            (Signal::LatencyP50, 1000, 0.0, false, "zero latency"),
        ];
        for &(signal, count, p50, fires, why) in cases {
            let stats = window(count, 0, p50);
            let w = SeriesWindow {
                stats: &stats,
                secs: 30.0,
            };
            let found = detector(signal, 0.005).evaluate(&w, &b);
            assert_eq!(found.is_some(), fires, "{why}: {found:?}");
        }
    }

    #[test]
    fn absolute_minimum_applies_to_fast_services() {
        let b = base(0.01); // p50 = 1 ms
        let stats = window(1000, 0, 0.002); // doubled, but only +1 ms
        let w = SeriesWindow {
            stats: &stats,
            secs: 30.0,
        };
        assert!(
            detector(Signal::LatencyP50, 0.005)
                .evaluate(&w, &b)
                .is_none()
        );
        assert!(detector(Signal::LatencyP50, 0.0).evaluate(&w, &b).is_some());
    }

    proptest! {
        /// Multiplying every latency (history and window) by the same factor
        /// changes nothing: the statistic is scale-free (absolute minimum off).
        #[test]
        fn scale_invariant(
            scale in 1e-3f64..1e3,
            bump in prop_oneof![0.5f64..1.2, 1.3f64..4.0],
            sig in 0usize..3,
        ) {
            let signal = [Signal::LatencyP50, Signal::LatencyP95, Signal::LatencyP99][sig];
            let d = detector(signal, 0.0);
            let stats = window(1000, 0, 0.1 * bump);
            let scaled = window(1000, 0, 0.1 * bump * scale);
            let a = d.evaluate(&SeriesWindow { stats: &stats, secs: 30.0 }, &base(1.0));
            let b = d.evaluate(&SeriesWindow { stats: &scaled, secs: 30.0 }, &base(scale));
            prop_assert_eq!(a.is_some(), b.is_some());
            if let (Some(a), Some(b)) = (a, b) {
                // Baselines keep log latency as f32: allow its rounding.
                prop_assert!((a.p_value - b.p_value).abs() <= 1e-9 + 1e-3 * a.p_value);
            }
        }

        /// Larger increases never look less anomalous.
        #[test]
        fn monotone_in_the_increase(lo in 1.0f64..3.0, extra in 0.0f64..3.0) {
            let d = detector(Signal::LatencyP50, 0.005);
            let b = base(1.0);
            let p = |x: f64| {
                let stats = window(1000, 0, 0.1 * x);
                d.evaluate(&SeriesWindow { stats: &stats, secs: 30.0 }, &b).map_or(1.0, |f| f.p_value)
            };
            prop_assert!(p(lo + extra) <= p(lo));
        }
    }
}
