//! State for readers: the latest graph snapshot and the daemon's readiness.
//!
//! [`state`] holds what the API reads: a `watch` of the newest
//! [`GraphSnapshot`](crate::model::GraphSnapshot) published by the graph
//! stage, and the readiness flags the wiring layer sets. Readers always get
//! an immutable `Arc`, never a lock on stage state.
//!
//! Never does: network I/O, analysis, reading the clock. Durable state
//! (warm restart) belongs in a `persist` submodule, the only place here
//! allowed to touch the disk.

pub mod state;

pub use state::{Component, Health, Readiness, SnapshotStore};
