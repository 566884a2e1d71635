//! The recent closed windows, re-indexed by (environment, service) so the
//! evidence adapters can read a service's versions and outgoing edges per
//! window without scanning every series.
//!
//! Holds only the series kinds attribution reads (service, service
//! version, edge, edge by caller version; not operations, nor edges by the
//! callee's version) for `retention` of event time. A window's rows are
//! sorted by service, so a service's rows are one run, found by binary
//! search over 8 bytes per service; each row is a 4-byte key id and its
//! stats, a repeated stats a back-reference (see `history_rows`). The
//! journal holds the whole windows, and only until they are stored.
//!
//! Never does: judge anything; it is storage with lookups.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::Arc;

use super::history_rows::{KeyTable, Rows, RowsBuilder};
use super::kept::KeptWindow;
use crate::model::{ConnectionType, LatencySummary, SeriesKey, SeriesStats, Timestamp};

/// What one window holds for one service: its rows, by kind (service,
/// versions, edges, edges by version), each kind in the window's row order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slice<'a> {
    window: Window<'a>,
    /// The service's rows.
    rows: (usize, usize),
    /// Where the first row's stats start.
    first_byte: usize,
}

impl<'a> Slice<'a> {
    /// The rows with their stats, in order.
    fn each(&self) -> impl Iterator<Item = (&'a SeriesKey, SeriesStats)> + 'a {
        let Window { stored, keys, .. } = self.window;
        let mut at = self.first_byte;
        (self.rows.0..self.rows.1).map(move |row| {
            let (stats, next) = stored.rows.read(at);
            at = next;
            (keys.get(stored.rows.ids[row]), stats)
        })
    }

    /// The service's own server-side stats.
    pub(crate) fn service(&self) -> Option<SeriesStats> {
        // The service's row sorts first.
        self.each()
            .next()
            .filter(|(key, _)| matches!(key, SeriesKey::Service { .. }))
            .map(|(_, stats)| stats)
    }

    /// Server-side stats per version.
    pub(crate) fn versions(&self) -> impl Iterator<Item = (&'a Arc<str>, SeriesStats)> + 'a {
        self.each().filter_map(|(key, stats)| match key {
            SeriesKey::ServiceVersion { version, .. } => Some((version, stats)),
            _ => None,
        })
    }

    /// Outgoing edges: (server, connection type, stats).
    pub(crate) fn edges(
        &self,
    ) -> impl Iterator<Item = (&'a Arc<str>, ConnectionType, SeriesStats)> + 'a {
        self.each().filter_map(|(key, stats)| match key {
            SeriesKey::Edge {
                server,
                connection_type,
                ..
            } => Some((server, *connection_type, stats)),
            _ => None,
        })
    }

    /// Outgoing edges by the caller's version: (server, caller version, stats).
    pub(crate) fn edges_by_version(
        &self,
    ) -> impl Iterator<Item = (&'a Arc<str>, &'a Arc<str>, SeriesStats)> + 'a {
        self.each().filter_map(|(key, stats)| match key {
            SeriesKey::EdgeByClientVersion {
                server,
                client_version,
                ..
            } => Some((server, client_version, stats)),
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

/// One service's run of rows in a stored window.
#[derive(Clone, Copy, Debug)]
struct Scope {
    /// End of the run (the first starts at row 0).
    end: u32,
    /// Where the run's first stats start.
    first_byte: u32,
}

/// One re-indexed window as held: the rows the history reads, and nothing else.
#[derive(Debug)]
struct Stored {
    start: Timestamp,
    end: Timestamp,
    /// Sorted by (scope, kind, row in the closed window).
    rows: Rows,
    /// Scopes sorted.
    scopes: Box<[Scope]>,
}

impl Stored {
    fn new(window: &KeptWindow, keys: &mut KeyTable) -> Self {
        let scope = |i: u32| scope_of(window.key(i as usize));
        let mut index: Vec<u32> = (0..window.len() as u32)
            .filter(|i| scope(*i).is_some())
            .collect();
        // Each kind is a run already sorted by scope (a closed window is
        // sorted by key): the sort merges four runs.
        index.sort_by_key(|i| (scope(*i), *i));
        let mut rows = RowsBuilder::default();
        let mut scopes = Vec::new();
        let mut first_byte = 0;
        for (n, &i) in index.iter().enumerate() {
            let i = i as usize;
            let starts = n == 0
                || scope_arcs(window.key(i)) != scope_arcs(window.key(index[n - 1] as usize));
            if starts {
                if n > 0 {
                    scopes.push(Scope {
                        end: n as u32,
                        first_byte,
                    });
                }
                first_byte = rows.position();
            }
            rows.push(keys.hold(window.shared_key(i)), window.encoded_stats(i));
        }
        if !index.is_empty() {
            scopes.push(Scope {
                end: rows.len() as u32,
                first_byte,
            });
        }
        Self {
            start: window.start,
            end: window.end,
            rows: rows.finish(),
            scopes: scopes.into(),
        }
    }

    /// Bytes held (keys aside).
    fn heap_bytes(&self) -> usize {
        self.rows.heap_bytes() + self.scopes.len() * size_of::<Scope>()
    }
}

/// One window of the history, as read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window<'a> {
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    stored: &'a Stored,
    keys: &'a KeyTable,
}

impl<'a> Window<'a> {
    /// Rows and first stats of scope number `n`.
    fn slice_at(&self, n: usize) -> Slice<'a> {
        let scope = self.stored.scopes[n];
        let first = n
            .checked_sub(1)
            .map_or(0, |p| self.stored.scopes[p].end as usize);
        Slice {
            window: *self,
            rows: (first, scope.end as usize),
            first_byte: scope.first_byte as usize,
        }
    }

    /// The key of row `row`.
    fn key(&self, row: usize) -> &'a SeriesKey {
        self.keys.get(self.stored.rows.ids[row])
    }

    /// Window length in seconds (at least a nanosecond).
    pub(crate) fn secs(&self) -> f64 {
        (self.end.nanos().saturating_sub(self.start.nanos())).max(1) as f64
            / Timestamp::SECOND as f64
    }

    /// Every `(environment, service)` with its slice, sorted.
    pub(crate) fn slices(&self) -> impl Iterator<Item = ((&'a Arc<str>, &'a Arc<str>), Slice<'a>)> {
        let window = *self;
        (0..self.stored.scopes.len()).filter_map(move |n| {
            let slice = window.slice_at(n);
            let scope = scope_arcs(window.key(slice.rows.0))?;
            Some((scope, slice))
        })
    }

    pub(crate) fn slice(&self, environment: &str, service: &str) -> Option<Slice<'a>> {
        let found = self
            .stored
            .scopes
            .binary_search_by(|scope| match scope_of(self.key(scope.end as usize - 1)) {
                Some((e, s, _)) => (e, s).cmp(&(environment, service)),
                None => Ordering::Less,
            })
            .ok()?;
        Some(self.slice_at(found))
    }
}

/// The last `retention` of windows, oldest first.
#[derive(Debug)]
pub(crate) struct History {
    windows: VecDeque<Stored>,
    keys: KeyTable,
    retention_ns: u64,
    /// Sum of the windows' [`Stored::heap_bytes`].
    bytes: usize,
}

impl History {
    pub(crate) fn new(retention_ns: u64) -> Self {
        Self {
            windows: VecDeque::new(),
            keys: KeyTable::default(),
            retention_ns,
            bytes: 0,
        }
    }

    /// Indexes `window` (copying the rows it reads) and forgets windows
    /// older than the retention.
    pub(crate) fn push(&mut self, window: &KeptWindow) {
        let horizon = window.end.minus_nanos(self.retention_ns);
        let window = Stored::new(window, &mut self.keys);
        self.bytes += window.heap_bytes();
        self.windows.push_back(window);
        while self.windows.front().is_some_and(|w| w.end < horizon) {
            let Some(old) = self.windows.pop_front() else {
                break;
            };
            self.bytes -= old.heap_bytes();
            for &id in &old.rows.ids {
                self.keys.release(id);
            }
        }
    }

    /// Windows held and the bytes their rows and key ids take (the keys
    /// themselves are shared with the journal).
    pub(crate) fn footprint(&self) -> (usize, usize) {
        (self.windows.len(), self.bytes + self.keys.heap_bytes())
    }

    /// Windows that start at or after `from` and before `to`, oldest first.
    pub(crate) fn between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Iterator<Item = Window<'_>> {
        self.windows
            .iter()
            .filter(move |w| w.start >= from && w.start < to)
            .map(|stored| Window {
                start: stored.start,
                end: stored.end,
                stored,
                keys: &self.keys,
            })
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
#[path = "history_tests.rs"]
mod tests;
