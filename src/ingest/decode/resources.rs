//! A cache of normalized resources by their encoded bytes, for streams of
//! small payloads that repeat the same few resources.
//!
//! A Kafka topic keyed by trace id carries one trace per record (≈5 spans),
//! and every record repeats its services' resources (a dozen attributes
//! each) byte for byte. With a [`ResourceCache`], the protobuf decoder looks
//! an encoded `Resource` up by its exact bytes and reuses the normalized
//! result instead of parsing and normalizing it again. The result is the
//! same either way: normalization is a pure function of those bytes.
//!
//! Bounded: at most [`MAX_ENTRIES`] resources and [`MAX_KEY_BYTES`] bytes of
//! keys; when either is reached the cache starts over. Never does: caching
//! across encodings (the JSON decoder does not use it) or anything for a
//! `ResourceSpans` that carries its resource field more than once.

use std::hash::BuildHasher as _;

use foldhash::fast::FixedState;
use hashbrown::HashTable;

use super::normalize::ResourceCtx;

/// The most resources held before the cache starts over.
pub(crate) const MAX_ENTRIES: usize = 4096;
/// The most bytes of encoded resources held before the cache starts over.
pub(crate) const MAX_KEY_BYTES: usize = 1 << 20;

/// Normalized resources by their encoded bytes. See the module docs.
#[derive(Debug, Default)]
pub struct ResourceCache {
    table: HashTable<u32>,
    entries: Vec<(Box<[u8]>, ResourceCtx)>,
    key_bytes: usize,
    hasher: FixedState,
    hits: u64,
    misses: u64,
}

impl ResourceCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resources currently held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lookups answered from the cache, and lookups that were not.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// The normalized resource encoded as `key`, if held.
    pub(super) fn get(&mut self, key: &[u8]) -> Option<&ResourceCtx> {
        let hash = self.hasher.hash_one(key);
        let entries = &self.entries;
        match self.table.find(hash, |&i| &*entries[i as usize].0 == key) {
            Some(&i) => {
                self.hits += 1;
                Some(&self.entries[i as usize].1)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Holds `ctx` as the normalization of `key` (not already held).
    pub(super) fn insert(&mut self, key: &[u8], ctx: ResourceCtx) {
        if key.len() > MAX_KEY_BYTES {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES || self.key_bytes + key.len() > MAX_KEY_BYTES {
            self.table.clear();
            self.entries.clear();
            self.key_bytes = 0;
        }
        let i = self.entries.len() as u32;
        self.key_bytes += key.len();
        self.entries.push((key.into(), ctx));
        let (hasher, entries) = (&self.hasher, &self.entries);
        self.table.insert_unique(hasher.hash_one(key), i, |&i| {
            hasher.hash_one(&*entries[i as usize].0)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::decode::normalize::{Normalizer, ResourceAttrs, Text};
    use crate::ingest::decode::testutil::{encode, request, resource_spans, s, service, span};
    use crate::ingest::decode::{Encoding, decode_cached, decode_otlp_proto};

    fn ctx(service: &'static str) -> ResourceCtx {
        let attrs = ResourceAttrs {
            service_name: Some(Text::Borrowed(service.as_bytes())),
            ..ResourceAttrs::default()
        };
        Normalizer::with_capacity(0).resource(attrs)
    }

    #[test]
    fn finds_only_identical_bytes() {
        let mut cache = ResourceCache::new();
        assert!(cache.get(b"a").is_none());
        cache.insert(b"a", ctx("svc-a"));
        cache.insert(b"ab", ctx("svc-ab"));
        assert_eq!(cache.get(b"a").unwrap().service(), Some("svc-a"));
        assert_eq!(cache.get(b"ab").unwrap().service(), Some("svc-ab"));
        assert!(cache.get(b"b").is_none());
        assert_eq!(cache.hits_and_misses(), (2, 2));
    }

    #[test]
    fn starts_over_when_full() {
        let mut cache = ResourceCache::new();
        for i in 0..MAX_ENTRIES {
            cache.insert(format!("k{i}").as_bytes(), ctx("s"));
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        cache.insert(b"one more", ctx("t"));
        assert_eq!(cache.len(), 1);
        assert!(cache.get(b"k0").is_none());
        assert_eq!(cache.get(b"one more").unwrap().service(), Some("t"));
        let big = vec![0u8; MAX_KEY_BYTES / 2 + 1];
        cache.insert(&big, ctx("big"));
        cache.insert(&[&big[..], b"x"].concat(), ctx("big2"));
        assert_eq!(cache.len(), 1, "the byte bound also starts over");
        cache.insert(&vec![0u8; MAX_KEY_BYTES + 1], ctx("huge"));
        assert_eq!(cache.len(), 1, "a key over the bound is not held");
    }

    #[test]
    fn the_resource_cache_reuses_repeated_resources() {
        let one = |t: u8, name: &str| {
            encode(&request(vec![
                resource_spans(service("a"), vec![span(t, 1, None, 2, name)]),
                resource_spans(service("b"), vec![span(t, 2, Some(1), 3, name)]),
            ]))
        };
        let mut cache = ResourceCache::new();
        for t in 1..=3 {
            let bytes = one(t, "GET /x");
            let cached = decode_cached(Encoding::OtlpProto, &bytes, &mut cache).unwrap();
            assert_eq!(cached, decode_otlp_proto(&bytes).unwrap());
            assert_eq!(cached.batch.len(), 2);
        }
        assert_eq!(cache.hits_and_misses(), (4, 2), "a and b parsed once each");
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_repeated_resource_field_bypasses_the_cache() {
        // Two `resource` fields in one ResourceSpans merge (protobuf): the name
        // comes from the first, the version from the second.
        let mut bytes = encode(&request(vec![resource_spans(
            service("a"),
            vec![span(1, 1, None, 2, "op")],
        )]));
        let extra = encode(&request(vec![resource_spans(
            vec![s("service.version", "2")],
            vec![],
        )]));
        // Splice the second ResourceSpans' body into the first's (same field 1).
        let (_, body) = extra.split_at(2);
        let mut rs = bytes.split_off(2);
        rs.extend_from_slice(body);
        let mut merged = vec![0x0a];
        prost::encoding::encode_varint(rs.len() as u64, &mut merged);
        merged.extend_from_slice(&rs);
        let plain = decode_otlp_proto(&merged).unwrap();
        assert_eq!(plain.batch.resources[0].version.as_deref(), Some("2"));
        let mut cache = ResourceCache::new();
        for _ in 0..2 {
            let cached = decode_cached(Encoding::OtlpProto, &merged, &mut cache).unwrap();
            assert_eq!(cached, plain);
        }
        assert!(cache.is_empty());
    }
}
