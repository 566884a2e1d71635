//! Lenient OTLP/JSON scalars: ids in hex (either case) or base64, 64-bit
//! integers as numbers or strings, enums as numbers or names, strings as raw
//! bytes (so invalid UTF-8 costs one span, not the payload), `null` as default.
//!
//! Never does: fail on a value it can map to a default; every type here
//! errors only on a JSON value of the wrong shape (an object for a number).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::super::normalize::RawId;

/// A string as raw bytes, borrowed when it has no escapes. `null` is empty.
#[derive(Debug, Default)]
pub(super) struct JsonText<'a>(pub(super) Cow<'a, [u8]>);

impl<'de> Deserialize<'de> for JsonText<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = JsonText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
                Ok(JsonText(Cow::Borrowed(v)))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(JsonText(Cow::Owned(v.to_vec())))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
                Ok(JsonText(Cow::Owned(v)))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonText(Cow::Borrowed(v.as_bytes())))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonText(Cow::Owned(v.as_bytes().to_vec())))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(JsonText::default())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                // serde_json hands out the raw bytes of a string here, without
                // checking UTF-8: normalization checks the strings we keep.
                d.deserialize_bytes(Text)
            }
        }
        d.deserialize_option(Text)
    }
}

/// A trace or span id: hex (either case), or base64 as protobuf's JSON
/// mapping (and Tempo's jsonpb fixtures) writes bytes. Unparsable ids are
/// kept as invalid so that only their span is rejected.
#[derive(Debug, Default)]
pub(super) struct JsonId(pub(super) RawId);

impl<'de> Deserialize<'de> for JsonId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = JsonText::deserialize(d)?;
        Ok(JsonId(parse_id(text.0.trim_ascii())))
    }
}

/// Hex when the length is that of an id in hex (16 or 32 digits), else base64.
pub(super) fn parse_id(text: &[u8]) -> RawId {
    if text.is_empty() {
        return RawId::default();
    }
    let mut out = [0u8; 16];
    if matches!(text.len(), 16 | 32)
        && let Some(n) = hex(text, &mut out)
    {
        return RawId::from_slice(&out[..n]);
    }
    match base64(text, &mut out) {
        Some(n) => RawId::from_slice(&out[..n]),
        None => RawId::invalid(),
    }
}

fn hex(text: &[u8], out: &mut [u8; 16]) -> Option<usize> {
    fn nibble(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    for (i, pair) in text.chunks_exact(2).enumerate() {
        *out.get_mut(i)? = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(text.len() / 2)
}

/// Standard or URL-safe base64, padded or not, at most 16 decoded bytes.
fn base64(text: &[u8], out: &mut [u8; 16]) -> Option<usize> {
    fn sextet(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        }))
    }
    let body = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    if body.len() % 4 == 1 {
        return None;
    }
    let mut n = 0;
    for chunk in body.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= sextet(c)? << (18 - 6 * i);
        }
        for k in 0..chunk.len() - 1 {
            *out.get_mut(n)? = (acc >> (16 - 8 * k)) as u8;
            n += 1;
        }
    }
    Some(n)
}

/// A `u64` (`fixed64` timestamps) from a number or a decimal string; `null`
/// and unparsable strings are 0 (which rejects the span as missing a time).
#[derive(Debug, Default)]
pub(super) struct JsonU64(pub(super) u64);

/// An `i64` from a number or a decimal string; `None` for null or garbage.
#[derive(Debug, Default)]
pub(super) struct JsonI64(pub(super) Option<i64>);

/// A double from a number or a string (including `NaN`, `Infinity`).
#[derive(Debug, Default)]
pub(super) struct JsonF64(pub(super) Option<f64>);

/// A bool from `true`/`false` or their strings.
#[derive(Debug, Default)]
pub(super) struct JsonBool(pub(super) Option<bool>);

/// A scalar seen through `deserialize_any`, before conversion.
enum Scalar<'a> {
    U(u64),
    I(i64),
    F(f64),
    B(bool),
    S(Cow<'a, str>),
    Null,
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, a string, a bool or null")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::U(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::I(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::F(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::B(v))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::S(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::S(Cow::Owned(v.to_owned())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
        }
        d.deserialize_any(V)
    }
}

fn integral(f: f64) -> Option<f64> {
    (f.is_finite() && f.fract() == 0.0).then_some(f)
}

impl<'de> Deserialize<'de> for JsonU64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(JsonU64(match Scalar::deserialize(d)? {
            Scalar::U(u) => u,
            Scalar::I(i) => u64::try_from(i).unwrap_or(0),
            Scalar::F(f) => integral(f).filter(|f| *f >= 0.0).map_or(0, |f| f as u64),
            Scalar::S(s) => s.trim().parse().unwrap_or(0),
            Scalar::B(_) | Scalar::Null => 0,
        }))
    }
}

impl<'de> Deserialize<'de> for JsonI64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(JsonI64(match Scalar::deserialize(d)? {
            Scalar::U(u) => i64::try_from(u).ok(),
            Scalar::I(i) => Some(i),
            Scalar::F(f) => integral(f).map(|f| f as i64),
            Scalar::S(s) => s.trim().parse().ok(),
            Scalar::B(_) | Scalar::Null => None,
        }))
    }
}

impl<'de> Deserialize<'de> for JsonF64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(JsonF64(match Scalar::deserialize(d)? {
            Scalar::U(u) => Some(u as f64),
            Scalar::I(i) => Some(i as f64),
            Scalar::F(f) => Some(f),
            // Rust's parser accepts "NaN", "inf" and "Infinity", with signs.
            Scalar::S(s) => s.trim().parse().ok(),
            Scalar::B(_) | Scalar::Null => None,
        }))
    }
}

impl<'de> Deserialize<'de> for JsonBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(JsonBool(match Scalar::deserialize(d)? {
            Scalar::B(b) => Some(b),
            Scalar::S(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Scalar::S(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }))
    }
}

/// An enum number from an integer, a decimal string, or its name with or
/// without the prefix, any case (`SPAN_KIND_SERVER`, `server`). Unknown is 0.
fn enum_value(scalar: Scalar<'_>, prefix: &str, names: &[&str]) -> i32 {
    match scalar {
        Scalar::U(u) => i32::try_from(u).unwrap_or(0),
        Scalar::I(i) => i32::try_from(i).unwrap_or(0),
        Scalar::F(f) => integral(f).map_or(0, |f| f as i32),
        Scalar::S(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse() {
                return n;
            }
            let bare = match s.get(..prefix.len()) {
                Some(p) if p.eq_ignore_ascii_case(prefix) => &s[prefix.len()..],
                _ => s,
            };
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(bare))
                .map_or(0, |i| i as i32)
        }
        Scalar::B(_) | Scalar::Null => 0,
    }
}

/// `Span.kind`.
#[derive(Debug, Default)]
pub(super) struct JsonKind(pub(super) i32);

impl<'de> Deserialize<'de> for JsonKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const NAMES: [&str; 6] = [
            "UNSPECIFIED",
            "INTERNAL",
            "SERVER",
            "CLIENT",
            "PRODUCER",
            "CONSUMER",
        ];
        Ok(JsonKind(enum_value(
            Scalar::deserialize(d)?,
            "SPAN_KIND_",
            &NAMES,
        )))
    }
}

/// `Status.code`.
#[derive(Debug, Default)]
pub(super) struct JsonStatusCode(pub(super) i32);

impl<'de> Deserialize<'de> for JsonStatusCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const NAMES: [&str; 3] = ["UNSET", "OK", "ERROR"];
        Ok(JsonStatusCode(enum_value(
            Scalar::deserialize(d)?,
            "STATUS_CODE_",
            &NAMES,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> RawId {
        parse_id(text.as_bytes())
    }

    #[test]
    fn ids_in_hex_either_case_and_base64() {
        let hex = id("5b8efff798038103d269b633813fc60c");
        assert_eq!(hex, id("5B8EFFF798038103D269B633813FC60C"));
        // The same 16 bytes in standard base64, padded and not, and URL-safe.
        assert_eq!(hex, id("W47/95gDgQPSabYzgT/GDA=="));
        assert_eq!(hex, id("W47/95gDgQPSabYzgT/GDA"));
        assert_eq!(hex, id("W47_95gDgQPSabYzgT_GDA=="));
        assert_eq!(id("eee19b7ec3c1b174"), id("7uGbfsPBsXQ="));
        assert_eq!(
            id("eee19b7ec3c1b174"),
            RawId::from_slice(&[0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74])
        );
        assert_eq!(id(""), RawId::default());
        assert_eq!(id("not an id!"), RawId::invalid());
        assert_eq!(
            id("W47/95gDgQPSabYzgT/GDAW47/95gDgQPSabYzgT/GDA"),
            RawId::invalid()
        );
    }

    fn json<'a, T: Deserialize<'a>>(text: &'a str) -> T {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn numbers_as_numbers_or_strings() {
        assert_eq!(
            json::<JsonU64>("\"1544712660000000000\"").0,
            1_544_712_660_000_000_000
        );
        assert_eq!(
            json::<JsonU64>("1544712660000000000").0,
            1_544_712_660_000_000_000
        );
        assert_eq!(json::<JsonU64>("null").0, 0);
        assert_eq!(json::<JsonU64>("\"soon\"").0, 0);
        assert_eq!(json::<JsonI64>("\"-42\"").0, Some(-42));
        assert_eq!(json::<JsonI64>("42").0, Some(42));
        assert_eq!(json::<JsonI64>("42.0").0, Some(42));
        assert_eq!(json::<JsonI64>("\"x\"").0, None);
        assert_eq!(json::<JsonF64>("\"NaN\"").0.map(f64::is_nan), Some(true));
        assert_eq!(json::<JsonF64>("\"-Infinity\"").0, Some(f64::NEG_INFINITY));
        assert_eq!(json::<JsonF64>("1.5").0, Some(1.5));
        assert_eq!(json::<JsonBool>("\"true\"").0, Some(true));
    }

    #[test]
    fn enums_as_numbers_or_names() {
        for (text, want) in [
            ("2", 2),
            ("\"2\"", 2),
            ("\"SPAN_KIND_SERVER\"", 2),
            ("\"span_kind_client\"", 3),
            ("\"CONSUMER\"", 5),
            ("\"SPAN_KIND_NONSENSE\"", 0),
            ("null", 0),
        ] {
            assert_eq!(json::<JsonKind>(text).0, want, "{text}");
        }
        assert_eq!(json::<JsonStatusCode>("\"STATUS_CODE_ERROR\"").0, 2);
        assert_eq!(json::<JsonStatusCode>("1").0, 1);
    }

    #[test]
    fn text_borrows_and_tolerates_invalid_utf8() {
        let input = b"\"caf\xff\"";
        let text: JsonText<'_> = serde_json::from_slice(input).unwrap();
        assert!(matches!(text.0, Cow::Borrowed(b"caf\xff")));
        let escaped: JsonText<'_> = serde_json::from_str("\"a\\nb\"").unwrap();
        assert_eq!(&*escaped.0, b"a\nb");
        assert!(json::<JsonText<'_>>("null").0.is_empty());
    }
}
