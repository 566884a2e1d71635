//! Serde adapters for event times in alerts (RFC 3339 UTC strings).

/// Serde adapter: [`Timestamp`] as an RFC 3339 string.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::model::time::Timestamp;

    /// Serializes as RFC 3339 UTC.
    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339())
    }

    /// Parses RFC 3339.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&text)
            .ok_or_else(|| D::Error::custom(format!("not an rfc 3339 time: {text}")))
    }
}

/// Serde adapter: `Option<Timestamp>` as an RFC 3339 string or null.
pub mod rfc3339_opt {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::model::time::Timestamp;

    /// Serializes as RFC 3339 UTC, or null.
    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&t.to_rfc3339()),
            None => s.serialize_none(),
        }
    }

    /// Parses RFC 3339 or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => Timestamp::parse_rfc3339(&text)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("not an rfc 3339 time: {text}"))),
        }
    }
}
