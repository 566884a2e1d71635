//! The compact per-window latency [`Sketch`]: log-linear bins, 32 per power
//! of two (a bin's midpoint is within 1/64 ≈ 1.6 % of any value in it).
//!
//! Storage is dense per *octave*: the first sample of a power of two
//! allocates a block of 32 counters (128 B), later samples are one indexed
//! increment (no search, no shifting). A series in a window typically
//! touches 3–8 octaves, about 0.4–1 KB. The exported form is the sorted list
//! of non-zero `(bin, count)` pairs, the same as the former sparse vector,
//! so saved states stay compatible.
//!
//! Never does: allocate per sample (only per new octave), depend on the
//! order of the samples.

use crate::model::LatencySummary;

/// Values below this are their own bin.
const EXACT: u64 = 32;
/// log2(EXACT): 32 sub-bins per power of two. Finer bins cost memory for
/// precision detection does not need.
const SUB_BITS: u32 = 5;
/// Octaves (blocks of `EXACT` bins) needed for every `u64`: bin 1919 is the last.
const OCTAVES: usize = 60;
/// No block for this octave yet.
const ABSENT: u8 = u8::MAX;

/// One octave's counters.
pub(crate) type Block = [u32; EXACT as usize];

/// A compact log-linear latency sketch for one series in one window.
#[derive(Clone, Debug)]
pub(crate) struct Sketch {
    /// Octave → index into `blocks`, or [`ABSENT`].
    octaves: [u8; OCTAVES],
    /// Counter blocks, in order of first use (reused between windows, see
    /// [`Sketch::take_blocks`]).
    blocks: Vec<Block>,
    pub(crate) count: u64,
    pub(crate) sum_ns: u128,
    pub(crate) max_ns: u64,
}

impl Default for Sketch {
    fn default() -> Self {
        Self::with_blocks(Vec::new())
    }
}

impl PartialEq for Sketch {
    fn eq(&self, other: &Self) -> bool {
        (self.count, self.sum_ns, self.max_ns) == (other.count, other.sum_ns, other.max_ns)
            && self.bins() == other.bins()
    }
}

impl Sketch {
    /// An empty sketch reusing `blocks`' allocation.
    pub(crate) fn with_blocks(mut blocks: Vec<Block>) -> Self {
        blocks.clear();
        Self {
            octaves: [ABSENT; OCTAVES],
            blocks,
            count: 0,
            sum_ns: 0,
            max_ns: 0,
        }
    }

    /// A sketch from its exported form (see [`Sketch::bins`]).
    pub(crate) fn from_parts(bins: &[(u16, u32)], count: u64, sum_ns: u128, max_ns: u64) -> Self {
        let mut sketch = Self::default();
        for &(bin, n) in bins {
            if let Some(slot) = sketch.counter(bin) {
                *slot = n;
            }
        }
        sketch.count = count;
        sketch.sum_ns = sum_ns;
        sketch.max_ns = max_ns;
        sketch
    }

    /// Records one sample in nanoseconds.
    #[inline]
    pub(crate) fn record(&mut self, value_ns: u64) {
        if let Some(slot) = self.counter(bin_of(value_ns)) {
            *slot = slot.saturating_add(1);
        }
        self.count += 1;
        self.sum_ns += u128::from(value_ns);
        self.max_ns = self.max_ns.max(value_ns);
    }

    /// The counter of `bin`, allocating its octave's block if needed
    /// (`None` only for bins beyond the last octave, which `bin_of` never makes).
    #[inline]
    fn counter(&mut self, bin: u16) -> Option<&mut u32> {
        let octave = usize::from(bin) / EXACT as usize;
        let entry = self.octaves.get_mut(octave)?;
        if *entry == ABSENT {
            *entry = self.blocks.len() as u8;
            if self.blocks.capacity() == 0 {
                // Most series touch few octaves: start small, then double.
                self.blocks.reserve_exact(2);
            }
            self.blocks.push([0; EXACT as usize]);
        }
        let block = self.blocks.get_mut(usize::from(*entry))?;
        block.get_mut(usize::from(bin) % EXACT as usize)
    }

    /// Non-zero bins as `(bin, count)`, sorted by bin.
    pub(crate) fn bins(&self) -> Vec<(u16, u32)> {
        self.iter_bins().collect()
    }

    fn iter_bins(&self) -> impl Iterator<Item = (u16, u32)> + '_ {
        self.octaves
            .iter()
            .enumerate()
            .filter_map(|(octave, &entry)| {
                let block = self.blocks.get(usize::from(entry))?;
                Some((octave, block))
            })
            .flat_map(|(octave, block)| {
                block
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(move |(i, n)| ((octave * EXACT as usize + i) as u16, *n))
            })
    }

    /// Count, sum, p50/p95/p99 and max, in seconds.
    pub(crate) fn summary(&self) -> LatencySummary {
        if self.count == 0 {
            return LatencySummary::default();
        }
        let rank = |q: f64| ((q * self.count as f64).ceil() as u64).clamp(1, self.count.max(1));
        let ranks = [rank(0.5), rank(0.95), rank(0.99)];
        let mut found = [None; 3];
        let mut seen = 0u64;
        for (bin, n) in self.iter_bins() {
            seen += u64::from(n);
            for (slot, rank) in found.iter_mut().zip(ranks) {
                if slot.is_none() && seen >= rank {
                    *slot = Some(value_of(bin).min(self.max_ns));
                }
            }
            if found[2].is_some() {
                break;
            }
        }
        let seconds = |v: Option<u64>| v.unwrap_or(self.max_ns) as f64 / 1e9;
        LatencySummary {
            count: self.count,
            sum: self.sum_ns as f64 / 1e9,
            p50: seconds(found[0]),
            p95: seconds(found[1]),
            p99: seconds(found[2]),
            max: self.max_ns as f64 / 1e9,
        }
    }

    /// Gives the block vector back for reuse.
    pub(crate) fn take_blocks(&mut self) -> Vec<Block> {
        self.octaves = [ABSENT; OCTAVES];
        std::mem::take(&mut self.blocks)
    }

    /// Heap bytes held by the counter blocks.
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * size_of::<Block>()
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
    use proptest::prelude::*;

    use super::*;

    const MS: u64 = 1_000_000;

    /// The former representation (sorted sparse `(bin, count)` vector), kept
    /// as the reference the dense blocks must agree with.
    #[derive(Default)]
    struct Reference {
        bins: Vec<(u16, u32)>,
        count: u64,
        max_ns: u64,
    }

    impl Reference {
        fn record(&mut self, value_ns: u64) {
            let index = bin_of(value_ns);
            match self.bins.binary_search_by_key(&index, |(i, _)| *i) {
                Ok(at) => self.bins[at].1 = self.bins[at].1.saturating_add(1),
                Err(at) => self.bins.insert(at, (index, 1)),
            }
            self.count += 1;
            self.max_ns = self.max_ns.max(value_ns);
        }

        fn quantile(&self, q: f64) -> f64 {
            let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count.max(1));
            let mut seen = 0u64;
            for (index, count) in &self.bins {
                seen += u64::from(*count);
                if seen >= rank {
                    return value_of(*index).min(self.max_ns) as f64 / 1e9;
                }
            }
            self.max_ns as f64 / 1e9
        }
    }

    proptest! {
        #[test]
        fn dense_blocks_agree_with_the_sparse_reference(
            values in prop::collection::vec(
                prop_oneof![0u64..64, 0u64..10_000_000_000, any::<u64>()], 1..400),
        ) {
            let (mut dense, mut reference) = (Sketch::default(), Reference::default());
            for v in &values {
                dense.record(*v);
                reference.record(*v);
            }
            prop_assert_eq!(dense.bins(), reference.bins.clone());
            let summary = dense.summary();
            prop_assert_eq!(summary.p50, reference.quantile(0.5));
            prop_assert_eq!(summary.p95, reference.quantile(0.95));
            prop_assert_eq!(summary.p99, reference.quantile(0.99));
            let back = Sketch::from_parts(&dense.bins(), dense.count, dense.sum_ns, dense.max_ns);
            prop_assert_eq!(back.summary(), summary);
            prop_assert!(back == dense);
        }
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
        assert!(usize::from(bin_of(u64::MAX)) < OCTAVES * EXACT as usize);
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
        sketch.record(5 * MS);
        assert_eq!(sketch.heap_bytes(), 2 * 128);
        let blocks = sketch.take_blocks();
        let capacity = blocks.capacity();
        let reused = Sketch::with_blocks(blocks);
        assert!(reused.bins().is_empty());
        assert_eq!(reused.blocks.capacity(), capacity);
    }
}
