//! Checkpoints: barriers that travel through the pipeline so that one
//! consistent snapshot of every stage can be written together with the
//! Kafka offsets it covers (crash safety, issue 4).
//!
//! A source (the Kafka consumer, or a timer when there is no Kafka) creates a
//! [`Checkpoint`] carrying the offsets it handed over so far; the graph stage
//! adds its encoded state and forwards it, in order with its closed windows,
//! as [`GraphOutput::Checkpoint`]; the analysis stage adds its encoded
//! journal; the wiring layer writes all of it in one transaction and only
//! then lets the consumer commit the offsets.
//!
//! Never does: I/O, encoding or decoding state (the stages do), clock reads.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::window::WindowStats;

/// The next offset to consume of one Kafka partition (record offset + 1).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartitionOffset {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// Next offset to read: every record before it is covered.
    pub next: i64,
}

/// A barrier and, once it has passed the stages, their state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Increasing per source run; lets the source recognise its own reply.
    pub seq: u64,
    /// Span batches the source had put on its queue to the graph stage
    /// before this barrier: the graph stage applies the barrier right after
    /// it has taken exactly that many from the source's queue.
    pub batches: u64,
    /// Kafka offsets handed over (span batches and deployment events)
    /// before the barrier; empty without Kafka.
    pub offsets: Vec<PartitionOffset>,
    /// The graph stage's state (JSON), added by the graph stage.
    pub graph: Option<Vec<u8>>,
    /// The analysis journal's changes since the previous checkpoint, added
    /// by the analysis stage.
    pub analysis: Option<JournalSnapshot>,
    /// The source's last barrier before a clean stop.
    pub last: bool,
}

/// The analysis journal as a checkpoint carries it: its head (deployment
/// events, reported incidents, and the start of every window it holds) and
/// only the windows closed since the previous checkpoint, as parts the
/// snapshot writer encodes one at a time while it stores them, so a
/// snapshot costs the new windows, never the whole journal, and never
/// holds more than one encoded window (a Kafka backlog closes hundreds of
/// windows between two snapshots).
#[derive(Clone, Debug, Default)]
pub struct JournalSnapshot {
    /// Everything but the windows' contents.
    pub head: Vec<u8>,
    /// Windows not in an earlier snapshot.
    pub windows: Vec<Arc<dyn LazyPart>>,
    /// Stored windows starting before this (ns) are no longer held.
    pub keep_from: u64,
}

/// Equal heads, retention and the very same window parts.
impl PartialEq for JournalSnapshot {
    fn eq(&self, other: &Self) -> bool {
        self.head == other.head
            && self.keep_from == other.keep_from
            && self.windows.len() == other.windows.len()
            && self
                .windows
                .iter()
                .zip(&other.windows)
                .all(|(a, b)| std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b)))
    }
}

impl Eq for JournalSnapshot {}

/// A part of a checkpoint that the snapshot writer encodes when it stores
/// it, rather than the stage that produced it.
pub trait LazyPart: Send + Sync + std::fmt::Debug {
    /// Its position in its log (a journal window's start, ns).
    fn position(&self) -> u64;

    /// The bytes to store.
    ///
    /// # Errors
    /// When it cannot be encoded.
    fn encode(&self) -> std::io::Result<Vec<u8>>;
}

/// What the graph stage sends downstream, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum GraphOutput {
    /// A closed window.
    Window(WindowStats),
    /// A barrier, after every window closed by the input before it.
    Checkpoint(Checkpoint),
}
