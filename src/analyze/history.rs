//! The recent closed windows, re-indexed by (environment, service) so the
//! evidence adapters can read a service's versions and outgoing edges per
//! window without scanning every series.
//!
//! Keeps only the series kinds attribution reads (service, service version,
//! edge, edge by caller version) for `retention` of event time.
//!
//! Never does: judge anything; it is storage with lookups.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::model::{
    ConnectionType, LatencySummary, SeriesKey, SeriesStats, Timestamp, WindowStats,
};

/// (environment, service).
pub(crate) type Scope = (Arc<str>, Arc<str>);

/// What one window holds for one service.
#[derive(Clone, Debug, Default)]
pub(crate) struct Slice {
    /// The service's own server-side stats.
    pub(crate) service: Option<SeriesStats>,
    /// Server-side stats per version, sorted by version.
    pub(crate) versions: Vec<(Arc<str>, SeriesStats)>,
    /// Outgoing edges: (server, connection type, stats), sorted.
    pub(crate) edges: Vec<(Arc<str>, ConnectionType, SeriesStats)>,
    /// Outgoing edges by the caller's version: (server, caller version, stats).
    pub(crate) edges_by_version: Vec<(Arc<str>, Arc<str>, SeriesStats)>,
}

/// One re-indexed window.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) slices: BTreeMap<Scope, Slice>,
}

impl Window {
    /// Window length in seconds (at least a nanosecond).
    pub(crate) fn secs(&self) -> f64 {
        (self.end.nanos().saturating_sub(self.start.nanos())).max(1) as f64
            / Timestamp::SECOND as f64
    }

    pub(crate) fn slice(&self, environment: &str, service: &str) -> Option<&Slice> {
        self.slices
            .get(&(Arc::<str>::from(environment), Arc::<str>::from(service)))
    }
}

/// The last `retention` of windows, oldest first.
#[derive(Debug)]
pub(crate) struct History {
    windows: VecDeque<Window>,
    retention_ns: u64,
}

impl History {
    pub(crate) fn new(retention_ns: u64) -> Self {
        Self {
            windows: VecDeque::new(),
            retention_ns,
        }
    }

    /// Indexes `window` and forgets windows older than the retention.
    pub(crate) fn push(&mut self, window: &WindowStats) {
        let mut slices: BTreeMap<Scope, Slice> = BTreeMap::new();
        for (key, stats) in &window.series {
            let stats = stats.clone();
            match key {
                SeriesKey::Service {
                    environment,
                    service,
                } => {
                    slices
                        .entry((environment.clone(), service.clone()))
                        .or_default()
                        .service = Some(stats);
                }
                SeriesKey::ServiceVersion {
                    environment,
                    service,
                    version,
                } => slices
                    .entry((environment.clone(), service.clone()))
                    .or_default()
                    .versions
                    .push((version.clone(), stats)),
                SeriesKey::Edge {
                    environment,
                    client,
                    server,
                    connection_type,
                } => slices
                    .entry((environment.clone(), client.clone()))
                    .or_default()
                    .edges
                    .push((server.clone(), *connection_type, stats)),
                SeriesKey::EdgeByClientVersion {
                    environment,
                    client,
                    client_version,
                    server,
                } => slices
                    .entry((environment.clone(), client.clone()))
                    .or_default()
                    .edges_by_version
                    .push((server.clone(), client_version.clone(), stats)),
                SeriesKey::Operation { .. } | SeriesKey::EdgeByServerVersion { .. } => {}
            }
        }
        self.windows.push_back(Window {
            start: window.start,
            end: window.end,
            slices,
        });
        let horizon = window.end.minus_nanos(self.retention_ns);
        while self.windows.front().is_some_and(|w| w.end < horizon) {
            self.windows.pop_front();
        }
    }

    /// Windows that start at or after `from` and before `to`, oldest first.
    pub(crate) fn between(&self, from: Timestamp, to: Timestamp) -> impl Iterator<Item = &Window> {
        self.windows
            .iter()
            .filter(move |w| w.start >= from && w.start < to)
    }

    /// Number of windows held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.windows.len()
    }
}

/// Adds `other` into `into`: counts add; latency quantiles are averaged
/// weighted by sample count (an approximation: quantiles do not add).
pub(crate) fn merge(into: &mut SeriesStats, other: &SeriesStats) {
    let (a, b) = (into.latency, other.latency);
    let total = a.count + b.count;
    let weighted = |x: f64, y: f64| {
        if total == 0 {
            0.0
        } else {
            (x * a.count as f64 + y * b.count as f64) / total as f64
        }
    };
    into.latency = LatencySummary {
        count: total,
        sum: a.sum + b.sum,
        p50: weighted(a.p50, b.p50),
        p95: weighted(a.p95, b.p95),
        p99: weighted(a.p99, b.p99),
        max: a.max.max(b.max),
    };
    into.requests += other.requests;
    into.errors += other.errors;
    into.instances = into.instances.max(other.instances);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(requests: u64, errors: u64, p50: f64) -> SeriesStats {
        SeriesStats {
            requests,
            errors,
            latency: LatencySummary {
                count: requests,
                sum: p50 * requests as f64,
                p50,
                p95: p50 * 2.0,
                p99: p50 * 3.0,
                max: p50 * 4.0,
            },
            instances: 1,
        }
    }

    #[test]
    fn merge_adds_counts_and_weights_quantiles_by_samples() {
        let mut a = stats(30, 3, 0.1);
        merge(&mut a, &stats(10, 1, 0.5));
        assert_eq!((a.requests, a.errors, a.latency.count), (40, 4, 40));
        assert!((a.latency.p50 - 0.2).abs() < 1e-12);
        assert!((a.latency.max - 2.0).abs() < 1e-12);
    }

    #[test]
    fn history_forgets_windows_older_than_the_retention() {
        let mut history = History::new(30 * Timestamp::SECOND);
        for i in 0..10u64 {
            let env: Arc<str> = "prod".into();
            history.push(&WindowStats {
                start: Timestamp::from_secs(i * 10),
                end: Timestamp::from_secs(i * 10 + 10),
                series: vec![(
                    SeriesKey::Service {
                        environment: env,
                        service: "a".into(),
                    },
                    stats(5, 0, 0.1),
                )],
            });
        }
        assert_eq!(history.len(), 4);
        let w = history
            .between(Timestamp::from_secs(0), Timestamp::from_secs(1000))
            .next()
            .map(|w| w.start);
        assert_eq!(w, Some(Timestamp::from_secs(60)));
        let last = history
            .between(Timestamp::from_secs(90), Timestamp::from_secs(100))
            .next()
            .and_then(|w| w.slice("prod", "a"))
            .and_then(|s| s.service.as_ref())
            .map(|s| s.requests);
        assert_eq!(last, Some(5));
    }
}
