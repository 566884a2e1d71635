//! Graph algorithms over a snapshot's edges: neighbourhoods and reachability.
//!
//! Pure and deterministic: neighbours are visited in name order, so the same
//! snapshot always gives the same shortest paths. Never does I/O.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::model::EdgeSnapshot;

/// Which way edges are followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From caller to callee: what a service depends on.
    Dependencies,
    /// From callee to caller: who depends on a service (its blast radius).
    Dependents,
}

/// Node adjacency in both directions, names borrowed from the snapshot.
#[derive(Debug, Default)]
pub(crate) struct Adjacency<'a> {
    /// Callees of each caller.
    out: BTreeMap<&'a str, BTreeSet<&'a str>>,
    /// Callers of each callee.
    inc: BTreeMap<&'a str, BTreeSet<&'a str>>,
}

/// One node reached from an origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reached<'a> {
    /// The node.
    pub(crate) name: &'a str,
    /// Hops on a shortest path from the origin (at least 1).
    pub(crate) distance: u32,
    /// A shortest path in call order (caller first): it starts at the origin
    /// for dependencies and ends at the origin for dependents.
    pub(crate) path: Vec<&'a str>,
}

impl<'a> Adjacency<'a> {
    /// Builds the adjacency of `edges`. Several edges between the same pair
    /// (different connection types) count as one link.
    pub(crate) fn new(edges: &'a [EdgeSnapshot]) -> Self {
        let mut adjacency = Self::default();
        for edge in edges {
            adjacency
                .out
                .entry(&edge.client)
                .or_default()
                .insert(&edge.server);
            adjacency
                .inc
                .entry(&edge.server)
                .or_default()
                .insert(&edge.client);
        }
        adjacency
    }

    /// Distinct callees of `name`, self excluded.
    pub(crate) fn out_degree(&self, name: &str) -> usize {
        self.out
            .get(name)
            .map_or(0, |s| s.iter().filter(|n| **n != name).count())
    }

    /// Distinct callers of `name`, self excluded.
    pub(crate) fn in_degree(&self, name: &str) -> usize {
        self.inc
            .get(name)
            .map_or(0, |s| s.iter().filter(|n| **n != name).count())
    }

    fn next(&self, name: &str, direction: Direction) -> impl Iterator<Item = &'a str> + '_ {
        let map = match direction {
            Direction::Dependencies => &self.out,
            Direction::Dependents => &self.inc,
        };
        map.get(name).into_iter().flatten().copied()
    }

    /// Every node reachable from `origin` within `max_depth` hops (all of
    /// them when `None`), sorted by distance then name. The origin itself is
    /// never included, even on a cycle.
    pub(crate) fn reachable(
        &self,
        origin: &'a str,
        direction: Direction,
        max_depth: Option<u32>,
    ) -> Vec<Reached<'a>> {
        // Breadth-first: the first time a node is seen is along a shortest path.
        let mut parent: BTreeMap<&'a str, (&'a str, u32)> = BTreeMap::new();
        let mut order: Vec<&'a str> = Vec::new();
        let mut queue = VecDeque::from([(origin, 0u32)]);
        while let Some((node, depth)) = queue.pop_front() {
            if max_depth.is_some_and(|max| depth >= max) {
                continue;
            }
            for next in self.next(node, direction) {
                if next == origin || parent.contains_key(next) {
                    continue;
                }
                parent.insert(next, (node, depth + 1));
                order.push(next);
                queue.push_back((next, depth + 1));
            }
        }
        let mut reached: Vec<Reached<'a>> = order
            .into_iter()
            .map(|name| {
                let mut path = vec![name];
                let mut at = name;
                while let Some((previous, _)) = parent.get(at) {
                    path.push(previous);
                    at = previous;
                }
                // `path` now runs from `name` back to the origin.
                if direction == Direction::Dependencies {
                    path.reverse();
                }
                let distance = parent.get(name).map_or(0, |(_, d)| *d);
                Reached {
                    name,
                    distance,
                    path,
                }
            })
            .collect();
        reached.sort_by(|a, b| a.distance.cmp(&b.distance).then(a.name.cmp(b.name)));
        reached
    }

    /// `origin` and every node within `depth` hops of it, following edges in
    /// either direction.
    pub(crate) fn neighbourhood(&self, origin: &'a str, depth: u32) -> BTreeSet<&'a str> {
        let mut seen = BTreeSet::from([origin]);
        let mut frontier = vec![origin];
        for _ in 0..depth {
            let mut next_frontier = Vec::new();
            for node in frontier {
                for next in self
                    .next(node, Direction::Dependencies)
                    .chain(self.next(node, Direction::Dependents))
                {
                    if seen.insert(next) {
                        next_frontier.push(next);
                    }
                }
            }
            if next_frontier.is_empty() {
                break;
            }
            frontier = next_frontier;
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BucketCounts, ConnectionType, Timestamp};
    use std::sync::Arc;

    fn edge(client: &str, server: &str) -> EdgeSnapshot {
        EdgeSnapshot {
            client: Arc::from(client),
            server: Arc::from(server),
            connection_type: ConnectionType::Direct,
            requests: 1,
            failed: 0,
            client_latency: BucketCounts::default(),
            server_latency: BucketCounts::default(),
            client_p: [0.0; 3],
            server_p: [0.0; 3],
            by_server_version: Vec::new(),
            first_seen: Timestamp(0),
            last_seen: Timestamp(0),
        }
    }

    /// user → frontend → checkout → payment → postgres, checkout → postgres,
    /// frontend → search, and a cycle payment → checkout.
    fn shop() -> Vec<EdgeSnapshot> {
        vec![
            edge("user", "frontend"),
            edge("frontend", "checkout"),
            edge("frontend", "search"),
            edge("checkout", "payment"),
            edge("checkout", "postgres"),
            edge("payment", "postgres"),
            edge("payment", "checkout"),
        ]
    }

    fn summary<'a>(reached: &[Reached<'a>]) -> Vec<(&'a str, u32, Vec<&'a str>)> {
        reached
            .iter()
            .map(|r| (r.name, r.distance, r.path.clone()))
            .collect()
    }

    #[test]
    fn transitive_dependents_have_shortest_paths_in_call_order() {
        let edges = shop();
        let adjacency = Adjacency::new(&edges);
        let reached = adjacency.reachable("postgres", Direction::Dependents, None);
        assert_eq!(
            summary(&reached),
            vec![
                ("checkout", 1, vec!["checkout", "postgres"]),
                ("payment", 1, vec!["payment", "postgres"]),
                ("frontend", 2, vec!["frontend", "checkout", "postgres"]),
                ("user", 3, vec!["user", "frontend", "checkout", "postgres"]),
            ]
        );
    }

    #[test]
    fn transitive_dependencies_start_at_the_origin_and_skip_it_on_cycles() {
        let edges = shop();
        let adjacency = Adjacency::new(&edges);
        let reached = adjacency.reachable("checkout", Direction::Dependencies, None);
        assert_eq!(
            summary(&reached),
            vec![
                ("payment", 1, vec!["checkout", "payment"]),
                ("postgres", 1, vec!["checkout", "postgres"]),
            ]
        );
    }

    #[test]
    fn depth_limits_reachability() {
        let edges = shop();
        let adjacency = Adjacency::new(&edges);
        let direct = adjacency.reachable("user", Direction::Dependencies, Some(1));
        assert_eq!(
            summary(&direct),
            vec![("frontend", 1, vec!["user", "frontend"])]
        );
        assert!(
            adjacency
                .reachable("user", Direction::Dependencies, Some(0))
                .is_empty()
        );
        assert!(
            adjacency
                .reachable("nobody", Direction::Dependents, None)
                .is_empty()
        );
    }

    #[test]
    fn neighbourhood_follows_both_directions() {
        let edges = shop();
        let adjacency = Adjacency::new(&edges);
        let one: Vec<&str> = adjacency.neighbourhood("checkout", 1).into_iter().collect();
        assert_eq!(one, ["checkout", "frontend", "payment", "postgres"]);
        let two: Vec<&str> = adjacency.neighbourhood("checkout", 2).into_iter().collect();
        assert_eq!(
            two,
            [
                "checkout", "frontend", "payment", "postgres", "search", "user"
            ]
        );
        let zero: Vec<&str> = adjacency.neighbourhood("checkout", 0).into_iter().collect();
        assert_eq!(zero, ["checkout"]);
    }

    #[test]
    fn degrees_count_distinct_neighbours_without_self_loops() {
        let mut edges = shop();
        edges.push(EdgeSnapshot {
            connection_type: ConnectionType::Database,
            ..edge("checkout", "postgres")
        });
        edges.push(edge("checkout", "checkout"));
        let adjacency = Adjacency::new(&edges);
        assert_eq!(adjacency.out_degree("checkout"), 2);
        assert_eq!(adjacency.in_degree("checkout"), 2);
        assert_eq!(adjacency.in_degree("postgres"), 2);
        assert_eq!(adjacency.out_degree("postgres"), 0);
    }
}
