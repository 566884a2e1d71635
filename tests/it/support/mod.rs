//! Helpers shared by integration tests.

pub(crate) mod fixtures;
