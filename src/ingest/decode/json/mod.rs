//! Lenient OTLP/JSON decoding (CONVENTIONS.md §2.5) straight into the
//! [`Normalizer`]: serde visitors over the borrowed payload, no
//! `serde_json::Value`, no intermediate OTLP structs.
//!
//! Accepts: lowerCamelCase and the snake_case keys the Collector also reads
//! (`resource_spans`, `scope_spans`, `instrumentation_library_spans`, Tempo's
//! `batches`), unknown keys (ignored), missing keys and `null` (defaults), ids
//! in hex or base64, enums as numbers or names, 64-bit integers as strings or
//! numbers (see `values.rs`). Spans are streamed into the normalizer as soon
//! as their resource is known and buffered only when `resource` comes after
//! `scopeSpans`. Never does: attribute semantics (that is `normalize`).

mod attrs;
mod values;

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, Visitor};

use super::DecodeError;
use super::normalize::Normalizer;
use super::outcome::Decoded;

/// Decodes one OTLP/JSON `TracesData` / `ExportTraceServiceRequest`.
/// Empty (or blank) input and `null` are an empty batch.
pub(super) fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if bytes.trim_ascii().is_empty() {
        return Ok(Decoded::default());
    }
    let mut norm = Normalizer::with_capacity((bytes.len() / 800).min(1 << 15));
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let json = |e: serde_json::Error| DecodeError::from_json(&e);
    Root(&mut norm).deserialize(&mut de).map_err(json)?;
    de.end().map_err(json)?;
    Ok(norm.finish())
}

/// Declares the keys of one OTLP/JSON object, with their aliases; anything
/// else is `Unknown` (and ignored).
macro_rules! keys {
    ($name:ident { $($variant:ident => [$($alias:literal),+]),+ $(,)? }) => {
        #[derive(Clone, Copy, Debug)]
        enum $name { $($variant,)+ Unknown }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Key;
                impl Visitor<'_> for Key {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a field name")
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok(match v { $($($alias)|+ => $name::$variant,)+ _ => $name::Unknown })
                    }
                }
                d.deserialize_identifier(Key)
            }
        }
    };
}

keys!(RootKey { ResourceSpans => ["resourceSpans", "resource_spans", "batches"] });
keys!(ResourceSpansKey {
    Resource => ["resource"],
    ScopeSpans => [
        "scopeSpans", "scope_spans", "instrumentationLibrarySpans", "instrumentation_library_spans"
    ],
});
keys!(ResourceKey { Attributes => ["attributes"] });
keys!(ScopeSpansKey { Spans => ["spans"] });
keys!(SpanKey {
    TraceId => ["traceId", "trace_id"],
    SpanId => ["spanId", "span_id"],
    ParentSpanId => ["parentSpanId", "parent_span_id"],
    Name => ["name"],
    Kind => ["kind"],
    Start => ["startTimeUnixNano", "start_time_unix_nano"],
    End => ["endTimeUnixNano", "end_time_unix_nano"],
    Attributes => ["attributes"],
    Links => ["links"],
    Status => ["status"],
});
keys!(LinkKey { TraceId => ["traceId", "trace_id"], SpanId => ["spanId", "span_id"] });
keys!(StatusKey { Code => ["code"] });
keys!(KeyValueKey { Key => ["key"], Value => ["value"] });
keys!(AnyValueKey {
    String => ["stringValue", "string_value"],
    Bool => ["boolValue", "bool_value"],
    Int => ["intValue", "int_value"],
    Double => ["doubleValue", "double_value"],
    Array => ["arrayValue", "array_value"],
});
keys!(ArrayKey { Values => ["values"] });

mod visit;

use visit::Root;

#[cfg(test)]
mod tests;
