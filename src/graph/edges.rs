//! The edge table: cumulative counters and latency per `(client, server,
//! connection_type)`, Tempo's series identity.
//!
//! `failed` is a counter of the edge, not part of its identity (the OTel
//! connector splits every edge into `failed=true/false` series). Requests and
//! failures are also split by the server's version (bounded, see
//! [`MAX_VERSIONS_PER_EDGE`]).
//!
//! Idle rule: an edge whose last request is more than `edge_idle` (event time)
//! before a new one starts a new life (counters restart), and the sweep
//! removes edges whose last request is more than `pairing_ttl + edge_idle`
//! behind the watermark. Since no pending half can produce an update older
//! than `watermark - pairing_ttl`, sweeping early or late gives the same
//! graph, whatever the batch boundaries.
//!
//! Never does: decide which spans pair, or touch nodes (the engine keeps the
//! node reference counts).

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use foldhash::HashMap;

use crate::model::{ConnectionType, EdgeSnapshot, Timestamp, TraceId};

use super::latency::SideLatency;

/// Server versions remembered per edge; the least recently seen is evicted.
pub(crate) const MAX_VERSIONS_PER_EDGE: usize = 16;

/// Tempo's edge identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct EdgeKey {
    pub(crate) client: Arc<str>,
    pub(crate) server: Arc<str>,
    pub(crate) connection_type: ConnectionType,
}

/// A borrowed [`EdgeKey`], to look an edge up without cloning its names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EdgeRef<'a> {
    pub(crate) client: &'a Arc<str>,
    pub(crate) server: &'a Arc<str>,
    pub(crate) connection_type: ConnectionType,
}

impl EdgeRef<'_> {
    fn to_owned_key(self) -> EdgeKey {
        EdgeKey {
            client: self.client.clone(),
            server: self.server.clone(),
            connection_type: self.connection_type,
        }
    }
}

/// What [`EdgeKey`] and [`EdgeRef`] have in common; hashes and compares
/// exactly like the derived `Hash`/`Eq` of [`EdgeKey`] (fields in order).
pub(crate) trait EdgeKeyView {
    fn parts(&self) -> (&str, &str, ConnectionType);
}

impl EdgeKeyView for EdgeKey {
    fn parts(&self) -> (&str, &str, ConnectionType) {
        (&self.client, &self.server, self.connection_type)
    }
}

impl EdgeKeyView for EdgeRef<'_> {
    fn parts(&self) -> (&str, &str, ConnectionType) {
        (self.client, self.server, self.connection_type)
    }
}

impl<'a> Borrow<dyn EdgeKeyView + 'a> for EdgeKey {
    fn borrow(&self) -> &(dyn EdgeKeyView + 'a) {
        self
    }
}

impl Hash for dyn EdgeKeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (client, server, connection_type) = self.parts();
        client.hash(state);
        server.hash(state);
        connection_type.hash(state);
    }
}

impl PartialEq for dyn EdgeKeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        // Node names are shared allocations: compare pointers before bytes.
        let same = |a: &str, b: &str| std::ptr::eq(a, b) || a == b;
        let (a, b) = (self.parts(), other.parts());
        a.2 == b.2 && same(a.0, b.0) && same(a.1, b.1)
    }
}

impl Eq for dyn EdgeKeyView + '_ {}

/// Requests and failures of one server version on an edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VersionCount {
    pub(crate) version: Arc<str>,
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    pub(crate) last_seen: Timestamp,
}

/// One edge.
#[derive(Clone, Debug)]
pub(crate) struct Edge {
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    pub(crate) client: SideLatency,
    pub(crate) server: SideLatency,
    pub(crate) by_server_version: Vec<VersionCount>,
    pub(crate) first_seen: Timestamp,
    pub(crate) last_seen: Timestamp,
}

impl Edge {
    pub(crate) fn new(buckets: usize, at: Timestamp) -> Self {
        Self {
            requests: 0,
            failed: 0,
            client: SideLatency::new(buckets),
            server: SideLatency::new(buckets),
            by_server_version: Vec::new(),
            first_seen: at,
            last_seen: at,
        }
    }
}

/// One request over an edge.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request<'a> {
    pub(crate) client_ns: u64,
    pub(crate) server_ns: u64,
    pub(crate) failed: bool,
    /// Event time that places the request (the client's end, else the server's).
    pub(crate) at: Timestamp,
    pub(crate) trace: TraceId,
    pub(crate) server_version: &'a Arc<str>,
}

/// Result of recording a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// Added to an existing edge.
    Existing,
    /// A new edge was created: the caller adds node references.
    Created,
    /// `max_edges` reached: nothing recorded.
    Full,
}

/// The edge table.
#[derive(Debug)]
pub(crate) struct Edges {
    pub(crate) map: HashMap<EdgeKey, Edge>,
    max: usize,
    idle_ns: u64,
    bounds_ns: Arc<[u64]>,
}

impl Edges {
    pub(crate) fn new(max: usize, idle_ns: u64, bounds_ns: Arc<[u64]>) -> Self {
        Self {
            map: HashMap::default(),
            max,
            idle_ns,
            bounds_ns,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Adds one request to `key`, creating the edge if there is room.
    pub(crate) fn record(&mut self, key: EdgeRef<'_>, request: Request<'_>) -> Recorded {
        if let Some(edge) = self.map.get_mut(&key as &dyn EdgeKeyView) {
            apply(edge, request, &self.bounds_ns, self.idle_ns);
            return Recorded::Existing;
        }
        if self.map.len() >= self.max {
            return Recorded::Full;
        }
        let mut edge = Edge::new(self.bounds_ns.len(), request.at);
        apply(&mut edge, request, &self.bounds_ns, self.idle_ns);
        self.map.insert(key.to_owned_key(), edge);
        Recorded::Created
    }

    /// Removes edges last seen before `visible_from`; returns their keys.
    pub(crate) fn sweep(&mut self, visible_from: Timestamp) -> Vec<EdgeKey> {
        let mut removed = Vec::new();
        self.map.retain(|key, edge| {
            let keep = edge.last_seen >= visible_from;
            if !keep {
                removed.push(key.clone());
            }
            keep
        });
        removed
    }

    /// Edges seen since `visible_from`, sorted by key.
    pub(crate) fn snapshot(
        &self,
        visible_from: Timestamp,
        bounds: &Arc<[f64]>,
    ) -> Vec<EdgeSnapshot> {
        let mut keys: Vec<&EdgeKey> = self
            .map
            .iter()
            .filter(|(_, edge)| edge.last_seen >= visible_from)
            .map(|(key, _)| key)
            .collect();
        keys.sort();
        keys.into_iter()
            .filter_map(|key| {
                let edge = self.map.get(key)?;
                let mut versions: Vec<(Arc<str>, u64, u64)> = edge
                    .by_server_version
                    .iter()
                    .map(|v| (v.version.clone(), v.requests, v.failed))
                    .collect();
                versions.sort();
                Some(EdgeSnapshot {
                    client: key.client.clone(),
                    server: key.server.clone(),
                    connection_type: key.connection_type,
                    requests: edge.requests,
                    failed: edge.failed,
                    client_latency: edge.client.buckets(bounds),
                    server_latency: edge.server.buckets(bounds),
                    client_p: edge.client.quantiles(),
                    server_p: edge.server.quantiles(),
                    by_server_version: versions,
                    first_seen: edge.first_seen,
                    last_seen: edge.last_seen,
                })
            })
            .collect()
    }
}

fn apply(edge: &mut Edge, request: Request<'_>, bounds_ns: &[u64], idle_ns: u64) {
    if request.at > edge.last_seen.plus_nanos(idle_ns) {
        *edge = Edge::new(bounds_ns.len(), request.at);
    }
    edge.requests += 1;
    edge.failed += u64::from(request.failed);
    edge.first_seen = edge.first_seen.min(request.at);
    edge.last_seen = edge.last_seen.max(request.at);
    edge.client
        .record(bounds_ns, request.client_ns, request.trace, request.at);
    edge.server
        .record(bounds_ns, request.server_ns, request.trace, request.at);
    count_version(&mut edge.by_server_version, request);
}

fn count_version(versions: &mut Vec<VersionCount>, request: Request<'_>) {
    if let Some(entry) = versions
        .iter_mut()
        .find(|v| v.version == *request.server_version)
    {
        entry.requests += 1;
        entry.failed += u64::from(request.failed);
        entry.last_seen = entry.last_seen.max(request.at);
        return;
    }
    if versions.len() >= MAX_VERSIONS_PER_EDGE
        && let Some(oldest) = versions
            .iter()
            .enumerate()
            .min_by(|(_, a), (_, b)| (a.last_seen, &a.version).cmp(&(b.last_seen, &b.version)))
            .map(|(i, _)| i)
    {
        versions.swap_remove(oldest);
    }
    versions.push(VersionCount {
        version: request.server_version.clone(),
        requests: 1,
        failed: u64::from(request.failed),
        last_seen: request.at,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn key(client: &str, server: &str) -> EdgeKey {
        EdgeKey {
            client: client.into(),
            server: server.into(),
            connection_type: ConnectionType::Direct,
        }
    }

    fn by(key: &EdgeKey) -> EdgeRef<'_> {
        EdgeRef {
            client: &key.client,
            server: &key.server,
            connection_type: key.connection_type,
        }
    }

    fn request(at: u64, failed: bool, version: &Arc<str>) -> Request<'_> {
        Request {
            client_ns: SEC / 10,
            server_ns: SEC / 20,
            failed,
            at: Timestamp(at),
            trace: TraceId([at as u8; 16]),
            server_version: version,
        }
    }

    #[test]
    fn borrowed_edge_keys_hash_like_owned_ones() {
        use std::hash::BuildHasher;
        let hasher = foldhash::fast::FixedState::with_seed(7);
        let owned = key("a", "b");
        assert_eq!(
            hasher.hash_one(&owned),
            hasher.hash_one(&by(&owned) as &dyn EdgeKeyView)
        );
        let mut edges = Edges::new(4, 100 * SEC, Arc::from(vec![SEC]));
        let v = Arc::from("");
        edges.record(by(&owned), request(1, false, &v));
        assert!(edges.map.contains_key(&by(&owned) as &dyn EdgeKeyView));
    }

    #[test]
    fn counts_requests_failures_and_versions() {
        let mut edges = Edges::new(4, 100 * SEC, Arc::from(vec![SEC / 10]));
        let (v1, v2) = (Arc::from("v1"), Arc::from("v2"));
        assert_eq!(
            edges.record(by(&key("a", "b")), request(SEC, false, &v1)),
            Recorded::Created
        );
        assert_eq!(
            edges.record(by(&key("a", "b")), request(2 * SEC, true, &v2)),
            Recorded::Existing
        );
        let snap = edges.snapshot(Timestamp(0), &Arc::from(vec![0.1]));
        assert_eq!(snap.len(), 1);
        let edge = &snap[0];
        assert_eq!((edge.requests, edge.failed), (2, 1));
        assert_eq!(
            edge.client_latency.counts,
            vec![2, 0],
            "0.1 s is inside le=0.1"
        );
        assert_eq!(edge.server_latency.counts, vec![2, 0]);
        assert_eq!(edge.by_server_version, vec![(v1.clone(), 1, 0), (v2, 1, 1)]);
        assert_eq!(
            (edge.first_seen, edge.last_seen),
            (Timestamp(SEC), Timestamp(2 * SEC))
        );
    }

    #[test]
    fn edge_limit_refuses_new_edges_only() {
        let mut edges = Edges::new(1, 100 * SEC, Arc::from(vec![SEC]));
        let v = Arc::from("");
        assert_eq!(
            edges.record(by(&key("a", "b")), request(1, false, &v)),
            Recorded::Created
        );
        assert_eq!(
            edges.record(by(&key("a", "c")), request(1, false, &v)),
            Recorded::Full
        );
        assert_eq!(
            edges.record(by(&key("a", "b")), request(2, false, &v)),
            Recorded::Existing
        );
    }

    #[test]
    fn idle_edges_are_swept_and_restart_after_a_gap() {
        let mut edges = Edges::new(4, 100, Arc::from(vec![SEC]));
        let v = Arc::from("");
        edges.record(by(&key("a", "b")), request(10, false, &v));
        edges.record(by(&key("a", "b")), request(50, false, &v));
        assert_eq!(edges.map[&key("a", "b")].requests, 2);
        edges.record(by(&key("a", "b")), request(200, false, &v));
        assert_eq!(
            edges.map[&key("a", "b")].requests,
            1,
            "a gap > idle restarts the counters"
        );
        assert_eq!(edges.map[&key("a", "b")].first_seen, Timestamp(200));
        edges.record(by(&key("c", "d")), request(10, false, &v));
        assert_eq!(edges.sweep(Timestamp(100)), vec![key("c", "d")]);
        assert_eq!(edges.len(), 1);
    }

    #[test]
    fn versions_are_bounded() {
        let mut edges = Edges::new(4, u64::MAX / 2, Arc::from(vec![SEC]));
        let versions: Vec<Arc<str>> = (0..40).map(|i| Arc::from(format!("v{i:02}"))).collect();
        for (i, v) in versions.iter().enumerate() {
            edges.record(by(&key("a", "b")), request(i as u64, false, v));
        }
        let edge = &edges.map[&key("a", "b")];
        assert_eq!(edge.by_server_version.len(), MAX_VERSIONS_PER_EDGE);
        assert!(edge.by_server_version.iter().any(|v| &*v.version == "v39"));
        assert!(!edge.by_server_version.iter().any(|v| &*v.version == "v00"));
        assert_eq!(edge.requests, 40);
    }
}

#[cfg(test)]
mod memory {
    use super::*;
    use crate::graph::latency::Exemplar;

    /// Heap and inline bytes of one edge with Tempo's 8 buckets, two server
    /// versions, and its map entry (key + value), ignoring map slack.
    fn edge_bytes(edge: &Edge) -> usize {
        let side = |s: &SideLatency| {
            s.counts.len() * size_of::<u64>()
                + s.exemplars.len() * size_of::<Option<Exemplar>>()
                + s.hdr.counters() * size_of::<u32>()
        };
        size_of::<EdgeKey>()
            + size_of::<Edge>()
            + side(&edge.client)
            + side(&edge.server)
            + edge.by_server_version.capacity() * size_of::<VersionCount>()
    }

    #[test]
    fn edge_memory_is_as_documented() {
        let bounds: Arc<[u64]> = crate::graph::TEMPO_BUCKETS
            .iter()
            .map(|b| (b * 1e9) as u64)
            .collect();
        let mut edges = Edges::new(4, u64::MAX / 2, bounds);
        let key = EdgeKey {
            client: "a".into(),
            server: "b".into(),
            connection_type: ConnectionType::Direct,
        };
        for (i, version) in ["v1", "v2"].iter().enumerate() {
            let version: Arc<str> = Arc::from(*version);
            let by_ref = EdgeRef {
                client: &key.client,
                server: &key.server,
                connection_type: key.connection_type,
            };
            edges.record(
                by_ref,
                // Latencies over three powers of two (1-4 ms; 0.9-3.6 ms).
                Request {
                    client_ns: 1_000_000 << (2 * i),
                    server_ns: 900_000 << (2 * i),
                    failed: false,
                    at: Timestamp(i as u64),
                    trace: TraceId::default(),
                    server_version: &version,
                },
            );
        }
        let bytes = edge_bytes(&edges.map[&key]);
        // Documented in latency.rs: ≈ 0.7 KB per side, ≈ 1.7 KB per edge (1,704 B).
        assert!((1_400..1_800).contains(&bytes), "{bytes} bytes per edge");
    }
}
