//! Coarsening per-window series for the charts: windows of a few seconds
//! with little traffic make jagged lines, so points are merged into buckets
//! of at least [`MIN_BUCKET_SECS`] and at most [`MAX_POINTS`] per chart.
//!
//! A merged point sums requests, recomputes the error ratio from the summed
//! errors, and takes the request-weighted mean of the windows' latency
//! percentiles (an approximation: percentiles do not add up exactly).

use crate::model::Timestamp;

use super::input::SeriesPoint;

/// Smallest bucket, seconds (the detection window's default).
pub const MIN_BUCKET_SECS: u64 = 30;
/// Most points per service per chart.
pub const MAX_POINTS: u64 = 150;

/// The bucket (nanoseconds) for points spanning `[from, to]`: at least
/// [`MIN_BUCKET_SECS`], wide enough for at most [`MAX_POINTS`], in whole
/// multiples of 10 seconds.
pub fn bucket_nanos(from: Timestamp, to: Timestamp) -> u64 {
    let span_secs = to.secs().saturating_sub(from.secs());
    let needed = span_secs.div_ceil(MAX_POINTS).max(MIN_BUCKET_SECS);
    needed.div_ceil(10) * 10 * Timestamp::SECOND
}

/// Merges `points` (time order) into buckets of `bucket_nanos` aligned to
/// the epoch; each merged point sits at its bucket's start. Points already
/// as coarse as the bucket come back unchanged.
pub fn downsample(points: &[SeriesPoint], bucket_nanos: u64) -> Vec<SeriesPoint> {
    if bucket_nanos == 0 {
        return points.to_vec();
    }
    let finest = points
        .windows(2)
        .map(|w| w[1].at.nanos().saturating_sub(w[0].at.nanos()))
        .filter(|gap| *gap > 0)
        .min();
    if finest.is_none_or(|gap| gap >= bucket_nanos) {
        return points.to_vec();
    }
    let mut out: Vec<SeriesPoint> = Vec::new();
    let mut acc = Acc::default();
    let mut current: Option<u64> = None;
    for p in points {
        let bucket = p.at.nanos() / bucket_nanos * bucket_nanos;
        if current.is_some_and(|c| c != bucket)
            && let Some(c) = current
        {
            out.push(acc.point(Timestamp(c)));
            acc = Acc::default();
        }
        current = Some(bucket);
        acc.add(p);
    }
    if let Some(c) = current {
        out.push(acc.point(Timestamp(c)));
    }
    out
}

#[derive(Default)]
struct Acc {
    requests: u64,
    errors: f64,
    p50: f64,
    p99: f64,
}

impl Acc {
    fn add(&mut self, p: &SeriesPoint) {
        if !p.drawable() {
            return;
        }
        let n = p.requests as f64;
        self.requests += p.requests;
        self.errors += p.error_ratio * n;
        self.p50 += p.latency_p50_secs * n;
        self.p99 += p.latency_p99_secs * n;
    }

    fn point(&self, at: Timestamp) -> SeriesPoint {
        if self.requests == 0 {
            return SeriesPoint {
                at,
                ..SeriesPoint::default()
            };
        }
        let n = self.requests as f64;
        SeriesPoint {
            at,
            requests: self.requests,
            error_ratio: self.errors / n,
            latency_p50_secs: self.p50 / n,
            latency_p99_secs: self.p99 / n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(secs: u64, requests: u64, error_ratio: f64, p99: f64) -> SeriesPoint {
        SeriesPoint {
            at: Timestamp::from_secs(1_772_442_000 + secs),
            requests,
            error_ratio,
            latency_p50_secs: p99 / 2.0,
            latency_p99_secs: p99,
        }
    }

    #[test]
    fn buckets_are_at_least_30_seconds_and_cap_the_points() {
        let t = Timestamp::from_secs;
        assert_eq!(bucket_nanos(t(0), t(1800)), 30 * Timestamp::SECOND);
        // 10 hours: 36,000 s / 150 = 240 s.
        assert_eq!(bucket_nanos(t(0), t(36_000)), 240 * Timestamp::SECOND);
        assert_eq!(bucket_nanos(t(0), t(36_001)), 250 * Timestamp::SECOND);
    }

    #[test]
    fn ten_second_windows_merge_into_thirty_second_points() {
        let points = vec![
            p(0, 10, 0.0, 0.1),
            p(10, 30, 0.1, 0.2),
            p(20, 0, 0.0, 0.0),
            p(30, 20, 0.5, 0.4),
            p(40, 0, 0.0, 0.0),
        ];
        let merged = downsample(&points, 30 * Timestamp::SECOND);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].at, points[0].at);
        assert_eq!(merged[0].requests, 40);
        assert!((merged[0].error_ratio - 3.0 / 40.0).abs() < 1e-12);
        assert!((merged[0].latency_p99_secs - (0.1 * 10.0 + 0.2 * 30.0) / 40.0).abs() < 1e-12);
        assert_eq!(merged[1].requests, 20);
        assert!((merged[1].error_ratio - 0.5).abs() < 1e-12);
        // Already coarse: unchanged.
        let coarse = vec![p(0, 5, 0.0, 0.1), p(60, 5, 0.0, 0.1)];
        assert_eq!(downsample(&coarse, 30 * Timestamp::SECOND), coarse);
        // A bucket without traffic stays a point without requests (a gap).
        let quiet = downsample(
            &[p(0, 0, 0.0, 0.0), p(10, 0, 0.0, 0.0)],
            30 * Timestamp::SECOND,
        );
        assert_eq!(quiet.len(), 1);
        assert_eq!(quiet[0].requests, 0);
    }
}
