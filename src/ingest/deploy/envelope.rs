//! The CloudEvents envelope (spec 1.0): the Kafka protocol binding's mode
//! detection, structured mode (JSON event format, `data` or `data_base64`)
//! and binary mode (`ce_*` headers, the value is the CDEvent).
//!
//! The binding is implemented by hand (CONVENTIONS.md §4.4): header values
//! that are not UTF-8 are errors, never panics; a record without headers is
//! sniffed rather than rejected.
//!
//! Never does: I/O; it does not compare the envelope's `id`/`source` with the
//! CDEvent's context (the CDEvent's values are the dedup key).

use serde_json::Value;

use super::cdevent::{TypeClass, classify_type};
use super::{DeployError, decode_payload, parse_json};
use crate::model::DeployEvent;

/// CloudEvents attributes from `ce_*` headers that we look at.
#[derive(Debug, Default)]
pub(super) struct BinaryAttrs {
    specversion: Option<String>,
    ty: Option<String>,
}

/// How a record is encoded.
#[derive(Debug)]
pub(super) enum Mode {
    /// `content-type: application/cloudevents+json`.
    Structured,
    /// `ce_*` headers, or a CloudEvents media type we cannot parse.
    Binary(BinaryAttrs),
    /// No CloudEvents headers: look at the document.
    Sniff,
}

/// Applies the Kafka binding's mode detection to the headers.
pub(super) fn detect_mode(headers: &[(&str, &[u8])]) -> Result<Mode, DeployError> {
    let mut content_type = None;
    let mut attrs = BinaryAttrs::default();
    let mut any_ce = false;
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        let is_ct = lower == "content-type";
        let ce_attr = lower
            .strip_prefix("ce_")
            .or_else(|| lower.strip_prefix("ce-"));
        if !is_ct && ce_attr.is_none() {
            continue;
        }
        let text =
            std::str::from_utf8(value).map_err(|_| DeployError::Header((*name).to_owned()))?;
        let text = text.trim().to_owned();
        match ce_attr {
            None => content_type = Some(text.to_ascii_lowercase()),
            Some(attr) => {
                any_ce = true;
                match attr {
                    "specversion" => attrs.specversion = Some(text),
                    "type" => attrs.ty = Some(text),
                    _ => {}
                }
            }
        }
    }
    if let Some(ct) = content_type.as_deref()
        && ct.starts_with("application/cloudevents")
    {
        if ct.starts_with("application/cloudevents+json") {
            return Ok(Mode::Structured);
        }
        return Ok(Mode::Binary(attrs));
    }
    Ok(if any_ce {
        Mode::Binary(attrs)
    } else {
        Mode::Sniff
    })
}

/// Decodes a structured-mode CloudEvent (a JSON object with `specversion`).
pub(super) fn decode_structured(doc: &Value) -> Result<Option<DeployEvent>, DeployError> {
    let Some(map) = doc.as_object() else {
        return Err(DeployError::Envelope("not a json object"));
    };
    match map.get("specversion").and_then(Value::as_str) {
        Some(v) if is_ce_v1(v) => {}
        Some(_) => return Err(DeployError::Envelope("specversion must be 1.0")),
        None => return Err(DeployError::Missing("specversion")),
    }
    if let Some(ty) = map.get("type").and_then(Value::as_str)
        && classify_type(ty)? == TypeClass::Unknown
    {
        return Ok(None);
    }
    match (map.get("data"), map.get("data_base64")) {
        (Some(Value::Object(_)), _) => decode_payload(&map["data"]),
        (Some(Value::String(text)), _) => decode_payload(&parse_json(text.as_bytes())?),
        (Some(Value::Null) | None, Some(Value::String(b64))) => {
            let bytes = base64_decode(b64).ok_or(DeployError::Envelope("invalid data_base64"))?;
            decode_payload(&parse_json(&bytes)?)
        }
        (Some(Value::Null) | None, None | Some(Value::Null)) => {
            Err(DeployError::Envelope("no data"))
        }
        _ => Err(DeployError::Envelope("data must be a json object")),
    }
}

/// Decodes a binary-mode record: the value is the event data.
pub(super) fn decode_binary(
    value: &[u8],
    attrs: &BinaryAttrs,
) -> Result<Option<DeployEvent>, DeployError> {
    if let Some(v) = &attrs.specversion
        && !is_ce_v1(v)
    {
        return Err(DeployError::Envelope("ce_specversion must be 1.0"));
    }
    if let Some(ty) = &attrs.ty
        && classify_type(ty)? == TypeClass::Unknown
    {
        return Ok(None);
    }
    decode_payload(&parse_json(value)?)
}

fn is_ce_v1(v: &str) -> bool {
    let v = v.trim();
    v == "1" || v.starts_with("1.")
}

/// Standard base64 (RFC 4648, padding optional, whitespace ignored).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut padded = false;
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                padded = true;
                continue;
            }
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        if padded {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    // Leftover bits must be fewer than a byte (a lone 6-bit symbol is invalid).
    if bits >= 6 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_known_values() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("e30=").unwrap(), b"{}");
        assert!(base64_decode("a").is_none());
        assert!(base64_decode("aGV*").is_none());
        assert!(base64_decode("aG=Vs").is_none());
    }
}
