//! OTLP/JSON encoding (CONVENTIONS.md §2.5), written by hand because the
//! `opentelemetry-proto` crate's serde support is not enabled and must not
//! leak its own conventions: lowerCamelCase keys, trace and span ids as
//! lowercase hex, 64-bit integers as decimal strings, enums as integers,
//! `bytesValue` as base64, default values omitted.
//!
//! Never does: I/O.

use std::fmt::Write as _;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, TracesData};

/// One `TracesData` as one line of OTLP/JSON (no trailing newline), as the
/// Collector's file exporter writes it.
pub fn to_otlp_json_line(data: &TracesData) -> String {
    encode(&data.resource_spans)
}

/// An `ExportTraceServiceRequest` as OTLP/JSON (same shape as `TracesData`).
pub fn request_to_otlp_json(request: &ExportTraceServiceRequest) -> String {
    encode(&request.resource_spans)
}

fn encode(resource_spans: &[ResourceSpans]) -> String {
    let mut w = Json {
        out: String::with_capacity(256 * resource_spans.len() + 32),
    };
    w.out.push('{');
    let mut first = true;
    if !resource_spans.is_empty() {
        w.key(&mut first, "resourceSpans");
        w.array(resource_spans, Json::resource_spans);
    }
    w.out.push('}');
    w.out
}

struct Json {
    out: String,
}

impl Json {
    fn key(&mut self, first: &mut bool, key: &str) {
        if !*first {
            self.out.push(',');
        }
        *first = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    fn string(&mut self, s: &str) {
        self.out.push('"');
        for ch in s.chars() {
            match ch {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    put(&mut self.out, format_args!("\\u{:04x}", c as u32));
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    fn hex(&mut self, bytes: &[u8]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        self.out.push('"');
        for b in bytes {
            self.out.push(DIGITS[(b >> 4) as usize] as char);
            self.out.push(DIGITS[(b & 0xf) as usize] as char);
        }
        self.out.push('"');
    }

    fn array<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            each(self, item);
        }
        self.out.push(']');
    }

    fn str_field(&mut self, first: &mut bool, key: &str, value: &str) {
        if !value.is_empty() {
            self.key(first, key);
            self.string(value);
        }
    }

    fn u32_field(&mut self, first: &mut bool, key: &str, value: u32) {
        if value != 0 {
            self.key(first, key);
            put(&mut self.out, format_args!("{value}"));
        }
    }

    fn u64_field(&mut self, first: &mut bool, key: &str, value: u64) {
        if value != 0 {
            self.key(first, key);
            put(&mut self.out, format_args!("\"{value}\""));
        }
    }

    fn hex_field(&mut self, first: &mut bool, key: &str, value: &[u8]) {
        if !value.is_empty() {
            self.key(first, key);
            self.hex(value);
        }
    }

    fn attrs_field(&mut self, first: &mut bool, key: &str, attrs: &[KeyValue]) {
        if !attrs.is_empty() {
            self.key(first, key);
            self.array(attrs, Json::key_value);
        }
    }

    fn resource_spans(&mut self, rs: &ResourceSpans) {
        self.out.push('{');
        let mut first = true;
        if let Some(r) = &rs.resource {
            self.key(&mut first, "resource");
            self.resource(r);
        }
        if !rs.scope_spans.is_empty() {
            self.key(&mut first, "scopeSpans");
            self.array(&rs.scope_spans, Json::scope_spans);
        }
        self.str_field(&mut first, "schemaUrl", &rs.schema_url);
        self.out.push('}');
    }

    fn resource(&mut self, r: &Resource) {
        self.out.push('{');
        let mut first = true;
        self.attrs_field(&mut first, "attributes", &r.attributes);
        self.u32_field(
            &mut first,
            "droppedAttributesCount",
            r.dropped_attributes_count,
        );
        if !r.entity_refs.is_empty() {
            self.key(&mut first, "entityRefs");
            self.array(&r.entity_refs, |w, e| {
                w.out.push('{');
                let mut first = true;
                w.str_field(&mut first, "schemaUrl", &e.schema_url);
                w.str_field(&mut first, "type", &e.r#type);
                for (key, list) in [
                    ("idKeys", &e.id_keys),
                    ("descriptionKeys", &e.description_keys),
                ] {
                    if !list.is_empty() {
                        w.key(&mut first, key);
                        w.array(list, |w, k| w.string(k));
                    }
                }
                w.out.push('}');
            });
        }
        self.out.push('}');
    }

    fn scope(&mut self, s: &InstrumentationScope) {
        self.out.push('{');
        let mut first = true;
        self.str_field(&mut first, "name", &s.name);
        self.str_field(&mut first, "version", &s.version);
        self.attrs_field(&mut first, "attributes", &s.attributes);
        self.u32_field(
            &mut first,
            "droppedAttributesCount",
            s.dropped_attributes_count,
        );
        self.out.push('}');
    }

    fn scope_spans(&mut self, ss: &ScopeSpans) {
        self.out.push('{');
        let mut first = true;
        if let Some(s) = &ss.scope {
            self.key(&mut first, "scope");
            self.scope(s);
        }
        if !ss.spans.is_empty() {
            self.key(&mut first, "spans");
            self.array(&ss.spans, Json::span);
        }
        self.str_field(&mut first, "schemaUrl", &ss.schema_url);
        self.out.push('}');
    }

    fn span(&mut self, s: &Span) {
        self.out.push('{');
        let mut first = true;
        self.hex_field(&mut first, "traceId", &s.trace_id);
        self.hex_field(&mut first, "spanId", &s.span_id);
        self.str_field(&mut first, "traceState", &s.trace_state);
        self.hex_field(&mut first, "parentSpanId", &s.parent_span_id);
        self.u32_field(&mut first, "flags", s.flags);
        self.str_field(&mut first, "name", &s.name);
        if s.kind != 0 {
            self.key(&mut first, "kind");
            put(&mut self.out, format_args!("{}", s.kind));
        }
        self.u64_field(&mut first, "startTimeUnixNano", s.start_time_unix_nano);
        self.u64_field(&mut first, "endTimeUnixNano", s.end_time_unix_nano);
        self.attrs_field(&mut first, "attributes", &s.attributes);
        self.u32_field(
            &mut first,
            "droppedAttributesCount",
            s.dropped_attributes_count,
        );
        if !s.events.is_empty() {
            self.key(&mut first, "events");
            self.array(&s.events, Json::event);
        }
        self.u32_field(&mut first, "droppedEventsCount", s.dropped_events_count);
        if !s.links.is_empty() {
            self.key(&mut first, "links");
            self.array(&s.links, Json::link);
        }
        self.u32_field(&mut first, "droppedLinksCount", s.dropped_links_count);
        if let Some(st) = s
            .status
            .as_ref()
            .filter(|st| st.code != 0 || !st.message.is_empty())
        {
            {
                self.key(&mut first, "status");
                self.out.push('{');
                let mut f = true;
                self.str_field(&mut f, "message", &st.message);
                if st.code != 0 {
                    self.key(&mut f, "code");
                    put(&mut self.out, format_args!("{}", st.code));
                }
                self.out.push('}');
            }
        }
        self.out.push('}');
    }

    fn event(&mut self, e: &Event) {
        self.out.push('{');
        let mut first = true;
        self.u64_field(&mut first, "timeUnixNano", e.time_unix_nano);
        self.str_field(&mut first, "name", &e.name);
        self.attrs_field(&mut first, "attributes", &e.attributes);
        self.u32_field(
            &mut first,
            "droppedAttributesCount",
            e.dropped_attributes_count,
        );
        self.out.push('}');
    }

    fn link(&mut self, l: &Link) {
        self.out.push('{');
        let mut first = true;
        self.hex_field(&mut first, "traceId", &l.trace_id);
        self.hex_field(&mut first, "spanId", &l.span_id);
        self.str_field(&mut first, "traceState", &l.trace_state);
        self.attrs_field(&mut first, "attributes", &l.attributes);
        self.u32_field(
            &mut first,
            "droppedAttributesCount",
            l.dropped_attributes_count,
        );
        self.u32_field(&mut first, "flags", l.flags);
        self.out.push('}');
    }

    fn key_value(&mut self, kv: &KeyValue) {
        self.out.push('{');
        let mut first = true;
        self.key(&mut first, "key");
        self.string(&kv.key);
        if let Some(v) = &kv.value {
            self.key(&mut first, "value");
            self.any_value(v);
        }
        self.out.push('}');
    }

    fn any_value(&mut self, v: &AnyValue) {
        use any_value::Value;
        self.out.push('{');
        let mut first = true;
        match &v.value {
            None | Some(Value::StringValueStrindex(_)) => {}
            Some(Value::StringValue(s)) => {
                self.key(&mut first, "stringValue");
                self.string(s);
            }
            Some(Value::BoolValue(b)) => {
                self.key(&mut first, "boolValue");
                self.out.push_str(if *b { "true" } else { "false" });
            }
            Some(Value::IntValue(i)) => {
                self.key(&mut first, "intValue");
                put(&mut self.out, format_args!("\"{i}\""));
            }
            Some(Value::DoubleValue(d)) => {
                self.key(&mut first, "doubleValue");
                // proto3 JSON: non-finite doubles are the strings "NaN", "Infinity", "-Infinity".
                if d.is_nan() {
                    self.out.push_str("\"NaN\"");
                } else if d.is_infinite() {
                    self.out.push_str(if *d > 0.0 {
                        "\"Infinity\""
                    } else {
                        "\"-Infinity\""
                    });
                } else {
                    put(&mut self.out, format_args!("{d:?}"));
                }
            }
            Some(Value::ArrayValue(a)) => {
                self.key(&mut first, "arrayValue");
                self.out.push('{');
                if !a.values.is_empty() {
                    let mut f = true;
                    self.key(&mut f, "values");
                    self.array(&a.values, Json::any_value);
                }
                self.out.push('}');
            }
            Some(Value::KvlistValue(l)) => {
                self.key(&mut first, "kvlistValue");
                self.out.push('{');
                if !l.values.is_empty() {
                    let mut f = true;
                    self.key(&mut f, "values");
                    self.array(&l.values, Json::key_value);
                }
                self.out.push('}');
            }
            Some(Value::BytesValue(b)) => {
                self.key(&mut first, "bytesValue");
                self.out.push('"');
                base64(&mut self.out, b);
                self.out.push('"');
            }
        }
        self.out.push('}');
    }
}

/// Writing to a `String` cannot fail; the `fmt::Result` carries nothing.
fn put(out: &mut String, args: std::fmt::Arguments<'_>) {
    let result: std::fmt::Result = out.write_fmt(args);
    debug_assert!(result.is_ok());
}

/// Standard base64 with padding (RFC 4648 §4), as proto3 JSON requires.
fn base64(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = String::new();
            base64(&mut out, input.as_bytes());
            assert_eq!(out, expected, "input {input:?}");
        }
    }
}
