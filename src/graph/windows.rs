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

use std::collections::BTreeMap;
use std::sync::Arc;

use foldhash::{HashMap, HashSet};

use crate::model::{ConnectionType, SeriesKey, SeriesStats, Timestamp, WindowStats};

use super::sketch::{Block, Sketch};

/// Consecutive empty windows emitted before the rest of a gap is skipped.
pub const MAX_EMPTY_WINDOWS: u64 = 360;
/// Recycled sketch block vectors kept between windows.
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

impl SeriesAgg {
    fn add(&mut self, sample: Sample<'_>, max_instances: usize) {
        self.requests += 1;
        self.errors += u64::from(sample.error);
        self.latency.record(sample.latency_ns);
        if let Some(instance) = sample.instance
            && self.instances.len() < max_instances
            && !self.instances.contains(instance)
        {
            self.instances.insert(instance.clone());
        }
    }
}

/// One sample for a series.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample<'a> {
    pub(crate) latency_ns: u64,
    pub(crate) error: bool,
    pub(crate) instance: Option<&'a Arc<str>>,
}

/// A server-side span: one Service, one Operation and one ServiceVersion sample.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ServiceSample<'a> {
    pub(crate) environment: &'a Arc<str>,
    pub(crate) service: &'a Arc<str>,
    pub(crate) version: &'a Arc<str>,
    pub(crate) operation: &'a Arc<str>,
    pub(crate) instance: &'a Arc<str>,
    pub(crate) latency_ns: u64,
    pub(crate) error: bool,
}

/// A request over an edge: one Edge, one EdgeByClientVersion and one
/// EdgeByServerVersion sample.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EdgeSample<'a> {
    pub(crate) environment: &'a Arc<str>,
    pub(crate) client: &'a Arc<str>,
    pub(crate) server: &'a Arc<str>,
    pub(crate) connection_type: ConnectionType,
    pub(crate) client_version: &'a Arc<str>,
    pub(crate) server_version: &'a Arc<str>,
    pub(crate) latency_ns: u64,
    pub(crate) error: bool,
}

/// Service-side series of one `(environment, service)`, so one span costs
/// one group lookup instead of three series lookups.
#[derive(Debug, Default)]
pub(crate) struct ServiceGroup {
    total: Option<SeriesAgg>,
    versions: Vec<(Arc<str>, SeriesAgg)>,
    operations: HashMap<Arc<str>, SeriesAgg>,
}

/// Edge series of one `(environment, client, server)`.
#[derive(Debug, Default)]
pub(crate) struct EdgeGroup {
    by_type: Vec<(ConnectionType, SeriesAgg)>,
    by_client_version: Vec<(Arc<str>, SeriesAgg)>,
    by_server_version: Vec<(Arc<str>, SeriesAgg)>,
}

/// `(environment, client, server)`: the by-version series carry no
/// connection type, so all types of a client/server pair share a group.
type EdgeGroupKey = (Arc<str>, Arc<str>, Arc<str>);

/// The aggregates of one open window.
#[derive(Debug, Default)]
pub(crate) struct Window {
    services: HashMap<(Arc<str>, Arc<str>), ServiceGroup>,
    edges: HashMap<EdgeGroupKey, EdgeGroup>,
}

/// Open windows and the close cursor.
#[derive(Debug)]
pub(crate) struct Windows {
    pub(crate) width_ns: u64,
    ttl_ns: u64,
    max_instances: usize,
    pub(crate) open: BTreeMap<u64, Window>,
    /// The next window index to close; `None` before the first close.
    pub(crate) next: Option<u64>,
    /// Empty windows emitted since the last window with data.
    pub(crate) empties: u64,
    pool: Vec<Vec<Block>>,
}

/// Counts from one close pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Closed {
    pub(crate) closed: u64,
    pub(crate) skipped: u64,
}

/// The aggregate for `key` in `list`, created from the pool if missing.
fn slot<'a, K: PartialEq>(
    list: &'a mut Vec<(K, SeriesAgg)>,
    key: &K,
    make: impl FnOnce() -> (K, SeriesAgg),
) -> &'a mut SeriesAgg {
    let index = match list.iter().position(|(k, _)| k == key) {
        Some(index) => index,
        None => {
            list.push(make());
            list.len() - 1
        }
    };
    &mut list[index].1
}

/// The open window `index`, or `None` when it already closed.
fn open_window(
    open: &mut BTreeMap<u64, Window>,
    next: Option<u64>,
    index: u64,
) -> Option<&mut Window> {
    if next.is_some_and(|next| index < next) {
        return None;
    }
    Some(open.entry(index).or_default())
}

fn fresh(pool: &mut Vec<Vec<Block>>) -> SeriesAgg {
    SeriesAgg {
        latency: Sketch::with_blocks(pool.pop().unwrap_or_default()),
        ..SeriesAgg::default()
    }
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

    /// Records a server-side span. `false` when its window already closed.
    pub(crate) fn record_service(&mut self, at: Timestamp, s: ServiceSample<'_>) -> bool {
        let max = self.max_instances;
        let Some(window) = open_window(&mut self.open, self.next, at.0 / self.width_ns) else {
            return false;
        };
        let pool = &mut self.pool;
        let group = window
            .services
            .entry((s.environment.clone(), s.service.clone()))
            .or_default();
        let with = Sample {
            latency_ns: s.latency_ns,
            error: s.error,
            instance: Some(s.instance),
        };
        group
            .total
            .get_or_insert_with(|| fresh(pool))
            .add(with, max);
        slot(&mut group.versions, s.version, || {
            (s.version.clone(), fresh(pool))
        })
        .add(with, max);
        match group.operations.get_mut(s.operation) {
            Some(agg) => agg.add(
                Sample {
                    instance: None,
                    ..with
                },
                max,
            ),
            None => {
                let mut agg = fresh(pool);
                agg.add(
                    Sample {
                        instance: None,
                        ..with
                    },
                    max,
                );
                group.operations.insert(s.operation.clone(), agg);
            }
        }
        true
    }

    /// Records a request over an edge. `false` when its window already closed.
    pub(crate) fn record_edge(&mut self, at: Timestamp, e: EdgeSample<'_>) -> bool {
        let max = self.max_instances;
        let Some(window) = open_window(&mut self.open, self.next, at.0 / self.width_ns) else {
            return false;
        };
        let pool = &mut self.pool;
        let key = (e.environment.clone(), e.client.clone(), e.server.clone());
        let group = window.edges.entry(key).or_default();
        let sample = Sample {
            latency_ns: e.latency_ns,
            error: e.error,
            instance: None,
        };
        slot(&mut group.by_type, &e.connection_type, || {
            (e.connection_type, fresh(pool))
        })
        .add(sample, max);
        slot(&mut group.by_client_version, e.client_version, || {
            (e.client_version.clone(), fresh(pool))
        })
        .add(sample, max);
        slot(&mut group.by_server_version, e.server_version, || {
            (e.server_version.clone(), fresh(pool))
        })
        .add(sample, max);
        true
    }

    /// Adds one sample to any series. `false` when its window already closed.
    #[cfg(test)]
    pub(crate) fn record(&mut self, at: Timestamp, key: SeriesKey, sample: Sample<'_>) -> bool {
        let max = self.max_instances;
        match self.slot_of(at.0 / self.width_ns, key) {
            Some(agg) => {
                agg.add(sample, max);
                true
            }
            None => false,
        }
    }

    /// Puts a restored aggregate in place.
    pub(crate) fn restore(&mut self, index: u64, key: SeriesKey, agg: SeriesAgg) {
        if let Some(slot) = self.slot_of(index, key) {
            *slot = agg;
        }
    }

    fn slot_of(&mut self, index: u64, key: SeriesKey) -> Option<&mut SeriesAgg> {
        let window = open_window(&mut self.open, self.next, index)?;
        let pool = &mut self.pool;
        let agg = match key {
            SeriesKey::Service {
                environment,
                service,
            } => window
                .services
                .entry((environment, service))
                .or_default()
                .total
                .get_or_insert_with(|| fresh(pool)),
            SeriesKey::ServiceVersion {
                environment,
                service,
                version,
            } => {
                let group = window.services.entry((environment, service)).or_default();
                slot(&mut group.versions, &version, || {
                    (version.clone(), fresh(pool))
                })
            }
            SeriesKey::Operation {
                environment,
                service,
                operation,
            } => window
                .services
                .entry((environment, service))
                .or_default()
                .operations
                .entry(operation)
                .or_insert_with(|| fresh(pool)),
            SeriesKey::Edge {
                environment,
                client,
                server,
                connection_type,
            } => {
                let group = window
                    .edges
                    .entry((environment, client, server))
                    .or_default();
                slot(&mut group.by_type, &connection_type, || {
                    (connection_type, fresh(pool))
                })
            }
            SeriesKey::EdgeByClientVersion {
                environment,
                client,
                client_version,
                server,
            } => {
                let group = window
                    .edges
                    .entry((environment, client, server))
                    .or_default();
                slot(&mut group.by_client_version, &client_version, || {
                    (client_version.clone(), fresh(pool))
                })
            }
            SeriesKey::EdgeByServerVersion {
                environment,
                client,
                server,
                server_version,
            } => {
                let group = window
                    .edges
                    .entry((environment, client, server))
                    .or_default();
                slot(&mut group.by_server_version, &server_version, || {
                    (server_version.clone(), fresh(pool))
                })
            }
        };
        Some(agg)
    }

    /// Every series of open window `index` as `(key, aggregate)`, sorted.
    pub(crate) fn rows(window: &Window) -> Vec<(SeriesKey, &SeriesAgg)> {
        let mut rows = Vec::new();
        for ((environment, service), group) in &window.services {
            let (environment, service) = (environment.clone(), service.clone());
            if let Some(total) = &group.total {
                rows.push((
                    SeriesKey::Service {
                        environment: environment.clone(),
                        service: service.clone(),
                    },
                    total,
                ));
            }
            for (version, agg) in &group.versions {
                let key = SeriesKey::ServiceVersion {
                    environment: environment.clone(),
                    service: service.clone(),
                    version: version.clone(),
                };
                rows.push((key, agg));
            }
            for (operation, agg) in &group.operations {
                let key = SeriesKey::Operation {
                    environment: environment.clone(),
                    service: service.clone(),
                    operation: operation.clone(),
                };
                rows.push((key, agg));
            }
        }
        for ((environment, client, server), group) in &window.edges {
            for (connection_type, agg) in &group.by_type {
                let key = SeriesKey::Edge {
                    environment: environment.clone(),
                    client: client.clone(),
                    server: server.clone(),
                    connection_type: *connection_type,
                };
                rows.push((key, agg));
            }
            for (client_version, agg) in &group.by_client_version {
                let key = SeriesKey::EdgeByClientVersion {
                    environment: environment.clone(),
                    client: client.clone(),
                    client_version: client_version.clone(),
                    server: server.clone(),
                };
                rows.push((key, agg));
            }
            for (server_version, agg) in &group.by_server_version {
                let key = SeriesKey::EdgeByServerVersion {
                    environment: environment.clone(),
                    client: client.clone(),
                    server: server.clone(),
                    server_version: server_version.clone(),
                };
                rows.push((key, agg));
            }
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
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
            if let Some(window) = self.open.remove(&index) {
                out.push(self.emit(index, window));
                self.empties = 0;
                index += 1;
            } else if self.empties < MAX_EMPTY_WINDOWS {
                out.push(self.emit(index, Window::default()));
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

    fn emit(&mut self, index: u64, window: Window) -> WindowStats {
        let series = Self::rows(&window)
            .into_iter()
            .map(|(key, agg)| {
                let stats = SeriesStats {
                    requests: agg.requests,
                    errors: agg.errors,
                    latency: agg.latency.summary(),
                    instances: agg.instances.len() as u32,
                };
                (key, stats)
            })
            .collect();
        self.recycle(window);
        let start = index * self.width_ns;
        WindowStats {
            start: Timestamp(start),
            end: Timestamp(start + self.width_ns),
            series,
        }
    }

    /// Keeps the sketch allocations of a closed window for the next ones.
    fn recycle(&mut self, window: Window) {
        let mut give = |mut agg: SeriesAgg| {
            if self.pool.len() < POOL_LIMIT {
                self.pool.push(agg.latency.take_blocks());
            }
        };
        for (_, group) in window.services {
            group.total.into_iter().for_each(&mut give);
            group.versions.into_iter().for_each(|(_, agg)| give(agg));
            group.operations.into_iter().for_each(|(_, agg)| give(agg));
        }
        for (_, group) in window.edges {
            group.by_type.into_iter().for_each(|(_, agg)| give(agg));
            group
                .by_client_version
                .into_iter()
                .for_each(|(_, agg)| give(agg));
            group
                .by_server_version
                .into_iter()
                .for_each(|(_, agg)| give(agg));
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
