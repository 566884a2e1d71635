//! Which partitions this member owns and how far each has been handed off.
//!
//! The consumer loop and the rebalance callbacks share one [`Partitions`]
//! (behind a mutex held for microseconds, never across `.await`). It answers
//! three questions: may a record still be handed off (its partition is owned
//! by the same assignment that fetched it), which offset to store next (in
//! order, never backwards), and which offsets to commit when partitions are
//! revoked or the consumer stops. Pure: no I/O, no clock, no librdkafka.
//!
//! With snapshots (crash safety) only offsets covered by a durable snapshot
//! are ever committed ([`Partitions::durable`]), and each partition
//! remembers how far this process handed it off (its *floor*, also restored
//! from the snapshot after a restart), so records already in the restored or
//! kept state are skipped when they are read again.

use std::collections::HashMap;

/// Assignment generation of one partition: bumped on every assign, so a
/// record fetched under an earlier ownership can be recognised as stale.
pub(crate) type Epoch = u64;

#[derive(Debug)]
struct Owned {
    epoch: Epoch,
    /// Next offset to consume (last handed-off + 1), not yet committed.
    uncommitted: Option<i64>,
    /// Highest next-offset stored so far, so storing never goes backwards.
    stored: Option<i64>,
}

/// What [`Partitions::handed_off`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Store {
    /// Store this next-offset (record offset + 1) with librdkafka.
    Next(i64),
    /// The partition was revoked (or reassigned) since the record was
    /// fetched: the new owner reads it again, so it must not be stored.
    NotOwned,
    /// Already at or past this record (a redelivery after a rewind).
    Behind,
}

/// Ownership and hand-off progress per `(topic, partition)`.
#[derive(Debug, Default)]
pub(crate) struct Partitions {
    owned: HashMap<String, HashMap<i32, Owned>>,
    next_epoch: Epoch,
    /// Snapshot mode: hand-offs are not committable until made durable.
    durable_only: bool,
    /// Next offset already in this process's state, per partition; kept
    /// across revokes.
    /// (By topic, then partition: looked up per record without allocating.)
    floors: HashMap<String, HashMap<i32, i64>>,
}

impl Partitions {
    /// Snapshot mode: only offsets passed to [`Partitions::durable`] are
    /// committed; `restored` are the offsets the restored state covers.
    pub(crate) fn snapshots(&mut self, restored: impl IntoIterator<Item = (String, i32, i64)>) {
        self.durable_only = true;
        for (topic, partition, next) in restored {
            self.floors
                .entry(topic)
                .or_default()
                .insert(partition, next);
        }
    }

    /// True when the record at `offset` is already in this process's state
    /// (handed off before, or covered by the restored snapshot).
    pub(crate) fn covered(&self, topic: &str, partition: i32, offset: i64) -> bool {
        self.floor(topic, partition)
            .is_some_and(|floor| offset < floor)
    }

    /// Next offsets handed off so far, per owned partition (for a barrier).
    pub(crate) fn handed_off_offsets(&self) -> Vec<(String, i32, i64)> {
        let mut out: Vec<_> = self
            .owned
            .iter()
            .flat_map(|(topic, by_partition)| {
                by_partition
                    .iter()
                    .filter_map(|(p, owned)| Some((topic.clone(), *p, owned.stored?)))
            })
            .collect();
        out.sort();
        out
    }

    /// A snapshot covering offsets up to `next` is durable: returns true when
    /// the partition is owned and `next` should now be committed.
    pub(crate) fn durable(&mut self, topic: &str, partition: i32, next: i64) -> bool {
        let Some(owned) = self
            .owned
            .get_mut(topic)
            .and_then(|p| p.get_mut(&partition))
        else {
            return false;
        };
        if owned.uncommitted.is_some_and(|pending| pending >= next) {
            return false;
        }
        owned.uncommitted = Some(next);
        true
    }
    /// Partitions were assigned to this member.
    pub(crate) fn assign<'a>(&mut self, partitions: impl IntoIterator<Item = (&'a str, i32)>) {
        for (topic, partition) in partitions {
            self.next_epoch += 1;
            let owned = Owned {
                epoch: self.next_epoch,
                uncommitted: None,
                stored: self.floor(topic, partition),
            };
            self.owned
                .entry(topic.to_owned())
                .or_default()
                .insert(partition, owned);
        }
    }

    /// Partitions are being revoked. Returns the offsets that must be
    /// committed before they are given up (only those not yet committed).
    pub(crate) fn revoke<'a>(
        &mut self,
        partitions: impl IntoIterator<Item = (&'a str, i32)>,
    ) -> Vec<(String, i32, i64)> {
        let mut to_commit = Vec::new();
        for (topic, partition) in partitions {
            let Some(by_partition) = self.owned.get_mut(topic) else {
                continue;
            };
            if let Some(next) = by_partition
                .remove(&partition)
                .and_then(|owned| owned.uncommitted)
            {
                to_commit.push((topic.to_owned(), partition, next));
            }
            if by_partition.is_empty() {
                self.owned.remove(topic);
            }
        }
        to_commit
    }

    /// The current epoch of an owned partition, `None` if not owned.
    pub(crate) fn epoch(&self, topic: &str, partition: i32) -> Option<Epoch> {
        Some(self.owned.get(topic)?.get(&partition)?.epoch)
    }

    /// The record at `offset`, fetched under `epoch`, was handed off (or
    /// dead-lettered). Decides what to store.
    pub(crate) fn handed_off(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        epoch: Epoch,
    ) -> Store {
        let Some(owned) = self
            .owned
            .get_mut(topic)
            .and_then(|p| p.get_mut(&partition))
        else {
            return Store::NotOwned;
        };
        if owned.epoch != epoch {
            return Store::NotOwned;
        }
        let next = offset + 1;
        if owned.stored.is_some_and(|stored| stored >= next) {
            return Store::Behind;
        }
        owned.stored = Some(next);
        if !self.durable_only {
            owned.uncommitted = Some(next);
        }
        match self.floors.get_mut(topic) {
            Some(by_partition) => {
                by_partition.insert(partition, next);
            }
            None => {
                self.floors
                    .entry(topic.to_owned())
                    .or_default()
                    .insert(partition, next);
            }
        }
        Store::Next(next)
    }

    /// Offsets up to `next` were committed (by us or by auto-commit).
    pub(crate) fn committed(&mut self, topic: &str, partition: i32, next: i64) {
        let owned = self
            .owned
            .get_mut(topic)
            .and_then(|p| p.get_mut(&partition));
        if let Some(owned) = owned
            && owned.uncommitted.is_some_and(|pending| pending <= next)
        {
            owned.uncommitted = None;
        }
    }

    /// Stored offsets not yet committed, for the final commit on shutdown.
    pub(crate) fn uncommitted(&self) -> Vec<(String, i32, i64)> {
        let mut out = Vec::new();
        for (topic, by_partition) in &self.owned {
            for (partition, owned) in by_partition {
                if let Some(next) = owned.uncommitted {
                    out.push((topic.clone(), *partition, next));
                }
            }
        }
        out.sort();
        out
    }

    fn floor(&self, topic: &str, partition: i32) -> Option<i64> {
        self.floors.get(topic)?.get(&partition).copied()
    }

    /// Every owned partition.
    pub(crate) fn owned(&self) -> Vec<(String, i32)> {
        let mut out: Vec<_> = self
            .owned
            .iter()
            .flat_map(|(topic, by_partition)| by_partition.keys().map(|p| (topic.clone(), *p)))
            .collect();
        out.sort();
        out
    }

    /// Changes whenever partitions are assigned or revoked (the last epoch
    /// handed out and the number owned), so the consumer loop notices a
    /// rebalance without comparing lists.
    pub(crate) fn generation(&self) -> (Epoch, usize) {
        (self.next_epoch, self.len())
    }

    /// Number of owned partitions.
    pub(crate) fn len(&self) -> usize {
        self.owned.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_stored_in_order_and_never_backwards() {
        let mut parts = Partitions::default();
        parts.assign([("t", 0)]);
        let epoch = parts.epoch("t", 0).unwrap();
        assert_eq!(parts.handed_off("t", 0, 5, epoch), Store::Next(6));
        assert_eq!(parts.handed_off("t", 0, 7, epoch), Store::Next(8));
        assert_eq!(parts.handed_off("t", 0, 6, epoch), Store::Behind);
        assert_eq!(parts.uncommitted(), [("t".to_owned(), 0, 8)]);
    }

    #[test]
    fn revoke_returns_only_uncommitted_offsets_of_the_revoked_partitions() {
        let mut parts = Partitions::default();
        parts.assign([("t", 0), ("t", 1), ("u", 0)]);
        for (topic, partition) in [("t", 0), ("t", 1), ("u", 0)] {
            let epoch = parts.epoch(topic, partition).unwrap();
            parts.handed_off(topic, partition, 9, epoch);
        }
        parts.committed("t", 1, 10);
        let to_commit = parts.revoke([("t", 0), ("t", 1)]);
        assert_eq!(to_commit, [("t".to_owned(), 0, 10)]);
        assert_eq!(parts.owned(), [("u".to_owned(), 0)]);
        assert_eq!(parts.len(), 1);
    }

    #[test]
    fn a_record_fetched_before_a_revoke_is_not_stored_even_after_reassignment() {
        let mut parts = Partitions::default();
        parts.assign([("t", 0)]);
        let old = parts.epoch("t", 0).unwrap();
        parts.revoke([("t", 0)]);
        assert_eq!(parts.handed_off("t", 0, 3, old), Store::NotOwned);
        parts.assign([("t", 0)]);
        assert_ne!(parts.epoch("t", 0), Some(old));
        assert_eq!(parts.handed_off("t", 0, 3, old), Store::NotOwned);
    }

    #[test]
    fn in_snapshot_mode_only_durable_offsets_are_committed_and_state_is_skipped() {
        let mut parts = Partitions::default();
        parts.snapshots([("t".to_owned(), 0, 5)]);
        parts.assign([("t", 0), ("t", 1)]);
        assert!(parts.covered("t", 0, 4), "restored state covers it");
        assert!(!parts.covered("t", 0, 5));
        let epoch = parts.epoch("t", 0).unwrap();
        assert_eq!(parts.handed_off("t", 0, 5, epoch), Store::Next(6));
        assert_eq!(parts.handed_off("t", 0, 6, epoch), Store::Next(7));
        assert!(parts.uncommitted().is_empty(), "nothing durable yet");
        assert_eq!(parts.handed_off_offsets(), [("t".to_owned(), 0, 7)]);
        assert!(parts.durable("t", 0, 6));
        assert!(!parts.durable("t", 0, 6), "already pending");
        assert!(parts.durable("t", 1, 3));
        assert_eq!(
            parts.uncommitted(),
            [("t".to_owned(), 0, 6), ("t".to_owned(), 1, 3)]
        );
        assert!(!parts.durable("u", 0, 3), "not owned");
        // A revoke commits only what is durable; the floor survives it, so a
        // reassignment skips what this process already has.
        let revoked = parts.revoke([("t", 0), ("t", 1)]);
        assert_eq!(revoked, [("t".to_owned(), 0, 6), ("t".to_owned(), 1, 3)]);
        parts.assign([("t", 0)]);
        assert!(parts.covered("t", 0, 6));
        let epoch = parts.epoch("t", 0).unwrap();
        assert_eq!(parts.handed_off("t", 0, 6, epoch), Store::Behind);
    }

    #[test]
    fn an_older_commit_does_not_clear_a_newer_stored_offset() {
        let mut parts = Partitions::default();
        parts.assign([("t", 0)]);
        let epoch = parts.epoch("t", 0).unwrap();
        parts.handed_off("t", 0, 20, epoch);
        parts.committed("t", 0, 15);
        assert_eq!(parts.uncommitted(), [("t".to_owned(), 0, 21)]);
        parts.committed("t", 0, 21);
        assert!(parts.uncommitted().is_empty());
    }
}
