//! Decoders: OTLP protobuf and OTLP/JSON payloads into normalized
//! [`SpanBatch`](crate::model::SpanBatch)es, one payload at a time.
//!
//! A payload that is not protobuf or JSON at all fails with a
//! [`DecodeError`]; a bad span inside a good payload (invalid id, end before
//! start, no `service.name`, invalid UTF-8, …) is dropped on its own and
//! counted in [`Decoded::rejected`]. Both decoders share one normalization
//! (`normalize`), so the same spans give the same model whatever the
//! encoding. Synchronous and deterministic; never does I/O, never panics on
//! input, never reads the clock.

mod json;
mod normalize;
mod outcome;
mod proto;
mod resources;
mod wire;

#[cfg(test)]
pub(crate) mod testutil;

pub use outcome::{DecodeError, Decoded, RejectReason, Rejected};
pub use resources::ResourceCache;

/// The encoding of a payload (per Kafka topic, or from an HTTP Content-Type).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Binary protobuf `ExportTraceServiceRequest` / `TracesData` (the
    /// Collector Kafka exporter's default, `otlp_proto`).
    #[default]
    OtlpProto,
    /// OTLP/JSON (`otlp_json`).
    OtlpJson,
}

impl Encoding {
    /// The configuration name (`otlp_proto`, `otlp_json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OtlpProto => "otlp_proto",
            Self::OtlpJson => "otlp_json",
        }
    }
}

/// Decodes one payload in `encoding`. Empty input is an empty batch.
pub fn decode(encoding: Encoding, bytes: &[u8]) -> Result<Decoded, DecodeError> {
    match encoding {
        Encoding::OtlpProto => decode_otlp_proto(bytes),
        Encoding::OtlpJson => decode_otlp_json(bytes),
    }
}

/// Decodes a binary protobuf `ExportTraceServiceRequest` or `TracesData`
/// (the same wire format). Empty input is an empty batch.
pub fn decode_otlp_proto(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    proto::decode(bytes, None)
}

/// [`decode`] with a [`ResourceCache`] for the protobuf encoding: for a
/// stream of small payloads that repeat their resources (a keyed Kafka
/// topic). The result is the same as without it.
pub fn decode_cached(
    encoding: Encoding,
    bytes: &[u8],
    cache: &mut ResourceCache,
) -> Result<Decoded, DecodeError> {
    match encoding {
        Encoding::OtlpProto => proto::decode(bytes, Some(cache)),
        Encoding::OtlpJson => decode_otlp_json(bytes),
    }
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` or `TracesData`,
/// leniently (see CONVENTIONS.md §2.5): hex or base64 ids, enums as numbers or
/// names, 64-bit integers as strings or numbers, camelCase or snake_case keys,
/// unknown keys ignored, missing keys and `null` as defaults. Empty input is
/// an empty batch.
pub fn decode_otlp_json(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    json::decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_names_match_serde() {
        for e in [Encoding::OtlpProto, Encoding::OtlpJson] {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.as_str()));
            assert_eq!(serde_json::from_str::<Encoding>(&json).unwrap(), e);
        }
        assert_eq!(Encoding::default(), Encoding::OtlpProto);
    }

    #[test]
    fn empty_input_is_an_empty_batch_in_both_encodings() {
        for e in [Encoding::OtlpProto, Encoding::OtlpJson] {
            let d = decode(e, b"").unwrap();
            assert!(d.batch.is_empty() && d.rejected.is_empty());
        }
        assert!(decode_otlp_json(b" \n").unwrap().batch.is_empty());
    }
}
