//! Ingest: spans in from OTLP receivers, Kafka and files, decoded and
//! normalized into [`SpanBatch`](crate::model::SpanBatch)es for the graph stage.
//!
//! Never does: pairing or aggregation (the graph stage does), reading the
//! wall clock for analysis.

pub mod otlp;
