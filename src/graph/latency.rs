//! Latency aggregates: the cumulative per-edge-side distribution
//! ([`SideLatency`]: Tempo buckets, exemplars and an HDR histogram for
//! quantiles) and the compact per-window [`Sketch`].
//!
//! Everything here is order-independent: sums are exact integers
//! (nanoseconds) and exemplars keep the sample with the greatest event time,
//! so the same samples in any order give the same state.
//!
//! Never does: allocate per sample (except a [`Sketch`] growing by a new bin).

use std::sync::Arc;

use hdrhistogram::Histogram;

use crate::model::{BucketCounts, LatencySummary, Timestamp, TraceId};

/// Quantile histograms record microseconds from 1 µs to 1 h (longer samples
/// saturate at 1 h).
const HDR_HIGH_MICROS: u64 = 3_600_000_000;
/// One significant digit: 16 linear sub-buckets per power of two, so at most
/// 1/16 ≈ 6 % relative error. A `Histogram<u32>` over 1 µs–1 h then holds
/// 464 counters, **1 856 bytes of counts + ~100 bytes of header** (measured in
/// `hdr_sizes_are_as_documented`). Two digits would be 3 328 counters
/// (13.3 KB) and three digits 23 552 (94 KB as `u32`, 184 KiB as `u64`): with
/// two sides per edge and ~50 000 edges for a 5 000-service fleet, only one
/// digit keeps the quantile sketches under 200 MB.
const HDR_SIGFIG: u8 = 1;

/// A fresh, empty quantile histogram with the documented precision.
pub(crate) fn new_hdr() -> Histogram<u32> {
    // Constant, valid arguments (low 1 ≤ high/2, sigfig ≤ 5): this cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, HDR_HIGH_MICROS, HDR_SIGFIG)
        .expect("constant hdr bounds are valid")
}

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
/// ~1 960 B HDR + 64 B header ≈ **2.45 KB**; an edge (two sides, counters,
/// versions) ≈ **5.2 KB** (see `edge_memory_is_as_documented`).
#[derive(Clone, Debug)]
pub(crate) struct SideLatency {
    /// Non-cumulative counts, one per bound plus `+Inf`.
    pub(crate) counts: Box<[u64]>,
    /// Latest exemplar per bucket.
    pub(crate) exemplars: Box<[Option<Exemplar>]>,
    pub(crate) sum_ns: u128,
    pub(crate) count: u64,
    /// Microseconds, for lifetime quantiles.
    pub(crate) hdr: Histogram<u32>,
}

impl SideLatency {
    /// An empty distribution for `buckets` bounds.
    pub(crate) fn new(buckets: usize) -> Self {
        Self {
            counts: vec![0; buckets + 1].into(),
            exemplars: vec![None; buckets + 1].into(),
            sum_ns: 0,
            count: 0,
            hdr: new_hdr(),
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
        self.hdr.saturating_record(value_ns / 1_000);
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

/// Values below this are their own bin.
const EXACT: u64 = 32;
/// log2(EXACT): 32 sub-bins per power of two; a bin's midpoint is within
/// 1/64 ≈ 1.6 % of any value in it. Finer bins cost insert time (the sparse
/// vector grows) for precision detection does not need.
const SUB_BITS: u32 = 5;

/// A compact, sparse log-linear latency sketch for one series in one window.
///
/// Bins are `(index, count)` pairs sorted by index; most series in a window
/// touch a few dozen bins, so this is far smaller than a dense histogram. The
/// bin vector is recycled between windows (see [`Sketch::take_bins`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Sketch {
    pub(crate) bins: Vec<(u16, u32)>,
    pub(crate) count: u64,
    pub(crate) sum_ns: u128,
    pub(crate) max_ns: u64,
}

impl Sketch {
    /// An empty sketch reusing `bins`' allocation.
    pub(crate) fn with_bins(mut bins: Vec<(u16, u32)>) -> Self {
        bins.clear();
        Self {
            bins,
            count: 0,
            sum_ns: 0,
            max_ns: 0,
        }
    }

    /// Records one sample in nanoseconds.
    pub(crate) fn record(&mut self, value_ns: u64) {
        let index = bin_of(value_ns);
        match self.bins.binary_search_by_key(&index, |(i, _)| *i) {
            Ok(at) => self.bins[at].1 = self.bins[at].1.saturating_add(1),
            Err(at) => self.bins.insert(at, (index, 1)),
        }
        self.count += 1;
        self.sum_ns += u128::from(value_ns);
        self.max_ns = self.max_ns.max(value_ns);
    }

    /// Count, sum, p50/p95/p99 and max, in seconds.
    pub(crate) fn summary(&self) -> LatencySummary {
        let quantile = |q: f64| -> f64 {
            let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count.max(1));
            let mut seen = 0u64;
            for (index, count) in &self.bins {
                seen += u64::from(*count);
                if seen >= rank {
                    return value_of(*index).min(self.max_ns) as f64 / 1e9;
                }
            }
            self.max_ns as f64 / 1e9
        };
        if self.count == 0 {
            return LatencySummary::default();
        }
        LatencySummary {
            count: self.count,
            sum: self.sum_ns as f64 / 1e9,
            p50: quantile(0.5),
            p95: quantile(0.95),
            p99: quantile(0.99),
            max: self.max_ns as f64 / 1e9,
        }
    }

    /// Gives the bin vector back for reuse.
    pub(crate) fn take_bins(&mut self) -> Vec<(u16, u32)> {
        std::mem::take(&mut self.bins)
    }
}

fn bin_of(value_ns: u64) -> u16 {
    if value_ns < EXACT {
        return value_ns as u16;
    }
    let exponent = 63 - value_ns.leading_zeros(); // >= SUB_BITS
    let mantissa = (value_ns >> (exponent - SUB_BITS)) & (EXACT - 1);
    (EXACT + u64::from(exponent - SUB_BITS) * EXACT + mantissa) as u16
}

/// The midpoint of a bin's value range.
fn value_of(bin: u16) -> u64 {
    let bin = u64::from(bin);
    if bin < EXACT {
        return bin;
    }
    let shift = (bin - EXACT) / EXACT;
    let mantissa = (bin - EXACT) % EXACT;
    let low = (EXACT + mantissa) << shift;
    low + ((1u64 << shift) >> 1)
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

    #[test]
    fn hdr_sizes_are_as_documented() {
        let one = new_hdr();
        assert_eq!(one.distinct_values(), 464);
        let two = Histogram::<u32>::new_with_bounds(1, HDR_HIGH_MICROS, 2).unwrap();
        assert_eq!(two.distinct_values(), 3328);
        let three = Histogram::<u64>::new_with_bounds(1, HDR_HIGH_MICROS, 3).unwrap();
        assert_eq!(three.distinct_values() * 8, 188_416, "184 KiB");
    }

    #[test]
    fn sketch_bins_round_trip_within_two_percent() {
        for value in [
            0,
            1,
            63,
            64,
            65,
            1000,
            123_456,
            9_999_999,
            3_600_000_000_000,
        ] {
            let back = value_of(bin_of(value));
            let error = (back as f64 - value as f64).abs() / (value.max(1) as f64);
            assert!(error <= 0.016, "{value} -> {back}");
        }
        assert!(bin_of(u64::MAX) < u16::MAX);
    }

    #[test]
    fn sketch_summary_matches_exact_quantiles_closely() {
        let mut sketch = Sketch::default();
        for ms in (1..=100u64).rev() {
            sketch.record(ms * MS);
        }
        let summary = sketch.summary();
        assert_eq!(summary.count, 100);
        assert!((summary.sum - 5.05).abs() < 1e-9);
        assert!((summary.p50 - 0.050).abs() < 0.001, "{}", summary.p50);
        assert!((summary.p95 - 0.095).abs() < 0.002, "{}", summary.p95);
        assert!((summary.p99 - 0.099).abs() < 0.002, "{}", summary.p99);
        assert_eq!(summary.max, 0.1);
        assert_eq!(Sketch::default().summary(), LatencySummary::default());
    }

    #[test]
    fn sketch_reuses_its_allocation() {
        let mut sketch = Sketch::default();
        sketch.record(5);
        let bins = sketch.take_bins();
        let capacity = bins.capacity();
        let reused = Sketch::with_bins(bins);
        assert!(reused.bins.is_empty());
        assert_eq!(reused.bins.capacity(), capacity);
    }
}
