//! What both receivers do with a request body: decompress (HTTP only; gRPC
//! bodies arrive decompressed by tonic), decode, count, hand off.
//!
//! Decoding is CPU work; bodies that are compressed or larger than
//! [`INLINE_DECODE_BYTES`] are decoded on the blocking pool so one big
//! request cannot stall the async workers.

use std::io::Read;

use bytes::Bytes;

use super::error::ExportError;
use super::metrics::{BatchRejectReason, Encoding, Metrics, Transport};
use super::sink::{SendError, Sink};
use crate::ingest::decode::{Decoded, decode_otlp_json, decode_otlp_proto};

/// Bodies up to this size (uncompressed) are decoded on the async worker:
/// at about 1 µs per span that is well under half a millisecond.
pub(crate) const INLINE_DECODE_BYTES: usize = 128 * 1024;

/// What the receivers share.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) sink: Sink,
    pub(crate) metrics: Metrics,
}

/// `Content-Encoding` of an HTTP body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    /// As is.
    Identity,
    /// `gzip`.
    Gzip,
    /// `deflate` (zlib).
    Deflate,
}

/// An accepted request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// Spans dropped by the decoder (0 on full success).
    pub(crate) rejected_spans: u64,
    /// Why, for `partial_success.error_message`; empty on full success.
    pub(crate) message: String,
}

/// Decodes `body` and hands the batch to the graph stage.
///
/// # Errors
/// See [`ExportError`]; every error is already counted except the request
/// itself, which the caller counts with [`Metrics::request`].
pub(crate) async fn export(
    ctx: &Context,
    transport: Transport,
    encoding: Encoding,
    compression: Compression,
    body: Bytes,
) -> Result<Accepted, ExportError> {
    let limit = ctx.sink.max_request_bytes;
    let decoded = if compression == Compression::Identity && body.len() <= INLINE_DECODE_BYTES {
        decode(encoding, compression, &body, limit)
    } else {
        tokio::task::spawn_blocking(move || decode(encoding, compression, &body, limit))
            .await
            .unwrap_or(Err(DecodeFailure::Panicked))
    };
    let (decoded, bytes) = match decoded {
        Ok(ok) => ok,
        Err(failure) => {
            let error = match failure {
                DecodeFailure::TooLarge => ExportError::TooLarge { limit },
                DecodeFailure::Decompress(error) => ExportError::Decompress(error),
                DecodeFailure::Decode(error) => ExportError::Decode(error),
                DecodeFailure::Panicked => ExportError::Internal,
            };
            if !matches!(error, ExportError::TooLarge { .. }) {
                ctx.metrics.decode_error(transport, encoding);
            }
            crate::rate_limited!(
                debug,
                transport = transport.as_str(),
                encoding = encoding.as_str(),
                %error,
                "otlp request refused"
            );
            return Err(error);
        }
    };
    ctx.metrics.request_bytes(transport, encoding, bytes);
    for (reason, spans) in decoded.rejected.iter() {
        ctx.metrics.spans_rejected(transport, reason, spans);
    }
    let (rejected_spans, message) = rejection_summary(&decoded);
    let spans = decoded.batch.len();
    if spans > 0 {
        let (result, waited) = ctx.sink.send(decoded.batch).await;
        ctx.metrics.enqueue_wait(transport, waited);
        let retry_after = ctx.sink.retry_after;
        match result {
            Ok(()) => ctx.metrics.spans_received(transport, spans),
            Err(SendError::Full) => {
                ctx.metrics
                    .batch_rejected(transport, BatchRejectReason::Backpressure);
                crate::rate_limited!(
                    warn,
                    transport = transport.as_str(),
                    spans,
                    "otlp batch refused: queue to the graph stage is full"
                );
                return Err(ExportError::Backpressure { retry_after });
            }
            Err(SendError::Closed) => {
                ctx.metrics
                    .batch_rejected(transport, BatchRejectReason::ShuttingDown);
                return Err(ExportError::ShuttingDown { retry_after });
            }
        }
    }
    Ok(Accepted {
        rejected_spans,
        message,
    })
}

/// Why [`decode`] failed, before it becomes an [`ExportError`].
#[derive(Debug)]
enum DecodeFailure {
    TooLarge,
    Decompress(std::io::Error),
    Decode(crate::ingest::decode::DecodeError),
    Panicked,
}

/// Decompresses (bounded by `limit`) and decodes; returns the decoded batch
/// and the decompressed size.
fn decode(
    encoding: Encoding,
    compression: Compression,
    body: &[u8],
    limit: usize,
) -> Result<(Decoded, usize), DecodeFailure> {
    let inflated;
    let plain: &[u8] = match compression {
        Compression::Identity => body,
        Compression::Gzip => {
            inflated = inflate(flate2::read::GzDecoder::new(body), limit)?;
            &inflated
        }
        Compression::Deflate => {
            inflated = inflate(flate2::read::ZlibDecoder::new(body), limit)?;
            &inflated
        }
    };
    if plain.len() > limit {
        return Err(DecodeFailure::TooLarge);
    }
    let decoded = match encoding {
        Encoding::Json => decode_otlp_json(plain),
        Encoding::Protobuf | Encoding::Unknown => decode_otlp_proto(plain),
    }
    .map_err(DecodeFailure::Decode)?;
    Ok((decoded, plain.len()))
}

/// Reads at most `limit + 1` bytes, so a decompression bomb costs at most
/// `limit` bytes of memory before it is refused.
fn inflate(reader: impl Read, limit: usize) -> Result<Vec<u8>, DecodeFailure> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(DecodeFailure::Decompress)?;
    if out.len() > limit {
        return Err(DecodeFailure::TooLarge);
    }
    Ok(out)
}

/// The number of rejected spans and the message for `partial_success`.
fn rejection_summary(decoded: &Decoded) -> (u64, String) {
    let total = decoded.rejected.total();
    if total == 0 {
        return (0, String::new());
    }
    let first = decoded.rejected.first_error().unwrap_or("invalid span");
    (total, format!("{total} span(s) rejected; first: {first}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn inflate_stops_at_the_limit() {
        let bomb = gzip(&vec![0u8; 1 << 20]);
        let reader = flate2::read::GzDecoder::new(bomb.as_slice());
        assert!(matches!(
            inflate(reader, 1024),
            Err(DecodeFailure::TooLarge)
        ));
        let reader = flate2::read::GzDecoder::new(bomb.as_slice());
        assert_eq!(inflate(reader, 1 << 20).unwrap().len(), 1 << 20);
    }

    #[test]
    fn corrupt_gzip_is_a_decompression_error() {
        let reader = flate2::read::GzDecoder::new(&b"definitely not gzip"[..]);
        assert!(matches!(
            inflate(reader, 1024),
            Err(DecodeFailure::Decompress(_))
        ));
    }

    #[test]
    fn an_empty_body_decodes_to_an_empty_batch() {
        let (decoded, bytes) =
            decode(Encoding::Protobuf, Compression::Identity, &[], 1024).unwrap();
        assert!(decoded.batch.is_empty());
        assert_eq!(decoded.rejected.total(), 0);
        assert_eq!(bytes, 0);
    }
}
