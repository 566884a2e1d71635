//! `graph:` configuration: the raw serde form, its validation, and the
//! validated [`Settings`] the stage is built from.
//!
//! Never does: read files or the environment (the `config` module does), or
//! hold runtime state.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{Invalid, Timestamp};

/// Tempo's default `histogram_buckets`: `ExponentialBuckets(0.1, 2, 8)`, seconds.
pub const TEMPO_BUCKETS: [f64; 8] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];

/// `graph:` section. Every option has a default; durations are event time
/// unless the name says `wall`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Length of one aggregation window, seconds. Windows are `[k*w, (k+1)*w)`
    /// of span end time. 10 s matches Tempo's 15 s collection order of
    /// magnitude while keeping detection latency low.
    pub window_secs: u64,
    /// How far behind the newest span end a span may arrive and still count,
    /// seconds. The watermark is `max end seen - lateness_secs`; spans that end
    /// before it are `late` and ignored. 10 s covers the OpenTelemetry SDK's
    /// 5 s batch export delay plus collector and Kafka hops.
    pub lateness_secs: u64,
    /// How long (event time) a half waits for its counterpart after it ended,
    /// seconds: a half expires when `watermark > end + pairing_ttl_secs`.
    /// Tempo's `wait` default is 10 s. Windows close `pairing_ttl_secs` after
    /// their end passes the watermark, so that edges completed or expired late
    /// still land in the right window.
    pub pairing_ttl_secs: u64,
    /// Upper bound on halves held for pairing and de-duplication. Every client,
    /// server, producer and consumer span is held until it expires, so size it
    /// as spans/s × (lateness + ttl): 500 000 covers about 25 000 such spans/s
    /// and costs about 80 MB (161 B per held half) plus hash-map slack. When
    /// full, new halves are rejected. At most 2^31.
    pub max_pending_spans: usize,
    /// An edge (or node) with no traffic for this long in event time leaves the
    /// live graph and its cumulative counters restart, seconds. 900 s matches
    /// Tempo's and the OTel connector's 15 min stale-series horizon.
    pub edge_idle_secs: u64,
    /// Upper bound on nodes (services and inferred peers). Spans of a service
    /// that would exceed it are dropped and counted.
    pub max_nodes: usize,
    /// Upper bound on edges. Edges that would exceed it are dropped and counted.
    pub max_edges: usize,
    /// Distinct operations tracked per service; the rest are aggregated as
    /// `__other__`.
    pub max_operations_per_service: usize,
    /// Distinct operations tracked over all services: each is a window series
    /// (and a detection baseline), so this bounds their memory when span names
    /// carry ids. Beyond it, new operations are aggregated as their service's
    /// `__other__` until idle ones (`edge_idle_secs`) leave. Counted in
    /// `epicenter_graph_operations_overflowed_total{limit="total"}`.
    pub max_operations: usize,
    /// Distinct instances tracked per service (for version rollout state);
    /// instances beyond are not tracked (counted).
    pub max_instances_per_service: usize,
    /// An instance counts towards its version's instance count while it sent a
    /// span within this horizon, seconds.
    pub version_horizon_secs: u64,
    /// Upper bounds (`le`, inclusive) of the edge latency buckets, seconds,
    /// strictly ascending. Default: Tempo's `[0.1, 0.2, …, 12.8]`.
    pub histogram_buckets: Vec<f64>,
    /// Live mode only: when no batch arrived for this long (wall clock), the
    /// watermark advances with wall time so that quiet periods still close
    /// windows and expire halves, seconds. `0` disables it.
    pub idle_advance_secs: u64,
    /// How often the task publishes a [`crate::model::GraphSnapshot`], wall
    /// clock milliseconds.
    pub snapshot_interval_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            window_secs: 10,
            lateness_secs: 10,
            pairing_ttl_secs: 10,
            max_pending_spans: 500_000,
            edge_idle_secs: 900,
            max_nodes: 8192,
            max_edges: 65_536,
            max_operations_per_service: 200,
            max_operations: 20_000,
            max_instances_per_service: 1024,
            version_horizon_secs: 300,
            histogram_buckets: TEMPO_BUCKETS.to_vec(),
            idle_advance_secs: 5,
            snapshot_interval_ms: 1000,
        }
    }
}

/// The validated form of [`Config`]; the only form [`super::Graph`] accepts.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub(crate) window_ns: u64,
    pub(crate) lateness_ns: u64,
    pub(crate) ttl_ns: u64,
    pub(crate) max_pending: usize,
    pub(crate) idle_ns: u64,
    pub(crate) max_nodes: usize,
    pub(crate) max_edges: usize,
    pub(crate) max_operations: usize,
    pub(crate) max_operations_total: usize,
    pub(crate) max_instances: usize,
    pub(crate) version_horizon_ns: u64,
    /// Bucket bounds in seconds, as configured (for snapshots).
    pub(crate) bounds: Arc<[f64]>,
    /// The same bounds in nanoseconds, so placement is exact integer math.
    pub(crate) bounds_ns: Arc<[u64]>,
    pub(crate) idle_advance: Option<Duration>,
    pub(crate) snapshot_interval: Duration,
}

impl Settings {
    /// The task settings for live mode (idle advance as configured).
    pub fn task_settings(&self) -> super::task::TaskSettings {
        super::task::TaskSettings {
            idle_advance: self.idle_advance,
            snapshot_interval: self.snapshot_interval,
        }
    }

    /// Window length.
    pub fn window(&self) -> Duration {
        Duration::from_nanos(self.window_ns)
    }

    /// Start of the window that contains `at`.
    pub fn window_start(&self, at: Timestamp) -> Timestamp {
        Timestamp(at.0 - at.0 % self.window_ns)
    }
}

const MAX_SECS: u64 = 86_400;
const MAX_BUCKETS: usize = 64;

impl Config {
    /// Checks every constraint and returns all violations at once.
    ///
    /// # Errors
    /// One [`Invalid`] per violated constraint, keys prefixed `graph.`.
    pub fn validate(&self) -> Result<Settings, Vec<Invalid>> {
        let mut errors = Vec::new();
        let mut bad =
            |key: &str, reason: String| errors.push(Invalid::new(format!("graph.{key}"), reason));
        for (key, value, min) in [
            ("window_secs", self.window_secs, 1),
            ("pairing_ttl_secs", self.pairing_ttl_secs, 1),
            ("lateness_secs", self.lateness_secs, 0),
            ("edge_idle_secs", self.edge_idle_secs, 1),
            ("version_horizon_secs", self.version_horizon_secs, 1),
            ("idle_advance_secs", self.idle_advance_secs, 0),
        ] {
            if value < min || value > MAX_SECS {
                bad(key, format!("must be between {min} and {MAX_SECS}"));
            }
        }
        for (key, value) in [
            ("max_pending_spans", self.max_pending_spans),
            ("max_nodes", self.max_nodes),
            ("max_edges", self.max_edges),
            (
                "max_operations_per_service",
                self.max_operations_per_service,
            ),
            ("max_operations", self.max_operations),
            ("max_instances_per_service", self.max_instances_per_service),
        ] {
            if value == 0 {
                bad(key, "must be positive".into());
            }
        }
        let max_slots = super::pairing::MAX_SLOT as usize + 1;
        if self.max_pending_spans > max_slots {
            bad("max_pending_spans", format!("must be at most {max_slots}"));
        }
        // Edges must not be collected while a half that could still update them
        // is pending, and an idle gap must be unambiguous under reordering (the
        // reset rule in `edges.rs` relies on it).
        let slack = 2 * (self.lateness_secs + self.pairing_ttl_secs);
        if self.edge_idle_secs <= slack {
            bad(
                "edge_idle_secs",
                format!("must be greater than 2 × (lateness_secs + pairing_ttl_secs) = {slack}"),
            );
        }
        if self.snapshot_interval_ms < 10 || self.snapshot_interval_ms > MAX_SECS * 1000 {
            bad(
                "snapshot_interval_ms",
                format!("must be between 10 and {}", MAX_SECS * 1000),
            );
        }
        let buckets = &self.histogram_buckets;
        if buckets.is_empty() || buckets.len() > MAX_BUCKETS {
            bad(
                "histogram_buckets",
                format!("must hold between 1 and {MAX_BUCKETS} bounds"),
            );
        }
        if buckets
            .iter()
            .any(|b| !b.is_finite() || *b <= 0.0 || *b > 1e6)
        {
            bad(
                "histogram_buckets",
                "every bound must be a positive number of seconds".into(),
            );
        } else if buckets.windows(2).any(|w| w[0] >= w[1]) {
            bad(
                "histogram_buckets",
                "bounds must be strictly ascending".into(),
            );
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let secs = |s: u64| s * Timestamp::SECOND;
        Ok(Settings {
            window_ns: secs(self.window_secs),
            lateness_ns: secs(self.lateness_secs),
            ttl_ns: secs(self.pairing_ttl_secs),
            max_pending: self.max_pending_spans,
            idle_ns: secs(self.edge_idle_secs),
            max_nodes: self.max_nodes,
            max_edges: self.max_edges,
            max_operations: self.max_operations_per_service,
            max_operations_total: self.max_operations,
            max_instances: self.max_instances_per_service,
            version_horizon_ns: secs(self.version_horizon_secs),
            bounds: buckets.clone().into(),
            bounds_ns: buckets.iter().map(|b| (b * 1e9).round() as u64).collect(),
            idle_advance: (self.idle_advance_secs > 0)
                .then(|| Duration::from_secs(self.idle_advance_secs)),
            snapshot_interval: Duration::from_millis(self.snapshot_interval_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let settings = Config::default().validate().unwrap();
        assert_eq!(settings.bounds_ns[0], 100_000_000);
        assert_eq!(settings.bounds_ns[7], 12_800_000_000);
        assert_eq!(settings.idle_advance, Some(Duration::from_secs(5)));
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let config = Config {
            window_secs: 0,
            max_nodes: 0,
            edge_idle_secs: 20,
            histogram_buckets: vec![0.2, 0.1],
            ..Config::default()
        };
        let errors = config.validate().unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "graph.window_secs",
                "graph.max_nodes",
                "graph.edge_idle_secs",
                "graph.histogram_buckets"
            ]
        );
    }

    #[test]
    fn bad_bounds_are_rejected() {
        for buckets in [vec![], vec![0.0], vec![f64::NAN], vec![1.0, 1.0]] {
            let config = Config {
                histogram_buckets: buckets,
                ..Config::default()
            };
            assert!(config.validate().is_err());
        }
    }

    #[test]
    fn unknown_keys_are_rejected_and_missing_keys_default() {
        let parsed: Config = serde_json::from_str(r#"{"window_secs": 30}"#).unwrap();
        assert_eq!(
            parsed,
            Config {
                window_secs: 30,
                ..Config::default()
            }
        );
        assert!(serde_json::from_str::<Config>(r#"{"windw_secs": 30}"#).is_err());
    }

    #[test]
    fn zero_idle_advance_disables_it() {
        let settings = Config {
            idle_advance_secs: 0,
            ..Config::default()
        }
        .validate()
        .unwrap();
        assert_eq!(settings.task_settings().idle_advance, None);
    }
}
