//! Integration tests.

// `epicenter simulate`: files, OTLP/HTTP, Kafka, pacing.
mod sim;
