//! The baseline of one series: a bounded ring of per-window aggregates and
//! the robust summary recomputed from it whenever a window is folded in.

use std::collections::VecDeque;

use super::stats::{MAD_TO_SIGMA, median, median_mad};
use crate::model::{SeriesStats, Signal};

/// The five signals, in bit order of [`signal_bit`].
pub const SIGNALS: [Signal; 5] = [
    Signal::ErrorRatio,
    Signal::LatencyP50,
    Signal::LatencyP95,
    Signal::LatencyP99,
    Signal::Throughput,
];

/// Bit of `signal` in a fold mask (see [`Baseline::fold`]).
pub const fn signal_bit(signal: Signal) -> u8 {
    match signal {
        Signal::ErrorRatio => 1,
        Signal::LatencyP50 => 1 << 1,
        Signal::LatencyP95 => 1 << 2,
        Signal::LatencyP99 => 1 << 3,
        Signal::Throughput => 1 << 4,
    }
}

/// Index of a latency signal in `[p50, p95, p99]`, `None` for other signals.
pub const fn latency_index(signal: Signal) -> Option<usize> {
    match signal {
        Signal::LatencyP50 => Some(0),
        Signal::LatencyP95 => Some(1),
        Signal::LatencyP99 => Some(2),
        Signal::ErrorRatio | Signal::Throughput => None,
    }
}

/// Fewest latency samples in one window for its quantile of `signal` to be
/// trusted: at least `min_requests`, and at least two samples above the quantile
/// (p95: 40, p99: 200). Baselines and detectors use the same rule.
pub fn min_latency_samples(signal: Signal, min_requests: u64) -> u64 {
    let tail: u64 = match signal {
        Signal::LatencyP95 => 40,
        Signal::LatencyP99 => 200,
        _ => 0,
    };
    min_requests.max(tail)
}

/// Parameters shared by every baseline. Built by `detect::config`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BaselineParams {
    /// Trailing event time kept per series, seconds.
    pub history_secs: u64,
    /// History needed before the baseline is used, seconds.
    pub min_history_secs: u64,
    /// Hard cap on windows kept per series (bounds memory when windows are short).
    pub max_points: usize,
    /// Fewest usable windows (not masked, with enough volume) per signal.
    pub min_points: usize,
    /// Fewest requests in a window for its latency quantiles to be kept.
    pub min_requests: u64,
}

impl Default for BaselineParams {
    fn default() -> Self {
        Self {
            history_secs: 1800,
            min_history_secs: 600,
            max_points: 120,
            min_points: 5,
            min_requests: 20,
        }
    }
}

/// One window as remembered: 32 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Point {
    requests: u32,
    errors: u32,
    latency_count: u32,
    /// `ln` of p50, p95, p99 in seconds (0 when `latency_count` is 0).
    log_latency: [f32; 3],
    secs: f32,
    /// Signals this window must not teach (see [`signal_bit`]).
    mask: u8,
}

/// Baseline error ratio (pooled over unmasked windows, upper outliers trimmed).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ErrorBaseline {
    /// Pooled errors / requests.
    pub ratio: f64,
    /// Over-dispersion against a binomial, ≥ 1 (robust Pearson χ² per window).
    pub dispersion: f64,
    /// Requests behind `ratio`.
    pub requests: u64,
    /// Errors behind `ratio`.
    pub errors: u64,
    /// Windows behind `dispersion`.
    pub points: usize,
}

/// Baseline request rate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RateBaseline {
    /// Median requests per second over unmasked windows.
    pub per_sec: f64,
    /// Robust σ of the per-window rate (scaled MAD), requests per second.
    pub sigma_per_sec: f64,
    /// Over-dispersion against a Poisson count at the median window length, ≥ 1.
    pub dispersion: f64,
    /// Windows behind the estimates.
    pub points: usize,
}

/// Baseline of one latency quantile, in log space.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencyBaseline {
    /// Median of `ln(seconds)`.
    pub median_log: f64,
    /// Robust σ of `ln(seconds)` (scaled MAD).
    pub sigma_log: f64,
    /// Windows behind the estimates.
    pub points: usize,
}

/// Everything a detector may read about a series' past. Recomputed on fold.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// Event time covered by the kept windows, seconds.
    pub history_secs: f64,
    /// Whether `history_secs ≥ min_history_secs`.
    pub ready: bool,
    /// Error ratio, when enough windows had requests.
    pub errors: Option<ErrorBaseline>,
    /// Request rate, when enough windows were kept.
    pub rate: Option<RateBaseline>,
    /// p50, p95, p99, each when enough windows had the samples.
    pub latency: [Option<LatencyBaseline>; 3],
}

/// The trailing history of one series. Memory: at most `max_points` × 32 bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Baseline {
    points: VecDeque<Point>,
    total_secs: f64,
    summary: Summary,
}

impl Baseline {
    /// An empty baseline (not ready).
    pub fn new() -> Self {
        Self::default()
    }

    /// The robust summary of the kept windows.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Whether enough history exists to judge windows against it.
    pub fn ready(&self) -> bool {
        self.summary.ready
    }

    /// Windows kept.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether no window was kept yet.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Folds one closed window of `window_secs` seconds into the history.
    /// Signals whose bit is set in `mask` ignore this window (it was anomalous
    /// for them), so an incident does not become the new normal; the window
    /// still counts towards history length.
    pub fn fold(
        &mut self,
        stats: &SeriesStats,
        window_secs: f64,
        mask: u8,
        params: &BaselineParams,
    ) {
        let secs = if window_secs.is_finite() && window_secs > 0.0 {
            window_secs
        } else {
            0.0
        };
        let requests = u32::try_from(stats.requests).unwrap_or(u32::MAX);
        let errors = u32::try_from(stats.errors.min(stats.requests)).unwrap_or(u32::MAX);
        let latency_count = u32::try_from(stats.latency.count).unwrap_or(u32::MAX);
        let log = |v: f64| {
            if v.is_finite() && v > 0.0 {
                v.ln() as f32
            } else {
                f32::NAN
            }
        };
        let l = &stats.latency;
        self.points.push_back(Point {
            requests,
            errors,
            latency_count,
            log_latency: [log(l.p50), log(l.p95), log(l.p99)],
            secs: secs as f32,
            mask,
        });
        self.total_secs += secs;
        let max_points = params.max_points.max(1);
        while let Some(front) = self.points.front() {
            let front_secs = f64::from(front.secs);
            let too_old = self.total_secs - front_secs >= params.history_secs as f64;
            if self.points.len() > max_points || (too_old && self.points.len() > 1) {
                self.total_secs -= front_secs;
                self.points.pop_front();
            } else {
                break;
            }
        }
        self.summary = self.summarize(params);
    }

    fn summarize(&self, params: &BaselineParams) -> Summary {
        let history_secs = self.total_secs.max(0.0);
        let mut scratch: Vec<f64> = Vec::with_capacity(self.points.len());
        let latency = [Signal::LatencyP50, Signal::LatencyP95, Signal::LatencyP99]
            .map(|signal| self.latency_baseline(signal, params, &mut scratch));
        Summary {
            history_secs,
            ready: history_secs + 1e-6 >= params.min_history_secs as f64,
            errors: self.error_baseline(params, &mut scratch),
            rate: self.rate_baseline(params, &mut scratch),
            latency,
        }
    }

    fn kept(&self, signal: Signal) -> impl Iterator<Item = &Point> {
        let bit = signal_bit(signal);
        self.points.iter().filter(move |p| p.mask & bit == 0)
    }

    fn error_baseline(&self, params: &BaselineParams, r2: &mut Vec<f64>) -> Option<ErrorBaseline> {
        let with_traffic = || self.kept(Signal::ErrorRatio).filter(|p| p.requests > 0);
        if with_traffic().count() < params.min_points {
            return None;
        }
        let pooled = |limit: f64, ratio: f64, phi: f64| {
            let (mut e, mut n) = (0u64, 0u64);
            for p in with_traffic() {
                if pearson(p, ratio) <= limit * phi {
                    e += u64::from(p.errors);
                    n += u64::from(p.requests);
                }
            }
            (e, n)
        };
        let (e, n) = pooled(f64::INFINITY, 0.0, 1.0);
        let ratio = e as f64 / n.max(1) as f64;
        let dispersion = |ratio: f64, r2: &mut Vec<f64>| {
            r2.clear();
            r2.extend(with_traffic().map(|p| pearson(p, ratio)));
            // The median of a χ²₁ variable is 0.4549.
            (median(r2).unwrap_or(0.0) / 0.454_936_4).clamp(1.0, 1e4)
        };
        let phi = dispersion(ratio, r2);
        // Trim upper outliers (bursts that slipped in before detection was ready).
        let (e, n) = pooled(25.0, ratio, phi);
        let ratio = e as f64 / n.max(1) as f64;
        let dispersion = dispersion(ratio, r2);
        Some(ErrorBaseline {
            ratio,
            dispersion,
            requests: n,
            errors: e,
            points: r2.len(),
        })
    }

    fn rate_baseline(&self, params: &BaselineParams, rates: &mut Vec<f64>) -> Option<RateBaseline> {
        rates.clear();
        rates.extend(
            self.kept(Signal::Throughput)
                .filter(|p| p.secs > 0.0)
                .map(|p| f64::from(p.requests) / f64::from(p.secs)),
        );
        if rates.len() < params.min_points {
            return None;
        }
        let mut secs: Vec<f64> = self
            .kept(Signal::Throughput)
            .filter(|p| p.secs > 0.0)
            .map(|p| p.secs.into())
            .collect();
        let window_secs = median(&mut secs).unwrap_or(1.0);
        let points = rates.len();
        let (per_sec, mad) = median_mad(rates)?;
        let sigma_per_sec = mad * MAD_TO_SIGMA;
        let poisson_var = per_sec / window_secs;
        let dispersion = if poisson_var > 0.0 {
            (sigma_per_sec * sigma_per_sec / poisson_var).clamp(1.0, 1e6)
        } else {
            1.0
        };
        Some(RateBaseline {
            per_sec,
            sigma_per_sec,
            dispersion,
            points,
        })
    }

    fn latency_baseline(
        &self,
        signal: Signal,
        params: &BaselineParams,
        logs: &mut Vec<f64>,
    ) -> Option<LatencyBaseline> {
        let index = latency_index(signal)?;
        let min_samples = min_latency_samples(signal, params.min_requests);
        logs.clear();
        logs.extend(
            self.kept(signal)
                .filter(|p| u64::from(p.latency_count) >= min_samples.max(1))
                .map(|p| f64::from(p.log_latency[index]))
                .filter(|v| v.is_finite()),
        );
        if logs.len() < params.min_points {
            return None;
        }
        let points = logs.len();
        let (median_log, mad) = median_mad(logs)?;
        Some(LatencyBaseline {
            median_log,
            sigma_log: mad * MAD_TO_SIGMA,
            points,
        })
    }
}

/// Squared Pearson residual of one window against `ratio`.
fn pearson(p: &Point, ratio: f64) -> f64 {
    let n = f64::from(p.requests);
    let expected = n * ratio;
    let var = n * ratio * (1.0 - ratio);
    let diff = f64::from(p.errors) - expected;
    if var > 0.0 {
        diff * diff / var
    } else if diff.abs() > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LatencySummary;

    fn stats(requests: u64, errors: u64, p50: f64) -> SeriesStats {
        SeriesStats {
            requests,
            errors,
            latency: LatencySummary {
                count: requests,
                sum: p50 * requests as f64,
                p50,
                p95: p50 * 3.0,
                p99: p50 * 6.0,
                max: p50 * 10.0,
            },
            instances: 1,
        }
    }

    #[test]
    fn ready_after_min_history_and_bounded() {
        let params = BaselineParams::default();
        let mut b = Baseline::new();
        for i in 0..19 {
            b.fold(&stats(300, 1, 0.1), 30.0, 0, &params);
            assert!(!b.ready(), "window {i}");
        }
        b.fold(&stats(300, 1, 0.1), 30.0, 0, &params);
        assert!(b.ready());
        for _ in 0..1000 {
            b.fold(&stats(300, 1, 0.1), 30.0, 0, &params);
        }
        assert_eq!(b.len(), 60, "history_secs / window_secs");
        for _ in 0..1000 {
            b.fold(&stats(300, 1, 0.1), 1.0, 0, &params);
        }
        assert_eq!(b.len(), params.max_points);
    }

    #[test]
    fn summary_is_robust_to_masked_and_outlying_windows() {
        let params = BaselineParams::default();
        let mut b = Baseline::new();
        for i in 0..40u64 {
            b.fold(
                &stats(1000, 4 + i % 3, 0.1 + (i % 5) as f64 * 0.001),
                30.0,
                0,
                &params,
            );
        }
        let before = *b.summary();
        // Masked incident windows teach nothing.
        for _ in 0..10 {
            let all = SIGNALS.iter().fold(0, |m, s| m | signal_bit(*s));
            b.fold(&stats(10, 9, 5.0), 30.0, all, &params);
        }
        let after = *b.summary();
        assert_eq!(before.errors, after.errors);
        assert_eq!(before.latency, after.latency);
        // One unmasked burst is trimmed from the pooled ratio.
        b.fold(&stats(1000, 600, 0.1), 30.0, 0, &params);
        let errors = b.summary().errors.unwrap();
        assert!(errors.ratio < 0.006, "{errors:?}");
        let lat = b.summary().latency[0].unwrap();
        assert!((lat.median_log.exp() - 0.102).abs() < 0.002, "{lat:?}");
        let rate = b.summary().rate.unwrap();
        assert!((rate.per_sec - 1000.0 / 30.0).abs() < 1e-9);
    }

    #[test]
    fn low_volume_windows_do_not_teach_tail_latency() {
        let params = BaselineParams::default();
        let mut b = Baseline::new();
        for _ in 0..30 {
            b.fold(&stats(50, 0, 0.1), 30.0, 0, &params);
        }
        let s = b.summary();
        assert!(s.latency[0].is_some() && s.latency[1].is_some());
        assert!(s.latency[2].is_none(), "p99 needs 200 samples per window");
    }
}
