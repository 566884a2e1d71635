//! Event-time windows: per-series aggregates for `[k*w, (k+1)*w)` of span
//! end time, closed in order once complete.
//!
//! A window closes when `watermark >= window end + pairing_ttl`: by then
//! every half that ended inside it has paired or expired, so late-completing
//! edges (virtual nodes, databases) still land in their own window. Windows
//! are emitted contiguously from the first window that held data, empty ones
//! included, except that after [`MAX_EMPTY_WINDOWS`] consecutive empty
//! windows the rest of a gap is skipped (counted), so a quiet night or a
//! far-future timestamp costs nothing.
//!
//! Never does: decide what is recorded; it only aggregates what it is given.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::model::{SeriesKey, SeriesStats, Timestamp, WindowStats};

use super::latency::Sketch;

/// Consecutive empty windows emitted before the rest of a gap is skipped.
pub const MAX_EMPTY_WINDOWS: u64 = 360;
/// Recycled sketch bin vectors kept between windows.
const POOL_LIMIT: usize = 4096;

/// Aggregate of one series in one open window.
#[derive(Clone, Debug, Default)]
pub(crate) struct SeriesAgg {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) latency: Sketch,
    /// Distinct instances (Service and ServiceVersion series only).
    pub(crate) instances: HashSet<Arc<str>>,
}

/// One sample for a series.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample<'a> {
    pub(crate) latency_ns: u64,
    pub(crate) error: bool,
    pub(crate) instance: Option<&'a Arc<str>>,
}

/// Open windows and the close cursor.
#[derive(Debug)]
pub(crate) struct Windows {
    pub(crate) width_ns: u64,
    ttl_ns: u64,
    max_instances: usize,
    pub(crate) open: BTreeMap<u64, HashMap<SeriesKey, SeriesAgg>>,
    /// The next window index to close; `None` before the first close.
    pub(crate) next: Option<u64>,
    /// Empty windows emitted since the last window with data.
    pub(crate) empties: u64,
    pool: Vec<Vec<(u16, u32)>>,
}

/// Counts from one close pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Closed {
    pub(crate) closed: u64,
    pub(crate) skipped: u64,
}

impl Windows {
    pub(crate) fn new(width_ns: u64, ttl_ns: u64, max_instances: usize) -> Self {
        Self {
            width_ns,
            ttl_ns,
            max_instances,
            open: BTreeMap::new(),
            next: None,
            empties: 0,
            pool: Vec::new(),
        }
    }

    /// Adds one sample to `key` in the window holding `at`. Returns `false`
    /// when that window already closed (nothing recorded).
    pub(crate) fn record(&mut self, at: Timestamp, key: SeriesKey, sample: Sample<'_>) -> bool {
        let index = at.0 / self.width_ns;
        if self.next.is_some_and(|next| index < next) {
            return false;
        }
        let window = self.open.entry(index).or_default();
        let agg = window.entry(key).or_insert_with(|| SeriesAgg {
            latency: Sketch::with_bins(self.pool.pop().unwrap_or_default()),
            ..SeriesAgg::default()
        });
        agg.requests += 1;
        agg.errors += u64::from(sample.error);
        agg.latency.record(sample.latency_ns);
        if let Some(instance) = sample.instance
            && agg.instances.len() < self.max_instances
            && !agg.instances.contains(instance)
        {
            agg.instances.insert(instance.clone());
        }
        true
    }

    /// Closes every window complete at `watermark` (all of them when `None`)
    /// and appends them to `out`, oldest first.
    pub(crate) fn close(
        &mut self,
        watermark: Option<Timestamp>,
        out: &mut Vec<WindowStats>,
    ) -> Closed {
        let mut counts = Closed::default();
        // Before the first close the start is the earliest window with data;
        // it is only fixed once something closes, since a span may still
        // arrive for an earlier window within the lateness bound.
        let Some(start) = self.next.or_else(|| self.open.keys().next().copied()) else {
            return counts;
        };
        let mut index = start;
        let limit = match watermark {
            // Window k is complete when (k + 1) * w + ttl <= watermark.
            Some(w) => w.0.saturating_sub(self.ttl_ns) / self.width_ns,
            None => self.open.keys().next_back().map_or(index, |last| last + 1),
        };
        while index < limit {
            if let Some(series) = self.open.remove(&index) {
                out.push(self.emit(index, series));
                self.empties = 0;
                index += 1;
            } else if self.empties < MAX_EMPTY_WINDOWS {
                out.push(self.emit(index, HashMap::new()));
                self.empties += 1;
                index += 1;
            } else {
                let to = self.open.keys().next().copied().unwrap_or(limit).min(limit);
                counts.skipped += to - index;
                index = to;
                continue;
            }
            counts.closed += 1;
        }
        if self.next.is_some() || index > start {
            self.next = Some(index);
        }
        counts
    }

    fn emit(&mut self, index: u64, series: HashMap<SeriesKey, SeriesAgg>) -> WindowStats {
        let mut rows: Vec<(SeriesKey, SeriesStats)> = Vec::with_capacity(series.len());
        for (key, mut agg) in series {
            rows.push((
                key,
                SeriesStats {
                    requests: agg.requests,
                    errors: agg.errors,
                    latency: agg.latency.summary(),
                    instances: agg.instances.len() as u32,
                },
            ));
            if self.pool.len() < POOL_LIMIT {
                self.pool.push(agg.latency.take_bins());
            }
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let start = index * self.width_ns;
        WindowStats {
            start: Timestamp(start),
            end: Timestamp(start + self.width_ns),
            series: rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u64 = 10;

    fn key(service: &str) -> SeriesKey {
        SeriesKey::Service {
            environment: "".into(),
            service: service.into(),
        }
    }

    fn sample(latency_ns: u64) -> Sample<'static> {
        Sample {
            latency_ns,
            error: false,
            instance: None,
        }
    }

    #[test]
    fn windows_close_ttl_after_their_end_and_in_order() {
        let mut windows = Windows::new(W, 5, 8);
        windows.record(Timestamp(3), key("a"), sample(1));
        windows.record(Timestamp(12), key("a"), sample(2));
        let mut out = Vec::new();
        assert_eq!(windows.close(Some(Timestamp(14)), &mut out).closed, 0);
        assert_eq!(windows.close(Some(Timestamp(15)), &mut out).closed, 1);
        assert_eq!((out[0].start, out[0].end), (Timestamp(0), Timestamp(10)));
        assert!(
            !windows.record(Timestamp(9), key("a"), sample(1)),
            "closed window"
        );
        assert_eq!(windows.close(None, &mut out).closed, 1);
        assert_eq!(out[1].start, Timestamp(10));
        assert_eq!(out[1].series[0].1.requests, 1);
    }

    #[test]
    fn an_earlier_window_may_open_until_the_first_close() {
        let mut windows = Windows::new(W, 0, 8);
        windows.record(Timestamp(25), key("a"), sample(1));
        let mut out = Vec::new();
        windows.close(Some(Timestamp(15)), &mut out);
        assert!(windows.record(Timestamp(12), key("a"), sample(1)));
        windows.close(None, &mut out);
        let starts: Vec<u64> = out.iter().map(|w| w.start.0).collect();
        assert_eq!(starts, [10, 20]);
    }

    #[test]
    fn empty_windows_between_data_are_emitted() {
        let mut windows = Windows::new(W, 0, 8);
        windows.record(Timestamp(1), key("a"), sample(1));
        windows.record(Timestamp(31), key("a"), sample(1));
        let mut out = Vec::new();
        windows.close(None, &mut out);
        let starts: Vec<u64> = out.iter().map(|w| w.start.0).collect();
        assert_eq!(starts, [0, 10, 20, 30]);
        assert!(out[1].series.is_empty());
    }

    #[test]
    fn long_gaps_are_skipped_after_the_cap() {
        let mut windows = Windows::new(W, 0, 8);
        windows.record(Timestamp(1), key("a"), sample(1));
        let far = (MAX_EMPTY_WINDOWS + 1_000_000) * W;
        windows.record(Timestamp(far), key("a"), sample(1));
        let mut out = Vec::new();
        let counts = windows.close(None, &mut out);
        assert_eq!(counts.closed, MAX_EMPTY_WINDOWS + 2);
        assert_eq!(counts.skipped, 1_000_000 - 1);
        assert_eq!(out.last().unwrap().start, Timestamp(far));
    }

    #[test]
    fn skipping_is_the_same_in_small_and_large_steps() {
        let run = |steps: &[u64]| {
            let mut windows = Windows::new(W, 0, 8);
            windows.record(Timestamp(1), key("a"), sample(1));
            let mut out = Vec::new();
            for step in steps {
                windows.close(Some(Timestamp(*step)), &mut out);
            }
            windows.record(Timestamp(5_000 * W + 1), key("a"), sample(1));
            windows.close(None, &mut out);
            out.iter()
                .map(|w| (w.start, w.series.len()))
                .collect::<Vec<_>>()
        };
        let small: Vec<u64> = (1..4_000).map(|i| i * W).collect();
        assert_eq!(run(&small), run(&[4_000 * W]));
    }

    #[test]
    fn series_are_sorted_and_instances_counted() {
        let mut windows = Windows::new(W, 0, 8);
        let (i1, i2) = (Arc::from("i1"), Arc::from("i2"));
        for (service, instance) in [("b", &i1), ("a", &i1), ("a", &i2), ("a", &i1)] {
            windows.record(
                Timestamp(1),
                key(service),
                Sample {
                    latency_ns: 1,
                    error: service == "b",
                    instance: Some(instance),
                },
            );
        }
        let mut out = Vec::new();
        windows.close(None, &mut out);
        let rows: Vec<(SeriesKey, u64, u64, u32)> = out[0]
            .series
            .iter()
            .map(|(k, s)| (k.clone(), s.requests, s.errors, s.instances))
            .collect();
        assert_eq!(rows, [(key("a"), 3, 0, 2), (key("b"), 1, 1, 1)]);
    }
}
