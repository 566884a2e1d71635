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
//! The per-window aggregates and how series share them are in [`group`].
//!
//! Never does: decide what is recorded; it only aggregates what it is given.

mod group;
mod intern;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::{ConnectionType, ResourceInfo, SeriesKey, SeriesStats, Timestamp, WindowStats};

use super::sketch::Block;

pub(crate) use group::{EdgeGroup, KeyView, Sample, SeriesAgg, ServiceGroup, Window};
use intern::Interner;

/// Consecutive empty windows emitted before the rest of a gap is skipped.
pub const MAX_EMPTY_WINDOWS: u64 = 360;
/// Recycled sketch block vectors kept between windows.
const POOL_LIMIT: usize = 4096;
/// Emptied windows kept (with their maps' capacity) for the next ones.
const SPARE_LIMIT: usize = 4;

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
    /// Closed windows emptied for reuse: their maps keep their capacity, so
    /// a new window does not grow (rehash, page-fault) them again.
    spare: Vec<Window>,
    /// Shared strings for emitted keys and batch resources (see [`intern`]).
    interner: Interner,
}

/// Counts from one close pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Closed {
    pub(crate) closed: u64,
    pub(crate) skipped: u64,
}

/// The open window `index` (a spare one when new), or `None` when it
/// already closed.
fn open_window<'a>(
    open: &'a mut BTreeMap<u64, Window>,
    spare: &mut Vec<Window>,
    next: Option<u64>,
    index: u64,
) -> Option<&'a mut Window> {
    if next.is_some_and(|next| index < next) {
        return None;
    }
    Some(
        open.entry(index)
            .or_insert_with(|| spare.pop().unwrap_or_default()),
    )
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
            spare: Vec::new(),
            interner: Interner::default(),
        }
    }

    /// A copy of a batch resource whose strings are the shared allocations
    /// (`service` is the node's own name), so that the same names have the
    /// same pointers in every batch. Values are unchanged.
    pub(crate) fn share_resource(
        &mut self,
        info: &ResourceInfo,
        service: Arc<str>,
    ) -> ResourceInfo {
        let mut shared = ResourceInfo {
            service,
            namespace: info.namespace.clone(),
            version: info.version.clone(),
            environment: info.environment.clone(),
            instance: info.instance.clone(),
        };
        for s in [
            &mut shared.version,
            &mut shared.environment,
            &mut shared.instance,
        ]
        .into_iter()
        .flatten()
        {
            self.interner.get(s);
        }
        shared
    }

    /// Records a server-side span. `false` when its window already closed.
    pub(crate) fn record_service(&mut self, at: Timestamp, s: ServiceSample<'_>) -> bool {
        let max = self.max_instances;
        let Some(window) = open_window(
            &mut self.open,
            &mut self.spare,
            self.next,
            at.0 / self.width_ns,
        ) else {
            return false;
        };
        let pool = &mut self.pool;
        let view: (&str, &str) = (s.environment, s.service);
        let group = match window.services.get_mut(&view as &dyn KeyView) {
            Some(group) => group,
            None => window
                .services
                .entry((s.environment.clone(), s.service.clone()))
                .or_insert_with(|| ServiceGroup::new(pool)),
        };
        let sample = Sample {
            latency_ns: s.latency_ns,
            error: s.error,
            instance: Some(s.instance),
        };
        group.record(s.version, s.operation, sample, pool, max);
        true
    }

    /// Records a request over an edge. `false` when its window already closed.
    pub(crate) fn record_edge(&mut self, at: Timestamp, e: EdgeSample<'_>) -> bool {
        let max = self.max_instances;
        let Some(window) = open_window(
            &mut self.open,
            &mut self.spare,
            self.next,
            at.0 / self.width_ns,
        ) else {
            return false;
        };
        let pool = &mut self.pool;
        let view: (&str, &str, &str) = (e.environment, e.client, e.server);
        let group = match window.edges.get_mut(&view as &dyn KeyView) {
            Some(group) => group,
            None => window
                .edges
                .entry((e.environment.clone(), e.client.clone(), e.server.clone()))
                .or_insert_with(|| EdgeGroup::new(pool)),
        };
        let sample = Sample {
            latency_ns: e.latency_ns,
            error: e.error,
            instance: None,
        };
        group.record(
            e.connection_type,
            e.client_version,
            e.server_version,
            sample,
            pool,
            max,
        );
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

    /// The separate aggregate of one series, detached from any sharing.
    fn slot_of(&mut self, index: u64, key: SeriesKey) -> Option<&mut SeriesAgg> {
        let window = open_window(&mut self.open, &mut self.spare, self.next, index)?;
        let pool = &mut self.pool;
        let agg = match key {
            SeriesKey::Service {
                environment,
                service,
            } => {
                let group = window
                    .services
                    .entry((environment, service))
                    .or_insert_with(|| ServiceGroup::new(pool));
                group.versions.detach(&group.total);
                group.fresh = false;
                &mut group.total
            }
            SeriesKey::ServiceVersion {
                environment,
                service,
                version,
            } => {
                let group = window
                    .services
                    .entry((environment, service))
                    .or_insert_with(|| ServiceGroup::new(pool));
                group.versions.slot(&version, &group.total, pool)
            }
            SeriesKey::Operation {
                environment,
                service,
                operation,
            } => window
                .services
                .entry((environment, service))
                .or_insert_with(|| ServiceGroup::new(pool))
                .operations
                .entry(operation)
                .or_insert_with(|| SeriesAgg::fresh(pool)),
            SeriesKey::Edge {
                environment,
                client,
                server,
                connection_type,
            } => {
                let group = Self::edge_group(window, pool, (environment, client, server));
                group.by_type.slot(&connection_type, &group.shared, pool)
            }
            SeriesKey::EdgeByClientVersion {
                environment,
                client,
                client_version,
                server,
            } => {
                let group = Self::edge_group(window, pool, (environment, client, server));
                group
                    .by_client_version
                    .slot(&client_version, &group.shared, pool)
            }
            SeriesKey::EdgeByServerVersion {
                environment,
                client,
                server,
                server_version,
            } => {
                let group = Self::edge_group(window, pool, (environment, client, server));
                group
                    .by_server_version
                    .slot(&server_version, &group.shared, pool)
            }
        };
        Some(agg)
    }

    /// An edge group with every split detached, for direct edits.
    fn edge_group<'a>(
        window: &'a mut Window,
        pool: &mut Vec<Vec<Block>>,
        key: (Arc<str>, Arc<str>, Arc<str>),
    ) -> &'a mut EdgeGroup {
        let group = window
            .edges
            .entry(key)
            .or_insert_with(|| EdgeGroup::new(pool));
        group.detach();
        group
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
        let series = window
            .rows()
            .into_iter()
            .map(|(mut key, agg)| {
                self.interner.key(&mut key);
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
        self.interner.prune();
        let start = index * self.width_ns;
        WindowStats {
            start: Timestamp(start),
            end: Timestamp(start + self.width_ns),
            series,
        }
    }

    /// Keeps the sketch allocations and the emptied maps of a closed window
    /// for the next ones.
    fn recycle(&mut self, mut window: Window) {
        for mut agg in window.drain_aggs() {
            if self.pool.len() < POOL_LIMIT {
                self.pool.push(agg.latency.take_blocks());
            }
        }
        let grown = window.services.capacity() > 0 || window.edges.capacity() > 0;
        if grown && self.spare.len() < SPARE_LIMIT {
            self.spare.push(window);
        }
    }
}

#[cfg(test)]
mod tests;
