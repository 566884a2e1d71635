//! The pairing store's one hash index: held halves by their own key, and
//! waiters by the key they wait for, in the same table.
//!
//! An arriving client looks up its own key once and finds both a repeated
//! span and the servers waiting for it in the same probe sequence (one cache
//! miss, where a separate waiter map cost a second one, plus another when the
//! server registered). Entries are 8 bytes: the key's 32-bit hash, a waiter
//! bit and the slot. Carrying the hash lets the table rehash, and expiry
//! find an entry, without reading the slab (a cache miss per half).
//!
//! Never does: read or compare keys itself (the caller's closures do, from
//! the slab), or know what a half is.

use std::hash::BuildHasher as _;

use hashbrown::HashTable;

use super::{Key, Slot};

/// The largest slot: the top bit of an entry's low half is the waiter bit.
pub(crate) const MAX_SLOT: Slot = (1 << 31) - 1;

const WAITER: u64 = 1 << 31;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Index {
    table: HashTable<u64>,
    seed: [u64; 3],
    waiters: usize,
}

impl Default for Index {
    fn default() -> Self {
        let random = foldhash::fast::RandomState::default();
        Self {
            table: HashTable::new(),
            seed: [0u64, 1, 2].map(|i| random.hash_one(i)),
            waiters: 0,
        }
    }
}

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

fn hash_of(entry: u64) -> u32 {
    (entry >> 32) as u32
}

fn slot_of(entry: u64) -> Slot {
    (entry & !WAITER) as Slot
}

fn half_entry(hash: u32, slot: Slot) -> u64 {
    (u64::from(hash) << 32) | u64::from(slot)
}

fn waiter_entry(hash: u32, slot: Slot) -> u64 {
    half_entry(hash, slot) | WAITER
}

fn is_waiter(entry: u64) -> bool {
    entry & WAITER != 0
}

impl Index {
    /// The hash of `key` under this index's seed.
    pub(crate) fn hash(&self, key: &Key) -> u32 {
        hash_key(&self.seed, key)
    }

    /// Held halves.
    pub(crate) fn halves(&self) -> usize {
        self.table.len() - self.waiters
    }

    /// Waiter registrations.
    #[cfg(test)]
    pub(crate) fn waiters(&self) -> usize {
        self.waiters
    }

    /// The slot of the half held under the key hashed to `hash`; `is_key`
    /// compares a candidate slot's key.
    pub(crate) fn find(&self, hash: u32, mut is_key: impl FnMut(Slot) -> bool) -> Option<Slot> {
        self.table
            .find(wide(hash), |&e| {
                !is_waiter(e) && hash_of(e) == hash && is_key(slot_of(e))
            })
            .map(|&e| slot_of(e))
    }

    /// Indexes the half in `slot` under the key hashed to `hash`.
    pub(crate) fn insert(&mut self, hash: u32, slot: Slot) {
        self.put(half_entry(hash, slot));
    }

    /// Registers the half in `slot` as waiting for the key hashed to `hash`.
    pub(crate) fn insert_waiter(&mut self, hash: u32, slot: Slot) {
        self.put(waiter_entry(hash, slot));
        self.waiters += 1;
    }

    fn put(&mut self, entry: u64) {
        self.table
            .insert_unique(wide(hash_of(entry)), entry, |&e| wide(hash_of(e)));
    }

    /// Removes the half in `slot` (held under the key hashed to `hash`).
    pub(crate) fn remove(&mut self, hash: u32, slot: Slot) -> bool {
        self.remove_entry(half_entry(hash, slot))
    }

    /// Removes the registration of `slot` as a waiter for the key hashed to
    /// `hash`, if it is still there.
    pub(crate) fn remove_waiter(&mut self, hash: u32, slot: Slot) -> bool {
        let removed = self.remove_entry(waiter_entry(hash, slot));
        self.waiters -= usize::from(removed);
        removed
    }

    fn remove_entry(&mut self, entry: u64) -> bool {
        match self.table.find_entry(wide(hash_of(entry)), |&e| e == entry) {
            Ok(found) => {
                found.remove();
                true
            }
            Err(_) => false,
        }
    }

    /// Removes one waiter for the key hashed to `hash` and returns its slot;
    /// `waits_for_key` says whether a candidate waits for that very key.
    pub(crate) fn take_waiter(
        &mut self,
        hash: u32,
        mut waits_for_key: impl FnMut(Slot) -> bool,
    ) -> Option<Slot> {
        let found = self.table.find_entry(wide(hash), |&e| {
            is_waiter(e) && hash_of(e) == hash && waits_for_key(slot_of(e))
        });
        let (entry, _) = found.ok()?.remove();
        self.waiters -= 1;
        Some(slot_of(entry))
    }

    /// Every held half's slot, in no particular order.
    pub(crate) fn slots(&self) -> impl Iterator<Item = Slot> + '_ {
        self.table
            .iter()
            .filter(|&&e| !is_waiter(e))
            .map(|&e| slot_of(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> Key {
        let mut key = [7u8; 24];
        key[20..].copy_from_slice(&n.to_le_bytes());
        key
    }

    #[test]
    fn halves_and_waiters_of_one_key_are_told_apart() {
        let mut index = Index::default();
        let h = index.hash(&key(1));
        index.insert(h, 3);
        index.insert_waiter(h, 4);
        index.insert_waiter(h, 5);
        assert_eq!((index.halves(), index.waiters()), (1, 2));
        assert_eq!(index.find(h, |slot| slot == 3), Some(3));
        assert_eq!(index.find(h, |slot| slot == 4), None);
        assert_eq!(index.take_waiter(h, |slot| slot == 5), Some(5));
        assert!(!index.remove_waiter(h, 5));
        assert!(index.remove_waiter(h, 4));
        assert_eq!(index.take_waiter(h, |_| true), None);
        assert!(index.remove(h, 3));
        assert_eq!(index.find(h, |_| true), None);
        assert_eq!((index.halves(), index.waiters()), (0, 0));
    }

    #[test]
    fn the_largest_slot_keeps_its_bits() {
        let mut index = Index::default();
        let h = index.hash(&key(2));
        index.insert(h, MAX_SLOT);
        index.insert_waiter(h, MAX_SLOT);
        assert_eq!(index.find(h, |_| true), Some(MAX_SLOT));
        assert_eq!(index.take_waiter(h, |_| true), Some(MAX_SLOT));
        assert_eq!(index.slots().collect::<Vec<_>>(), vec![MAX_SLOT]);
    }

    #[test]
    fn different_keys_hash_apart_and_one_key_hashes_alike() {
        let index = Index::default();
        assert_eq!(index.hash(&key(1)), index.hash(&key(1)));
        let distinct: std::collections::HashSet<u32> =
            (0..10_000).map(|n| index.hash(&key(n))).collect();
        // 32-bit hashes of 10 000 keys: a collision or two at most by chance.
        assert!(distinct.len() >= 9_998, "{}", distinct.len());
    }
}
