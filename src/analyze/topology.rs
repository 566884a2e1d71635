//! The dependency graph as the closed windows show it: which edges carried
//! traffic recently, when each first appeared and when it vanished.
//!
//! Detection and attribution read a [`GraphSnapshot`] built from here rather
//! than the graph stage's live snapshot: it depends only on the windows, so
//! replay and the daemon see the same topology whatever the batching.
//!
//! An edge is *new* when it first carries traffic after `settle` of event time
//! since the first window (before that, everything is new). It has
//! *vanished* when it carried traffic in at least `min_windows` windows and
//! none for `vanish` while its caller still served requests.
//!
//! Never does: look at releases, or keep more than `ttl` of silent edges.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::model::{
    BucketCounts, ConnectionType, EdgeSnapshot, GraphSnapshot, NodeKind, NodeSnapshot,
    PairingStats, SeriesKey, Timestamp, WindowStats,
};

/// (client, server).
pub(crate) type EdgePair = (Arc<str>, Arc<str>);
/// (environment, client, server).
type EdgeId = (Arc<str>, Arc<str>, Arc<str>);

#[derive(Clone, Debug)]
struct Seen {
    connection_type: ConnectionType,
    first: Timestamp,
    last: Timestamp,
    windows: u32,
    vanished: bool,
}

/// Edges that appeared or vanished in one window, per environment.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Changes {
    /// environment → (added, removed) as (client, server).
    pub(crate) by_environment: BTreeMap<Arc<str>, (Vec<EdgePair>, Vec<EdgePair>)>,
}

/// Tracks edges and nodes over windows.
#[derive(Debug)]
pub(crate) struct Topology {
    edges: BTreeMap<EdgeId, Seen>,
    services: BTreeMap<Arc<str>, Timestamp>,
    first_window: Option<Timestamp>,
    settle_ns: u64,
    vanish_ns: u64,
    ttl_ns: u64,
    min_windows: u32,
    watermark: Timestamp,
}

impl Topology {
    pub(crate) fn new(settle_ns: u64, vanish_ns: u64, ttl_ns: u64, min_windows: u32) -> Self {
        Self {
            edges: BTreeMap::new(),
            services: BTreeMap::new(),
            first_window: None,
            settle_ns,
            vanish_ns,
            ttl_ns: ttl_ns.max(vanish_ns),
            min_windows,
            watermark: Timestamp::default(),
        }
    }

    /// Folds one closed window in and reports what appeared or vanished.
    pub(crate) fn observe(&mut self, window: &WindowStats) -> Changes {
        let first = *self.first_window.get_or_insert(window.start);
        let settled = window.start >= first.plus_nanos(self.settle_ns);
        self.watermark = window.end;
        let mut changes = Changes::default();
        let mut active: BTreeSet<(Arc<str>, Arc<str>)> = BTreeSet::new();
        for (key, stats) in &window.series {
            match key {
                SeriesKey::Service {
                    environment,
                    service,
                } if stats.requests > 0 => {
                    self.services.insert(service.clone(), window.end);
                    active.insert((environment.clone(), service.clone()));
                }
                SeriesKey::Edge {
                    environment,
                    client,
                    server,
                    connection_type,
                } if stats.requests > 0 => {
                    active.insert((environment.clone(), client.clone()));
                    let id = (environment.clone(), client.clone(), server.clone());
                    let seen = self.edges.entry(id).or_insert_with(|| {
                        if settled {
                            changes
                                .by_environment
                                .entry(environment.clone())
                                .or_default()
                                .0
                                .push((client.clone(), server.clone()));
                        }
                        Seen {
                            connection_type: *connection_type,
                            first: window.start,
                            last: window.end,
                            windows: 0,
                            vanished: false,
                        }
                    });
                    seen.last = window.end;
                    seen.windows += 1;
                    seen.vanished = false;
                }
                _ => {}
            }
        }
        let vanish_before = window.end.minus_nanos(self.vanish_ns);
        let forget_before = window.end.minus_nanos(self.ttl_ns);
        for ((environment, client, server), seen) in &mut self.edges {
            let caller_active = active.contains(&(environment.clone(), client.clone()));
            if !seen.vanished
                && seen.last < vanish_before
                && seen.windows >= self.min_windows
                && caller_active
                && settled
            {
                seen.vanished = true;
                changes
                    .by_environment
                    .entry(environment.clone())
                    .or_default()
                    .1
                    .push((client.clone(), server.clone()));
            }
        }
        self.edges.retain(|_, seen| seen.last >= forget_before);
        self.services.retain(|_, last| *last >= forget_before);
        changes
    }

    /// When the edge first carried traffic, if it is still known.
    pub(crate) fn first_seen(
        &self,
        environment: &str,
        client: &str,
        server: &str,
    ) -> Option<Timestamp> {
        self.edges
            .get(&(environment.into(), client.into(), server.into()))
            .map(|s| s.first)
    }

    /// The edges that carried traffic within the last `ttl`, as a snapshot
    /// (counts and latency left empty: topology only).
    pub(crate) fn snapshot(&self) -> GraphSnapshot {
        let mut kinds: BTreeMap<Arc<str>, NodeKind> = BTreeMap::new();
        let mut edges: BTreeMap<(Arc<str>, Arc<str>), ConnectionType> = BTreeMap::new();
        for ((_, client, server), seen) in &self.edges {
            if seen.vanished {
                continue;
            }
            edges
                .entry((client.clone(), server.clone()))
                .or_insert(seen.connection_type);
        }
        for ((client, server), connection_type) in &edges {
            let server_kind = if self.services.contains_key(server) {
                NodeKind::Service
            } else {
                match connection_type {
                    ConnectionType::Database => NodeKind::Database,
                    ConnectionType::MessagingSystem => NodeKind::Messaging,
                    ConnectionType::VirtualNode | ConnectionType::Direct => NodeKind::External,
                }
            };
            kinds.entry(server.clone()).or_insert(server_kind);
            if !self.services.contains_key(client) {
                kinds.entry(client.clone()).or_insert(NodeKind::User);
            }
        }
        for service in self.services.keys() {
            kinds.insert(service.clone(), NodeKind::Service);
        }
        GraphSnapshot {
            watermark: self.watermark,
            nodes: kinds
                .into_iter()
                .map(|(name, kind)| NodeSnapshot {
                    name,
                    kind,
                    namespace: None,
                    environments: Vec::new(),
                    versions: Vec::new(),
                    first_seen: Timestamp::default(),
                    last_seen: self.watermark,
                })
                .collect(),
            edges: edges
                .into_iter()
                .map(|((client, server), connection_type)| EdgeSnapshot {
                    client,
                    server,
                    connection_type,
                    requests: 0,
                    failed: 0,
                    client_latency: BucketCounts::default(),
                    server_latency: BucketCounts::default(),
                    client_p: [0.0; 3],
                    server_p: [0.0; 3],
                    by_server_version: Vec::new(),
                    first_seen: Timestamp::default(),
                    last_seen: self.watermark,
                })
                .collect(),
            pairing: PairingStats::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SeriesStats;

    fn window(i: u64, edges: &[(&str, &str)]) -> WindowStats {
        let env: Arc<str> = "prod".into();
        let traffic = SeriesStats {
            requests: 10,
            ..SeriesStats::default()
        };
        let mut series = vec![(
            SeriesKey::Service {
                environment: env.clone(),
                service: "a".into(),
            },
            traffic.clone(),
        )];
        for (client, server) in edges {
            series.push((
                SeriesKey::Edge {
                    environment: env.clone(),
                    client: (*client).into(),
                    server: (*server).into(),
                    connection_type: ConnectionType::Database,
                },
                traffic.clone(),
            ));
        }
        series.sort_by(|a, b| a.0.cmp(&b.0));
        WindowStats {
            start: Timestamp::from_secs(i * 10),
            end: Timestamp::from_secs(i * 10 + 10),
            series,
        }
    }

    #[test]
    fn edges_appear_after_settling_and_vanish_when_the_caller_goes_on_without_them() {
        let s = Timestamp::SECOND;
        let mut topo = Topology::new(60 * s, 60 * s, 600 * s, 3);
        for i in 0..10 {
            let c = topo.observe(&window(i, &[("a", "db")]));
            assert!(c.by_environment.is_empty(), "window {i}: {c:?}");
        }
        let c = topo.observe(&window(10, &[("a", "db"), ("a", "cache")]));
        assert_eq!(
            c.by_environment["prod"].0,
            vec![("a".into(), "cache".into())]
        );
        let snap = topo.snapshot();
        assert_eq!(snap.edges.len(), 2);
        let db = snap.nodes.iter().find(|n| &*n.name == "db").map(|n| n.kind);
        assert_eq!(db, Some(NodeKind::Database));
        let mut removed = Vec::new();
        for i in 11..20 {
            let c = topo.observe(&window(i, &[("a", "cache")]));
            if let Some((_, r)) = c.by_environment.get("prod") {
                removed.extend(r.iter().cloned());
            }
        }
        assert_eq!(removed, vec![("a".into(), "db".into())]);
        assert_eq!(topo.snapshot().edges.len(), 1);
    }
}
