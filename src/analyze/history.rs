//! The recent closed windows, re-indexed by (environment, service) so the
//! evidence adapters can read a service's versions and outgoing edges per
//! window without scanning every series.
//!
//! Holds only the series kinds attribution reads (service, service
//! version, edge, edge by caller version; not operations, nor edges by the
//! callee's version) for `retention` of event time. A window is a kept
//! window of its own (see `kept`: interned keys, distinct stats once) with
//! its rows sorted by service, plus 4 bytes per service: a service's rows
//! are one range. The journal holds the whole windows, and only until
//! they are stored.
//!
//! Never does: judge anything; it is storage with lookups.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::Arc;

use super::kept::KeptWindow;
use crate::model::{ConnectionType, LatencySummary, SeriesKey, SeriesStats, Timestamp};

/// What one window holds for one service: its rows, by kind (service,
/// versions, edges, edges by version), each kind in the window's row order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slice<'a> {
    rows: &'a KeptWindow,
    /// The service's rows in `rows`.
    range: (usize, usize),
}

impl<'a> Slice<'a> {
    fn each(&self) -> impl Iterator<Item = (&'a SeriesKey, usize)> + 'a {
        let rows = self.rows;
        (self.range.0..self.range.1).map(move |i| (rows.key(i), i))
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

/// One re-indexed window: its rows the history reads, and nothing else.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    /// The indexed rows, sorted by (scope, kind, row in the closed window).
    rows: KeptWindow,
    /// End of each scope's rows in `rows`, scopes sorted (the first starts at 0).
    scopes: Box<[u32]>,
}

impl Window {
    fn new(window: &KeptWindow) -> Self {
        let scope = |i: u32| scope_of(window.key(i as usize));
        let mut index: Vec<u32> = (0..window.len() as u32)
            .filter(|i| scope(*i).is_some())
            .collect();
        // Each kind is a run already sorted by scope (a closed window is
        // sorted by key): the sort merges four runs.
        index.sort_by_key(|i| (scope(*i), *i));
        let rows = window.select(&index);
        let scope = |i: usize| scope_of(rows.key(i)).map(|(e, s, _)| (e, s));
        let scopes = (1..=rows.len())
            .filter(|&at| at == rows.len() || scope(at) != scope(at - 1))
            .map(|at| at as u32)
            .collect();
        Self {
            start: window.start,
            end: window.end,
            rows,
            scopes,
        }
    }

    /// Rows of scope number `n`.
    fn range(&self, n: usize) -> (usize, usize) {
        let first = n.checked_sub(1).map_or(0, |p| self.scopes[p] as usize);
        (first, self.scopes[n] as usize)
    }

    /// Bytes held beyond the shared keys.
    fn heap_bytes(&self) -> usize {
        self.rows.heap_bytes() + self.scopes.len() * size_of::<u32>()
    }

    /// Window length in seconds (at least a nanosecond).
    pub(crate) fn secs(&self) -> f64 {
        (self.end.nanos().saturating_sub(self.start.nanos())).max(1) as f64
            / Timestamp::SECOND as f64
    }

    /// Every `(environment, service)` with its slice, sorted.
    pub(crate) fn slices(&self) -> impl Iterator<Item = ((&Arc<str>, &Arc<str>), Slice<'_>)> {
        let rows = &self.rows;
        (0..self.scopes.len()).filter_map(move |n| {
            let range = self.range(n);
            let scope = scope_arcs(rows.key(range.0))?;
            Some((scope, Slice { rows, range }))
        })
    }

    pub(crate) fn slice(&self, environment: &str, service: &str) -> Option<Slice<'_>> {
        let rows = &self.rows;
        let found = self
            .scopes
            .binary_search_by(|end| match scope_of(rows.key(*end as usize - 1)) {
                Some((e, s, _)) => (e, s).cmp(&(environment, service)),
                None => Ordering::Less,
            })
            .ok()?;
        Some(Slice {
            rows,
            range: self.range(found),
        })
    }
}

/// The last `retention` of windows, oldest first.
#[derive(Debug)]
pub(crate) struct History {
    windows: VecDeque<Window>,
    retention_ns: u64,
    /// Sum of the windows' [`Window::heap_bytes`].
    bytes: usize,
}

impl History {
    pub(crate) fn new(retention_ns: u64) -> Self {
        Self {
            windows: VecDeque::new(),
            retention_ns,
            bytes: 0,
        }
    }

    /// Indexes `window` (copying the rows it reads) and forgets windows
    /// older than the retention.
    pub(crate) fn push(&mut self, window: &KeptWindow) {
        let horizon = window.end.minus_nanos(self.retention_ns);
        let window = Window::new(window);
        self.bytes += window.heap_bytes();
        self.windows.push_back(window);
        while self.windows.front().is_some_and(|w| w.end < horizon) {
            let old = self.windows.pop_front();
            self.bytes -= old.map_or(0, |w| w.heap_bytes());
        }
    }

    /// Windows held and the bytes their rows take (keys, shared, aside).
    pub(crate) fn footprint(&self) -> (usize, usize) {
        (self.windows.len(), self.bytes)
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
            history.push(&KeptWindow::new(&crate::model::WindowStats {
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

    /// A closed window of two services, every kind of row, sorted by key.
    fn every_kind() -> crate::model::WindowStats {
        let a = |s: &str| -> Arc<str> { s.into() };
        let (env, v1, v2) = (a("prod"), a("1"), a("2"));
        let mut series = Vec::new();
        for (n, (client, server)) in [("a", "b"), ("b", "a")].into_iter().enumerate() {
            let n = n as u64 * 100;
            let (client, server) = (a(client), a(server));
            series.extend([
                (
                    SeriesKey::Service {
                        environment: env.clone(),
                        service: client.clone(),
                    },
                    stats(n + 10, 1, 0.1),
                ),
                (
                    SeriesKey::Operation {
                        environment: env.clone(),
                        service: client.clone(),
                        operation: a("GET /"),
                    },
                    stats(n + 10, 1, 0.1),
                ),
                (
                    SeriesKey::ServiceVersion {
                        environment: env.clone(),
                        service: client.clone(),
                        version: v1.clone(),
                    },
                    stats(n + 4, 0, 0.1),
                ),
                (
                    SeriesKey::ServiceVersion {
                        environment: env.clone(),
                        service: client.clone(),
                        version: v2.clone(),
                    },
                    stats(n + 6, 1, 0.1),
                ),
                (
                    SeriesKey::Edge {
                        environment: env.clone(),
                        client: client.clone(),
                        server: server.clone(),
                        connection_type: ConnectionType::Direct,
                    },
                    stats(n + 20, 2, 0.3),
                ),
                (
                    SeriesKey::EdgeByClientVersion {
                        environment: env.clone(),
                        client: client.clone(),
                        client_version: v2.clone(),
                        server: server.clone(),
                    },
                    stats(n + 20, 2, 0.3),
                ),
                (
                    SeriesKey::EdgeByServerVersion {
                        environment: env.clone(),
                        client: client.clone(),
                        server: server.clone(),
                        server_version: v1.clone(),
                    },
                    stats(n + 20, 2, 0.3),
                ),
            ]);
        }
        series.sort_by(|x, y| x.0.cmp(&y.0));
        crate::model::WindowStats {
            start: Timestamp::from_secs(0),
            end: Timestamp::from_secs(10),
            series,
        }
    }

    #[test]
    fn a_window_holds_only_the_rows_read_and_each_service_reads_its_own() {
        let closed = every_kind();
        let kept = KeptWindow::new(&closed);
        let mut history = History::new(3600 * Timestamp::SECOND);
        history.push(&kept);
        let window = history.between(Timestamp(0), Timestamp(1)).next().unwrap();
        // 14 rows closed, 10 read (operations and edges by the callee's
        // version are not); 2 services.
        assert_eq!((window.rows.len(), window.scopes.len()), (10, 2));
        let (windows, bytes) = history.footprint();
        assert_eq!(windows, 1);
        assert!(
            bytes < kept.heap_bytes(),
            "{bytes} vs {}",
            kept.heap_bytes()
        );

        let scopes: Vec<_> = window.slices().map(|((e, s), _)| (&**e, &**s)).collect();
        assert_eq!(scopes, [("prod", "a"), ("prod", "b")]);
        for (n, (service, peer)) in [("a", "b"), ("b", "a")].into_iter().enumerate() {
            let n = n as u64 * 100;
            let slice = window.slice("prod", service).unwrap();
            assert_eq!(slice.service().map(|s| s.requests), Some(n + 10));
            let versions: Vec<_> = slice.versions().map(|(v, s)| (&**v, s.requests)).collect();
            assert_eq!(versions, [("1", n + 4), ("2", n + 6)]);
            let edges: Vec<_> = slice.edges().map(|(s, _, x)| (&**s, x)).collect();
            assert_eq!(edges, [(peer, stats(n + 20, 2, 0.3))]);
            let by_version: Vec<_> = slice
                .edges_by_version()
                .map(|(s, v, x)| (&**s, &**v, x.requests))
                .collect();
            assert_eq!(by_version, [(peer, "2", n + 20)]);
        }
        assert!(window.slice("prod", "c").is_none());
        assert!(window.slice("test", "a").is_none());
    }
}
