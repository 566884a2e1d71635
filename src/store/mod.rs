//! State for readers, and durable state in the data directory.
//!
//! [`state`] holds what the API reads: a `watch` of the newest
//! [`GraphSnapshot`](crate::model::GraphSnapshot) published by the graph
//! stage, and the readiness flags the wiring layer sets. Readers always get
//! an immutable `Arc`, never a lock on stage state. [`persist`] keeps
//! state blobs (the graph's state for warm restarts) in one redb file.
//!
//! Never does: network I/O, analysis, reading the clock. Disk I/O happens
//! only in `persist`.

pub mod analysis;
pub mod persist;
pub mod state;

pub use state::{Component, Health, Readiness, SnapshotStore};
