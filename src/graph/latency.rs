//! Cumulative latency of one edge side ([`SideLatency`]: Tempo buckets,
//! exemplars and a compact HDR histogram for quantiles, see [`super::hdr`]). The per-window sketch is in
//! [`super::sketch`].
//!
//! Everything here is order-independent: sums are exact integers
//! (nanoseconds) and exemplars keep the sample with the greatest event time,
//! so the same samples in any order give the same state.
//!
//! Never does: allocate per sample.

use std::sync::Arc;

use super::hdr::CompactHdr;
use crate::model::{BucketCounts, Timestamp, TraceId};

/// The latest sample of a bucket, for drill-down from a metric to a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Exemplar {
    pub(crate) trace: TraceId,
    pub(crate) value_ns: u64,
    /// Event time of the sample; the greatest `(at, trace)` wins, so the
    /// exemplar does not depend on arrival order.
    pub(crate) at: Timestamp,
}

/// Cumulative latency of one side (client or server) of an edge.
///
/// Memory per side, 8 Tempo buckets: 9 × 8 B counts + 9 × 40 B exemplars +
/// 64 B of HDR counters per power of two of latency seen + the 96 B
/// struct ≈ **0.7 KB** for latencies over three powers of two; an edge (two sides,
/// counters, versions) ≈ **1.7 KB** (see `edge_memory_is_as_documented`).
#[derive(Clone, Debug)]
pub(crate) struct SideLatency {
    /// Non-cumulative counts, one per bound plus `+Inf`.
    pub(crate) counts: Box<[u64]>,
    /// Latest exemplar per bucket.
    pub(crate) exemplars: Box<[Option<Exemplar>]>,
    pub(crate) sum_ns: u128,
    pub(crate) count: u64,
    /// Microseconds, for lifetime quantiles (1 µs–1 h, one digit).
    pub(crate) hdr: CompactHdr,
}

impl SideLatency {
    /// An empty distribution for `buckets` bounds.
    pub(crate) fn new(buckets: usize) -> Self {
        Self {
            counts: vec![0; buckets + 1].into(),
            exemplars: vec![None; buckets + 1].into(),
            sum_ns: 0,
            count: 0,
            hdr: CompactHdr::default(),
        }
    }

    /// Records one sample. `bounds_ns` are inclusive upper bounds (`le`).
    pub(crate) fn record(
        &mut self,
        bounds_ns: &[u64],
        value_ns: u64,
        trace: TraceId,
        at: Timestamp,
    ) {
        let index = bucket_index(bounds_ns, value_ns);
        if let Some(count) = self.counts.get_mut(index) {
            *count += 1;
        }
        if let Some(slot) = self.exemplars.get_mut(index) {
            let candidate = Exemplar {
                trace,
                value_ns,
                at,
            };
            if slot.is_none_or(|old| (old.at, old.trace) < (at, trace)) {
                *slot = Some(candidate);
            }
        }
        self.sum_ns += u128::from(value_ns);
        self.count += 1;
        self.hdr.record(value_ns / 1_000);
    }

    /// Tempo-layout view for snapshots.
    pub(crate) fn buckets(&self, bounds: &Arc<[f64]>) -> BucketCounts {
        BucketCounts {
            bounds: bounds.clone(),
            counts: self.counts.to_vec(),
            sum: self.sum_ns as f64 / 1e9,
            count: self.count,
            exemplars: self
                .exemplars
                .iter()
                .map(|e| e.map(|e| (e.trace, e.value_ns as f64 / 1e9)))
                .collect(),
        }
    }

    /// p50, p95, p99 in seconds (0 when empty).
    pub(crate) fn quantiles(&self) -> [f64; 3] {
        if self.hdr.is_empty() {
            return [0.0; 3];
        }
        [0.5, 0.95, 0.99].map(|q| self.hdr.value_at_quantile(q) as f64 / 1e6)
    }
}

/// Index of the first bound `>= value` (inclusive `le`), or `bounds.len()` for `+Inf`.
pub(crate) fn bucket_index(bounds_ns: &[u64], value_ns: u64) -> usize {
    bounds_ns.partition_point(|bound| *bound < value_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn bounds_are_inclusive_upper_bounds() {
        let bounds = [100 * MS, 200 * MS];
        assert_eq!(bucket_index(&bounds, 100 * MS), 0);
        assert_eq!(bucket_index(&bounds, 100 * MS + 1), 1);
        assert_eq!(bucket_index(&bounds, 200 * MS), 1);
        assert_eq!(bucket_index(&bounds, 200 * MS + 1), 2, "+Inf");
        assert_eq!(bucket_index(&bounds, 0), 0);
    }

    #[test]
    fn side_latency_keeps_the_latest_exemplar_whatever_the_order() {
        let bounds = [100 * MS];
        let samples = [
            (TraceId([1; 16]), 10 * MS, Timestamp(5)),
            (TraceId([2; 16]), 20 * MS, Timestamp(9)),
            (TraceId([3; 16]), 30 * MS, Timestamp(7)),
        ];
        let mut forward = SideLatency::new(1);
        let mut backward = SideLatency::new(1);
        for (t, v, at) in samples {
            forward.record(&bounds, v, t, at);
        }
        for (t, v, at) in samples.iter().rev() {
            backward.record(&bounds, *v, *t, *at);
        }
        assert_eq!(forward.counts, backward.counts);
        assert_eq!(forward.exemplars, backward.exemplars);
        assert_eq!(forward.exemplars[0].unwrap().trace, TraceId([2; 16]));
        assert_eq!(forward.sum_ns, 60 * u128::from(MS));
        let view = forward.buckets(&Arc::from(vec![0.1]));
        assert_eq!(view.counts, vec![3, 0]);
        assert!((view.sum - 0.06).abs() < 1e-12);
    }

    #[test]
    fn hdr_quantiles_are_within_one_digit_precision() {
        let mut side = SideLatency::new(0);
        for ms in 1..=1000u64 {
            side.record(&[], ms * MS, TraceId::default(), Timestamp(0));
        }
        let [p50, p95, p99] = side.quantiles();
        assert!((p50 - 0.5).abs() / 0.5 < 0.07, "{p50}");
        assert!((p95 - 0.95).abs() / 0.95 < 0.07, "{p95}");
        assert!((p99 - 0.99).abs() / 0.99 < 0.07, "{p99}");
    }
}
