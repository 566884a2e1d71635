//! Trace and span identifiers: fixed-size byte arrays, hex on the outside.

use std::fmt;

/// A 16-byte W3C trace id. The all-zero id is invalid (OTLP `trace.proto`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id. The all-zero id means "absent" (a root span's parent).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// Builds an id from raw bytes; `None` unless exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }

    /// True for the all-zero id, which OTLP forbids.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }

    /// Parses 32 hex digits, either case.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 16];
        decode_hex(text, &mut out)?;
        Some(Self(out))
    }

    /// Lowercase hex, as the Collector writes it.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }
}

impl SpanId {
    /// Builds an id from raw bytes; `None` unless exactly 8 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }

    /// True for the all-zero id ("no span").
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }

    /// Parses 16 hex digits, either case.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 8];
        decode_hex(text, &mut out)?;
        Some(Self(out))
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

fn decode_hex(text: &str, out: &mut [u8]) -> Option<()> {
    let bytes = text.as_bytes();
    if bytes.len() != out.len() * 2 {
        return None;
    }
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(())
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_in_either_case() {
        let id = TraceId::from_hex("5B8EFFF798038103D269B633813FC60C").unwrap();
        assert_eq!(id.to_hex(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(
            SpanId::from_hex("eee19b7ec3c1b174").unwrap().to_hex(),
            "eee19b7ec3c1b174"
        );
    }

    #[test]
    fn wrong_length_or_digit_is_rejected() {
        assert!(TraceId::from_hex("abc").is_none());
        assert!(SpanId::from_hex("eee19b7ec3c1b17g").is_none());
    }
}
