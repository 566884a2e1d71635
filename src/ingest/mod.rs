//! Ingest: bytes in, normalized [`crate::model::SpanBatch`]es out.
//!
//! Sources (OTLP gRPC/HTTP, Kafka, files) hand raw payloads to [`decode`],
//! which parses OTLP protobuf or OTLP/JSON and normalizes semantic
//! conventions into the compact span model in one pass; [`file`] reads
//! replay files line by line; [`otlp`] serves the OTLP receivers.
//!
//! Never does: pairing, aggregation or anything else of the graph stage.

pub mod decode;
pub mod file;
pub mod otlp;
