//! The node table: services and inferred peers, with rollout state.
//!
//! A node is identified by its name (the `client`/`server` label value). Its
//! kind is the strongest evidence seen: a service that sent spans stays a
//! service even if another span also inferred it as a database. Per service,
//! instances are tracked with the version they last reported, so a snapshot
//! can say "v2 runs on 3 instances, v1 on 1" over a recent horizon.
//!
//! Bounds: `max_nodes` nodes, `max_instances_per_service` instances and
//! `max_operations_per_service` operations per node, `max_operations`
//! operations over all nodes (the rest become `__other__`: a flood of
//! distinct operation names costs one series per service),
//! [`MAX_ENVIRONMENTS`] environments per node. A node that sees
//! no traffic for `edge_idle` after the pairing TTL and has no edges leaves.
//!
//! Never does: look at spans; the engine tells it what was seen and when.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use foldhash::HashMap;

use crate::model::{NodeKind, NodeSnapshot, ResourceInfo, Timestamp};

/// Operation name that absorbs operations beyond `max_operations_per_service`.
pub const OTHER_OPERATION: &str = "__other__";
/// Environments remembered per node.
pub(crate) const MAX_ENVIRONMENTS: usize = 16;

/// Where an instance was last seen and on which version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InstanceSeen {
    pub(crate) version: Arc<str>,
    pub(crate) last: Timestamp,
}

/// One node.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub(crate) kind: NodeKind,
    pub(crate) namespace: Option<Arc<str>>,
    pub(crate) environments: BTreeSet<Arc<str>>,
    pub(crate) instances: HashMap<Arc<str>, InstanceSeen>,
    pub(crate) operations: HashMap<Arc<str>, Timestamp>,
    pub(crate) first_seen: Timestamp,
    pub(crate) last_seen: Timestamp,
    /// Edges that reference this node; it is never removed while > 0.
    pub(crate) edges: u32,
}

impl Node {
    fn new(kind: NodeKind, at: Timestamp) -> Self {
        Self {
            kind,
            namespace: None,
            environments: BTreeSet::new(),
            instances: HashMap::default(),
            operations: HashMap::default(),
            first_seen: at,
            last_seen: at,
            edges: 0,
        }
    }

    /// Extends the seen range; after a gap longer than `idle_ns` the node
    /// starts a new life (same rule as edges, so reordering cannot matter).
    /// Returns the number of operations forgotten.
    fn seen(&mut self, at: Timestamp, idle_ns: u64) -> usize {
        let mut forgotten = 0;
        if at > self.last_seen.plus_nanos(idle_ns) {
            let (kind, edges) = (self.kind, self.edges);
            forgotten = self.operations.len();
            *self = Self::new(kind, at);
            self.edges = edges;
        }
        self.first_seen = self.first_seen.min(at);
        self.last_seen = self.last_seen.max(at);
        forgotten
    }
}

/// Why an operation was aggregated as `__other__`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// The service has `max_operations_per_service` operations.
    PerService,
    /// The graph has `max_operations` operations.
    Total,
}

/// What happened to an instance update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rejected {
    pub(crate) instances: u64,
}

/// The node table.
#[derive(Debug)]
pub(crate) struct Nodes {
    pub(crate) map: HashMap<Arc<str>, Node>,
    max: usize,
    max_operations: usize,
    max_operations_total: usize,
    /// Operations tracked over all nodes.
    operations: usize,
    max_instances: usize,
    idle_ns: u64,
    other: Arc<str>,
    empty: Arc<str>,
}

impl Nodes {
    pub(crate) fn new(
        max: usize,
        (max_operations, max_operations_total): (usize, usize),
        max_instances: usize,
        idle_ns: u64,
    ) -> Self {
        Self {
            map: HashMap::default(),
            max,
            max_operations,
            max_operations_total,
            operations: 0,
            max_instances,
            idle_ns,
            other: Arc::from(OTHER_OPERATION),
            empty: Arc::from(""),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The node's shared name, creating the node if there is room. `None`
    /// when `max_nodes` is reached.
    pub(crate) fn ensure(&mut self, name: &str, kind: NodeKind, at: Timestamp) -> Option<Arc<str>> {
        if let Some(node) = self.map.get_mut(name) {
            node.kind = node.kind.min(kind);
            self.operations -= node.seen(at, self.idle_ns);
        }
        if let Some((shared, _)) = self.map.get_key_value(name) {
            return Some(shared.clone());
        }
        if self.map.len() >= self.max {
            return None;
        }
        let shared: Arc<str> = Arc::from(name);
        self.map.insert(shared.clone(), Node::new(kind, at));
        Some(shared)
    }

    /// Records a resource's identity: namespace, environment, and the
    /// instance's version as of `at`.
    pub(crate) fn touch_resource(&mut self, resource: &ResourceInfo, at: Timestamp) -> Rejected {
        let mut rejected = Rejected::default();
        let Some(node) = self.map.get_mut(&*resource.service) else {
            return rejected;
        };
        self.operations -= node.seen(at, self.idle_ns);
        if let Some(ns) = &resource.namespace
            && node.namespace.as_ref().is_none_or(|old| ns < old)
        {
            node.namespace = Some(ns.clone());
        }
        if let Some(env) = &resource.environment
            && node.environments.len() < MAX_ENVIRONMENTS
        {
            node.environments.insert(env.clone());
        }
        let instance = resource
            .instance
            .clone()
            .unwrap_or_else(|| self.empty.clone());
        let version = resource
            .version
            .clone()
            .unwrap_or_else(|| self.empty.clone());
        if let Some(seen) = node.instances.get_mut(&instance) {
            // Latest event time wins; ties pick the greater version so the
            // result does not depend on arrival order.
            if (at, &version) > (seen.last, &seen.version) {
                *seen = InstanceSeen { version, last: at };
            }
        } else if node.instances.len() < self.max_instances {
            node.instances
                .insert(instance, InstanceSeen { version, last: at });
        } else {
            rejected.instances += 1;
        }
        rejected
    }

    /// Whether a span's operation overflows: `None` = it is aggregated
    /// under its own name (there is room), else why it goes under
    /// [`Self::other`] (`__other__`).
    pub(crate) fn operation(
        &mut self,
        service: &str,
        operation: &Arc<str>,
        at: Timestamp,
    ) -> Option<Overflow> {
        let Some(node) = self.map.get_mut(service) else {
            return Some(Overflow::PerService);
        };
        if let Some(last) = node.operations.get_mut(operation) {
            *last = (*last).max(at);
            return None;
        }
        if node.operations.len() >= self.max_operations {
            return Some(Overflow::PerService);
        }
        if self.operations >= self.max_operations_total {
            return Some(Overflow::Total);
        }
        node.operations.insert(operation.clone(), at);
        self.operations += 1;
        None
    }

    /// Operations tracked over all nodes.
    pub(crate) fn operations(&self) -> usize {
        self.operations
    }

    /// Recounts the operations after nodes were put in place directly (restore).
    pub(crate) fn recount(&mut self) {
        self.operations = self.map.values().map(|n| n.operations.len()).sum();
    }

    /// The shared `__other__` operation name.
    pub(crate) fn other(&self) -> &Arc<str> {
        &self.other
    }

    pub(crate) fn add_edge(&mut self, name: &str) {
        if let Some(node) = self.map.get_mut(name) {
            node.edges += 1;
        }
    }

    pub(crate) fn remove_edge(&mut self, name: &str) {
        if let Some(node) = self.map.get_mut(name) {
            node.edges = node.edges.saturating_sub(1);
        }
    }

    /// Drops idle nodes without edges, and forgets instances and operations
    /// older than their horizons. Returns the number of nodes removed.
    pub(crate) fn sweep(&mut self, visible_from: Timestamp, version_from: Timestamp) -> u64 {
        let before = self.map.len();
        self.map
            .retain(|_, node| node.edges > 0 || node.last_seen >= visible_from);
        for node in self.map.values_mut() {
            node.instances.retain(|_, seen| seen.last >= version_from);
            node.operations.retain(|_, last| *last >= visible_from);
        }
        self.recount();
        (before - self.map.len()) as u64
    }

    /// Nodes seen since `visible_from`, sorted by name, with versions counted
    /// over instances seen since `version_from`.
    pub(crate) fn snapshot(
        &self,
        visible_from: Timestamp,
        version_from: Timestamp,
    ) -> Vec<NodeSnapshot> {
        let mut nodes: Vec<NodeSnapshot> = self
            .map
            .iter()
            .filter(|(_, node)| node.last_seen >= visible_from)
            .map(|(name, node)| {
                let mut versions: BTreeMap<Arc<str>, u32> = BTreeMap::new();
                for seen in node.instances.values().filter(|s| s.last >= version_from) {
                    *versions.entry(seen.version.clone()).or_default() += 1;
                }
                NodeSnapshot {
                    name: name.clone(),
                    kind: node.kind,
                    namespace: node.namespace.clone(),
                    environments: node.environments.iter().cloned().collect(),
                    versions: versions.into_iter().collect(),
                    first_seen: node.first_seen,
                    last_seen: node.last_seen,
                }
            })
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(instance: &str, version: &str) -> ResourceInfo {
        ResourceInfo {
            service: "checkout".into(),
            namespace: Some("shop".into()),
            version: Some(version.into()),
            environment: Some("prod".into()),
            instance: Some(instance.into()),
        }
    }

    #[test]
    fn node_limit_refuses_new_nodes_only() {
        let mut nodes = Nodes::new(1, (4, 100), 4, 100);
        assert!(nodes.ensure("a", NodeKind::Service, Timestamp(1)).is_some());
        assert!(nodes.ensure("b", NodeKind::Service, Timestamp(1)).is_none());
        assert!(
            nodes
                .ensure("a", NodeKind::Database, Timestamp(2))
                .is_some()
        );
        assert_eq!(
            nodes.map["a"].kind,
            NodeKind::Service,
            "strongest evidence wins"
        );
    }

    #[test]
    fn versions_count_recent_instances() {
        let mut nodes = Nodes::new(8, (4, 100), 4, 1_000);
        nodes.ensure("checkout", NodeKind::Service, Timestamp(10));
        nodes.touch_resource(&resource("pod-1", "v1"), Timestamp(10));
        nodes.touch_resource(&resource("pod-2", "v1"), Timestamp(10));
        nodes.touch_resource(&resource("pod-1", "v2"), Timestamp(20));
        nodes.touch_resource(&resource("pod-1", "v1"), Timestamp(15)); // older: ignored
        let snap = nodes.snapshot(Timestamp(0), Timestamp(0));
        let versions: Vec<(&str, u32)> = snap[0].versions.iter().map(|(v, n)| (&**v, *n)).collect();
        assert_eq!(versions, [("v1", 1), ("v2", 1)]);
        assert_eq!(snap[0].namespace.as_deref(), Some("shop"));
        assert_eq!(snap[0].environments.len(), 1);
        let later = nodes.snapshot(Timestamp(0), Timestamp(11));
        assert_eq!(later[0].versions, vec![(Arc::from("v2"), 1)]);
    }

    #[test]
    fn instances_beyond_the_limit_are_counted_not_stored() {
        let mut nodes = Nodes::new(8, (4, 100), 1, 1_000);
        nodes.ensure("checkout", NodeKind::Service, Timestamp(10));
        assert_eq!(
            nodes
                .touch_resource(&resource("pod-1", "v1"), Timestamp(10))
                .instances,
            0
        );
        assert_eq!(
            nodes
                .touch_resource(&resource("pod-2", "v1"), Timestamp(10))
                .instances,
            1
        );
        assert_eq!(nodes.map["checkout"].instances.len(), 1);
    }

    #[test]
    fn operations_overflow_into_other() {
        let mut nodes = Nodes::new(8, (2, 100), 4, 1_000);
        nodes.ensure("svc", NodeKind::Service, Timestamp(1));
        let op = |n: &str| Arc::<str>::from(n);
        assert_eq!(nodes.operation("svc", &op("a"), Timestamp(1)), None);
        assert_eq!(nodes.operation("svc", &op("b"), Timestamp(1)), None);
        assert_eq!(
            nodes.operation("svc", &op("c"), Timestamp(1)),
            Some(Overflow::PerService)
        );
        assert_eq!(&**nodes.other(), OTHER_OPERATION);
        assert_eq!(nodes.operation("svc", &op("a"), Timestamp(2)), None);
    }

    #[test]
    fn the_total_operation_limit_holds_over_every_service_and_frees_with_idle_operations() {
        let mut nodes = Nodes::new(8, (100, 3), 4, 1_000);
        let op = |n: &str| Arc::<str>::from(n);
        for service in ["a", "b"] {
            nodes.ensure(service, NodeKind::Service, Timestamp(1));
        }
        assert_eq!(nodes.operation("a", &op("x"), Timestamp(1)), None);
        assert_eq!(nodes.operation("a", &op("y"), Timestamp(1)), None);
        assert_eq!(nodes.operation("b", &op("x"), Timestamp(5)), None);
        assert_eq!(
            nodes.operation("b", &op("z"), Timestamp(5)),
            Some(Overflow::Total)
        );
        assert_eq!(nodes.operation("a", &op("x"), Timestamp(5)), None, "known");
        assert_eq!(nodes.operations(), 3);
        // a/y was last seen at 1: forgotten by a sweep from 3, making room.
        nodes.ensure("a", NodeKind::Service, Timestamp(5));
        nodes.ensure("b", NodeKind::Service, Timestamp(5));
        nodes.sweep(Timestamp(3), Timestamp(0));
        assert_eq!(nodes.operations(), 2);
        assert_eq!(nodes.operation("b", &op("z"), Timestamp(6)), None);
        // A node's new life forgets its operations, and the count follows.
        nodes.ensure("b", NodeKind::Service, Timestamp(5_000));
        assert_eq!(nodes.operations(), 1);
    }

    #[test]
    fn idle_nodes_without_edges_are_swept() {
        let mut nodes = Nodes::new(8, (2, 100), 4, 1_000);
        nodes.ensure("old", NodeKind::Service, Timestamp(1));
        nodes.ensure("linked", NodeKind::Service, Timestamp(1));
        nodes.add_edge("linked");
        nodes.ensure("new", NodeKind::Service, Timestamp(500));
        assert_eq!(nodes.sweep(Timestamp(100), Timestamp(100)), 1);
        let names: Vec<_> = nodes
            .snapshot(Timestamp(0), Timestamp(0))
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(names, [Arc::from("linked"), Arc::from("new")]);
    }

    #[test]
    fn a_long_gap_starts_a_new_life() {
        let mut nodes = Nodes::new(8, (2, 100), 4, 100);
        nodes.ensure("svc", NodeKind::Service, Timestamp(1));
        nodes.ensure("svc", NodeKind::Service, Timestamp(50));
        assert_eq!(nodes.map["svc"].first_seen, Timestamp(1));
        nodes.ensure("svc", NodeKind::Service, Timestamp(500));
        assert_eq!(nodes.map["svc"].first_seen, Timestamp(500));
    }
}
