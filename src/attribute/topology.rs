//! Paths in the graph snapshot: does the released service lie on a
//! dependency path of the anomalous service, and who is affected.
//!
//! Edges point from caller to callee. "Downstream of A" means A depends on
//! it (A →* R): its failures propagate up to A. "Upstream of A" means it
//! calls into A (R →* A): it can overload or break A by what it sends.
//!
//! Never does: mutate the snapshot, allocate per edge beyond one adjacency map.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::model::{GraphSnapshot, NodeKind};

/// Adjacency of a snapshot, both directions.
pub(crate) struct Adjacency<'g> {
    callees: BTreeMap<&'g str, Vec<&'g str>>,
    callers: BTreeMap<&'g str, Vec<&'g str>>,
    kinds: BTreeMap<&'g str, NodeKind>,
}

impl<'g> Adjacency<'g> {
    pub(crate) fn new(graph: &'g GraphSnapshot) -> Self {
        let mut callees: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut callers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for edge in &graph.edges {
            callees.entry(&edge.client).or_default().push(&edge.server);
            callers.entry(&edge.server).or_default().push(&edge.client);
        }
        let kinds = graph.nodes.iter().map(|n| (&*n.name, n.kind)).collect();
        Self {
            callees,
            callers,
            kinds,
        }
    }

    /// Whether the node appears in the graph at all (as a node or an edge end).
    pub(crate) fn knows(&self, node: &str) -> bool {
        self.kinds.contains_key(node)
            || self.callees.contains_key(node)
            || self.callers.contains_key(node)
    }

    /// The node's kind, if it is a node of the snapshot.
    pub(crate) fn kind(&self, node: &str) -> Option<NodeKind> {
        self.kinds.get(node).copied()
    }

    /// Shortest path `from` →* `to` following calls, at most `max_hops` edges.
    pub(crate) fn path(&self, from: &str, to: &str, max_hops: u32) -> Option<Vec<String>> {
        shortest(&self.callees, from, to, max_hops)
    }

    /// `start` and every node that transitively calls it, services only,
    /// `start` first then by distance and name.
    pub(crate) fn dependents(&self, start: &str, max_hops: u32) -> Vec<String> {
        let mut seen = BTreeSet::from([start]);
        let mut out = vec![start.to_string()];
        let mut frontier = vec![start];
        for _ in 0..max_hops {
            let mut next = BTreeSet::new();
            for node in frontier {
                for caller in self.callers.get(node).into_iter().flatten() {
                    if seen.insert(caller) {
                        next.insert(*caller);
                    }
                }
            }
            for node in &next {
                if matches!(self.kind(node), None | Some(NodeKind::Service)) {
                    out.push((*node).to_string());
                }
            }
            frontier = next.into_iter().collect();
            if frontier.is_empty() {
                break;
            }
        }
        out
    }
}

fn shortest<'g>(
    adjacency: &BTreeMap<&'g str, Vec<&'g str>>,
    from: &str,
    to: &str,
    max_hops: u32,
) -> Option<Vec<String>> {
    if from == to {
        return Some(vec![from.to_string()]);
    }
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([(from, 0u32)]);
    let mut seen = BTreeSet::from([from]);
    while let Some((node, depth)) = queue.pop_front() {
        if depth >= max_hops {
            continue;
        }
        let Some(next) = adjacency.get(node) else {
            continue;
        };
        // Sorted neighbours keep the chosen path deterministic.
        let mut next: Vec<&str> = next.clone();
        next.sort_unstable();
        for callee in next {
            if !seen.insert(callee) {
                continue;
            }
            previous.insert(callee, node);
            if callee == to {
                let mut path = vec![to.to_string()];
                let mut at = to;
                while let Some(prev) = previous.get(at) {
                    path.push((*prev).to_string());
                    at = prev;
                }
                path.reverse();
                return Some(path);
            }
            queue.push_back((callee, depth + 1));
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use crate::model::{
        ConnectionType, EdgeSnapshot, GraphSnapshot, NodeKind, NodeSnapshot, Timestamp,
    };

    use super::*;

    /// A snapshot with the given edges; nodes named `db*` are databases,
    /// `ext*` external, the rest services.
    pub(crate) fn graph(edges: &[(&str, &str)]) -> GraphSnapshot {
        let mut names = BTreeSet::new();
        for (a, b) in edges {
            names.insert(*a);
            names.insert(*b);
        }
        let nodes = names
            .into_iter()
            .map(|name| NodeSnapshot {
                name: Arc::from(name),
                kind: if name.starts_with("db") {
                    NodeKind::Database
                } else if name.starts_with("ext") {
                    NodeKind::External
                } else {
                    NodeKind::Service
                },
                namespace: None,
                environments: vec![Arc::from("prod")],
                versions: Vec::new(),
                first_seen: Timestamp(0),
                last_seen: Timestamp(0),
            })
            .collect();
        let edges = edges
            .iter()
            .map(|(a, b)| EdgeSnapshot {
                client: Arc::from(*a),
                server: Arc::from(*b),
                connection_type: ConnectionType::Direct,
                requests: 100,
                failed: 0,
                client_latency: Default::default(),
                server_latency: Default::default(),
                client_p: [0.0; 3],
                server_p: [0.0; 3],
                by_server_version: Vec::new(),
                first_seen: Timestamp(0),
                last_seen: Timestamp(0),
            })
            .collect();
        GraphSnapshot {
            watermark: Timestamp(0),
            nodes,
            edges,
            pairing: Default::default(),
        }
    }

    #[test]
    fn finds_shortest_downstream_path_and_respects_hop_limit() {
        let g = graph(&[
            ("fe", "checkout"),
            ("checkout", "payment"),
            ("payment", "db1"),
        ]);
        let adj = Adjacency::new(&g);
        assert_eq!(
            adj.path("fe", "db1", 6).unwrap(),
            ["fe", "checkout", "payment", "db1"]
        );
        assert!(adj.path("fe", "db1", 2).is_none());
        assert!(adj.path("payment", "fe", 6).is_none());
        assert_eq!(adj.path("fe", "fe", 1).unwrap(), ["fe"]);
        assert_eq!(adj.kind("db1"), Some(NodeKind::Database));
    }

    #[test]
    fn dependents_are_transitive_callers_services_only() {
        let g = graph(&[
            ("fe", "checkout"),
            ("checkout", "payment"),
            ("batch", "payment"),
        ]);
        let adj = Adjacency::new(&g);
        assert_eq!(
            adj.dependents("payment", 6),
            ["payment", "batch", "checkout", "fe"]
        );
    }
}
