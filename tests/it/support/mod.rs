//! Helpers shared by the integration tests.

pub(crate) mod kafka;
pub(crate) mod otlp;
