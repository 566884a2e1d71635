//! Ground truth for tests: the edges a topology implies, and the requests
//! and failures the simulator actually generated per edge and per version.
//!
//! Node names follow what a graph builder sees on the spans:
//! * instrumented services: `service.name`;
//! * databases: their `server.address` (Tempo's naming: `peer.service` ›
//!   `server.address` › db attributes);
//! * external peers: their `peer.service` / `service.peer.name`;
//! * callers outside the system (root server spans): `user`.
//!
//! Messaging is reported as the direct producer → consumer edge.
//!
//! Never does: I/O, clock, randomness.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::model::ConnectionType;

use super::compiled::Compiled;
use super::topology::{CallTarget, Topology};

/// A node of the ground-truth graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Node {
    User,
    Service(usize),
    Db(usize),
    External(usize),
}

/// Requests and failures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    /// Requests.
    pub requests: u64,
    /// Failed requests.
    pub failed: u64,
}

impl Count {
    pub(crate) fn add(&mut self, failed: bool) {
        self.requests += 1;
        self.failed += u64::from(failed);
    }
}

/// Ground-truth counters, by index.
#[derive(Clone, Debug, Default)]
pub(crate) struct TruthCounters {
    pub(crate) edges: BTreeMap<(Node, Node, ConnectionType), Count>,
    pub(crate) versions: BTreeMap<(usize, Arc<str>), Count>,
    pub(crate) traces: u64,
    pub(crate) spans: u64,
}

/// What kind of node the server side of an edge is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerKind {
    /// An instrumented service (request/response or messaging).
    Service,
    /// A database virtual node.
    Database,
    /// An uninstrumented external peer.
    External,
}

/// One edge a topology implies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExpectedEdge {
    /// Calling node (`user` for root requests).
    pub client: String,
    /// Called node.
    pub server: String,
    /// Tempo's `connection_type`.
    pub connection_type: ConnectionType,
    /// What the server is.
    pub server_kind: ServerKind,
}

/// Generated requests and failures on one edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeTruth {
    /// The edge.
    pub edge: ExpectedEdge,
    /// Requests (client spans, or deliveries for messaging) and failures
    /// (either side in error).
    pub count: Count,
}

/// Generated server-side requests per (service, version).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionTruth {
    /// Service.
    pub service: String,
    /// Version that served.
    pub version: String,
    /// Server or consumer spans and how many were errors.
    pub count: Count,
}

/// What the simulator generated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroundTruth {
    /// Traces started.
    pub traces: u64,
    /// Spans generated.
    pub spans: u64,
    /// Per edge, sorted.
    pub edges: Vec<EdgeTruth>,
    /// Per (service, version), sorted.
    pub versions: Vec<VersionTruth>,
}

impl GroundTruth {
    /// The count of one edge, if it carried traffic.
    pub fn edge(&self, client: &str, server: &str) -> Option<Count> {
        self.edges
            .iter()
            .find(|e| e.edge.client == client && e.edge.server == server)
            .map(|e| e.count)
    }

    /// The count of one (service, version), if it served traffic.
    pub fn version(&self, service: &str, version: &str) -> Option<Count> {
        self.versions
            .iter()
            .find(|v| v.service == service && v.version == version)
            .map(|v| v.count)
    }
}

fn node_name(c: &Compiled, n: Node) -> (String, ServerKind) {
    match n {
        Node::User => ("user".to_owned(), ServerKind::External),
        Node::Service(i) => (c.services[i].name.to_string(), ServerKind::Service),
        Node::Db(i) => (c.dbs[i].address.clone(), ServerKind::Database),
        Node::External(i) => (c.externals[i].name.clone(), ServerKind::External),
    }
}

pub(crate) fn ground_truth(c: &Compiled, t: &TruthCounters) -> GroundTruth {
    let mut edges: Vec<EdgeTruth> = t
        .edges
        .iter()
        .map(|(&(client, server, connection_type), &count)| {
            let (server, server_kind) = node_name(c, server);
            EdgeTruth {
                edge: ExpectedEdge {
                    client: node_name(c, client).0,
                    server,
                    connection_type,
                    server_kind,
                },
                count,
            }
        })
        .collect();
    edges.sort_by(|a, b| a.edge.cmp(&b.edge));
    let mut versions: Vec<VersionTruth> = t
        .versions
        .iter()
        .map(|((svc, version), &count)| VersionTruth {
            service: c.services[*svc].name.to_string(),
            version: version.to_string(),
            count,
        })
        .collect();
    versions.sort_by(|a, b| (&a.service, &a.version).cmp(&(&b.service, &b.version)));
    GroundTruth {
        traces: t.traces,
        spans: t.spans,
        edges,
        versions,
    }
}

impl Topology {
    /// Every edge the topology can produce (calls with probability > 0),
    /// sorted: `user` → entry services, service → service (direct),
    /// service → database, service → external peer (virtual node), and
    /// producer → consumer (messaging system).
    pub fn expected_edges(&self) -> Vec<ExpectedEdge> {
        let mut out = BTreeSet::new();
        let edge = |client: &str, server: &str, connection_type, server_kind| ExpectedEdge {
            client: client.to_owned(),
            server: server.to_owned(),
            connection_type,
            server_kind,
        };
        for s in &self.services {
            for op in &s.operations {
                if op.entry_weight > 0.0 {
                    out.insert(edge(
                        "user",
                        &s.name,
                        ConnectionType::VirtualNode,
                        ServerKind::Service,
                    ));
                }
                for call in op
                    .calls
                    .iter()
                    .filter(|c| c.probability > 0.0 && c.fanout.1 > 0)
                {
                    match &call.target {
                        CallTarget::Service { service, .. } => {
                            out.insert(edge(
                                &s.name,
                                service,
                                ConnectionType::Direct,
                                ServerKind::Service,
                            ));
                        }
                        CallTarget::Database { database, .. } => {
                            if let Some(d) = self.databases.iter().find(|d| &d.name == database) {
                                out.insert(edge(
                                    &s.name,
                                    &d.address,
                                    ConnectionType::Database,
                                    ServerKind::Database,
                                ));
                            }
                        }
                        CallTarget::External { peer, .. } => {
                            out.insert(edge(
                                &s.name,
                                peer,
                                ConnectionType::VirtualNode,
                                ServerKind::External,
                            ));
                        }
                        CallTarget::Publish { topic } => {
                            for t in self.topics.iter().filter(|t| &t.name == topic) {
                                for consumer in &t.consumers {
                                    out.insert(edge(
                                        &s.name,
                                        &consumer.service,
                                        ConnectionType::MessagingSystem,
                                        ServerKind::Service,
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
        out.into_iter().collect()
    }
}
