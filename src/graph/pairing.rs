//! The bounded pairing store: halves of edges waiting for their counterpart.
//!
//! Every CLIENT, SERVER, PRODUCER and CONSUMER span is held under its **own**
//! `(trace id, span id)` for `pairing_ttl` of event time after it ended:
//!
//! * so that a server or consumer arriving later finds its client or
//!   producer (also several of them: producer fan-out, retries);
//! * so that a repeated span (an exporter retry) is recognised and ignored;
//! * so that root server spans never collide (peers key them by
//!   `(trace, "")`, so the last root server of a trace wins).
//!
//! Server-side halves that arrive before their client register as
//! *waiters* under the key they wait for (the parent span, or each linked
//! producer). Expiry pops halves in `(expire_at, key)` order from a bucketed
//! queue ([`super::expiry`]), so it is deterministic whatever the arrival order.
//!
//! Memory is bounded by `max_pending_spans`: when the store is full, *new*
//! halves are rejected, so a flood of unmatched spans cannot evict good ones.
//!
//! Never does: decide what an expired half becomes, count metrics, log.

use std::sync::Arc;

use foldhash::HashMap;

use crate::model::{ResourceInfo, SpanId, SpanKind, Timestamp, TraceId};

use super::expiry::ExpiryQueue;

/// `trace id ‖ span id`: fixed size, no allocation, cheap to hash and compare.
pub(crate) type Key = [u8; 24];

/// Builds the key of a span.
pub(crate) fn key_of(trace: &TraceId, span: &SpanId) -> Key {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(&trace.0);
    key[16..].copy_from_slice(&span.0);
    key
}

/// The trace id part of a key.
pub(crate) fn trace_of(key: &Key) -> TraceId {
    let mut trace = [0u8; 16];
    trace.copy_from_slice(&key[..16]);
    TraceId(trace)
}

/// What a held half will become if nothing answers it before it expires.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Fallback {
    /// Nothing: it is counted as unpaired (no peer name, or a non-root server).
    Unpaired,
    /// An edge to or from an inferred node.
    Virtual {
        name: Arc<str>,
        kind: crate::model::NodeKind,
        /// A database call (`connection_type=database`), else `virtual_node`.
        database: bool,
    },
}

/// The keys a server-side half waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Targets {
    /// A root span: nothing to wait for.
    None,
    /// The parent (the common case): no allocation.
    One(Key),
    /// Parent and/or span links (batch consumers).
    Many(Box<[Key]>),
}

impl Targets {
    pub(crate) fn as_slice(&self) -> &[Key] {
        match self {
            Self::None => &[],
            Self::One(key) => std::slice::from_ref(key),
            Self::Many(keys) => keys,
        }
    }
}

/// One held span.
#[derive(Clone, Debug)]
pub(crate) struct Half {
    pub(crate) kind: SpanKind,
    pub(crate) end: Timestamp,
    pub(crate) duration_ns: u64,
    pub(crate) error: bool,
    pub(crate) resource: Arc<ResourceInfo>,
    /// Server side only; empty for client-side halves.
    pub(crate) targets: Targets,
    pub(crate) fallback: Fallback,
    /// True once it formed at least one edge; it is then kept only for
    /// de-duplication and fan-out, and expires silently.
    pub(crate) paired: bool,
}

impl Half {
    /// CLIENT or PRODUCER: the calling side.
    pub(crate) fn is_client_side(&self) -> bool {
        matches!(self.kind, SpanKind::Client | SpanKind::Producer)
    }

    fn expire_at(&self, ttl_ns: u64) -> Timestamp {
        self.end.plus_nanos(ttl_ns)
    }
}

/// Server-side halves waiting for one key.
#[derive(Clone, Debug)]
pub(crate) enum Waiters {
    One(Key),
    Many(Vec<Key>),
}

impl Waiters {
    pub(crate) fn as_slice(&self) -> &[Key] {
        match self {
            Self::One(key) => std::slice::from_ref(key),
            Self::Many(keys) => keys,
        }
    }
}

/// The store. See the module docs.
#[derive(Debug)]
pub(crate) struct PairingStore {
    /// Every held half, by its own key.
    halves: HashMap<Key, Half>,
    /// Target key → server-side halves that wait for it.
    waiters: HashMap<Key, Waiters>,
    /// `(expire_at, key)`, earliest first: expiry pops instead of scanning,
    /// and ties break on the key so the order never depends on arrival.
    expiry: ExpiryQueue,
    /// Halves not yet paired (what peers call "pending").
    unpaired: usize,
    ttl_ns: u64,
    max: usize,
}

impl PairingStore {
    /// An empty store.
    pub(crate) fn new(ttl_ns: u64, max: usize) -> Self {
        Self {
            halves: HashMap::default(),
            waiters: HashMap::default(),
            expiry: ExpiryQueue::default(),
            unpaired: 0,
            ttl_ns,
            max,
        }
    }

    /// Halves held (paired or not).
    pub(crate) fn len(&self) -> usize {
        self.halves.len()
    }

    /// Halves still waiting for a counterpart.
    pub(crate) fn unpaired(&self) -> usize {
        self.unpaired
    }

    pub(crate) fn get(&self, key: &Key) -> Option<&Half> {
        self.halves.get(key)
    }

    /// Marks a held half as paired.
    pub(crate) fn mark_paired(&mut self, key: &Key) {
        if let Some(half) = self.halves.get_mut(key)
            && !half.paired
        {
            half.paired = true;
            self.unpaired -= 1;
        }
    }

    /// Holds `half` under `key` and registers it as a waiter for `wait_for`.
    /// Returns `false` (and holds nothing) when the store is full.
    pub(crate) fn insert(&mut self, key: Key, half: Half, wait_for: &[Key]) -> bool {
        if self.halves.len() >= self.max {
            return false;
        }
        for target in wait_for {
            match self.waiters.get_mut(target) {
                None => {
                    self.waiters.insert(*target, Waiters::One(key));
                }
                Some(Waiters::One(first)) => {
                    let first = *first;
                    self.waiters
                        .insert(*target, Waiters::Many(vec![first, key]));
                }
                Some(Waiters::Many(keys)) => keys.push(key),
            }
        }
        self.expiry.push(half.expire_at(self.ttl_ns), key);
        if !half.paired {
            self.unpaired += 1;
        }
        self.halves.insert(key, half);
        true
    }

    /// Removes and returns the halves waiting for `target`.
    pub(crate) fn take_waiters(&mut self, target: &Key) -> Option<Waiters> {
        self.waiters.remove(target)
    }

    /// Removes the earliest half that expired at `watermark`
    /// (`watermark > end + ttl`), or any half when `watermark` is `None`.
    pub(crate) fn pop_expired(&mut self, watermark: Option<Timestamp>) -> Option<(Key, Half)> {
        let (expire_at, key) = self.expiry.peek()?;
        if watermark.is_some_and(|w| w <= expire_at) {
            return None;
        }
        self.expiry.pop();
        let half = self.halves.remove(&key)?;
        if !half.paired {
            self.unpaired -= 1;
        }
        for target in half.targets.as_slice() {
            self.forget_waiter(target, &key);
        }
        Some((key, half))
    }

    fn forget_waiter(&mut self, target: &Key, waiter: &Key) {
        let empty = match self.waiters.get_mut(target) {
            Some(Waiters::One(key)) => key == waiter,
            Some(Waiters::Many(keys)) => {
                keys.retain(|k| k != waiter);
                keys.is_empty()
            }
            None => false,
        };
        if empty {
            self.waiters.remove(target);
        }
    }

    /// Every held half in expiry order, for state export.
    pub(crate) fn iter_in_expiry_order(&self) -> Vec<(&Key, &Half)> {
        let mut all: Vec<(&Key, &Half)> = self.halves.iter().collect();
        all.sort_by_key(|(key, half)| (half.end, **key));
        all
    }

    /// Restores a half exported by [`Self::iter_in_expiry_order`]: it waits
    /// for every target that is not held (exactly the registrations it had).
    /// Call after every half has been restored with [`Self::restore_half`].
    pub(crate) fn rebuild_waiters(&mut self) {
        let mut registrations = Vec::new();
        for (key, half) in &self.halves {
            for target in half.targets.as_slice() {
                if !self.halves.contains_key(target) {
                    registrations.push((*target, *key));
                }
            }
        }
        registrations.sort_unstable();
        for (target, key) in registrations {
            match self.waiters.get_mut(&target) {
                None => {
                    self.waiters.insert(target, Waiters::One(key));
                }
                Some(Waiters::One(first)) => {
                    let first = *first;
                    self.waiters.insert(target, Waiters::Many(vec![first, key]));
                }
                Some(Waiters::Many(keys)) => keys.push(key),
            }
        }
    }

    /// Holds a restored half without registering waiters (see [`Self::rebuild_waiters`]).
    /// Ignores the capacity: restored state was within it when exported.
    pub(crate) fn restore_half(&mut self, key: Key, half: Half) {
        self.expiry.push(half.expire_at(self.ttl_ns), key);
        if !half.paired {
            self.unpaired += 1;
        }
        self.halves.insert(key, half);
    }

    /// Number of keys with registered waiters (for tests).
    #[cfg(test)]
    pub(crate) fn waiter_keys(&self) -> usize {
        self.waiters.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource() -> Arc<ResourceInfo> {
        Arc::new(ResourceInfo {
            service: "svc".into(),
            namespace: None,
            version: None,
            environment: None,
            instance: None,
        })
    }

    fn half(kind: SpanKind, end: u64, targets: Targets) -> Half {
        Half {
            kind,
            end: Timestamp(end),
            duration_ns: 1,
            error: false,
            resource: resource(),
            targets,
            fallback: Fallback::Unpaired,
            paired: false,
        }
    }

    fn key(n: u8) -> Key {
        key_of(&TraceId([1; 16]), &SpanId([n; 8]))
    }

    #[test]
    fn key_round_trips_the_trace() {
        assert_eq!(
            trace_of(&key_of(&TraceId([7; 16]), &SpanId([9; 8]))),
            TraceId([7; 16])
        );
    }

    #[test]
    fn full_store_rejects_new_halves_and_keeps_old_ones() {
        let mut store = PairingStore::new(10, 2);
        assert!(store.insert(key(1), half(SpanKind::Client, 5, Targets::None), &[]));
        assert!(store.insert(key(2), half(SpanKind::Client, 5, Targets::None), &[]));
        assert!(!store.insert(key(3), half(SpanKind::Client, 5, Targets::None), &[]));
        assert_eq!(store.len(), 2);
        assert!(store.get(&key(1)).is_some());
        assert!(store.get(&key(3)).is_none());
    }

    #[test]
    fn expiry_is_strictly_after_end_plus_ttl_in_key_order() {
        let mut store = PairingStore::new(10, 8);
        store.insert(key(2), half(SpanKind::Client, 5, Targets::None), &[]);
        store.insert(key(1), half(SpanKind::Client, 5, Targets::None), &[]);
        store.insert(key(3), half(SpanKind::Client, 1, Targets::None), &[]);
        assert!(store.pop_expired(Some(Timestamp(11))).is_none());
        assert_eq!(store.pop_expired(Some(Timestamp(12))).unwrap().0, key(3));
        assert!(store.pop_expired(Some(Timestamp(15))).is_none());
        assert_eq!(store.pop_expired(Some(Timestamp(16))).unwrap().0, key(1));
        assert_eq!(store.pop_expired(None).unwrap().0, key(2));
        assert_eq!(store.unpaired(), 0);
    }

    #[test]
    fn expired_waiters_are_forgotten() {
        let mut store = PairingStore::new(10, 8);
        let target = key(9);
        store.insert(
            key(1),
            half(SpanKind::Server, 5, Targets::One(target)),
            &[target],
        );
        store.insert(
            key(2),
            half(SpanKind::Server, 6, Targets::One(target)),
            &[target],
        );
        assert_eq!(store.waiter_keys(), 1);
        store.pop_expired(Some(Timestamp(16)));
        assert_eq!(store.take_waiters(&target).unwrap().as_slice(), &[key(2)]);
        store.insert(
            key(3),
            half(SpanKind::Server, 6, Targets::One(target)),
            &[target],
        );
        store.pop_expired(None);
        store.pop_expired(None);
        assert_eq!(store.waiter_keys(), 0);
    }

    #[test]
    fn paired_halves_leave_the_unpaired_count() {
        let mut store = PairingStore::new(10, 8);
        store.insert(key(1), half(SpanKind::Client, 5, Targets::None), &[]);
        assert_eq!(store.unpaired(), 1);
        store.mark_paired(&key(1));
        store.mark_paired(&key(1));
        assert_eq!(store.unpaired(), 0);
        let (_, expired) = store.pop_expired(None).unwrap();
        assert!(expired.paired);
        assert_eq!(store.unpaired(), 0);
    }
}

#[cfg(test)]
mod memory {
    use super::*;

    #[test]
    fn a_held_half_costs_about_150_bytes() {
        // Map entry (key + half) + expiry heap entry; the 500 000 default
        // `max_pending_spans` therefore bounds the store to ~75 MB (plus hash-map slack).
        let entry = size_of::<Key>() + size_of::<Half>() + size_of::<super::super::expiry::Entry>();
        eprintln!("held half: {entry} bytes");
        assert!(entry <= 160, "{entry} bytes");
    }
}
