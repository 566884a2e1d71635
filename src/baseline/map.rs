//! A keyed, size-limited map of per-series state.

use std::collections::HashMap;

use crate::model::SeriesKey;

/// Per-series state, at most `capacity` series. When full, *new* series are
/// refused and counted (a shared overflow baseline would be meaningless for
/// detection); series already tracked are never evicted to make room.
#[derive(Clone, Debug)]
pub struct SeriesMap<T> {
    entries: HashMap<SeriesKey, T>,
    capacity: usize,
    rejected: u64,
}

/// What [`SeriesMap::get_or_insert_with`] did.
#[derive(Debug)]
pub enum Entry<'a, T> {
    /// The series was already tracked.
    Existing(&'a mut T),
    /// The series is new and was added.
    Added(&'a mut T),
    /// The map is full; the series was refused (and counted).
    Full,
}

impl<T> SeriesMap<T> {
    /// An empty map holding at most `capacity` series.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity,
            rejected: 0,
        }
    }

    /// The state of `key`, creating it with `make` when there is room.
    pub fn get_or_insert_with(
        &mut self,
        key: &SeriesKey,
        make: impl FnOnce() -> T,
    ) -> Entry<'_, T> {
        if self.entries.contains_key(key) {
            return match self.entries.get_mut(key) {
                Some(value) => Entry::Existing(value),
                None => Entry::Full, // unreachable: checked just above
            };
        }
        if self.entries.len() >= self.capacity {
            self.rejected += 1;
            return Entry::Full;
        }
        Entry::Added(self.entries.entry(key.clone()).or_insert_with(make))
    }

    /// The state of `key`, if tracked.
    pub fn get(&self, key: &SeriesKey) -> Option<&T> {
        self.entries.get(key)
    }

    /// The state of `key`, if tracked.
    pub fn get_mut(&mut self, key: &SeriesKey) -> Option<&mut T> {
        self.entries.get_mut(key)
    }

    /// Series tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no series is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cap.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// New series refused because the map was full, since creation.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Every tracked series, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&SeriesKey, &T)> {
        self.entries.iter()
    }

    /// Every tracked series, mutably, in no particular order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&SeriesKey, &mut T)> {
        self.entries.iter_mut()
    }

    /// Keeps the series for which `keep` returns true; returns how many were removed.
    pub fn retain(&mut self, mut keep: impl FnMut(&SeriesKey, &mut T) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|k, v| keep(k, v));
        before - self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn key(name: &str) -> SeriesKey {
        SeriesKey::Service {
            environment: Arc::from("prod"),
            service: Arc::from(name),
        }
    }

    #[test]
    fn refuses_new_series_when_full_and_counts_them() {
        let mut map = SeriesMap::new(2);
        assert!(matches!(
            map.get_or_insert_with(&key("a"), || 1),
            Entry::Added(_)
        ));
        assert!(matches!(
            map.get_or_insert_with(&key("b"), || 2),
            Entry::Added(_)
        ));
        assert!(matches!(
            map.get_or_insert_with(&key("c"), || 3),
            Entry::Full
        ));
        assert!(matches!(map.get_or_insert_with(&key("a"), || 9), Entry::Existing(v) if *v == 1));
        assert_eq!((map.len(), map.rejected()), (2, 1));
        assert_eq!(map.retain(|k, _| k != &key("a")), 1);
        assert!(matches!(
            map.get_or_insert_with(&key("c"), || 3),
            Entry::Added(_)
        ));
    }
}
