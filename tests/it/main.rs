//! Integration tests: one binary (`cargo test --test it <filter>`).

mod support;

// OTLP receivers over real sockets: gRPC and HTTP, protobuf/JSON/gzip, shutdown.
mod otlp;

// Bad input to the receivers: each gets a clear answer and a counter.
mod bad_input;

// The HTTP API and /metrics over hand-built snapshots.
mod api;
