//! OTLP protobuf decoding (`ExportTraceServiceRequest` or `TracesData`, which
//! share one wire format): walks the fields of `proto/epicenter/v1/otlp_slim.proto`
//! over the borrowed payload and feeds the [`Normalizer`].
//!
//! Nothing is allocated per attribute or per string: keys are matched as byte
//! slices and values borrowed until normalization keeps them. Undeclared
//! fields are skipped, as protobuf requires. Never does: attribute semantics
//! (that is `normalize`).

use std::borrow::Cow;

use super::DecodeError;
use super::normalize::{
    AttrValue, Normalizer, RawId, RawSpan, ResourceAttrs, ResourceCtx, SpanAttrs,
};
use super::outcome::Decoded;
use super::resources::ResourceCache;
use super::wire::{Reader, Value, WireError};

impl From<WireError> for DecodeError {
    fn from(e: WireError) -> Self {
        DecodeError::Protobuf {
            offset: e.offset,
            reason: e.reason,
        }
    }
}

/// Span capacity to reserve for a payload of `len` bytes (a typical OTLP span
/// with a dozen attributes is 250–500 bytes); the vector grows beyond it.
fn capacity_hint(len: usize) -> usize {
    (len / 300).min(1 << 15)
}

/// Decodes an OTLP protobuf payload. Empty input is an empty batch.
/// With `cache`, each resource encoded exactly as one seen before is taken
/// from it instead of being parsed and normalized again.
pub(super) fn decode(
    bytes: &[u8],
    mut cache: Option<&mut ResourceCache>,
) -> Result<Decoded, DecodeError> {
    let mut norm = Normalizer::with_capacity(capacity_hint(bytes.len()));
    let mut r = Reader::new(bytes, 0);
    while let Some(f) = r.next()? {
        if f.number == 1 {
            let (buf, at) = f.bytes()?;
            resource_spans(buf, at, &mut norm, cache.as_deref_mut())?;
        }
    }
    Ok(norm.finish())
}

/// `ResourceSpans`: the resource first (wherever it is), then the spans.
fn resource_spans(
    buf: &[u8],
    base: usize,
    norm: &mut Normalizer,
    cache: Option<&mut ResourceCache>,
) -> Result<(), WireError> {
    let mut ctx = match cache {
        Some(cache) => cached_resource(buf, base, norm, cache)?,
        None => parsed_resource(buf, base, norm)?,
    };
    let mut raw = RawSpan::default();
    let mut r = Reader::new(buf, base);
    while let Some(f) = r.next()? {
        // 2: scope_spans; 1000: instrumentation_library_spans (OTLP < 0.19).
        if f.number == 2 || f.number == 1000 {
            let (scope, at) = f.bytes()?;
            let mut spans = Reader::new(scope, at);
            while let Some(f) = spans.next()? {
                if f.number == 2 {
                    let (s, at) = f.bytes()?;
                    raw.reset();
                    span(s, at, &mut raw)?;
                    norm.span(&mut ctx, &raw);
                }
            }
        }
    }
    Ok(())
}

/// The resource of a `ResourceSpans` (field 1, merged if repeated).
fn parsed_resource(
    buf: &[u8],
    base: usize,
    norm: &mut Normalizer,
) -> Result<ResourceCtx, WireError> {
    let mut attrs = ResourceAttrs::default();
    let mut r = Reader::new(buf, base);
    while let Some(f) = r.next()? {
        if f.number == 1 {
            let (res, at) = f.bytes()?;
            resource(res, at, &mut attrs)?;
        }
    }
    Ok(norm.resource(attrs))
}

/// [`parsed_resource`] through `cache`, keyed by the resource's encoded
/// bytes; a resource field that repeats bypasses the cache.
fn cached_resource(
    buf: &[u8],
    base: usize,
    norm: &mut Normalizer,
    cache: &mut ResourceCache,
) -> Result<ResourceCtx, WireError> {
    let mut found: Option<&[u8]> = None;
    let mut r = Reader::new(buf, base);
    while let Some(f) = r.next()? {
        if f.number == 1 {
            if found.is_some() {
                return parsed_resource(buf, base, norm);
            }
            found = Some(f.bytes()?.0);
        }
    }
    let key = found.unwrap_or_default();
    if let Some(ctx) = cache.get(key) {
        return Ok(norm.reuse(ctx));
    }
    let ctx = parsed_resource(buf, base, norm)?;
    cache.insert(key, ctx.clone());
    Ok(ctx)
}

/// `Resource`: attributes (1).
fn resource<'a>(
    buf: &'a [u8],
    base: usize,
    attrs: &mut ResourceAttrs<'a>,
) -> Result<(), WireError> {
    let mut r = Reader::new(buf, base);
    while let Some(f) = r.next()? {
        if f.number == 1 {
            let (kv, at) = f.bytes()?;
            if let Some((key, value)) = key_value(kv, at)? {
                attrs.set(key, value);
            }
        }
    }
    Ok(())
}

/// `Span`, into `s` (which the caller has reset).
fn span<'a>(buf: &'a [u8], base: usize, s: &mut RawSpan<'a>) -> Result<(), WireError> {
    let mut r = Reader::new(buf, base);
    while let Some(f) = r.next()? {
        match f.number {
            1 => s.trace_id = RawId::from_slice(f.bytes()?.0),
            2 => s.span_id = RawId::from_slice(f.bytes()?.0),
            4 => s.parent_span_id = RawId::from_slice(f.bytes()?.0),
            5 => s.name = Cow::Borrowed(f.bytes()?.0),
            6 => s.kind = f.varint()? as i32,
            7 => s.start = f.fixed64()?,
            8 => s.end = f.fixed64()?,
            9 => {
                let (kv, at) = f.bytes()?;
                attribute(kv, at, &mut s.attrs)?;
            }
            13 => {
                let (link, at) = f.bytes()?;
                s.links.push(self::link(link, at)?);
            }
            15 => {
                let (status, at) = f.bytes()?;
                let mut st = Reader::new(status, at);
                while let Some(f) = st.next()? {
                    if f.number == 3 {
                        s.status_code = f.varint()? as i32;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn attribute<'a>(buf: &'a [u8], base: usize, attrs: &mut SpanAttrs<'a>) -> Result<(), WireError> {
    if let Some((key, value)) = key_value(buf, base)? {
        attrs.set(key, value);
    }
    Ok(())
}

/// `Span.Link`: trace id (1) and span id (2).
fn link(buf: &[u8], base: usize) -> Result<(RawId, RawId), WireError> {
    let (mut trace, mut span) = (RawId::default(), RawId::default());
    let mut r = Reader::new(buf, base);
    while let Some(f) = r.next()? {
        match f.number {
            1 => trace = RawId::from_slice(f.bytes()?.0),
            2 => span = RawId::from_slice(f.bytes()?.0),
            _ => {}
        }
    }
    Ok((trace, span))
}

/// `KeyValue`: `None` without a key (e.g. profiles' `key_strindex`).
fn key_value(buf: &[u8], base: usize) -> Result<Option<(&[u8], AttrValue<'_>)>, WireError> {
    let mut key = None;
    let mut value = AttrValue::Other;
    let mut r = Reader::new(buf, base);
    while let Some(f) = r.next()? {
        match f.number {
            1 => key = Some(f.bytes()?.0),
            2 => {
                let (v, at) = f.bytes()?;
                // A repeated message field merges into the previous one.
                value = any_value(v, at, value)?;
            }
            _ => {}
        }
    }
    Ok(key.map(|k| (k, value)))
}

/// `AnyValue`, merged onto `value`: the last member of the oneof wins, and a
/// repeated `array_value` merges, as protobuf specifies. Fields the slim
/// schema does not declare (`kvlist_value`, `string_value_strindex`) are
/// skipped like any unknown field.
fn any_value<'a>(
    buf: &'a [u8],
    base: usize,
    mut value: AttrValue<'a>,
) -> Result<AttrValue<'a>, WireError> {
    let mut r = Reader::new(buf, base);
    while let Some(f) = r.next()? {
        value = match (f.number, f.value) {
            (1, Value::Len(s, _)) => AttrValue::Str(Cow::Borrowed(s)),
            (2, Value::Varint(v)) => AttrValue::Bool(v != 0),
            (3, Value::Varint(v)) => AttrValue::Int(v as i64),
            (4, Value::Fixed64(v)) => AttrValue::Double(f64::from_bits(v)),
            (5, Value::Len(a, at)) => match value {
                AttrValue::Array(Some(first)) => AttrValue::Array(Some(first)),
                _ => AttrValue::Array(first_string(a, at)?),
            },
            (7, Value::Len(..)) => AttrValue::Other,
            (1..=5 | 7, _) => return Err(f.wrong_type()),
            _ => continue,
        };
    }
    Ok(value)
}

/// `ArrayValue`: the `string_value` of its first element that has one.
fn first_string(buf: &[u8], base: usize) -> Result<Option<Cow<'_, [u8]>>, WireError> {
    let mut r = Reader::new(buf, base);
    while let Some(f) = r.next()? {
        if f.number != 1 {
            continue;
        }
        let (element, at) = f.bytes()?;
        let mut e = Reader::new(element, at);
        while let Some(f) = e.next()? {
            if let (1, Value::Len(s, _)) = (f.number, f.value) {
                return Ok(Some(Cow::Borrowed(s)));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
