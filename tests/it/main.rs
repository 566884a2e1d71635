//! Integration tests: one binary, one module per area.

/// Shared helpers: fixture locations and loading.
mod support;

/// The service-graph peer suite (Tempo, Alloy, OTel, Jaeger cases).
mod peer_fixtures;
