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

use std::hash::BuildHasher as _;
use std::sync::Arc;

use foldhash::HashMap;
use hashbrown::HashTable;

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

/// Server-side halves waiting for one key, by slot (a slot registered as a
/// waiter is always live: expiry forgets it before the slot is reused).
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

    fn add(waiters: &mut HashMap<Key, Waiters>, target: Key, slot: Slot) {
        match waiters.get_mut(&target) {
            None => {
                waiters.insert(target, Waiters::One(slot));
            }
            Some(Waiters::One(first)) => {
                let first = *first;
                waiters.insert(target, Waiters::Many(vec![first, slot]));
            }
            Some(Waiters::Many(slots)) => slots.push(slot),
        }
    }
}

/// The index of a held half in the store's slab.
pub(crate) type Slot = u32;

/// An index entry: the key's 32-bit hash (high half) and the slot (low
/// half). Carrying the hash lets the table rehash, and expiry find an
/// entry, without reading the slab (a cache miss per half).
type IndexEntry = u64;

/// Hashes the 24 key bytes with a per-store random seed: two folded
/// multiplies (as foldhash does), instead of a general byte-slice hasher.
/// Trace and span ids are random already; the seed keeps crafted ids from
/// colliding on purpose.
fn hash_key(seed: &[u64; 3], key: &Key) -> u32 {
    let word = |i: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&key[i * 8..i * 8 + 8]);
        u64::from_le_bytes(bytes)
    };
    let fold = |x: u64, y: u64| {
        let full = u128::from(x) * u128::from(y);
        (full as u64) ^ ((full >> 64) as u64)
    };
    let h = fold(word(0) ^ seed[0], word(1) ^ seed[1]);
    let h = fold(h ^ word(2), seed[2]);
    (h ^ (h >> 32)) as u32
}

/// The table hash of a 32-bit key hash: hashbrown takes its control byte
/// from the top 7 bits and the bucket from the low bits, so both halves
/// carry the hash.
fn wide(hash: u32) -> u64 {
    (u64::from(hash) << 32) | u64::from(hash)
}

fn entry(hash: u32, slot: Slot) -> IndexEntry {
    (u64::from(hash) << 32) | u64::from(slot)
}

fn slot_of(entry: IndexEntry) -> Slot {
    entry as Slot
}

fn hash_of(entry: IndexEntry) -> u32 {
    (entry >> 32) as u32
}

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
/// Layout, for the cache: the hash table holds only 8-byte slot numbers
/// and hashes (its probes stay in a small, hot memory block); the halves live in a
/// slab; a dense byte per slot says whether a half paired and whether it
/// registered waiters, so expiring a paired half touches neither the half
/// nor the waiters.
#[derive(Debug)]
pub(crate) struct PairingStore {
    /// Every held half's slot and key hash, hashed by its key.
    index: HashTable<IndexEntry>,
    seed: [u64; 3],
    /// The halves, by slot.
    slab: Vec<Held>,
    /// [`PAIRED`] and [`WAITS`] bits, by slot.
    flags: Vec<u8>,
    /// Free slots, most recently freed last.
    free: Vec<Slot>,
    /// Target key → server-side halves that wait for it.
    waiters: HashMap<Key, Waiters>,
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
            index: HashTable::new(),
            seed: {
                let random = foldhash::fast::RandomState::default();
                [0u64, 1, 2].map(|i| random.hash_one(i))
            },
            slab: Vec::new(),
            flags: Vec::new(),
            free: Vec::new(),
            waiters: HashMap::default(),
            expiry: ExpiryQueue::default(),
            unpaired: 0,
            ttl_ns,
            max,
        }
    }

    /// Halves held (paired or not).
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Halves still waiting for a counterpart.
    pub(crate) fn unpaired(&self) -> usize {
        self.unpaired
    }

    /// The slot of the half held under `key`.
    pub(crate) fn find(&self, key: &Key) -> Option<Slot> {
        let slab = &self.slab;
        let hash = hash_key(&self.seed, key);
        self.index
            .find(wide(hash), |&e| {
                hash_of(e) == hash && slab[slot_of(e) as usize].key == *key
            })
            .map(|&e| slot_of(e))
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
        if self.index.len() >= self.max {
            return false;
        }
        let slot = self.hold(key, half);
        for target in wait_for {
            Waiters::add(&mut self.waiters, *target, slot);
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
                self.slab[slot as usize] = held;
                self.flags[slot as usize] = flags;
                slot
            }
            None => {
                self.slab.push(held);
                self.flags.push(flags);
                (self.slab.len() - 1) as Slot
            }
        };
        self.expiry.push(at, key, slot);
        let hash = hash_key(&self.seed, &key);
        self.index
            .insert_unique(wide(hash), entry(hash, slot), |&e| wide(hash_of(e)));
        slot
    }

    /// Removes and returns the halves waiting for `target`.
    pub(crate) fn take_waiters(&mut self, target: &Key) -> Option<Waiters> {
        let waiters = self.waiters.remove(target)?;
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
            let removed = self
                .index
                .find_entry(wide(hash_key(&self.seed, &key)), |&e| slot_of(e) == slot)
                .map(|entry| entry.remove());
            debug_assert!(removed.is_ok(), "a queued half is held");
            self.free.push(slot);
            let flags = self.flags[slot as usize];
            if flags & WAITS != 0
                && let Some(half) = &self.slab[slot as usize].half
            {
                for target in half.targets.as_slice() {
                    forget_waiter(&mut self.waiters, target, slot);
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
            .iter()
            .map(|&e| (&self.slab[slot_of(e) as usize].key, self.half(slot_of(e))))
            .collect();
        all.sort_by_key(|(key, half)| (half.end, **key));
        all
    }

    /// Restores a half exported by [`Self::iter_in_expiry_order`]: it waits
    /// for every target that is not held (exactly the registrations it had).
    /// Call after every half has been restored with [`Self::restore_half`].
    pub(crate) fn rebuild_waiters(&mut self) {
        let mut registrations = Vec::new();
        for &e in &self.index {
            let slot = slot_of(e);
            let entry = &self.slab[slot as usize];
            for target in self.half(slot).targets.as_slice() {
                if self.find(target).is_none() {
                    registrations.push((*target, entry.key, slot));
                }
            }
        }
        registrations.sort_unstable();
        for (target, _, slot) in registrations {
            Waiters::add(&mut self.waiters, target, slot);
            self.flags[slot as usize] |= WAITS;
        }
    }

    /// Holds a restored half without registering waiters (see [`Self::rebuild_waiters`]).
    /// Ignores the capacity: restored state was within it when exported.
    pub(crate) fn restore_half(&mut self, key: Key, half: Half) {
        self.hold(key, half);
    }

    /// Number of keys with registered waiters (for tests).
    #[cfg(test)]
    pub(crate) fn waiter_keys(&self) -> usize {
        self.waiters.len()
    }
}

fn forget_waiter(waiters: &mut HashMap<Key, Waiters>, target: &Key, waiter: Slot) {
    let empty = match waiters.get_mut(target) {
        Some(Waiters::One(slot)) => *slot == waiter,
        Some(Waiters::Many(slots)) => {
            slots.retain(|s| *s != waiter);
            slots.is_empty()
        }
        None => false,
    };
    if empty {
        waiters.remove(target);
    }
}

#[cfg(test)]
mod tests;
