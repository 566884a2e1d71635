//! Export and restore of the whole graph state, for restarts.
//!
//! [`GraphState`] is a plain serde value (JSON-friendly: ids are hex,
//! enums are their label strings). It holds the watermark, every held half,
//! nodes, edges with their cumulative counters, buckets and quantile
//! histograms, open windows and the cumulative outcomes. Exporting is
//! deterministic (everything sorted), so equal graphs give equal states.
//!
//! The parts and their conversions are in [`parts`] and [`series`];
//! [`stream`] encodes the state straight from the graph (snapshots).
//!
//! Never does: I/O. The caller (`store`) decides where the bytes go.

mod parts;
mod series;
mod stream;

use std::sync::Arc;

use foldhash::HashMap;
use serde::{Deserialize, Serialize};

use crate::model::{ResourceInfo, Timestamp};

use super::config::Settings;
use super::edges::{Edge, EdgeKey};
use super::engine::Graph;
use super::nodes::Node;
use super::outcome::ObserveOutcome;
use super::pairing::{Half, Key};
use parts::{
    EdgeState, HalfState, NodeState, ResourceState, edge_state, half_state, node_state,
    resource_info, resource_state, restore_edge, restore_half, restore_node,
};
use series::{AggState, KeyState, agg_state, key_state, restore_agg, restore_key};

/// A node with its name, borrowed from the graph.
type NodeRef<'a> = (&'a Arc<str>, &'a Node);
/// An edge with its key, borrowed from the graph.
type EdgeRef<'a> = (&'a EdgeKey, &'a Edge);

/// Bumped when the layout changes incompatibly.
const FORMAT: u32 = 1;

/// Why a state could not be restored. The caller starts from an empty graph.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RestoreError {
    /// Written by an incompatible version.
    #[error("unsupported graph state format {0}")]
    Format(u32),
    /// `window_secs` changed: open windows cannot be re-cut.
    #[error("window length changed from {was_ns} ns")]
    WindowChanged {
        /// The window length the state was written with.
        was_ns: u64,
    },
    /// `histogram_buckets` changed: cumulative bucket counts cannot be re-cut.
    #[error("histogram buckets changed")]
    BucketsChanged,
    /// A value that cannot be parsed back (corrupt or hand-edited state).
    #[error("invalid graph state: {0}")]
    Invalid(&'static str),
}

/// The serialisable state of a [`Graph`]. Opaque: persist it and give it back
/// to [`Graph::restore`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphState {
    format: u32,
    watermark: u64,
    max_end: u64,
    window_ns: u64,
    bounds_ns: Vec<u64>,
    resources: Vec<ResourceState>,
    halves: Vec<HalfState>,
    nodes: Vec<NodeState>,
    edges: Vec<EdgeState>,
    next_window: Option<u64>,
    empty_windows: u64,
    windows: Vec<(u64, Vec<(KeyState, AggState)>)>,
    totals: ObserveOutcome,
}

impl GraphState {
    /// The state as stored: gzip-compressed JSON, streamed (see
    /// [`crate::model::blob`]).
    ///
    /// # Errors
    /// When serialization fails.
    pub fn encode(&self) -> std::io::Result<Vec<u8>> {
        crate::model::blob::to_gzip_json(self)
    }

    /// A stored state: gzip-compressed JSON, or plain JSON (written before
    /// compression was added).
    ///
    /// # Errors
    /// When the bytes are not a graph state.
    pub fn decode(bytes: &[u8]) -> serde_json::Result<Self> {
        crate::model::blob::from_json_or_gzip(bytes)
    }
}

impl Graph {
    /// Held halves in expiry order, each with the index of its resource,
    /// and those resources in order of first use (export and streaming).
    fn halves_and_resources(&self) -> (Vec<(&Key, &Half, usize)>, Vec<ResourceState>) {
        let mut resources = Vec::new();
        let mut resource_index: HashMap<*const ResourceInfo, usize> = HashMap::default();
        let halves = self
            .store
            .iter_in_expiry_order()
            .into_iter()
            .map(|(key, half)| {
                let index = *resource_index
                    .entry(Arc::as_ptr(&half.resource))
                    .or_insert_with(|| {
                        resources.push(resource_state(&half.resource));
                        resources.len() - 1
                    });
                (key, half, index)
            })
            .collect();
        (halves, resources)
    }

    /// Nodes by name and edges by key (export and streaming).
    fn sorted_nodes_and_edges(&self) -> (Vec<NodeRef<'_>>, Vec<EdgeRef<'_>>) {
        let mut nodes: Vec<_> = self.nodes.map.iter().collect();
        nodes.sort_by(|a, b| a.0.cmp(b.0));
        let mut edges: Vec<_> = self.edges.map.iter().collect();
        edges.sort_by(|a, b| a.0.cmp(b.0));
        (nodes, edges)
    }

    /// The full state, for a restart. Deterministic: equal graphs give equal states.
    pub fn export_state(&self) -> GraphState {
        let (halves, resources) = self.halves_and_resources();
        let halves = halves
            .into_iter()
            .map(|(key, half, index)| half_state(key, half, index))
            .collect();
        let (nodes, edges) = self.sorted_nodes_and_edges();
        let nodes: Vec<NodeState> = nodes
            .into_iter()
            .map(|(name, node)| node_state(name, node))
            .collect();
        let windows = self
            .windows
            .open
            .iter()
            .map(|(index, window)| {
                let rows = window.rows();
                (
                    *index,
                    rows.into_iter()
                        .map(|(k, a)| (key_state(&k), agg_state(a)))
                        .collect(),
                )
            })
            .collect();
        GraphState {
            format: FORMAT,
            watermark: self.watermark.0,
            max_end: self.max_end.0,
            window_ns: self.settings.window_ns,
            bounds_ns: self.settings.bounds_ns.to_vec(),
            resources,
            halves,
            nodes,
            edges: edges.into_iter().map(|(k, e)| edge_state(k, e)).collect(),
            next_window: self.windows.next,
            empty_windows: self.windows.empties,
            windows,
            totals: self.totals.clone(),
        }
    }

    /// Rebuilds a graph from [`Graph::export_state`] output.
    ///
    /// # Errors
    /// When the state's format, window length or buckets do not match
    /// `settings`, or a value cannot be parsed.
    pub fn restore(settings: &Settings, state: GraphState) -> Result<Graph, RestoreError> {
        if state.format != FORMAT {
            return Err(RestoreError::Format(state.format));
        }
        if state.window_ns != settings.window_ns {
            return Err(RestoreError::WindowChanged {
                was_ns: state.window_ns,
            });
        }
        if state.bounds_ns[..] != settings.bounds_ns[..] {
            return Err(RestoreError::BucketsChanged);
        }
        let mut graph = Graph::new(settings);
        graph.watermark = Timestamp(state.watermark);
        graph.max_end = Timestamp(state.max_end);
        graph.totals = state.totals;
        let resources: Vec<Arc<ResourceInfo>> = state
            .resources
            .into_iter()
            .map(|r| Arc::new(resource_info(r)))
            .collect();
        for half in state.halves {
            let (key, half) = restore_half(half, &resources)?;
            graph.store.restore_half(key, half);
        }
        graph.store.rebuild_waiters();
        for node in state.nodes {
            let (name, node) = restore_node(node)?;
            graph.nodes.map.insert(name, node);
        }
        graph.nodes.recount();
        let buckets = settings.bounds_ns.len();
        for edge in state.edges {
            let (key, edge) = restore_edge(edge, buckets)?;
            graph.edges.map.insert(key, edge);
        }
        graph.windows.next = state.next_window;
        graph.windows.empties = state.empty_windows;
        for (index, rows) in state.windows {
            for (key, agg) in rows {
                graph
                    .windows
                    .restore(index, restore_key(key)?, restore_agg(agg));
            }
        }
        Ok(graph)
    }
}
