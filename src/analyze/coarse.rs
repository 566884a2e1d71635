//! Coarser windows for detection: consecutive closed windows are merged
//! into one per `detect_window`, aligned to multiples of it in event time.
//!
//! Low-traffic services see a few requests per graph window, too few to
//! judge; three 10-second windows merged give detection the volume it needs
//! at the cost of up to one detection window of delay. Counts add;
//! latency quantiles are averaged weighted by samples (an approximation).
//!
//! Never does: reorder windows, or hold more than one detection window.

use std::collections::BTreeMap;

use crate::model::{SeriesKey, SeriesStats, Timestamp, WindowStats};

use super::history::merge;

/// Accumulates graph windows into detection windows.
#[derive(Debug)]
pub(crate) struct Coarsen {
    width_ns: u64,
    current: Option<(Timestamp, Timestamp, BTreeMap<SeriesKey, SeriesStats>)>,
}

impl Coarsen {
    pub(crate) fn new(width_ns: u64) -> Self {
        Self {
            width_ns: width_ns.max(1),
            current: None,
        }
    }

    fn bucket(&self, at: Timestamp) -> Timestamp {
        Timestamp(at.nanos() - at.nanos() % self.width_ns)
    }

    /// Folds `window` in; returns the detection windows that completed
    /// (zero, one, or two when `window` jumped past a boundary).
    pub(crate) fn push(&mut self, window: &WindowStats) -> Vec<WindowStats> {
        let mut done = Vec::new();
        let bucket = self.bucket(window.start);
        if let Some((start, _, _)) = &self.current
            && *start != bucket
            && let Some(finished) = self.take()
        {
            done.push(finished);
        }
        let (_, end, series) = self
            .current
            .get_or_insert_with(|| (bucket, window.end, BTreeMap::new()));
        *end = window.end;
        for (key, stats) in &window.series {
            merge(series.entry(key.clone()).or_default(), stats);
        }
        if window.end >= bucket.plus_nanos(self.width_ns)
            && let Some(finished) = self.take()
        {
            done.push(finished);
        }
        done
    }

    fn take(&mut self) -> Option<WindowStats> {
        let (start, end, series) = self.current.take()?;
        Some(WindowStats {
            start,
            end,
            series: series.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: u64, requests: u64) -> WindowStats {
        WindowStats {
            start: Timestamp::from_secs(start),
            end: Timestamp::from_secs(start + 10),
            series: vec![(
                SeriesKey::Service {
                    environment: "prod".into(),
                    service: "a".into(),
                },
                SeriesStats {
                    requests,
                    ..SeriesStats::default()
                },
            )],
        }
    }

    #[test]
    fn three_windows_make_one_aligned_detection_window() {
        let mut c = Coarsen::new(30 * Timestamp::SECOND);
        assert!(c.push(&window(30, 1)).is_empty());
        assert!(c.push(&window(40, 2)).is_empty());
        let done = c.push(&window(50, 3));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].start, Timestamp::from_secs(30));
        assert_eq!(done[0].end, Timestamp::from_secs(60));
        assert_eq!(done[0].series[0].1.requests, 6);
    }

    #[test]
    fn a_gap_closes_the_partial_window() {
        let mut c = Coarsen::new(30 * Timestamp::SECOND);
        assert!(c.push(&window(30, 1)).is_empty());
        let done = c.push(&window(70, 5));
        assert_eq!(done.len(), 1);
        assert_eq!(
            (done[0].start, done[0].end),
            (Timestamp::from_secs(30), Timestamp::from_secs(40))
        );
        let done = c.push(&window(80, 5));
        assert_eq!(done[0].series[0].1.requests, 10);
    }
}
