//! The aggregates of one open window, grouped so that one span or request
//! costs one group lookup: per `(environment, service)` the Service,
//! ServiceVersion and Operation series, per `(environment, client, server)`
//! the Edge, EdgeByClientVersion and EdgeByServerVersion series.
//!
//! **Shared aggregates.** Series of a group that receive exactly the same
//! samples share one aggregate while that is true: a service seen with a
//! single version in a window has `ServiceVersion == Service`, and an edge
//! group seen with one connection type, one client version and one server
//! version has three identical series. A [`Split`] stays `One(key)` (its
//! aggregate *is* the shared one) until a second key arrives; then the shared
//! aggregate is copied for the first key and the split keeps separate
//! aggregates from there on. The emitted rows are identical to recording
//! every series separately; only the work per sample shrinks.
//!
//! Never does: decide which window or series a sample belongs to.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use foldhash::{HashMap, HashSet};

use crate::model::{ConnectionType, SeriesKey};

use super::super::sketch::{Block, Sketch};

/// Aggregate of one series in one open window.
#[derive(Clone, Debug, Default)]
pub(crate) struct SeriesAgg {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) latency: Sketch,
    /// Distinct instances (Service and ServiceVersion series only).
    pub(crate) instances: HashSet<Arc<str>>,
    /// The instance last offered to `instances`: offering it again cannot
    /// change the set (it only grows), so the lookup is skipped.
    pub(crate) last_instance: Option<Arc<str>>,
}

impl SeriesAgg {
    pub(crate) fn add(&mut self, sample: Sample<'_>, max_instances: usize) {
        self.requests += 1;
        self.errors += u64::from(sample.error);
        self.latency.record(sample.latency_ns);
        if let Some(instance) = sample.instance
            && !self
                .last_instance
                .as_ref()
                .is_some_and(|last| Arc::ptr_eq(last, instance))
        {
            if self.instances.len() < max_instances && !self.instances.contains(instance) {
                self.instances.insert(instance.clone());
            }
            self.last_instance = Some(instance.clone());
        }
    }

    /// An empty aggregate reusing pooled sketch blocks.
    pub(crate) fn fresh(pool: &mut Vec<Vec<Block>>) -> Self {
        Self {
            latency: Sketch::with_blocks(pool.pop().unwrap_or_default()),
            ..Self::default()
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

/// The series of one key dimension of a group (versions, connection types).
#[derive(Clone, Debug)]
pub(crate) struct Split<K> {
    /// The only key so far, whose aggregate is the group's shared one.
    shared: Option<K>,
    /// Keys with aggregates of their own, in order of first sight.
    list: Vec<(K, SeriesAgg)>,
}

impl<K> Default for Split<K> {
    fn default() -> Self {
        Self {
            shared: None,
            list: Vec::new(),
        }
    }
}

impl<K: PartialEq + Clone> Split<K> {
    /// Records `sample` under `key` *before* it is added to `shared`: a
    /// split that shares `shared` copies it (without this sample) when a
    /// second key arrives. `fresh` = `shared` never had a sample, so an
    /// empty split may start sharing it.
    fn record(
        &mut self,
        key: &K,
        shared: &SeriesAgg,
        fresh: bool,
        sample: Sample<'_>,
        pool: &mut Vec<Vec<Block>>,
        max: usize,
    ) {
        if self.shared.as_ref() == Some(key) {
            return;
        }
        if fresh && self.shared.is_none() && self.list.is_empty() {
            self.shared = Some(key.clone());
            return;
        }
        self.slot(key, shared, pool).add(sample, max);
    }

    /// The separate aggregate of `key` (created empty), detaching from
    /// `shared` first.
    pub(crate) fn slot(
        &mut self,
        key: &K,
        shared: &SeriesAgg,
        pool: &mut Vec<Vec<Block>>,
    ) -> &mut SeriesAgg {
        self.detach(shared);
        let index = match self.list.iter().position(|(k, _)| k == key) {
            Some(index) => index,
            None => {
                self.list.push((key.clone(), SeriesAgg::fresh(pool)));
                self.list.len() - 1
            }
        };
        &mut self.list[index].1
    }

    /// Gives the shared key its own copy of `shared`.
    pub(crate) fn detach(&mut self, shared: &SeriesAgg) {
        if let Some(key) = self.shared.take() {
            self.list.push((key, shared.clone()));
        }
    }

    fn shares(&self) -> bool {
        self.shared.is_some()
    }

    /// `(key, aggregate)` of every series.
    pub(crate) fn iter<'a>(
        &'a self,
        shared: &'a SeriesAgg,
    ) -> impl Iterator<Item = (&'a K, &'a SeriesAgg)> + 'a {
        let one = self.shared.iter().map(move |key| (key, shared));
        one.chain(self.list.iter().map(|(k, a)| (k, a)))
    }

    /// Every separate aggregate, for recycling.
    pub(crate) fn into_aggs(self) -> impl Iterator<Item = SeriesAgg> {
        self.list.into_iter().map(|(_, agg)| agg)
    }
}

/// Service-side series of one `(environment, service)`.
#[derive(Debug)]
pub(crate) struct ServiceGroup {
    /// The Service series (shared by `versions` while it has one version).
    pub(crate) total: SeriesAgg,
    /// True until `total` holds a sample or was restored: no Service row yet.
    pub(crate) fresh: bool,
    pub(crate) versions: Split<Arc<str>>,
    pub(crate) operations: HashMap<Arc<str>, SeriesAgg>,
}

impl ServiceGroup {
    pub(crate) fn new(pool: &mut Vec<Vec<Block>>) -> Self {
        Self {
            total: SeriesAgg::fresh(pool),
            fresh: true,
            versions: Split::default(),
            operations: HashMap::default(),
        }
    }

    /// One server-side span of `version` / `operation`.
    pub(crate) fn record(
        &mut self,
        version: &Arc<str>,
        operation: &Arc<str>,
        sample: Sample<'_>,
        pool: &mut Vec<Vec<Block>>,
        max: usize,
    ) {
        self.versions
            .record(version, &self.total, self.fresh, sample, pool, max);
        self.total.add(sample, max);
        self.fresh = false;
        let sample = Sample {
            instance: None,
            ..sample
        };
        match self.operations.get_mut(operation) {
            Some(agg) => agg.add(sample, max),
            None => {
                let mut agg = SeriesAgg::fresh(pool);
                agg.add(sample, max);
                self.operations.insert(operation.clone(), agg);
            }
        }
    }
}

/// Edge series of one `(environment, client, server)`.
#[derive(Debug)]
pub(crate) struct EdgeGroup {
    /// Every sample while some split shares it (not a series of its own).
    pub(crate) shared: SeriesAgg,
    pub(crate) fresh: bool,
    pub(crate) by_type: Split<ConnectionType>,
    pub(crate) by_client_version: Split<Arc<str>>,
    pub(crate) by_server_version: Split<Arc<str>>,
}

impl EdgeGroup {
    pub(crate) fn new(pool: &mut Vec<Vec<Block>>) -> Self {
        Self {
            shared: SeriesAgg::fresh(pool),
            fresh: true,
            by_type: Split::default(),
            by_client_version: Split::default(),
            by_server_version: Split::default(),
        }
    }

    /// One request over the edge.
    pub(crate) fn record(
        &mut self,
        connection_type: ConnectionType,
        client_version: &Arc<str>,
        server_version: &Arc<str>,
        sample: Sample<'_>,
        pool: &mut Vec<Vec<Block>>,
        max: usize,
    ) {
        let (shared, fresh) = (&self.shared, self.fresh);
        self.by_type
            .record(&connection_type, shared, fresh, sample, pool, max);
        self.by_client_version
            .record(client_version, shared, fresh, sample, pool, max);
        self.by_server_version
            .record(server_version, shared, fresh, sample, pool, max);
        if self.shares() {
            self.shared.add(sample, max);
        }
        self.fresh = false;
    }

    fn shares(&self) -> bool {
        self.by_type.shares() || self.by_client_version.shares() || self.by_server_version.shares()
    }

    /// Gives every split its own aggregates (before one is edited directly).
    pub(crate) fn detach(&mut self) {
        self.by_type.detach(&self.shared);
        self.by_client_version.detach(&self.shared);
        self.by_server_version.detach(&self.shared);
        self.fresh = false;
    }
}

/// `(environment, service)` as a map key that can be looked up with borrowed
/// strings (no `Arc` clones on the hot path).
pub(crate) type ServiceKey = (Arc<str>, Arc<str>);
/// `(environment, client, server)`; see [`ServiceKey`].
pub(crate) type EdgeGroupKey = (Arc<str>, Arc<str>, Arc<str>);

/// A borrowed view of a [`ServiceKey`] or an [`EdgeGroupKey`]: hashes and
/// compares exactly like the owned tuple (each `str` in order, as the
/// tuple's own `Hash` does), as `Borrow` requires.
pub(crate) trait KeyView {
    /// The two or three strings of the key.
    fn parts(&self) -> (&str, &str, Option<&str>);
}

impl KeyView for ServiceKey {
    fn parts(&self) -> (&str, &str, Option<&str>) {
        (&self.0, &self.1, None)
    }
}

impl KeyView for EdgeGroupKey {
    fn parts(&self) -> (&str, &str, Option<&str>) {
        (&self.0, &self.1, Some(&self.2))
    }
}

impl KeyView for (&str, &str) {
    fn parts(&self) -> (&str, &str, Option<&str>) {
        (self.0, self.1, None)
    }
}

impl KeyView for (&str, &str, &str) {
    fn parts(&self) -> (&str, &str, Option<&str>) {
        (self.0, self.1, Some(self.2))
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for ServiceKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for EdgeGroupKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (a, b, c) = self.parts();
        a.hash(state);
        b.hash(state);
        if let Some(c) = c {
            c.hash(state);
        }
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.parts(), other.parts());
        same(a.0, b.0)
            && same(a.1, b.1)
            && match (a.2, b.2) {
                (Some(x), Some(y)) => same(x, y),
                (x, y) => x.is_none() && y.is_none(),
            }
    }
}

/// String equality that skips the byte comparison when both are the same
/// allocation (the usual case: the engine shares resource strings).
#[inline]
pub(crate) fn same(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

impl Eq for dyn KeyView + '_ {}

/// The aggregates of one open window.
#[derive(Debug, Default)]
pub(crate) struct Window {
    pub(crate) services: HashMap<ServiceKey, ServiceGroup>,
    pub(crate) edges: HashMap<EdgeGroupKey, EdgeGroup>,
}

impl Window {
    /// Every series as `(key, aggregate)`, sorted by key.
    pub(crate) fn rows(&self) -> Vec<(SeriesKey, &SeriesAgg)> {
        let mut rows = Vec::new();
        for ((environment, service), group) in &self.services {
            if !group.fresh {
                rows.push((
                    SeriesKey::Service {
                        environment: environment.clone(),
                        service: service.clone(),
                    },
                    &group.total,
                ));
            }
            for (version, agg) in group.versions.iter(&group.total) {
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
        for ((environment, client, server), group) in &self.edges {
            for (connection_type, agg) in group.by_type.iter(&group.shared) {
                let key = SeriesKey::Edge {
                    environment: environment.clone(),
                    client: client.clone(),
                    server: server.clone(),
                    connection_type: *connection_type,
                };
                rows.push((key, agg));
            }
            for (client_version, agg) in group.by_client_version.iter(&group.shared) {
                let key = SeriesKey::EdgeByClientVersion {
                    environment: environment.clone(),
                    client: client.clone(),
                    client_version: client_version.clone(),
                    server: server.clone(),
                };
                rows.push((key, agg));
            }
            for (server_version, agg) in group.by_server_version.iter(&group.shared) {
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

    /// Every aggregate, for recycling their sketch blocks; the window is
    /// left empty with its maps' capacity.
    pub(crate) fn drain_aggs(&mut self) -> impl Iterator<Item = SeriesAgg> + '_ {
        let services = self.services.drain().flat_map(|(_, group)| {
            std::iter::once(group.total)
                .chain(group.versions.into_aggs())
                .chain(group.operations.into_values())
        });
        let edges = self.edges.drain().flat_map(|(_, group)| {
            std::iter::once(group.shared)
                .chain(group.by_type.into_aggs())
                .chain(group.by_client_version.into_aggs())
                .chain(group.by_server_version.into_aggs())
        });
        services.chain(edges)
    }
}
