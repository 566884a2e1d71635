//! JSON shapes of the API, built from a [`GraphSnapshot`].
//!
//! Pure conversions: no I/O, no clock. Timestamps are RFC 3339 event times;
//! counters are cumulative since the edge was first seen.

use std::collections::BTreeSet;

use serde::Serialize;

use super::topology::{Adjacency, Reached};
use crate::model::{
    BucketCounts, ConnectionType, EdgeSnapshot, GraphSnapshot, NodeSnapshot, Timestamp,
};

/// `GET /api/v1/graph`.
#[derive(Debug, Serialize)]
pub(crate) struct GraphView {
    /// Event-time watermark of the snapshot.
    pub(crate) watermark: String,
    /// Nodes, by name.
    pub(crate) nodes: Vec<NodeView>,
    /// Edges, by (client, server, connection type).
    pub(crate) edges: Vec<EdgeView>,
    /// Pairing-store counters.
    pub(crate) pairing: PairingView,
}

/// One node.
#[derive(Debug, Serialize)]
pub(crate) struct NodeView {
    pub(crate) name: String,
    /// `service`, `database`, `messaging`, `external` or `user`.
    pub(crate) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) namespace: Option<String>,
    pub(crate) environments: Vec<String>,
    pub(crate) versions: Vec<VersionView>,
    /// Distinct callers.
    pub(crate) in_degree: usize,
    /// Distinct callees.
    pub(crate) out_degree: usize,
    pub(crate) first_seen: String,
    pub(crate) last_seen: String,
}

/// A version of a node and how many instances run it.
#[derive(Debug, Serialize)]
pub(crate) struct VersionView {
    pub(crate) version: String,
    pub(crate) instances: u32,
}

/// One edge.
#[derive(Debug, Serialize)]
pub(crate) struct EdgeView {
    pub(crate) client: String,
    pub(crate) server: String,
    /// `direct`, `virtual_node`, `messaging_system` or `database`.
    pub(crate) connection_type: &'static str,
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    /// `failed / requests`, 0 without requests.
    pub(crate) error_ratio: f64,
    /// Requests per second averaged over the edge's life in event time
    /// (first to last seen, at least one second).
    pub(crate) mean_rate_per_sec: f64,
    pub(crate) client_latency_seconds: LatencyView,
    pub(crate) server_latency_seconds: LatencyView,
    pub(crate) by_server_version: Vec<VersionSplitView>,
    pub(crate) first_seen: String,
    pub(crate) last_seen: String,
}

/// Latency of one edge side; `null`s when that side has no samples.
#[derive(Debug, Serialize)]
pub(crate) struct LatencyView {
    pub(crate) count: u64,
    pub(crate) mean: Option<f64>,
    pub(crate) p50: Option<f64>,
    pub(crate) p95: Option<f64>,
    pub(crate) p99: Option<f64>,
}

/// Requests over an edge served by one callee version.
#[derive(Debug, Serialize)]
pub(crate) struct VersionSplitView {
    /// Empty when unknown.
    pub(crate) version: String,
    pub(crate) requests: u64,
    pub(crate) failed: u64,
}

/// Pairing-store counters.
#[derive(Debug, Serialize)]
pub(crate) struct PairingView {
    pub(crate) pending: u64,
    pub(crate) unpaired: u64,
    pub(crate) dropped: u64,
}

/// `GET /api/v1/services`.
#[derive(Debug, Serialize)]
pub(crate) struct ServicesView {
    pub(crate) services: Vec<NodeView>,
}

/// `GET /api/v1/services/{name}/dependencies` and `…/dependents`.
#[derive(Debug, Serialize)]
pub(crate) struct RelatedView {
    pub(crate) service: String,
    /// `dependencies` or `dependents`.
    pub(crate) direction: &'static str,
    pub(crate) transitive: bool,
    /// Reached nodes, by distance then name.
    pub(crate) nodes: Vec<RelatedNodeView>,
}

/// One node reached from the queried service.
#[derive(Debug, Serialize)]
pub(crate) struct RelatedNodeView {
    pub(crate) name: String,
    /// `null` when the node appears only in edges.
    pub(crate) kind: Option<&'static str>,
    /// Hops on a shortest path.
    pub(crate) distance: u32,
    /// That path in call order (caller first).
    pub(crate) path: Vec<String>,
    /// The direct edges for distance-1 nodes (one per connection type).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) edges: Vec<EdgeSummaryView>,
}

/// Counters of one direct edge.
#[derive(Debug, Serialize)]
pub(crate) struct EdgeSummaryView {
    pub(crate) connection_type: &'static str,
    pub(crate) requests: u64,
    pub(crate) failed: u64,
}

/// The JSON name of a connection type (`direct` for Tempo's empty label).
pub(crate) fn connection_type_name(connection_type: ConnectionType) -> &'static str {
    match connection_type {
        ConnectionType::Direct => "direct",
        other => other.as_str(),
    }
}

fn time(t: Timestamp) -> String {
    t.to_rfc3339()
}

/// The whole graph, or the part of it whose nodes are in `keep`.
pub(crate) fn graph_view(snapshot: &GraphSnapshot, keep: Option<&BTreeSet<&str>>) -> GraphView {
    let adjacency = Adjacency::new(&snapshot.edges);
    let kept = |name: &str| keep.is_none_or(|k| k.contains(name));
    GraphView {
        watermark: time(snapshot.watermark),
        nodes: snapshot
            .nodes
            .iter()
            .filter(|n| kept(&n.name))
            .map(|n| node_view(n, &adjacency))
            .collect(),
        edges: snapshot
            .edges
            .iter()
            .filter(|e| kept(&e.client) && kept(&e.server))
            .map(edge_view)
            .collect(),
        pairing: PairingView {
            pending: snapshot.pairing.pending,
            unpaired: snapshot.pairing.unpaired,
            dropped: snapshot.pairing.dropped,
        },
    }
}

/// Every node with its degrees.
pub(crate) fn services_view(snapshot: &GraphSnapshot) -> ServicesView {
    let adjacency = Adjacency::new(&snapshot.edges);
    ServicesView {
        services: snapshot
            .nodes
            .iter()
            .map(|n| node_view(n, &adjacency))
            .collect(),
    }
}

/// The nodes reached from `service`, with the direct edges of distance-1 nodes.
pub(crate) fn related_view(
    snapshot: &GraphSnapshot,
    service: &str,
    dependents: bool,
    transitive: bool,
    reached: &[Reached<'_>],
) -> RelatedView {
    let kind_of = |name: &str| {
        snapshot
            .nodes
            .binary_search_by(|n| (*n.name).cmp(name))
            .ok()
            .or_else(|| snapshot.nodes.iter().position(|n| &*n.name == name))
            .map(|i| snapshot.nodes[i].kind.as_str())
    };
    let nodes = reached
        .iter()
        .map(|r| {
            let edges = if r.distance == 1 {
                snapshot
                    .edges
                    .iter()
                    .filter(|e| {
                        if dependents {
                            &*e.client == r.name && &*e.server == service
                        } else {
                            &*e.client == service && &*e.server == r.name
                        }
                    })
                    .map(|e| EdgeSummaryView {
                        connection_type: connection_type_name(e.connection_type),
                        requests: e.requests,
                        failed: e.failed,
                    })
                    .collect()
            } else {
                Vec::new()
            };
            RelatedNodeView {
                name: r.name.to_owned(),
                kind: kind_of(r.name),
                distance: r.distance,
                path: r.path.iter().map(|p| (*p).to_owned()).collect(),
                edges,
            }
        })
        .collect();
    RelatedView {
        service: service.to_owned(),
        direction: if dependents {
            "dependents"
        } else {
            "dependencies"
        },
        transitive,
        nodes,
    }
}

fn node_view(node: &NodeSnapshot, adjacency: &Adjacency<'_>) -> NodeView {
    NodeView {
        name: node.name.to_string(),
        kind: node.kind.as_str(),
        namespace: node.namespace.as_deref().map(str::to_owned),
        environments: node.environments.iter().map(|e| e.to_string()).collect(),
        versions: node
            .versions
            .iter()
            .map(|(version, instances)| VersionView {
                version: version.to_string(),
                instances: *instances,
            })
            .collect(),
        in_degree: adjacency.in_degree(&node.name),
        out_degree: adjacency.out_degree(&node.name),
        first_seen: time(node.first_seen),
        last_seen: time(node.last_seen),
    }
}

fn edge_view(edge: &EdgeSnapshot) -> EdgeView {
    let lifetime_secs = (edge
        .last_seen
        .nanos()
        .saturating_sub(edge.first_seen.nanos()) as f64
        / 1e9)
        .max(1.0);
    EdgeView {
        client: edge.client.to_string(),
        server: edge.server.to_string(),
        connection_type: connection_type_name(edge.connection_type),
        requests: edge.requests,
        failed: edge.failed,
        error_ratio: if edge.requests == 0 {
            0.0
        } else {
            edge.failed as f64 / edge.requests as f64
        },
        mean_rate_per_sec: edge.requests as f64 / lifetime_secs,
        client_latency_seconds: latency_view(&edge.client_latency, edge.client_p),
        server_latency_seconds: latency_view(&edge.server_latency, edge.server_p),
        by_server_version: edge
            .by_server_version
            .iter()
            .map(|(version, requests, failed)| VersionSplitView {
                version: version.to_string(),
                requests: *requests,
                failed: *failed,
            })
            .collect(),
        first_seen: time(edge.first_seen),
        last_seen: time(edge.last_seen),
    }
}

fn latency_view(buckets: &BucketCounts, p: [f64; 3]) -> LatencyView {
    if buckets.count == 0 {
        return LatencyView {
            count: 0,
            mean: None,
            p50: None,
            p95: None,
            p99: None,
        };
    }
    LatencyView {
        count: buckets.count,
        mean: Some(buckets.sum / buckets.count as f64),
        p50: Some(p[0]),
        p95: Some(p[1]),
        p99: Some(p[2]),
    }
}
