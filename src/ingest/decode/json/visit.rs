//! The serde visitors of OTLP/JSON, one per message, from `TracesData` down
//! to `AnyValue`. Objects and arrays may be `null` (the default); unknown
//! keys are skipped. Never does: interpret attributes (it hands them on).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::super::normalize::{
    AttrValue, Normalizer, RawId, RawSpan, ResourceAttrs, ResourceCtx, SpanAttrs,
};
use super::values::{
    JsonBool, JsonF64, JsonI64, JsonId, JsonKind, JsonStatusCode, JsonText, JsonU64,
};
use super::{
    AnyValueKey, ArrayKey, KeyValueKey, LinkKey, ResourceKey, ResourceSpansKey, RootKey,
    ScopeSpansKey, SpanKey, StatusKey,
};

/// An OTLP object (or `null`, its default).
trait ObjectVisitor<'de>: Sized {
    type Value;
    const EXPECTING: &'static str;
    fn empty(self) -> Self::Value;
    fn map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error>;
}

/// An OTLP repeated field (or `null`, empty).
trait ArrayVisitor<'de>: Sized {
    const EXPECTING: &'static str;
    fn seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error>;
}

struct AsObject<V>(V);

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

struct AsArray<V>(V);

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

fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
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

/// Receives attributes: span or resource.
trait AttrSink<'de> {
    fn set(&mut self, key: &[u8], value: AttrValue<'de>);
}

impl<'de> AttrSink<'de> for SpanAttrs<'de> {
    fn set(&mut self, key: &[u8], value: AttrValue<'de>) {
        SpanAttrs::set(self, key, value);
    }
}

impl<'de> AttrSink<'de> for ResourceAttrs<'de> {
    fn set(&mut self, key: &[u8], value: AttrValue<'de>) {
        ResourceAttrs::set(self, key, value);
    }
}

/// `repeated KeyValue attributes`, streamed into an [`AttrSink`].
struct Attributes<'r, S>(&'r mut S);

impl<'de, S: AttrSink<'de>> DeserializeSeed<'de> for Attributes<'_, S> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(AsArray(self))
    }
}

impl<'de, S: AttrSink<'de>> ArrayVisitor<'de> for Attributes<'_, S> {
    const EXPECTING: &'static str = "an array of KeyValue";
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(kv) = seq.next_element_seed(KeyValue(PhantomData))? {
            if let Some((key, value)) = kv {
                self.0.set(&key, value);
            }
        }
        Ok(())
    }
}

/// `KeyValue`: `None` without a key.
struct KeyValue<'de>(PhantomData<&'de ()>);

impl<'de> DeserializeSeed<'de> for KeyValue<'de> {
    type Value = Option<(Cow<'de, [u8]>, AttrValue<'de>)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(AsObject(self))
    }
}

impl<'de> ObjectVisitor<'de> for KeyValue<'de> {
    type Value = Option<(Cow<'de, [u8]>, AttrValue<'de>)>;
    const EXPECTING: &'static str = "a KeyValue object";
    fn empty(self) -> Self::Value {
        None
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut key, mut value) = (None, AttrValue::Other);
        while let Some(k) = map.next_key()? {
            match k {
                KeyValueKey::Key => key = Some(map.next_value::<JsonText<'de>>()?.0),
                KeyValueKey::Value => value = map.next_value::<AnyValue<'de>>()?.0,
                KeyValueKey::Unknown => skip(&mut map)?,
            }
        }
        Ok(key.filter(|k| !k.is_empty()).map(|k| (k, value)))
    }
}

/// `AnyValue`; `{}` and `null` are the empty value, the last member wins.
struct AnyValue<'de>(AttrValue<'de>);

impl<'de> Deserialize<'de> for AnyValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AsObject(AnyValueV(PhantomData)))
            .map(AnyValue)
    }
}

struct AnyValueV<'de>(PhantomData<&'de ()>);

impl<'de> ObjectVisitor<'de> for AnyValueV<'de> {
    type Value = AttrValue<'de>;
    const EXPECTING: &'static str = "an AnyValue object";
    fn empty(self) -> Self::Value {
        AttrValue::Other
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut value = AttrValue::Other;
        while let Some(key) = map.next_key()? {
            let next = match key {
                AnyValueKey::String => Some(AttrValue::Str(map.next_value::<JsonText<'de>>()?.0)),
                AnyValueKey::Bool => map.next_value::<JsonBool>()?.0.map(AttrValue::Bool),
                AnyValueKey::Int => map.next_value::<JsonI64>()?.0.map(AttrValue::Int),
                AnyValueKey::Double => map.next_value::<JsonF64>()?.0.map(AttrValue::Double),
                AnyValueKey::Array => Some(AttrValue::Array(map.next_value_seed(ArrayValue)?)),
                // kvlistValue, bytesValue, anything else: never read.
                AnyValueKey::Unknown => {
                    skip(&mut map)?;
                    None
                }
            };
            if let Some(next) = next {
                value = next;
            }
        }
        Ok(value)
    }
}

/// `ArrayValue`, reduced to its first non-empty string element.
struct ArrayValue;

impl<'de> DeserializeSeed<'de> for ArrayValue {
    type Value = Option<Cow<'de, [u8]>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(AsObject(ArrayValueV(PhantomData)))
    }
}

struct ArrayValueV<'de>(PhantomData<&'de ()>);

impl<'de> ObjectVisitor<'de> for ArrayValueV<'de> {
    type Value = Option<Cow<'de, [u8]>>;
    const EXPECTING: &'static str = "an ArrayValue object";
    fn empty(self) -> Self::Value {
        None
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut first = None;
        while let Some(key) = map.next_key()? {
            match key {
                ArrayKey::Values => first = map.next_value::<FirstString<'de>>()?.0,
                ArrayKey::Unknown => skip(&mut map)?,
            }
        }
        Ok(first)
    }
}

struct FirstString<'de>(Option<Cow<'de, [u8]>>);

impl<'de> Deserialize<'de> for FirstString<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'de>(PhantomData<&'de ()>);
        impl<'de> Visitor<'de> for V<'de> {
            type Value = FirstString<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of AnyValue")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(FirstString(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut first = None;
                while let Some(AnyValue(v)) = seq.next_element()? {
                    if first.is_none()
                        && let AttrValue::Str(s) = v
                        && !s.is_empty()
                    {
                        first = Some(s);
                    }
                }
                Ok(FirstString(first))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}
