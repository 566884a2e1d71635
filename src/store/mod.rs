//! Latest snapshots for readers, and durable state in the data directory.
//!
//! Never does: network I/O or analysis. Disk I/O happens only in `persist`.

pub mod persist;
