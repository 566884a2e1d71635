//! An edge side's lifetime latency quantiles: hdrhistogram's layout for one
//! significant digit over 1 µs–1 h, storing only the counters from the
//! lowest to the highest power of two seen.
//!
//! `hdrhistogram::Histogram<u32>` with these bounds holds all 464 counters
//! (1,856 bytes) from the start; an edge's latencies span a few powers of
//! two, so most of them stay zero. At 5,000 services (≈15,700 edges, two
//! sides each) the dense histograms were ≈61 MB of the graph. This one holds
//! 16 counters per power of two actually seen (64 bytes), and answers
//! exactly what the dense histogram answers: the same bucket for every
//! value, the same clamping above the range, the same quantile and the same
//! recorded values (a property test compares the two).
//!
//! Never does: resize beyond the fixed range, or allocate when a sample
//! falls between the lowest and highest seen.

/// Highest value tracked (microseconds: 1 h); larger samples count here.
const HIGH: u64 = 3_600_000_000;
/// Linear sub-buckets per power of two (one significant digit).
const HALF_MAGNITUDE: u32 = 4;
const HALF: u64 = 1 << HALF_MAGNITUDE;
/// Values below this share bucket 0 (2 × `HALF`).
const SUB_BUCKET_MASK: u64 = 2 * HALF - 1;
/// 64 minus the bits of a sub-bucket count.
const LEADING_ZERO_BASE: u32 = 64 - (HALF_MAGNITUDE + 1);
/// Counters the dense layout has for [`HIGH`]: (buckets + 1) × `HALF`.
pub(crate) const DENSE_LEN: usize = 464;

/// Counts of microsecond samples; see the module docs. Equal samples give
/// equal histograms, in any order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CompactHdr {
    /// Index of `counts[0]` in the dense layout.
    low: u32,
    /// Counters `low..low + counts.len()`; empty until the first sample.
    counts: Box<[u32]>,
    total: u64,
}

impl CompactHdr {
    /// Records `value` microseconds once (clamped to the range).
    pub(crate) fn record(&mut self, value: u64) {
        self.record_n(value, 1);
    }

    /// Records `value` microseconds `count` times, counters saturating.
    pub(crate) fn record_n(&mut self, value: u64, count: u32) {
        let index = index_for(value);
        let slot = self.slot(index);
        *slot = slot.saturating_add(count);
        self.total = self.total.saturating_add(u64::from(count));
    }

    /// Samples recorded.
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.total
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Counters held (each 4 bytes).
    #[cfg(test)]
    pub(crate) fn counters(&self) -> usize {
        self.counts.len()
    }

    /// What `Histogram::value_at_quantile` returns for the same samples.
    pub(crate) fn value_at_quantile(&self, quantile: f64) -> u64 {
        let quantile = quantile.min(1.0);
        let wanted = ((quantile * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (offset, count) in self.counts.iter().enumerate() {
            seen += u64::from(*count);
            if seen >= wanted {
                let value = value_for(self.low + offset as u32);
                return if quantile == 0.0 {
                    value
                } else {
                    highest_equivalent(value)
                };
            }
        }
        0
    }

    /// `(value, count)` of every non-zero counter, lowest first, where
    /// value is the highest value the counter stands for (what
    /// `iter_recorded` gives as `value_iterated_to`).
    pub(crate) fn iter_recorded(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(offset, count)| {
                let value = highest_equivalent(value_for(self.low + offset as u32));
                (value, u64::from(*count))
            })
    }

    /// The counter of dense index `index`, growing the held range to it.
    /// The range grows by whole runs of 16 counters (the sub-buckets of
    /// one power of two), so a side grows once per power of two it sees,
    /// not once per new extreme value.
    fn slot(&mut self, index: u32) -> &mut u32 {
        // The common case, one comparison (below `low` wraps to a large offset).
        let offset = index.wrapping_sub(self.low) as usize;
        if offset < self.counts.len() {
            return &mut self.counts[offset];
        }
        let run = HALF as u32;
        let (start, end) = (index / run * run, index / run * run + run);
        let (low, high) = if self.counts.is_empty() {
            (start, end)
        } else {
            let held_end = self.low + self.counts.len() as u32;
            (self.low.min(start), held_end.max(end))
        };
        let mut grown = vec![0; (high - low) as usize];
        let at = (self.low.saturating_sub(low)) as usize;
        if !self.counts.is_empty() {
            grown[at..at + self.counts.len()].copy_from_slice(&self.counts);
        }
        self.counts = grown.into();
        self.low = low;
        &mut self.counts[(index - low) as usize]
    }
}

/// Dense index of `value` (hdrhistogram's `index_for`), values past the
/// last counter clamped to [`HIGH`] as `saturating_record` does.
fn index_for(value: u64) -> u32 {
    let raw = |value: u64| {
        let bucket = LEADING_ZERO_BASE - (value | SUB_BUCKET_MASK).leading_zeros();
        let sub = (value >> bucket) as u32;
        ((bucket + 1) << HALF_MAGNITUDE) + sub - HALF as u32
    };
    let index = raw(value);
    if (index as usize) < DENSE_LEN {
        index
    } else {
        raw(HIGH)
    }
}

/// Lowest value of dense index `index` (hdrhistogram's `value_for`).
fn value_for(index: u32) -> u64 {
    let bucket = (index >> HALF_MAGNITUDE) as i64 - 1;
    let sub = u64::from(index & (HALF as u32 - 1)) + HALF;
    if bucket < 0 {
        sub - HALF
    } else {
        sub << bucket
    }
}

/// Highest value sharing `value`'s counter (hdrhistogram's `highest_equivalent`).
fn highest_equivalent(value: u64) -> u64 {
    let bucket = LEADING_ZERO_BASE - (value | SUB_BUCKET_MASK).leading_zeros();
    let lowest = (value >> bucket) << bucket;
    lowest.saturating_add(1 << bucket) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;
    use proptest::prelude::*;

    fn dense() -> Histogram<u32> {
        Histogram::new_with_bounds(1, HIGH, 1).unwrap()
    }

    #[test]
    fn the_dense_layout_is_as_assumed() {
        assert_eq!(dense().distinct_values(), DENSE_LEN);
    }

    #[test]
    fn an_edge_with_latencies_in_two_octaves_holds_a_few_counters() {
        let mut hdr = CompactHdr::default();
        assert!(hdr.is_empty());
        assert_eq!(hdr.value_at_quantile(0.99), 0);
        for micros in [1_000, 1_500, 2_000, 3_900] {
            hdr.record(micros);
        }
        assert_eq!(hdr.len(), 4);
        // 1,000 µs is in [512, 1024), 3,900 in [2048, 4096): three runs
        // of 16 counters.
        assert_eq!(hdr.counters(), 3 * HALF as usize);
    }

    fn value() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..64,
            1_000u64..200_000,
            any::<u64>(),
            Just(HIGH),
            Just(u64::MAX),
            Just(1 << 32),
        ]
    }

    proptest! {
        /// Same samples, in any order: the same quantiles and recorded values
        /// as hdrhistogram's dense histogram.
        #[test]
        fn answers_like_the_dense_histogram(
            samples in prop::collection::vec((value(), 1u32..4), 1..60),
            quantiles in prop::collection::vec(0.0f64..=1.0, 1..8),
        ) {
            let mut compact = CompactHdr::default();
            let mut reference = dense();
            for (value, count) in &samples {
                compact.record_n(*value, *count);
                reference.saturating_record_n(*value, *count);
            }
            prop_assert_eq!(compact.len(), reference.len());
            for q in quantiles.iter().chain(&[0.0, 0.5, 0.95, 0.99, 1.0]) {
                prop_assert_eq!(compact.value_at_quantile(*q), reference.value_at_quantile(*q), "q {}", q);
            }
            let recorded: Vec<(u64, u64)> = reference
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value().into()))
                .collect();
            prop_assert_eq!(compact.iter_recorded().collect::<Vec<_>>(), recorded.clone());
            // Restoring from the recorded values gives the same counters.
            let mut restored = CompactHdr::default();
            for (value, count) in recorded {
                restored.record_n(value, u32::try_from(count).unwrap_or(u32::MAX));
            }
            prop_assert_eq!(restored, compact);
        }
    }
}
