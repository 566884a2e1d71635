//! Anomalies found by detection, before attribution.

use super::time::Timestamp;
use super::window::SeriesKey;

/// Which statistic of a series moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Failed / total requests rose.
    ErrorRatio,
    /// Median latency rose.
    LatencyP50,
    /// 95th percentile latency rose.
    LatencyP95,
    /// 99th percentile latency rose.
    LatencyP99,
    /// Request rate dropped.
    Throughput,
}

impl Signal {
    /// Stable snake_case name (the alert's `anomaly.signal`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ErrorRatio => "error_ratio",
            Self::LatencyP50 => "latency_p50",
            Self::LatencyP95 => "latency_p95",
            Self::LatencyP99 => "latency_p99",
            Self::Throughput => "throughput",
        }
    }
}

/// A ranked place where an anomaly most likely starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    /// Node name (a service, or a database / external virtual node).
    pub node: String,
    /// 0..=1, higher is more likely.
    pub score: f64,
}

/// One anomalous series, with its estimated onset.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// Stable id: the same anomaly re-evaluated keeps it.
    pub id: String,
    /// The series.
    pub series: SeriesKey,
    /// The statistic that moved.
    pub signal: Signal,
    /// Estimated start, event time.
    pub onset: Timestamp,
    /// End of the window that confirmed it, event time.
    pub detected_at: Timestamp,
    /// Baseline value (ratio, seconds, or requests per second).
    pub baseline: f64,
    /// Observed value in the confirming windows.
    pub observed: f64,
    /// Significance, already corrected for volume and the number of series.
    pub significance: f64,
    /// Requests behind `observed`.
    pub requests: u64,
    /// Where it most likely starts, best first.
    pub origins: Vec<Origin>,
    /// When it recovered (event time), once it has.
    pub recovered_at: Option<Timestamp>,
}
