//! The serde visitors of OTLP/JSON, one per message, from `TracesData` down
//! to `AnyValue`. Objects and arrays may be `null` (the default); unknown
//! keys are skipped. Never does: interpret attributes (it hands them on).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::super::normalize::{Normalizer, RawId, RawSpan, ResourceAttrs, ResourceCtx};
use super::attrs::Attributes;
use super::values::{JsonId, JsonKind, JsonStatusCode, JsonText, JsonU64};
use super::{LinkKey, ResourceKey, ResourceSpansKey, RootKey, ScopeSpansKey, SpanKey, StatusKey};

/// An OTLP object (or `null`, its default).
pub(super) trait ObjectVisitor<'de>: Sized {
    type Value;
    const EXPECTING: &'static str;
    fn empty(self) -> Self::Value;
    fn map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error>;
}

/// An OTLP repeated field (or `null`, empty).
pub(super) trait ArrayVisitor<'de>: Sized {
    const EXPECTING: &'static str;
    fn seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error>;
}

pub(super) struct AsObject<V>(pub(super) V);

impl<'de, V: ObjectVisitor<'de>> Visitor<'de> for AsObject<V> {
    type Value = V::Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(V::EXPECTING)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.0.empty())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.map(map)
    }
}

pub(super) struct AsArray<V>(pub(super) V);

impl<'de, V: ArrayVisitor<'de>> Visitor<'de> for AsArray<V> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(V::EXPECTING)
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.0.seq(seq)
    }
}

/// Implements `DeserializeSeed` through [`ObjectVisitor`] or [`ArrayVisitor`].
macro_rules! seed {
    (object $ty:ty => $value:ty) => {
        impl<'de> DeserializeSeed<'de> for $ty {
            type Value = $value;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(AsObject(self))
            }
        }
    };
    (array $ty:ty) => {
        impl<'de> DeserializeSeed<'de> for $ty {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_any(AsArray(self))
            }
        }
    };
}

pub(super) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(drop)
}

/// `TracesData` / `ExportTraceServiceRequest`.
pub(super) struct Root<'n>(pub(super) &'n mut Normalizer);
seed!(object Root<'_> => ());

impl<'de> ObjectVisitor<'de> for Root<'_> {
    type Value = ();
    const EXPECTING: &'static str = "an OTLP/JSON TracesData object";
    fn empty(self) {}
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key()? {
            match key {
                RootKey::ResourceSpans => map.next_value_seed(ResourceSpansList(&mut *self.0))?,
                RootKey::Unknown => skip(&mut map)?,
            }
        }
        Ok(())
    }
}

struct ResourceSpansList<'n>(&'n mut Normalizer);
seed!(array ResourceSpansList<'_>);

impl<'de> ArrayVisitor<'de> for ResourceSpansList<'_> {
    const EXPECTING: &'static str = "an array of ResourceSpans";
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(ResourceSpans(&mut *self.0))?
            .is_some()
        {}
        Ok(())
    }
}

/// Where spans go: to the normalizer once the resource is known, else into a
/// buffer (only when `resource` comes after `scopeSpans`).
enum Sink<'s, 'de> {
    Stream(&'s mut Normalizer, &'s mut ResourceCtx),
    Buffer(&'s mut Vec<RawSpan<'de>>),
}

struct ResourceSpans<'n>(&'n mut Normalizer);
seed!(object ResourceSpans<'_> => ());

impl<'de> ObjectVisitor<'de> for ResourceSpans<'_> {
    type Value = ();
    const EXPECTING: &'static str = "a ResourceSpans object";
    fn empty(self) {}
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let norm = self.0;
        let mut attrs: Option<ResourceAttrs<'de>> = None;
        let mut ctx: Option<ResourceCtx> = None;
        let mut pending: Vec<RawSpan<'de>> = Vec::new();
        while let Some(key) = map.next_key()? {
            match key {
                ResourceSpansKey::Resource => {
                    let mut found = ResourceAttrs::default();
                    map.next_value_seed(Resource(&mut found))?;
                    if ctx.is_none() {
                        attrs = Some(found);
                    }
                }
                ResourceSpansKey::ScopeSpans => {
                    if ctx.is_none()
                        && let Some(a) = attrs.take()
                    {
                        ctx = Some(norm.resource(a));
                    }
                    let mut sink = match ctx.as_mut() {
                        Some(ctx) => Sink::Stream(&mut *norm, ctx),
                        None => Sink::Buffer(&mut pending),
                    };
                    map.next_value_seed(ScopeSpansList(&mut sink))?;
                }
                ResourceSpansKey::Unknown => skip(&mut map)?,
            }
        }
        let mut ctx = match ctx {
            Some(ctx) => ctx,
            None => norm.resource(attrs.unwrap_or_default()),
        };
        for span in pending {
            norm.span(&mut ctx, span);
        }
        Ok(())
    }
}

/// `Resource`.
struct Resource<'r, 'de>(&'r mut ResourceAttrs<'de>);

impl<'r, 'de> DeserializeSeed<'de> for Resource<'r, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(AsObject(self))
    }
}

impl<'de> ObjectVisitor<'de> for Resource<'_, 'de> {
    type Value = ();
    const EXPECTING: &'static str = "a Resource object";
    fn empty(self) {}
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key()? {
            match key {
                ResourceKey::Attributes => map.next_value_seed(Attributes(&mut *self.0))?,
                ResourceKey::Unknown => skip(&mut map)?,
            }
        }
        Ok(())
    }
}

struct ScopeSpansList<'k, 's, 'de>(&'k mut Sink<'s, 'de>);

impl<'de> DeserializeSeed<'de> for ScopeSpansList<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(AsArray(self))
    }
}

impl<'de> ArrayVisitor<'de> for ScopeSpansList<'_, '_, 'de> {
    const EXPECTING: &'static str = "an array of ScopeSpans";
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(ScopeSpans(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct ScopeSpans<'k, 's, 'de>(&'k mut Sink<'s, 'de>);

impl<'de> DeserializeSeed<'de> for ScopeSpans<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(AsObject(self))
    }
}

impl<'de> ObjectVisitor<'de> for ScopeSpans<'_, '_, 'de> {
    type Value = ();
    const EXPECTING: &'static str = "a ScopeSpans object";
    fn empty(self) {}
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key()? {
            match key {
                ScopeSpansKey::Spans => map.next_value_seed(Spans(&mut *self.0))?,
                ScopeSpansKey::Unknown => skip(&mut map)?,
            }
        }
        Ok(())
    }
}

struct Spans<'k, 's, 'de>(&'k mut Sink<'s, 'de>);

impl<'de> DeserializeSeed<'de> for Spans<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(AsArray(self))
    }
}

impl<'de> ArrayVisitor<'de> for Spans<'_, '_, 'de> {
    const EXPECTING: &'static str = "an array of Span";
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut span = RawSpan::default();
        while seq.next_element_seed(Span(&mut span))?.is_some() {
            let done = std::mem::take(&mut span);
            match self.0 {
                Sink::Stream(norm, ctx) => norm.span(ctx, done),
                Sink::Buffer(spans) => spans.push(done),
            }
        }
        Ok(())
    }
}

/// `Span`, decoded into a [`RawSpan`] the caller provides.
struct Span<'r, 'de>(&'r mut RawSpan<'de>);

impl<'de> DeserializeSeed<'de> for Span<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(AsObject(self))
    }
}

impl<'de> ObjectVisitor<'de> for Span<'_, 'de> {
    type Value = ();
    const EXPECTING: &'static str = "a Span object";
    fn empty(self) {}
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let s = self.0;
        while let Some(key) = map.next_key()? {
            match key {
                SpanKey::TraceId => s.trace_id = map.next_value::<JsonId>()?.0,
                SpanKey::SpanId => s.span_id = map.next_value::<JsonId>()?.0,
                SpanKey::ParentSpanId => s.parent_span_id = map.next_value::<JsonId>()?.0,
                SpanKey::Name => s.name = map.next_value::<JsonText<'de>>()?.0,
                SpanKey::Kind => s.kind = map.next_value::<JsonKind>()?.0,
                SpanKey::Start => s.start = map.next_value::<JsonU64>()?.0,
                SpanKey::End => s.end = map.next_value::<JsonU64>()?.0,
                SpanKey::Attributes => map.next_value_seed(Attributes(&mut s.attrs))?,
                SpanKey::Links => map.next_value_seed(Links(&mut s.links))?,
                SpanKey::Status => s.status_code = map.next_value_seed(Status)?,
                SpanKey::Unknown => skip(&mut map)?,
            }
        }
        Ok(())
    }
}

struct Links<'r>(&'r mut Vec<(RawId, RawId)>);
seed!(array Links<'_>);

impl<'de> ArrayVisitor<'de> for Links<'_> {
    const EXPECTING: &'static str = "an array of Link";
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(link) = seq.next_element_seed(Link)? {
            self.0.extend(link);
        }
        Ok(())
    }
}

struct Link;
seed!(object Link => Option<(RawId, RawId)>);

impl<'de> ObjectVisitor<'de> for Link {
    type Value = Option<(RawId, RawId)>;
    const EXPECTING: &'static str = "a Link object";
    fn empty(self) -> Self::Value {
        None
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut trace, mut span) = (RawId::default(), RawId::default());
        while let Some(key) = map.next_key()? {
            match key {
                LinkKey::TraceId => trace = map.next_value::<JsonId>()?.0,
                LinkKey::SpanId => span = map.next_value::<JsonId>()?.0,
                LinkKey::Unknown => skip(&mut map)?,
            }
        }
        Ok(Some((trace, span)))
    }
}

/// `Status`: its code (the message is not read).
struct Status;
seed!(object Status => i32);

impl<'de> ObjectVisitor<'de> for Status {
    type Value = i32;
    const EXPECTING: &'static str = "a Status object";
    fn empty(self) -> i32 {
        0
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<i32, A::Error> {
        let mut code = 0;
        while let Some(key) = map.next_key()? {
            match key {
                StatusKey::Code => code = map.next_value::<JsonStatusCode>()?.0,
                StatusKey::Unknown => skip(&mut map)?,
            }
        }
        Ok(code)
    }
}
