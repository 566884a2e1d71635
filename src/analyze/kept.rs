//! Closed windows as the analysis stage keeps them for 40 minutes (the
//! attribution history and the journal share one copy): per series a
//! pointer to its interned key and a 4-byte index into the window's
//! *distinct* stats, instead of a `(SeriesKey, SeriesStats)` pair.
//!
//! A window's rows repeat one another's stats a lot: an edge with one
//! version on each side has the same stats as its two by-version splits, a
//! service with one version the same as that version, a service with one
//! operation the same as the operation (a third of the rows are distinct in
//! the simulator's fleets). A row costs 12 bytes and each distinct stats 56
//! (three 32-bit counts; a stats whose counts do not fit keeps its full
//! form beside them); latency values are kept as they came and compared
//! bit for bit, so a row reads back exactly the stats it was built from.
//! The key is a pointer to one [`SeriesKey`] shared by every window that
//! has the series (interned by [`Keys`]).
//!
//! Never does: change a value, or judge anything; it is storage.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{LatencySummary, SeriesKey, SeriesStats, Timestamp, WindowStats};

/// A count that does not fit 32 bits: the full stats are in `wide`.
const WIDE: u32 = u32::MAX;

/// One distinct stats of a kept window.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Stats {
    requests: u32,
    errors: u32,
    count: u32,
    instances: u32,
    sum: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

impl Stats {
    /// The stats compacted, or `None` when a count does not fit 32 bits.
    fn narrow(stats: &SeriesStats) -> Option<Self> {
        let narrow = |n: u64| u32::try_from(n).ok().filter(|n| *n != WIDE);
        let latency = &stats.latency;
        Some(Self {
            requests: narrow(stats.requests)?,
            errors: narrow(stats.errors)?,
            count: narrow(latency.count)?,
            instances: stats.instances,
            sum: latency.sum,
            p50: latency.p50,
            p95: latency.p95,
            p99: latency.p99,
            max: latency.max,
        })
    }

    /// Identity for sharing: counts as they are, floats bit for bit (so
    /// `0.0` and `-0.0` stay apart and a NaN equals itself).
    fn bits(&self) -> [u64; 7] {
        [
            (u64::from(self.requests) << 32) | u64::from(self.errors),
            (u64::from(self.count) << 32) | u64::from(self.instances),
            self.sum.to_bits(),
            self.p50.to_bits(),
            self.p95.to_bits(),
            self.p99.to_bits(),
            self.max.to_bits(),
        ]
    }

    fn wide() -> Self {
        Self {
            requests: WIDE,
            errors: 0,
            count: 0,
            instances: 0,
            sum: 0.0,
            p50: 0.0,
            p95: 0.0,
            p99: 0.0,
            max: 0.0,
        }
    }
}

/// A closed window, kept compactly; reads back exactly the
/// [`WindowStats`] it was built from.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptWindow {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
    /// Key of each row.
    keys: Box<[Arc<SeriesKey>]>,
    /// Stats of each row: an index into `stats`.
    of: Box<[u32]>,
    /// The window's distinct stats.
    stats: Box<[Stats]>,
    /// Full form of the stats whose counts do not fit 32 bits, by index
    /// into `stats` (each such row has its own).
    wide: Box<[(u32, SeriesStats)]>,
}

impl KeptWindow {
    /// `window` kept on its own (keys not shared with other windows).
    pub fn new(window: &WindowStats) -> Arc<Self> {
        Keys::default().window(window)
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the window has no series.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Key of row `i` (panics when out of range, like slice indexing).
    pub(crate) fn key(&self, i: usize) -> &SeriesKey {
        &self.keys[i]
    }

    /// Stats of row `i`, exactly as given.
    pub(crate) fn stats(&self, i: usize) -> SeriesStats {
        let at = self.of[i];
        let row = &self.stats[at as usize];
        if row.requests == WIDE
            && let Ok(found) = self.wide.binary_search_by_key(&at, |(s, _)| *s)
        {
            return self.wide[found].1.clone();
        }
        SeriesStats {
            requests: u64::from(row.requests),
            errors: u64::from(row.errors),
            latency: LatencySummary {
                count: u64::from(row.count),
                sum: row.sum,
                p50: row.p50,
                p95: row.p95,
                p99: row.p99,
                max: row.max,
            },
            instances: row.instances,
        }
    }

    /// Distinct stats held (rows with equal stats share one).
    #[cfg(test)]
    fn distinct_stats(&self) -> usize {
        self.stats.len()
    }

    /// The window as the graph closed it.
    pub fn to_stats(&self) -> WindowStats {
        WindowStats {
            start: self.start,
            end: self.end,
            series: (0..self.keys.len())
                .map(|i| (self.key(i).clone(), self.stats(i)))
                .collect(),
        }
    }
}

/// Saved as the [`WindowStats`] it holds (journals keep their form).
impl Serialize for KeptWindow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_stats().serialize(serializer)
    }
}

/// Loaded from a saved [`WindowStats`] (keys shared within the window only;
/// see [`deserialize_windows`] for a whole sequence).
impl<'de> Deserialize<'de> for KeptWindow {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let window = WindowStats::deserialize(deserializer)?;
        Ok(Arc::unwrap_or_clone(KeptWindow::new(&window)))
    }
}

/// A sequence of saved windows, keys shared across all of them.
pub(crate) fn deserialize_windows<'de, D, C>(deserializer: D) -> Result<C, D::Error>
where
    D: serde::Deserializer<'de>,
    C: Default + Extend<Arc<KeptWindow>>,
{
    struct Windows<C>(std::marker::PhantomData<C>);
    impl<'de, C: Default + Extend<Arc<KeptWindow>>> serde::de::Visitor<'de> for Windows<C> {
        type Value = C;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a sequence of windows")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<C, A::Error> {
            let mut keys = Keys::default();
            let mut out = C::default();
            while let Some(window) = seq.next_element::<WindowStats>()? {
                out.extend([keys.window(&window)]);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_seq(Windows(std::marker::PhantomData))
}

/// Interns series keys so every kept window that has a series points at
/// one copy of its key; keys no kept window holds any more are dropped
/// every [`SWEEP_EVERY`] windows.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    set: HashSet<Arc<SeriesKey>>,
    windows: u32,
    /// Scratch: a window's distinct stats so far, by identity.
    distinct: HashMap<[u64; 7], u32>,
}

/// Windows between two sweeps of unused keys.
const SWEEP_EVERY: u32 = 64;

impl Keys {
    /// `window` kept, its keys interned.
    pub(crate) fn window(&mut self, window: &WindowStats) -> Arc<KeptWindow> {
        self.windows = self.windows.wrapping_add(1);
        if self.windows.is_multiple_of(SWEEP_EVERY) {
            self.set.retain(|key| Arc::strong_count(key) > 1);
        }
        self.distinct.clear();
        let (mut stats, mut wide) = (Vec::new(), Vec::new());
        let mut of = Vec::with_capacity(window.series.len());
        let mut keys = Vec::with_capacity(window.series.len());
        for (key, full) in &window.series {
            keys.push(self.intern(key));
            let at = match Stats::narrow(full) {
                Some(narrow) => *self.distinct.entry(narrow.bits()).or_insert_with(|| {
                    stats.push(narrow);
                    (stats.len() - 1) as u32
                }),
                None => {
                    stats.push(Stats::wide());
                    wide.push(((stats.len() - 1) as u32, full.clone()));
                    (stats.len() - 1) as u32
                }
            };
            of.push(at);
        }
        Arc::new(KeptWindow {
            start: window.start,
            end: window.end,
            keys: keys.into(),
            of: of.into(),
            stats: stats.into(),
            wide: wide.into(),
        })
    }

    /// The shared copy of `key`.
    fn intern(&mut self, key: &SeriesKey) -> Arc<SeriesKey> {
        if let Some(shared) = self.set.get(key) {
            return shared.clone();
        }
        let shared = Arc::new(key.clone());
        self.set.insert(shared.clone());
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(service: &str) -> SeriesKey {
        SeriesKey::Service {
            environment: "prod".into(),
            service: service.into(),
        }
    }

    fn window(start: u64, requests: u64) -> WindowStats {
        WindowStats {
            start: Timestamp::from_secs(start),
            end: Timestamp::from_secs(start + 10),
            series: vec![
                (
                    key("a"),
                    SeriesStats {
                        requests,
                        errors: 3,
                        latency: LatencySummary {
                            count: requests,
                            sum: 0.123_456_789,
                            p50: 0.001,
                            p95: 0.1 + 0.2,
                            p99: 1e-9,
                            max: 12.5,
                        },
                        instances: 4,
                    },
                ),
                (key("b"), SeriesStats::default()),
            ],
        }
    }

    #[test]
    fn a_row_is_12_bytes_and_distinct_stats_56() {
        assert_eq!(size_of::<Arc<SeriesKey>>() + size_of::<u32>(), 12);
        assert_eq!(size_of::<Stats>(), 56);
    }

    #[test]
    fn rows_with_equal_stats_share_one_and_read_back_their_own() {
        let mut original = window(10, 5);
        let same = original.series[0].1.clone();
        let mut negative_zero = SeriesStats::default();
        negative_zero.latency.sum = -0.0;
        original.series.push((key("c"), same));
        original.series.push((key("d"), negative_zero));
        original.series.push((key("e"), SeriesStats::default()));
        let kept = Keys::default().window(&original);
        // a and c share; b and e share; d (-0.0) is apart from b (0.0).
        assert_eq!(kept.distinct_stats(), 3);
        assert_eq!(kept.to_stats(), original);
        assert_eq!(kept.stats(3).latency.sum.to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn kept_windows_read_back_exactly_even_with_counts_past_32_bits() {
        let mut keys = Keys::default();
        for requests in [0, 7, u64::from(u32::MAX) - 1, u64::from(u32::MAX), u64::MAX] {
            let original = window(10, requests);
            let kept = keys.window(&original);
            assert_eq!(kept.to_stats(), original);
            assert_eq!(kept.wide.len(), usize::from(requests >= u64::from(WIDE)));
        }
    }

    #[test]
    fn keys_are_shared_across_windows_and_dropped_when_no_window_holds_them() {
        let mut keys = Keys::default();
        let first = keys.window(&window(0, 1));
        let second = keys.window(&window(10, 2));
        assert!(Arc::ptr_eq(&first.keys[0], &second.keys[0]));
        drop((first, second));
        for i in 0..SWEEP_EVERY {
            let _dropped = keys.window(&WindowStats {
                start: Timestamp::from_secs(u64::from(i) * 10),
                end: Timestamp::from_secs(u64::from(i) * 10 + 10),
                series: Vec::new(),
            });
        }
        assert!(keys.set.is_empty());
    }

    #[test]
    fn a_kept_window_is_saved_and_loaded_as_window_stats() {
        let original = window(10, 5);
        let kept = KeptWindow::new(&original);
        let json = serde_json::to_string(&*kept).unwrap();
        assert_eq!(json, serde_json::to_string(&original).unwrap());
        let loaded: KeptWindow = serde_json::from_str(&json).unwrap();
        assert_eq!(loaded, *kept);
    }
}
