//! A bounded set of (source, id) pairs: deployment events already applied.
//!
//! First in, first out: when full, the pair inserted longest ago is
//! forgotten, so a retransmission after `capacity` newer events is applied
//! again (the release index then merges it into the existing release).
//!
//! Never does: I/O, time-based expiry.

use std::collections::{BTreeSet, VecDeque};

/// Bounded FIFO dedup set.
#[derive(Debug)]
pub(super) struct Dedup {
    capacity: usize,
    seen: BTreeSet<(String, String)>,
    order: VecDeque<(String, String)>,
}

impl Dedup {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            seen: BTreeSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Records the pair; false when it was already present (a duplicate).
    pub(super) fn insert(&mut self, source: &str, id: &str) -> bool {
        let key = (source.to_owned(), id.to_owned());
        if self.seen.contains(&key) {
            return false;
        }
        if self.order.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(key.clone());
        self.order.push_back(key);
        true
    }

    pub(super) fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_eviction() {
        let mut d = Dedup::new(2);
        assert!(d.insert("s", "1"));
        assert!(!d.insert("s", "1"));
        assert!(d.insert("t", "1"), "same id, other source");
        assert!(d.insert("s", "2"));
        assert_eq!(d.len(), 2);
        assert!(d.insert("s", "1"), "oldest was forgotten");
        assert!(!d.insert("s", "2"));
    }
}
