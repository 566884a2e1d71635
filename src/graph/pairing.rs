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
//! producer), in the same hash index as the halves ([`index`]). Expiry pops
//! halves in `(expire_at, key)` order from a bucketed queue
//! ([`super::expiry`]), so it is deterministic whatever the arrival order.
//!
//! Memory is bounded by `max_pending_spans`: when the store is full, *new*
//! halves are rejected, so a flood of unmatched spans cannot evict good ones.
//!
//! Never does: decide what an expired half becomes, count metrics, log.

mod index;

use std::sync::Arc;

use crate::model::{ResourceInfo, SpanId, SpanKind, Timestamp, TraceId};

use super::expiry::ExpiryQueue;
use super::prefetch;
use index::Index;
pub(crate) use index::MAX_SLOT;

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

/// Server-side halves that waited for one key, by slot, in key order.
#[derive(Clone, Debug)]
pub(crate) enum Waiters {
    One(Slot),
    Many(Vec<Slot>),
}

impl Waiters {
    pub(crate) fn as_slice(&self) -> &[Slot] {
        match self {
            Self::One(slot) => std::slice::from_ref(slot),
            Self::Many(slots) => slots,
        }
    }
}

/// The index of a held half in the store's slab.
pub(crate) type Slot = u32;

/// A slab entry: a half and its key. A freed entry keeps its old half until
/// the slot is reused (dropping it then, while the memory is being written
/// anyway, instead of touching it at expiry).
#[derive(Debug)]
struct Held {
    key: Key,
    half: Option<Half>,
}

/// [`PairingStore::flags`] bits.
const PAIRED: u8 = 1;
/// The half may be registered as a waiter (it must be forgotten at expiry).
const WAITS: u8 = 2;

/// The store. See the module docs.
///
/// Layout, for the cache: the hash index holds only 8-byte entries (its
/// probes stay in a small, hot memory block); the halves live in a slab; a
/// dense byte per slot says whether a half paired and whether it registered
/// waiters, so expiring a paired half touches neither the half nor the
/// waiters.
#[derive(Debug)]
pub(crate) struct PairingStore {
    /// Every held half's slot by its key, and every waiter's slot by the
    /// key it waits for.
    index: Index,
    /// The halves, by slot.
    slab: Vec<Held>,
    /// [`PAIRED`] and [`WAITS`] bits, by slot.
    flags: Vec<u8>,
    /// Free slots, most recently freed last.
    free: Vec<Slot>,
    /// `(expire_at, key, slot)`, earliest first: expiry pops instead of
    /// scanning, and ties break on the key so the order never depends on arrival.
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
            index: Index::default(),
            slab: Vec::new(),
            flags: Vec::new(),
            free: Vec::new(),
            expiry: ExpiryQueue::default(),
            unpaired: 0,
            ttl_ns,
            max,
        }
    }

    /// Halves held (paired or not).
    pub(crate) fn len(&self) -> usize {
        self.index.halves()
    }

    /// Halves still waiting for a counterpart.
    pub(crate) fn unpaired(&self) -> usize {
        self.unpaired
    }

    /// The slot of the half held under `key`.
    pub(crate) fn find(&self, key: &Key) -> Option<Slot> {
        let slab = &self.slab;
        self.index
            .find(self.index.hash(key), |slot| slab[slot as usize].key == *key)
    }

    /// The half held in a live `slot` (from [`Self::find`] or [`Self::take_waiters`]).
    pub(crate) fn half(&self, slot: Slot) -> &Half {
        match &self.slab[slot as usize].half {
            Some(half) => half,
            None => unreachable!("a live slot holds a half"),
        }
    }

    #[cfg(test)]
    pub(crate) fn get(&self, key: &Key) -> Option<&Half> {
        self.find(key).map(|slot| self.half(slot))
    }

    /// Marks the half in a live `slot` as paired.
    pub(crate) fn mark_paired(&mut self, slot: Slot) {
        let flags = &mut self.flags[slot as usize];
        if *flags & PAIRED == 0 {
            *flags |= PAIRED;
            if let Some(half) = &mut self.slab[slot as usize].half {
                half.paired = true;
                // Never read again (a paired half expires silently); cleared
                // so a half is the same whichever side arrived first.
                half.fallback = Fallback::Unpaired;
            }
            self.unpaired -= 1;
        }
    }

    /// Holds `half` under `key` and registers it as a waiter for `wait_for`.
    /// Returns `false` (and holds nothing) when the store is full.
    pub(crate) fn insert(&mut self, key: Key, half: Half, wait_for: &[Key]) -> bool {
        if self.index.halves() >= self.max {
            return false;
        }
        let slot = self.hold(key, half);
        for target in wait_for {
            self.index.insert_waiter(self.index.hash(target), slot);
        }
        if !wait_for.is_empty() {
            self.flags[slot as usize] |= WAITS;
        }
        true
    }

    /// Puts a half in a slot, the index and the expiry queue.
    fn hold(&mut self, key: Key, half: Half) -> Slot {
        let at = half.expire_at(self.ttl_ns);
        let flags = if half.paired {
            PAIRED
        } else {
            self.unpaired += 1;
            0
        };
        let held = Held {
            key,
            half: Some(half),
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                if let Some(&next) = self.free.last() {
                    prefetch::read(&self.slab[next as usize]);
                }
                self.slab[slot as usize] = held;
                self.flags[slot as usize] = flags;
                slot
            }
            None => {
                let slot = Slot::try_from(self.slab.len())
                    .ok()
                    .filter(|&slot| slot <= MAX_SLOT)
                    .expect("max_pending_spans is validated to fit the slot numbers");
                self.slab.push(held);
                self.flags.push(flags);
                slot
            }
        };
        self.expiry.push(at, key, slot);
        self.index.insert(self.index.hash(&key), slot);
        slot
    }

    /// Removes and returns the halves waiting for `target`, in key order
    /// (so pairing order never depends on the index's layout).
    pub(crate) fn take_waiters(&mut self, target: &Key) -> Option<Waiters> {
        let hash = self.index.hash(target);
        let slab = &self.slab;
        let waits = |slot: Slot| match &slab[slot as usize].half {
            Some(half) => half.targets.as_slice().contains(target),
            None => false,
        };
        let first = self.index.take_waiter(hash, waits)?;
        let waiters = match self.index.take_waiter(hash, waits) {
            None => Waiters::One(first),
            Some(second) => {
                let mut slots = vec![first, second];
                while let Some(slot) = self.index.take_waiter(hash, waits) {
                    slots.push(slot);
                }
                slots.sort_unstable_by_key(|&slot| slab[slot as usize].key);
                Waiters::Many(slots)
            }
        };
        for &slot in waiters.as_slice() {
            // Waiting for one key only: no registration is left to forget.
            if self.half(slot).targets.as_slice().len() <= 1 {
                self.flags[slot as usize] &= !WAITS;
            }
        }
        Some(waiters)
    }

    /// Removes the earliest *unpaired* half that expired at `watermark`
    /// (`watermark > end + ttl`), or any unpaired half when `watermark` is
    /// `None`. Paired halves expiring before it are removed silently (they
    /// only served de-duplication and fan-out).
    pub(crate) fn pop_expired(&mut self, watermark: Option<Timestamp>) -> Option<(Key, Half)> {
        loop {
            let (expire_at, key, slot) = self.expiry.peek()?;
            if watermark.is_some_and(|w| w <= expire_at) {
                return None;
            }
            self.expiry.pop();
            if let Some((_, _, ahead)) = self.expiry.ahead(4) {
                let f = self.flags[ahead as usize];
                if f & WAITS != 0 || f & PAIRED == 0 {
                    prefetch::read(&self.slab[ahead as usize]);
                }
            }
            let removed = self.index.remove(self.index.hash(&key), slot);
            debug_assert!(removed, "a queued half is held");
            self.free.push(slot);
            let flags = self.flags[slot as usize];
            if flags & WAITS != 0
                && let Some(half) = &self.slab[slot as usize].half
            {
                for target in half.targets.as_slice() {
                    self.index.remove_waiter(self.index.hash(target), slot);
                }
            }
            if flags & PAIRED == 0 {
                self.unpaired -= 1;
                return self.slab[slot as usize].half.take().map(|half| (key, half));
            }
        }
    }

    /// Every held half in expiry order, for state export.
    pub(crate) fn iter_in_expiry_order(&self) -> Vec<(&Key, &Half)> {
        let mut all: Vec<(&Key, &Half)> = self
            .index
            .slots()
            .map(|slot| (&self.slab[slot as usize].key, self.half(slot)))
            .collect();
        all.sort_by_key(|(key, half)| (half.end, **key));
        all
    }

    /// Restores a half exported by [`Self::iter_in_expiry_order`]: it waits
    /// for every target that is not held (exactly the registrations it had).
    /// Call after every half has been restored with [`Self::restore_half`].
    pub(crate) fn rebuild_waiters(&mut self) {
        let mut registrations = Vec::new();
        for slot in self.index.slots() {
            let entry = &self.slab[slot as usize];
            for target in self.half(slot).targets.as_slice() {
                if self.find(target).is_none() {
                    registrations.push((*target, entry.key, slot));
                }
            }
        }
        registrations.sort_unstable();
        for (target, _, slot) in registrations {
            self.index.insert_waiter(self.index.hash(&target), slot);
            self.flags[slot as usize] |= WAITS;
        }
    }

    /// Holds a restored half without registering waiters (see [`Self::rebuild_waiters`]).
    /// Ignores the capacity: restored state was within it when exported.
    pub(crate) fn restore_half(&mut self, key: Key, half: Half) {
        self.hold(key, half);
    }

    /// Number of waiter registrations (for tests).
    #[cfg(test)]
    pub(crate) fn waiter_registrations(&self) -> usize {
        self.index.waiters()
    }
}

#[cfg(test)]
mod tests;
