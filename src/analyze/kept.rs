//! Closed windows as the analysis stage keeps them for 40 minutes (the
//! attribution history and the journal share one copy): a compact row per
//! series instead of a `(SeriesKey, SeriesStats)` pair.
//!
//! A row is 64 bytes instead of 144: the key is a pointer to one
//! [`SeriesKey`] shared by every window that has the series (interned by
//! [`Keys`]), and the three counts are 32-bit (a row whose counts do not fit
//! keeps its full stats beside the rows). Latency values are kept as they
//! came, so a row reads back exactly the stats it was built from.
//!
//! Never does: change a value, or judge anything; it is storage.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{LatencySummary, SeriesKey, SeriesStats, Timestamp, WindowStats};

/// A count that does not fit 32 bits: the row's stats are in `wide`.
const WIDE: u32 = u32::MAX;

/// One series in one kept window.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    key: Arc<SeriesKey>,
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

/// A closed window, kept compactly; reads back exactly the
/// [`WindowStats`] it was built from.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptWindow {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
    rows: Box<[Row]>,
    /// Full stats of the rows whose counts do not fit 32 bits, by row.
    wide: Box<[(u32, SeriesStats)]>,
}

impl KeptWindow {
    /// `window` kept on its own (keys not shared with other windows).
    pub fn new(window: &WindowStats) -> Arc<Self> {
        Keys::default().window(window)
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the window has no series.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Key of row `i` (panics when out of range, like slice indexing).
    pub(crate) fn key(&self, i: usize) -> &SeriesKey {
        &self.rows[i].key
    }

    /// Stats of row `i`, exactly as given.
    pub(crate) fn stats(&self, i: usize) -> SeriesStats {
        let row = &self.rows[i];
        if row.requests == WIDE
            && let Ok(at) = self.wide.binary_search_by_key(&(i as u32), |(r, _)| *r)
        {
            return self.wide[at].1.clone();
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

    /// The window as the graph closed it.
    pub fn to_stats(&self) -> WindowStats {
        WindowStats {
            start: self.start,
            end: self.end,
            series: (0..self.rows.len())
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
        let mut wide = Vec::new();
        let rows = window
            .series
            .iter()
            .enumerate()
            .map(|(i, (key, stats))| {
                let key = match self.set.get(key) {
                    Some(shared) => shared.clone(),
                    None => {
                        let shared = Arc::new(key.clone());
                        self.set.insert(shared.clone());
                        shared
                    }
                };
                let narrow = |n: u64| u32::try_from(n).ok().filter(|n| *n != WIDE);
                let latency = &stats.latency;
                let (requests, errors, count) = match (
                    narrow(stats.requests),
                    narrow(stats.errors),
                    narrow(latency.count),
                ) {
                    (Some(r), Some(e), Some(c)) => (r, e, c),
                    _ => {
                        wide.push((i as u32, stats.clone()));
                        (WIDE, 0, 0)
                    }
                };
                Row {
                    key,
                    requests,
                    errors,
                    count,
                    instances: stats.instances,
                    sum: latency.sum,
                    p50: latency.p50,
                    p95: latency.p95,
                    p99: latency.p99,
                    max: latency.max,
                }
            })
            .collect();
        Arc::new(KeptWindow {
            start: window.start,
            end: window.end,
            rows,
            wide: wide.into(),
        })
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
    fn a_row_is_64_bytes() {
        assert_eq!(size_of::<Row>(), 64);
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
        assert!(Arc::ptr_eq(&first.rows[0].key, &second.rows[0].key));
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
