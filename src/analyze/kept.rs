//! Closed windows as the analysis stage keeps them (the journal holds each
//! whole until it is in the state store; the attribution history copies
//! the rows it reads into its own form, see `history_rows`): per series a
//! pointer to its interned key and a 4-byte offset into the window's
//! *distinct* stats, each encoded in a few bytes, instead of a
//! `(SeriesKey, SeriesStats)` pair.
//!
//! A window's rows repeat one another's stats a lot: an edge with one
//! version on each side has the same stats as its two by-version splits, a
//! service with one version the same as that version, a service with one
//! operation the same as the operation (a third of the rows are distinct in
//! the simulator's fleets). A row costs 12 bytes; a distinct stats is a
//! flag byte and varints (see `kept_codec.rs`): counts as they are, latencies as
//! the whole nanoseconds the graph's sketch computed them from when that
//! reads back bit for bit, else the raw 8 bytes; equal quantiles are
//! flagged instead of repeated. About 10–25 bytes instead of the 72 of a
//! `SeriesStats`. A row reads back exactly the stats it was built from.
//! The key is a pointer to one [`SeriesKey`] shared by every window that
//! has the series (interned by [`Keys`]).
//!
//! Never does: change a value, or judge anything; it is storage.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{SeriesKey, SeriesStats, Timestamp, WindowStats};

#[path = "kept_codec.rs"]
pub(super) mod codec;
use codec::{decode, encode, identity};

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
    /// Stats of each row: an offset into `stats`.
    of: Box<[u32]>,
    /// The window's distinct stats, encoded one after the other.
    stats: Box<[u8]>,
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
        decode(self.stats.get(self.of[i] as usize..).unwrap_or_default())
    }

    /// The shared key of row `i` (panics when out of range).
    pub(crate) fn shared_key(&self, i: usize) -> &Arc<SeriesKey> {
        &self.keys[i]
    }

    /// Row `i`'s stats as encoded (see `kept_codec.rs`), and where they
    /// start: rows with equal stats give the same start.
    pub(crate) fn encoded_stats(&self, i: usize) -> (u32, &[u8]) {
        let at = self.of[i];
        let bytes = self.stats.get(at as usize..).unwrap_or_default();
        (at, &bytes[..codec::encoded_len(bytes)])
    }

    /// Bytes this window holds beyond its shared keys.
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.len() * size_of::<Arc<SeriesKey>>()
            + self.of.len() * size_of::<u32>()
            + self.stats.len()
    }

    /// Distinct stats held (rows with equal stats share one).
    #[cfg(test)]
    fn distinct_stats(&self) -> usize {
        self.of.iter().collect::<HashSet<_>>().len()
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

/// Saved as the [`WindowStats`] it holds (journals keep their form), row
/// by row: a snapshot encodes a window without building its
/// [`WindowStats`] (≈35,000 owned keys at 5,000 services).
impl Serialize for KeptWindow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut window = serializer.serialize_struct("WindowStats", 3)?;
        window.serialize_field("start", &self.start)?;
        window.serialize_field("end", &self.end)?;
        window.serialize_field("series", &Rows(self))?;
        window.end()
    }
}

/// A window's rows as [`WindowStats::series`] serializes them.
struct Rows<'a>(&'a KeptWindow);

impl Serialize for Rows<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((0..self.0.len()).map(|i| (self.0.key(i), self.0.stats(i))))
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
    distinct: HashMap<[u64; 9], u32>,
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
        let mut stats = Vec::new();
        let mut of = Vec::with_capacity(window.series.len());
        let mut keys = Vec::with_capacity(window.series.len());
        for (key, full) in &window.series {
            keys.push(self.intern(key));
            let at = *self.distinct.entry(identity(full)).or_insert_with(|| {
                let at = u32::try_from(stats.len()).unwrap_or(u32::MAX);
                encode(full, &mut stats);
                at
            });
            of.push(at);
        }
        Arc::new(KeptWindow {
            start: window.start,
            end: window.end,
            keys: keys.into(),
            of: of.into(),
            stats: stats.into(),
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
    use crate::model::LatencySummary;

    #[test]
    fn a_row_is_12_bytes() {
        assert_eq!(size_of::<Arc<SeriesKey>>() + size_of::<u32>(), 12);
    }

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
    fn a_kept_window_is_saved_exactly_as_the_window_it_holds() {
        let kept = Keys::default().window(&window(10, 5));
        assert_eq!(
            serde_json::to_string(&*kept).unwrap(),
            serde_json::to_string(&window(10, 5)).unwrap()
        );
    }

    #[test]
    fn kept_windows_read_back_exactly_even_with_counts_past_32_bits() {
        let mut keys = Keys::default();
        for requests in [0, 7, u64::from(u32::MAX) - 1, u64::from(u32::MAX), u64::MAX] {
            let original = window(10, requests);
            let kept = keys.window(&original);
            assert_eq!(kept.to_stats(), original);
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
