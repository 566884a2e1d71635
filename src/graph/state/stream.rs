//! The graph state encoded straight from the live graph: the same JSON as
//! serializing [`super::GraphState`], but each half, node, edge and window
//! row is converted when the encoder reaches it and dropped right after,
//! so a snapshot never holds a second copy of the graph (≈180 MB for a
//! 5,000-service fleet, every `snapshot.interval_secs`).
//!
//! Never does: I/O, or decide the layout (it follows [`super::GraphState`]
//! field for field; a test compares the two).

use std::cell::Cell;

use serde::ser::Error as _;
use serde::{Serialize, Serializer};

use super::super::engine::Graph;
use super::super::outcome::ObserveOutcome;
use super::FORMAT;
use super::parts::{ResourceState, edge_state, half_state, node_state};
use super::series::{agg_state, key_state};

/// A sequence serialized from an iterator, once.
struct Each<I>(Cell<Option<I>>);

impl<I> Each<I> {
    fn new(items: I) -> Self {
        Self(Cell::new(Some(items)))
    }
}

impl<I, T> Serialize for Each<I>
where
    I: Iterator<Item = T>,
    T: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.take() {
            Some(items) => serializer.collect_seq(items),
            None => Err(S::Error::custom("a streamed sequence is serialized once")),
        }
    }
}

/// [`super::GraphState`]'s fields, in its order, borrowed or streamed.
#[derive(Serialize)]
#[serde(bound = "Each<H>: Serialize, Each<N>: Serialize, Each<E>: Serialize, Each<W>: Serialize")]
struct View<'a, H, N, E, W> {
    format: u32,
    watermark: u64,
    max_end: u64,
    window_ns: u64,
    bounds_ns: &'a [u64],
    resources: Vec<ResourceState>,
    halves: Each<H>,
    nodes: Each<N>,
    edges: Each<E>,
    next_window: Option<u64>,
    empty_windows: u64,
    windows: Each<W>,
    totals: &'a ObserveOutcome,
}

impl Graph {
    /// [`Graph::export_state`] encoded as stored (gzip JSON, see
    /// [`crate::model::blob`]) without building it: the bytes decode to
    /// exactly the state `export_state` returns.
    ///
    /// # Errors
    /// When serialization fails.
    pub fn encode_state(&self) -> std::io::Result<Vec<u8>> {
        self.encode_state_sized(0)
    }

    /// [`Graph::encode_state`] into a buffer of `capacity` bytes to start
    /// with (see [`crate::model::blob::to_gzip_json_sized`]).
    ///
    /// # Errors
    /// When serialization fails.
    pub fn encode_state_sized(&self, capacity: usize) -> std::io::Result<Vec<u8>> {
        let (halves, resources) = self.halves_and_resources();
        let (nodes, edges) = self.sorted_nodes_and_edges();
        let view = View {
            format: FORMAT,
            watermark: self.watermark.0,
            max_end: self.max_end.0,
            window_ns: self.settings.window_ns,
            bounds_ns: &self.settings.bounds_ns,
            resources,
            halves: Each::new(
                halves
                    .into_iter()
                    .map(|(key, half, index)| half_state(key, half, index)),
            ),
            nodes: Each::new(nodes.into_iter().map(|(name, node)| node_state(name, node))),
            edges: Each::new(edges.into_iter().map(|(k, e)| edge_state(k, e))),
            next_window: self.windows.next,
            empty_windows: self.windows.empties,
            windows: Each::new(self.windows.open.iter().map(|(index, window)| {
                let rows = window.rows();
                (
                    *index,
                    Each::new(rows.into_iter().map(|(k, a)| (key_state(&k), agg_state(a)))),
                )
            })),
            totals: &self.totals,
        };
        crate::model::blob::to_gzip_json_sized(&view, capacity)
    }
}
