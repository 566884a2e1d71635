//! The serialisable parts of a [`super::GraphState`] (resources, halves,
//! nodes, edges) and their conversions to and from the live structures;
//! window series are in [`super::series`].
//! The layout is the state format: changing it needs a new `FORMAT`.
//!
//! Never does: I/O, or decide what is exported (see the parent module).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{ConnectionType, NodeKind, ResourceInfo, SpanId, SpanKind, Timestamp, TraceId};

use super::super::edges::{Edge, EdgeKey, VersionCount};
use super::super::hdr::CompactHdr;
use super::super::latency::{Exemplar, SideLatency};
use super::super::nodes::{InstanceSeen, Node};
use super::super::pairing::{Fallback, Half, Key, Targets, key_of, trace_of};
use super::RestoreError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct ResourceState {
    service: String,
    namespace: Option<String>,
    version: Option<String>,
    environment: Option<String>,
    instance: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct HalfState {
    key: String,
    kind: i32,
    end: u64,
    duration_ns: u64,
    error: bool,
    resource: usize,
    targets: Vec<String>,
    /// `(name, node kind, database)` of the fallback, if any.
    fallback: Option<(String, String, bool)>,
    paired: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct NodeState {
    pub(super) name: String,
    kind: String,
    namespace: Option<String>,
    environments: Vec<String>,
    /// `(instance, version, last seen)`.
    instances: Vec<(String, String, u64)>,
    operations: Vec<(String, u64)>,
    first_seen: u64,
    last_seen: u64,
    edges: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct SideState {
    counts: Vec<u64>,
    /// `(trace hex, value ns, at)` per bucket.
    exemplars: Vec<Option<(String, u64, u64)>>,
    sum_ns: u128,
    count: u64,
    /// Recorded HDR values (µs) and counts.
    hdr: Vec<(u64, u64)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct EdgeState {
    client: String,
    server: String,
    connection_type: String,
    requests: u64,
    failed: u64,
    client_latency: SideState,
    server_latency: SideState,
    /// `(version, requests, failed, last seen)`.
    versions: Vec<(String, u64, u64, u64)>,
    first_seen: u64,
    last_seen: u64,
}

pub(super) fn hex_key(key: &Key) -> String {
    let mut span = [0u8; 8];
    span.copy_from_slice(&key[16..]);
    format!("{}{}", trace_of(key).to_hex(), SpanId(span).to_hex())
}

pub(super) fn parse_key(text: &str) -> Result<Key, RestoreError> {
    let invalid = RestoreError::Invalid("span key");
    let (trace, span) = (
        text.get(..32).ok_or(invalid)?,
        text.get(32..).ok_or(invalid)?,
    );
    let trace = TraceId::from_hex(trace).ok_or(invalid)?;
    let span = SpanId::from_hex(span).ok_or(invalid)?;
    Ok(key_of(&trace, &span))
}

pub(super) fn owned(value: &Option<Arc<str>>) -> Option<String> {
    value.as_deref().map(str::to_owned)
}

pub(super) fn shared(value: Option<String>) -> Option<Arc<str>> {
    value.map(Arc::from)
}

pub(super) fn resource_state(r: &ResourceInfo) -> ResourceState {
    ResourceState {
        service: r.service.to_string(),
        namespace: owned(&r.namespace),
        version: owned(&r.version),
        environment: owned(&r.environment),
        instance: owned(&r.instance),
    }
}

pub(super) fn resource_info(r: ResourceState) -> ResourceInfo {
    ResourceInfo {
        service: Arc::from(r.service),
        namespace: shared(r.namespace),
        version: shared(r.version),
        environment: shared(r.environment),
        instance: shared(r.instance),
    }
}

pub(super) fn kind_number(kind: SpanKind) -> i32 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

pub(super) fn node_kind(text: &str) -> Result<NodeKind, RestoreError> {
    [
        NodeKind::Service,
        NodeKind::Database,
        NodeKind::Messaging,
        NodeKind::External,
        NodeKind::User,
    ]
    .into_iter()
    .find(|k| k.as_str() == text)
    .ok_or(RestoreError::Invalid("node kind"))
}

pub(super) fn connection_type(text: &str) -> Result<ConnectionType, RestoreError> {
    [
        ConnectionType::Direct,
        ConnectionType::VirtualNode,
        ConnectionType::MessagingSystem,
        ConnectionType::Database,
    ]
    .into_iter()
    .find(|c| c.as_str() == text)
    .ok_or(RestoreError::Invalid("connection type"))
}

pub(super) fn half_state(key: &Key, half: &Half, resource: usize) -> HalfState {
    HalfState {
        key: hex_key(key),
        kind: kind_number(half.kind),
        end: half.end.0,
        duration_ns: half.duration_ns,
        error: half.error,
        resource,
        targets: half.targets.as_slice().iter().map(hex_key).collect(),
        fallback: match &half.fallback {
            Fallback::Unpaired => None,
            Fallback::Virtual {
                name,
                kind,
                database,
            } => Some((name.to_string(), kind.as_str().to_owned(), *database)),
        },
        paired: half.paired,
    }
}

pub(super) fn restore_half(
    state: HalfState,
    resources: &[Arc<ResourceInfo>],
) -> Result<(Key, Half), RestoreError> {
    let targets: Vec<Key> = state
        .targets
        .iter()
        .map(|t| parse_key(t))
        .collect::<Result<_, _>>()?;
    let fallback = match state.fallback {
        None => Fallback::Unpaired,
        Some((name, kind, database)) => Fallback::Virtual {
            name: Arc::from(name),
            kind: node_kind(&kind)?,
            database,
        },
    };
    let half = Half {
        kind: SpanKind::from_otlp(state.kind),
        end: Timestamp(state.end),
        duration_ns: state.duration_ns,
        error: state.error,
        resource: resources
            .get(state.resource)
            .cloned()
            .ok_or(RestoreError::Invalid("resource"))?,
        targets: match targets.as_slice() {
            [] => Targets::None,
            [one] => Targets::One(*one),
            _ => Targets::Many(targets.into()),
        },
        fallback,
        paired: state.paired,
    };
    Ok((parse_key(&state.key)?, half))
}

pub(super) fn node_state(name: &Arc<str>, node: &Node) -> NodeState {
    let mut instances: Vec<(String, String, u64)> = node
        .instances
        .iter()
        .map(|(i, seen)| (i.to_string(), seen.version.to_string(), seen.last.0))
        .collect();
    instances.sort();
    let mut operations: Vec<(String, u64)> = node
        .operations
        .iter()
        .map(|(op, at)| (op.to_string(), at.0))
        .collect();
    operations.sort();
    NodeState {
        name: name.to_string(),
        kind: node.kind.as_str().to_owned(),
        namespace: owned(&node.namespace),
        environments: node.environments.iter().map(|e| e.to_string()).collect(),
        instances,
        operations,
        first_seen: node.first_seen.0,
        last_seen: node.last_seen.0,
        edges: node.edges,
    }
}

pub(super) fn restore_node(state: NodeState) -> Result<(Arc<str>, Node), RestoreError> {
    let node = Node {
        kind: node_kind(&state.kind)?,
        namespace: shared(state.namespace),
        environments: state
            .environments
            .into_iter()
            .map(Arc::from)
            .collect::<BTreeSet<_>>(),
        instances: state
            .instances
            .into_iter()
            .map(|(i, v, last)| {
                (
                    Arc::from(i),
                    InstanceSeen {
                        version: Arc::from(v),
                        last: Timestamp(last),
                    },
                )
            })
            .collect(),
        operations: state
            .operations
            .into_iter()
            .map(|(op, at)| (Arc::from(op), Timestamp(at)))
            .collect(),
        first_seen: Timestamp(state.first_seen),
        last_seen: Timestamp(state.last_seen),
        edges: state.edges,
    };
    Ok((Arc::from(state.name), node))
}

pub(super) fn side_state(side: &SideLatency) -> SideState {
    SideState {
        counts: side.counts.to_vec(),
        exemplars: side
            .exemplars
            .iter()
            .map(|e| e.map(|e| (e.trace.to_hex(), e.value_ns, e.at.0)))
            .collect(),
        sum_ns: side.sum_ns,
        count: side.count,
        hdr: side.hdr.iter_recorded().collect(),
    }
}

pub(super) fn restore_side(state: SideState, buckets: usize) -> Result<SideLatency, RestoreError> {
    if state.counts.len() != buckets + 1 || state.exemplars.len() != buckets + 1 {
        return Err(RestoreError::BucketsChanged);
    }
    let mut side = SideLatency::new(buckets);
    side.counts = state.counts.into();
    side.exemplars = state
        .exemplars
        .into_iter()
        .map(|e| match e {
            None => Ok(None),
            Some((trace, value_ns, at)) => Ok(Some(Exemplar {
                trace: TraceId::from_hex(&trace).ok_or(RestoreError::Invalid("exemplar"))?,
                value_ns,
                at: Timestamp(at),
            })),
        })
        .collect::<Result<_, RestoreError>>()?;
    side.sum_ns = state.sum_ns;
    side.count = state.count;
    side.hdr = CompactHdr::default();
    for (value, count) in state.hdr {
        side.hdr
            .record_n(value, u32::try_from(count).unwrap_or(u32::MAX));
    }
    Ok(side)
}

pub(super) fn edge_state(key: &EdgeKey, edge: &Edge) -> EdgeState {
    let mut versions: Vec<(String, u64, u64, u64)> = edge
        .by_server_version
        .iter()
        .map(|v| (v.version.to_string(), v.requests, v.failed, v.last_seen.0))
        .collect();
    versions.sort();
    EdgeState {
        client: key.client.to_string(),
        server: key.server.to_string(),
        connection_type: key.connection_type.as_str().to_owned(),
        requests: edge.requests,
        failed: edge.failed,
        client_latency: side_state(&edge.client),
        server_latency: side_state(&edge.server),
        versions,
        first_seen: edge.first_seen.0,
        last_seen: edge.last_seen.0,
    }
}

pub(super) fn restore_edge(
    state: EdgeState,
    buckets: usize,
) -> Result<(EdgeKey, Edge), RestoreError> {
    let key = EdgeKey {
        client: Arc::from(state.client),
        server: Arc::from(state.server),
        connection_type: connection_type(&state.connection_type)?,
    };
    let edge = Edge {
        requests: state.requests,
        failed: state.failed,
        client: restore_side(state.client_latency, buckets)?,
        server: restore_side(state.server_latency, buckets)?,
        by_server_version: state
            .versions
            .into_iter()
            .map(|(version, requests, failed, last)| VersionCount {
                version: Arc::from(version),
                requests,
                failed,
                last_seen: Timestamp(last),
            })
            .collect(),
        first_seen: Timestamp(state.first_seen),
        last_seen: Timestamp(state.last_seen),
    };
    Ok((key, edge))
}
