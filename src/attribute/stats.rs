//! Small, dependency-free statistics for comparing a new version with an
//! old one: two-proportion z scores for error ratios, a log-ratio z score
//! for latency quantiles, and Pearson correlation for dose-response.
//!
//! Never does: decide what a statistic means; `evidence.rs` does.

use crate::model::{SeriesStats, Signal};

/// One side of a comparison, aggregated over windows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Side {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    /// Request-weighted mean of per-window quantiles, seconds.
    pub(crate) p50: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
}

impl Side {
    pub(crate) fn add(&mut self, stats: &SeriesStats) {
        let n = stats.requests;
        if n == 0 {
            return;
        }
        let total = (self.requests + n) as f64;
        let w_old = self.requests as f64 / total;
        let w_new = n as f64 / total;
        self.p50 = self.p50 * w_old + stats.latency.p50 * w_new;
        self.p95 = self.p95 * w_old + stats.latency.p95 * w_new;
        self.p99 = self.p99 * w_old + stats.latency.p99 * w_new;
        self.requests += n;
        self.errors += stats.errors.min(n);
    }

    pub(crate) fn from_stats(stats: &SeriesStats) -> Self {
        let mut side = Self::default();
        side.add(stats);
        side
    }

    pub(crate) fn error_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }

    /// The value of `signal` on this side (error ratio, or a latency
    /// quantile; throughput anomalies are compared on error ratio).
    pub(crate) fn value(&self, signal: Signal) -> f64 {
        match signal {
            Signal::ErrorRatio | Signal::Throughput => self.error_ratio(),
            Signal::LatencyP50 => self.p50,
            Signal::LatencyP95 => self.p95,
            Signal::LatencyP99 => self.p99,
        }
    }
}

/// Pooled two-proportion z score of `new` vs `old` (positive = new higher).
/// Adds half an error to each side (a continuity-style correction) so that
/// 0-of-n against 0-of-m is exactly 0 and small counts cannot explode.
pub(crate) fn proportion_z(new: &Side, old: &Side) -> f64 {
    if new.requests == 0 || old.requests == 0 {
        return 0.0;
    }
    let (n1, n2) = (new.requests as f64 + 1.0, old.requests as f64 + 1.0);
    let (p1, p2) = (
        (new.errors as f64 + 0.5) / n1,
        (old.errors as f64 + 0.5) / n2,
    );
    let pooled = (new.errors as f64 + old.errors as f64 + 1.0) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se <= 0.0 { 0.0 } else { (p1 - p2) / se }
}

/// Standard error of ln(quantile) per sqrt(sample): for a log-normal with
/// σ ≈ 0.7 the asymptotic standard error of ln(q95) is about
/// σ·sqrt(p(1-p))/φ(z_p)/sqrt(n) ≈ 1.5/sqrt(n). Per-window quantiles are
/// noisier than that, so this is conservative only for large `n`; callers
/// also demand a minimum ratio, not just significance.
const LOG_QUANTILE_SE: f64 = 1.5;

/// z score of ln(new / old) for a latency quantile (positive = new slower).
pub(crate) fn latency_z(new_value: f64, new_n: u64, old_value: f64, old_n: u64) -> f64 {
    if new_n == 0 || old_n == 0 || new_value <= 0.0 || old_value <= 0.0 {
        return 0.0;
    }
    let se = LOG_QUANTILE_SE * (1.0 / new_n as f64 + 1.0 / old_n as f64).sqrt();
    (new_value / old_value).ln() / se
}

/// The z score for `signal` between two sides.
pub(crate) fn signal_z(signal: Signal, new: &Side, old: &Side) -> f64 {
    match signal {
        Signal::ErrorRatio | Signal::Throughput => proportion_z(new, old),
        _ => latency_z(
            new.value(signal),
            new.requests,
            old.value(signal),
            old.requests,
        ),
    }
}

/// Upper 99% bound of `new - old` error ratio (normal approximation).
pub(crate) fn error_diff_upper(new: &Side, old: &Side) -> f64 {
    let (n1, n2) = (new.requests.max(1) as f64, old.requests.max(1) as f64);
    let (p1, p2) = (new.error_ratio(), old.error_ratio());
    // Floor the variance at one error's worth so 0/n is not "certainly 0".
    let v1 = (p1 * (1.0 - p1)).max(1.0 / n1) / n1;
    let v2 = (p2 * (1.0 - p2)).max(1.0 / n2) / n2;
    (p1 - p2) + 2.58 * (v1 + v2).sqrt()
}

/// Upper 99% bound of new/old for a latency quantile.
pub(crate) fn latency_ratio_upper(new_value: f64, new_n: u64, old_value: f64, old_n: u64) -> f64 {
    if new_n == 0 || old_n == 0 || new_value <= 0.0 || old_value <= 0.0 {
        return f64::INFINITY;
    }
    let se = LOG_QUANTILE_SE * (1.0 / new_n as f64 + 1.0 / old_n as f64).sqrt();
    ((new_value / old_value).ln() + 2.58 * se).exp()
}

/// Pearson correlation; `None` when either side has no variance or fewer
/// than three points.
pub(crate) fn pearson(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in points {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx <= 1e-12 || syy <= 1e-12 {
        return None;
    }
    Some(sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(requests: u64, errors: u64) -> Side {
        Side {
            requests,
            errors,
            ..Side::default()
        }
    }

    #[test]
    fn equal_ratios_give_zero_and_bigger_new_ratio_gives_positive_z() {
        assert!(proportion_z(&side(1000, 0), &side(1000, 0)).abs() < 1e-9);
        assert!(proportion_z(&side(1000, 10), &side(1000, 10)).abs() < 1e-9);
        let z = proportion_z(&side(500, 100), &side(500, 2));
        assert!(z > 8.0, "{z}");
        assert!(proportion_z(&side(500, 2), &side(500, 100)) < -8.0);
    }

    #[test]
    fn three_errors_in_nine_requests_is_not_significant_against_a_small_old_side() {
        let z = proportion_z(&side(9, 3), &side(20, 1));
        assert!(z < 3.0, "{z}");
    }

    #[test]
    fn latency_z_grows_with_volume_and_ratio() {
        let small = latency_z(0.2, 20, 0.1, 20);
        let large = latency_z(0.2, 2000, 0.1, 2000);
        assert!(large > small && large > 10.0, "{small} {large}");
        assert!(latency_z(0.1, 2000, 0.1, 2000).abs() < 1e-9);
    }

    #[test]
    fn pearson_detects_linear_relation_and_refuses_constants() {
        let r = pearson(&[(0.0, 0.0), (0.5, 0.1), (1.0, 0.2)]).unwrap();
        assert!((r - 1.0).abs() < 1e-9);
        assert!(pearson(&[(1.0, 0.0), (1.0, 0.1), (1.0, 0.2)]).is_none());
        assert!(pearson(&[(0.0, 0.0), (1.0, 1.0)]).is_none());
    }

    #[test]
    fn upper_bounds_cover_the_point_estimate() {
        assert!(error_diff_upper(&side(1000, 10), &side(1000, 10)) > 0.0);
        assert!(error_diff_upper(&side(100_000, 100), &side(100_000, 100)) < 0.002);
        assert!(latency_ratio_upper(0.1, 10_000, 0.1, 10_000) < 1.1);
    }
}
