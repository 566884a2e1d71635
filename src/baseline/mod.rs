//! Robust per-series baselines over trailing closed windows (event time).
//!
//! A [`Baseline`] keeps a bounded ring of per-window aggregates of one series
//! (requests, errors, log p50/p95/p99, window length: 32 bytes a window, at
//! most `history_secs` of event time and `max_points` windows) and, on every
//! fold, recomputes a robust [`Summary`]: a trimmed pooled error ratio with a
//! binomial over-dispersion factor, the median request rate with its scaled
//! MAD and Poisson over-dispersion, and the median and scaled MAD of each log
//! latency quantile. A baseline is `ready` once it covers `min_history_secs`
//! (default 10 minutes). Windows folded with a signal's bit in the mask do
//! not teach that signal, so an incident does not become the new normal.
//!
//! [`SeriesMap`] bounds the number of series: when full, new series are
//! refused and counted, never evicting tracked ones. [`stats`] holds the
//! tail probabilities the detectors use.
//!
//! Never does: detection decisions, telemetry, I/O, reading the clock.
//! Depends only on `model`.

mod map;
mod series;
pub mod stats;

pub use map::{Entry, SeriesMap};
pub use series::{
    Baseline, BaselineParams, ErrorBaseline, LatencyBaseline, RateBaseline, SIGNALS, Summary,
    latency_index, min_latency_samples, signal_bit,
};
