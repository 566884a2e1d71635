//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)] // each test module uses a different subset
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup is a failed test"
)]

pub mod collector;
pub mod exposition;
pub(crate) mod fixtures;
pub mod kafka;
pub mod otlp;
