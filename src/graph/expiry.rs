//! The expiry queue of the pairing store: `(expire_at, key, slot)` entries
//! popped in ascending order once the watermark passes them (a key is held
//! once at a time, so the slot never decides the order; it only saves the
//! store a lookup).
//!
//! A bucketed queue (a coarse timing wheel) instead of a binary heap: entries
//! go unsorted into the bucket of their expiry time (`2^BUCKET_SHIFT` ns
//! wide); the earliest bucket is sorted once when expiry reaches it. Pushing
//! is an append, popping a `Vec::pop`, and the work is done on contiguous
//! memory instead of a heap walk over a large array. The order is exactly
//! the heap's: ascending `(expire_at, key)`, whatever the arrival order.
//!
//! Never does: look at the halves themselves.

use std::collections::BTreeMap;

use crate::model::Timestamp;

use super::pairing::{Key, Slot};

/// log2 of the bucket width in nanoseconds (2^26 ns ≈ 67 ms).
const BUCKET_SHIFT: u32 = 26;

/// One queued entry.
pub(crate) type Entry = (Timestamp, Key, Slot);

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct ExpiryQueue {
    /// Bucket number → entries in arrival order.
    buckets: BTreeMap<u64, Vec<Entry>>,
    /// The earliest bucket, taken out of `buckets` and sorted *descending*
    /// (the next entry is the last one); its number.
    ready: Vec<Entry>,
    ready_bucket: Option<u64>,
    /// Emptied vectors kept for new buckets.
    spare: Vec<Vec<Entry>>,
}

fn bucket_of(at: Timestamp) -> u64 {
    at.0 >> BUCKET_SHIFT
}

impl ExpiryQueue {
    /// Queues `key` (held in `slot`) to expire at `at`.
    pub(crate) fn push(&mut self, at: Timestamp, key: Key, slot: Slot) {
        let bucket = bucket_of(at);
        match self.ready_bucket {
            Some(ready) if ready == bucket => {
                // Keep `ready` sorted descending.
                let entry = (at, key, slot);
                let index = self.ready.partition_point(|e| *e > entry);
                self.ready.insert(index, entry);
                return;
            }
            Some(ready) if bucket < ready => self.unready(),
            _ => {}
        }
        let spare = &mut self.spare;
        self.buckets
            .entry(bucket)
            .or_insert_with(|| spare.pop().unwrap_or_default())
            .push((at, key, slot));
    }

    /// The earliest entry, without removing it.
    pub(crate) fn peek(&mut self) -> Option<Entry> {
        if self.ready.is_empty() {
            self.ready_bucket = None;
            let (bucket, mut entries) = self.buckets.pop_first()?;
            entries.sort_unstable_by(|a, b| b.cmp(a));
            let done = std::mem::replace(&mut self.ready, entries);
            self.recycle(done);
            self.ready_bucket = Some(bucket);
        }
        self.ready.last().copied()
    }

    /// The entry `n` places after the next one in the ready bucket, if any.
    pub(crate) fn ahead(&self, n: usize) -> Option<Entry> {
        let len = self.ready.len();
        (len > n).then(|| self.ready[len - 1 - n])
    }

    /// Removes the earliest entry.
    pub(crate) fn pop(&mut self) -> Option<Entry> {
        self.peek()?;
        self.ready.pop()
    }

    /// Puts the ready bucket back among the others (an earlier entry came).
    fn unready(&mut self) {
        if let Some(bucket) = self.ready_bucket.take() {
            let entries = std::mem::take(&mut self.ready);
            if !entries.is_empty() {
                self.buckets.insert(bucket, entries);
            }
        }
    }

    fn recycle(&mut self, mut entries: Vec<Entry>) {
        if entries.capacity() > 0 && self.spare.len() < 64 {
            entries.clear();
            self.spare.push(entries);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    use proptest::prelude::*;

    use super::*;

    fn key(n: u8) -> Key {
        let mut key = [0u8; 24];
        key[23] = n;
        key
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(u64, u8),
        /// Pop everything strictly before this time (the store's rule).
        Expire(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Times over a few buckets, with many equal times.
        let time = prop_oneof![0u64..8, 0u64..(6 << BUCKET_SHIFT)];
        prop_oneof![
            3 => (time.clone(), any::<u8>()).prop_map(|(t, k)| Op::Push(t, k)),
            1 => time.prop_map(Op::Expire),
        ]
    }

    proptest! {
        #[test]
        fn pops_in_the_same_order_as_a_binary_heap(ops in prop::collection::vec(op(), 0..300)) {
            let mut queue = ExpiryQueue::default();
            let mut heap = BinaryHeap::new();
            let (mut got, mut want) = (Vec::new(), Vec::new());
            for op in ops.iter().cloned().chain([Op::Expire(u64::MAX)]) {
                match op {
                    Op::Push(t, k) => {
                        queue.push(Timestamp(t), key(k), u32::from(k));
                        heap.push(Reverse((Timestamp(t), key(k), u32::from(k))));
                    }
                    Op::Expire(w) => {
                        while queue.peek().is_some_and(|(at, _, _)| at.0 < w) {
                            got.push(queue.pop());
                        }
                        while heap.peek().is_some_and(|Reverse((at, _, _))| at.0 < w) {
                            want.push(heap.pop().map(|Reverse(e)| e));
                        }
                    }
                }
            }
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn an_entry_earlier_than_the_ready_bucket_comes_first() {
        let mut queue = ExpiryQueue::default();
        let late = Timestamp(5 << BUCKET_SHIFT);
        queue.push(late, key(1), 1);
        assert_eq!(queue.peek(), Some((late, key(1), 1)));
        queue.push(Timestamp(3), key(2), 2);
        queue.push(late, key(0), 0);
        assert_eq!(queue.pop(), Some((Timestamp(3), key(2), 2)));
        assert_eq!(queue.pop(), Some((late, key(0), 0)));
        assert_eq!(queue.pop(), Some((late, key(1), 1)));
        assert_eq!(queue.pop(), None);
    }
}
