//! The attribute visitors of OTLP/JSON: `repeated KeyValue` streamed into
//! the normalizer's attribute tables, `AnyValue` (with `{}` and `null` as the
//! empty value) and `ArrayValue` reduced to its first string. Never does:
//! decide which keys matter (that is `normalize::attrs`).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::super::normalize::{AttrValue, ResourceAttrs, SpanAttrs};
use super::values::{JsonBool, JsonF64, JsonI64, JsonText};
use super::visit::{ArrayVisitor, AsArray, AsObject, ObjectVisitor, skip};
use super::{AnyValueKey, ArrayKey, KeyValueKey};

/// Receives attributes: span or resource.
pub(super) trait AttrSink<'de> {
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
pub(super) struct Attributes<'r, S>(pub(super) &'r mut S);

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
