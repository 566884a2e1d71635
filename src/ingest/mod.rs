//! Ingest: bytes in, normalized [`crate::model::SpanBatch`]es out.
//!
//! Sources hand raw payloads to [`decode`], which parses OTLP protobuf (with
//! a slim schema of our own) or lenient OTLP/JSON and normalizes semantic
//! conventions into the compact span model in one pass. [`otlp`] serves the
//! OTLP/gRPC and OTLP/HTTP receivers, [`kafka`] consumes span topics (with a
//! dead-letter topic for poison records), and [`file`] reads replay files; [`deploy`] decodes
//! deployment events (CDEvents, CloudEvents modes, the plain form), and
//! [`incident`] decodes reported incidents (plain, PagerDuty, CDEvents).
//! Every source hands batches to the graph stage over one bounded channel.
//!
//! Never does: pairing, aggregation or anything else of the graph stage.

pub mod decode;
pub mod deploy;
pub mod file;
pub mod incident;
pub mod kafka;
pub mod otlp;

/// Holds `output` until `stop` is cancelled and returns a weak handle for
/// an HTTP route: the route never keeps its stage's input open, so the
/// stage sees its input close once the other sources are done, although the
/// API listener keeps serving. Needs a Tokio runtime (it spawns a small task).
pub(crate) fn weak_until_stopped<T: Send + 'static>(
    output: tokio::sync::mpsc::Sender<T>,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::sync::mpsc::WeakSender<T> {
    let weak = output.downgrade();
    tokio::spawn(async move {
        stop.cancelled().await;
        drop(output);
    });
    weak
}
