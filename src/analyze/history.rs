//! The recent closed windows, re-indexed by (environment, service) so the
//! evidence adapters can read a service's versions and outgoing edges per
//! window without scanning every series.
//!
//! Indexes only the series kinds attribution reads (service, service
//! version, edge, edge by caller version) for `retention` of event time. A
//! window is held as the kept window (see `kept`: an `Arc`, shared with the
//! daemon's journal, so 40 minutes of windows are in memory once) plus a
//! 4-byte index per row read and 8 bytes per service.
//!
//! Never does: judge anything; it is storage with lookups.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::Arc;

use super::kept::KeptWindow;
use crate::model::{ConnectionType, LatencySummary, SeriesKey, SeriesStats, Timestamp};

/// What one window holds for one service: views into the window's rows, in
/// the window's row order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slice<'a> {
    rows: &'a KeptWindow,
    /// Indices into `rows`, by kind (service, versions, edges, edges by
    /// version), each kind in row order.
    index: &'a [u32],
}

impl<'a> Slice<'a> {
    fn each(&self) -> impl Iterator<Item = (&'a SeriesKey, usize)> + 'a {
        let rows = self.rows;
        self.index
            .iter()
            .map(move |i| (rows.key(*i as usize), *i as usize))
    }

    /// The service's own server-side stats.
    pub(crate) fn service(&self) -> Option<SeriesStats> {
        self.each()
            .filter(|(key, _)| matches!(key, SeriesKey::Service { .. }))
            .last()
            .map(|(_, i)| self.rows.stats(i))
    }

    /// Server-side stats per version.
    pub(crate) fn versions(&self) -> impl Iterator<Item = (&'a Arc<str>, SeriesStats)> + 'a {
        let rows = self.rows;
        self.each().filter_map(move |(key, i)| match key {
            SeriesKey::ServiceVersion { version, .. } => Some((version, rows.stats(i))),
            _ => None,
        })
    }

    /// Outgoing edges: (server, connection type, stats).
    pub(crate) fn edges(
        &self,
    ) -> impl Iterator<Item = (&'a Arc<str>, ConnectionType, SeriesStats)> + 'a {
        let rows = self.rows;
        self.each().filter_map(move |(key, i)| match key {
            SeriesKey::Edge {
                server,
                connection_type,
                ..
            } => Some((server, *connection_type, rows.stats(i))),
            _ => None,
        })
    }

    /// Outgoing edges by the caller's version: (server, caller version, stats).
    pub(crate) fn edges_by_version(
        &self,
    ) -> impl Iterator<Item = (&'a Arc<str>, &'a Arc<str>, SeriesStats)> + 'a {
        let rows = self.rows;
        self.each().filter_map(move |(key, i)| match key {
            SeriesKey::EdgeByClientVersion {
                server,
                client_version,
                ..
            } => Some((server, client_version, rows.stats(i))),
            _ => None,
        })
    }
}

/// `(environment, service)` of a row the history indexes.
fn scope_arcs(key: &SeriesKey) -> Option<(&Arc<str>, &Arc<str>)> {
    match key {
        SeriesKey::Service {
            environment,
            service,
        }
        | SeriesKey::ServiceVersion {
            environment,
            service,
            ..
        }
        | SeriesKey::Edge {
            environment,
            client: service,
            ..
        }
        | SeriesKey::EdgeByClientVersion {
            environment,
            client: service,
            ..
        } => Some((environment, service)),
        SeriesKey::Operation { .. } | SeriesKey::EdgeByServerVersion { .. } => None,
    }
}

/// The scope of a row the history indexes, and its kind's rank.
fn scope_of(key: &SeriesKey) -> Option<(&str, &str, u8)> {
    match key {
        SeriesKey::Service {
            environment,
            service,
        } => Some((environment, service, 0)),
        SeriesKey::ServiceVersion {
            environment,
            service,
            ..
        } => Some((environment, service, 1)),
        SeriesKey::Edge {
            environment,
            client,
            ..
        } => Some((environment, client, 2)),
        SeriesKey::EdgeByClientVersion {
            environment,
            client,
            ..
        } => Some((environment, client, 3)),
        SeriesKey::Operation { .. } | SeriesKey::EdgeByServerVersion { .. } => None,
    }
}

/// One re-indexed window.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    stats: Arc<KeptWindow>,
    /// Indices of the indexed rows, sorted by (scope, kind, row).
    index: Box<[u32]>,
    /// `(first, end)` into `index` per scope, sorted by scope.
    scopes: Box<[(u32, u32)]>,
}

impl Window {
    fn new(stats: Arc<KeptWindow>) -> Self {
        let rows = &*stats;
        let scope = |i: u32| scope_of(rows.key(i as usize));
        let mut index: Vec<u32> = (0..rows.len() as u32)
            .filter(|i| scope(*i).is_some())
            .collect();
        index.sort_by_key(|i| (scope(*i), *i));
        let mut scopes = Vec::new();
        let mut first = 0;
        for at in 1..=index.len() {
            let same = at < index.len() && {
                let (a, b) = (scope(index[first]), scope(index[at]));
                a.map(|(e, s, _)| (e, s)) == b.map(|(e, s, _)| (e, s))
            };
            if !same {
                scopes.push((first as u32, at as u32));
                first = at;
            }
        }
        Self {
            start: stats.start,
            end: stats.end,
            index: index.into(),
            scopes: scopes.into(),
            stats,
        }
    }

    /// Window length in seconds (at least a nanosecond).
    pub(crate) fn secs(&self) -> f64 {
        (self.end.nanos().saturating_sub(self.start.nanos())).max(1) as f64
            / Timestamp::SECOND as f64
    }

    /// Every `(environment, service)` with its slice, sorted.
    pub(crate) fn slices(&self) -> impl Iterator<Item = ((&Arc<str>, &Arc<str>), Slice<'_>)> {
        let rows = &*self.stats;
        self.scopes.iter().filter_map(move |(first, end)| {
            let index = &self.index[*first as usize..*end as usize];
            let scope = scope_arcs(rows.key(*index.first()? as usize))?;
            Some((scope, Slice { rows, index }))
        })
    }

    pub(crate) fn slice(&self, environment: &str, service: &str) -> Option<Slice<'_>> {
        let rows = &*self.stats;
        let found = self
            .scopes
            .binary_search_by(|(first, _)| {
                let i = self.index[*first as usize];
                match scope_of(rows.key(i as usize)) {
                    Some((e, s, _)) => (e, s).cmp(&(environment, service)),
                    None => Ordering::Less,
                }
            })
            .ok()?;
        let (first, end) = self.scopes[found];
        Some(Slice {
            rows,
            index: &self.index[first as usize..end as usize],
        })
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
    pub(crate) fn push(&mut self, window: Arc<KeptWindow>) {
        let horizon = window.end.minus_nanos(self.retention_ns);
        self.windows.push_back(Window::new(window));
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
            history.push(KeptWindow::new(&crate::model::WindowStats {
                start: Timestamp::from_secs(i * 10),
                end: Timestamp::from_secs(i * 10 + 10),
                series: vec![(
                    SeriesKey::Service {
                        environment: env,
                        service: "a".into(),
                    },
                    stats(5, 0, 0.1),
                )],
            }));
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
            .and_then(|s| s.service())
            .map(|s| s.requests);
        assert_eq!(last, Some(5));
    }
}
