//! Where an anomaly most likely starts: the deepest anomalous node reachable
//! downstream through anomalous nodes.
//!
//! A node is *anomalous* in an environment when an open anomaly's subject is
//! that node: the service of a `Service`, `Operation` or `ServiceVersion`
//! series, or the called node of an edge series (so a database or external
//! virtual node, which sends no spans, is anomalous when the edges into it
//! are). Starting from the subject of the anomaly being explained, the walk
//! follows graph edges from caller to callee, entering only anomalous nodes
//! (breadth first, so cycles are harmless). Every node reached is a
//! candidate; a candidate with no anomalous callee is a *frontier*: the
//! failure cannot be explained further down. Scores: frontier nodes weigh
//! `1 + depth`, other candidates `0.1 × (1 + depth)`; scores are divided by
//! their sum (so they lie in 0..=1 and add up to 1) and sorted best first,
//! ties by name.
//!
//! How it fails: a node whose callee is anomalous for an unrelated reason
//! loses the blame to it; a caller that overloads its callee (a release that
//! adds calls) is ranked below the callee (attribution's traffic evidence
//! corrects that); edges the snapshot does not know yet are invisible.

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::model::{GraphSnapshot, Origin, SeriesKey};

/// The environment and node an anomaly on `key` is about.
pub fn subject(key: &SeriesKey) -> (&str, &str) {
    match key {
        SeriesKey::Service {
            environment,
            service,
        }
        | SeriesKey::Operation {
            environment,
            service,
            ..
        }
        | SeriesKey::ServiceVersion {
            environment,
            service,
            ..
        } => (environment, service),
        SeriesKey::Edge {
            environment,
            server,
            ..
        }
        | SeriesKey::EdgeByClientVersion {
            environment,
            server,
            ..
        }
        | SeriesKey::EdgeByServerVersion {
            environment,
            server,
            ..
        } => (environment, server),
    }
}

/// Ranks origins for an anomaly whose subject is `start`, given the set of
/// anomalous nodes in the same environment (which should contain `start`).
pub fn rank(start: &str, anomalous: &BTreeSet<&str>, graph: &GraphSnapshot) -> Vec<Origin> {
    let mut callees: HashMap<&str, Vec<&str>> = HashMap::new();
    for edge in &graph.edges {
        let (client, server) = (&*edge.client, &*edge.server);
        if client != server && anomalous.contains(server) {
            callees.entry(client).or_default().push(server);
        }
    }
    let mut depth: HashMap<&str, usize> = HashMap::from([(start, 0)]);
    let mut order = vec![start];
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        let d = depth.get(node).copied().unwrap_or(0);
        for &callee in callees.get(node).map(Vec::as_slice).unwrap_or(&[]) {
            if !depth.contains_key(callee) {
                depth.insert(callee, d + 1);
                order.push(callee);
                queue.push_back(callee);
            }
        }
    }
    let weights: Vec<(&str, f64)> = order
        .iter()
        .map(|&node| {
            let d = depth.get(node).copied().unwrap_or(0) as f64;
            let frontier = callees.get(node).is_none_or(Vec::is_empty);
            (node, if frontier { 1.0 + d } else { 0.1 * (1.0 + d) })
        })
        .collect();
    let total: f64 = weights.iter().map(|(_, w)| w).sum();
    let mut origins: Vec<Origin> = weights
        .into_iter()
        .map(|(node, w)| Origin {
            node: node.to_owned(),
            score: w / total,
        })
        .collect();
    origins.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.node.cmp(&b.node))
    });
    origins
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{ConnectionType, EdgeSnapshot, Timestamp};

    pub(crate) fn edge(
        client: &str,
        server: &str,
        connection_type: ConnectionType,
    ) -> EdgeSnapshot {
        EdgeSnapshot {
            client: Arc::from(client),
            server: Arc::from(server),
            connection_type,
            requests: 100,
            failed: 0,
            client_latency: Default::default(),
            server_latency: Default::default(),
            client_p: [0.0; 3],
            server_p: [0.0; 3],
            by_server_version: Vec::new(),
            first_seen: Timestamp(0),
            last_seen: Timestamp(0),
        }
    }

    /// frontend → checkout → payment → postgres, plus checkout → cart (healthy).
    pub(crate) fn chain() -> GraphSnapshot {
        GraphSnapshot {
            edges: vec![
                edge("user", "frontend", ConnectionType::Direct),
                edge("frontend", "checkout", ConnectionType::Direct),
                edge("checkout", "payment", ConnectionType::Direct),
                edge("checkout", "cart", ConnectionType::Direct),
                edge("payment", "postgres", ConnectionType::Database),
            ],
            ..GraphSnapshot::default()
        }
    }

    fn best(origins: &[Origin]) -> &str {
        &origins[0].node
    }

    #[test]
    fn origin_is_the_deepest_anomalous_service() {
        let anomalous = BTreeSet::from(["frontend", "checkout", "payment"]);
        for start in ["frontend", "checkout", "payment"] {
            let origins = rank(start, &anomalous, &chain());
            assert_eq!(best(&origins), "payment", "from {start}: {origins:?}");
            let sum: f64 = origins.iter().map(|o| o.score).sum();
            assert!((sum - 1.0).abs() < 1e-9);
            assert!(origins.windows(2).all(|w| w[0].score >= w[1].score));
            assert!(
                origins
                    .iter()
                    .all(|o| o.node != "cart" && o.node != "postgres")
            );
        }
        assert!(rank("frontend", &anomalous, &chain())[0].score > 0.8);
    }

    #[test]
    fn origin_is_the_database_when_its_edge_is_anomalous() {
        let anomalous = BTreeSet::from(["frontend", "checkout", "payment", "postgres"]);
        let origins = rank("frontend", &anomalous, &chain());
        assert_eq!(best(&origins), "postgres", "{origins:?}");
    }

    #[test]
    fn an_isolated_anomaly_is_its_own_origin_and_cycles_terminate() {
        let origins = rank("cart", &BTreeSet::from(["cart"]), &chain());
        assert_eq!(
            origins,
            vec![Origin {
                node: "cart".into(),
                score: 1.0
            }]
        );
        let mut cyclic = chain();
        cyclic
            .edges
            .push(edge("payment", "checkout", ConnectionType::Direct));
        let origins = rank(
            "frontend",
            &BTreeSet::from(["frontend", "checkout", "payment"]),
            &cyclic,
        );
        assert_eq!(origins.len(), 3);
        assert!(origins.iter().all(|o| o.score > 0.0 && o.score <= 1.0));
    }
}
