//! How the attribution history stores a window's rows: a 4-byte key id per
//! row, and the rows' stats one after the other in row order, a stats equal
//! to one written before in the same window replaced by a back-reference.
//!
//! A window of the 5,000-service fleet has ≈35,000 rows the history reads
//! and ≈17,000 distinct stats (a service with one version has the stats of
//! that version, an edge with one caller version those of its split).
//! Kept as a [`KeptWindow`](super::kept::KeptWindow) a row cost 12 bytes (an
//! 8-byte key pointer and a 4-byte offset to its stats) besides the stats;
//! here it costs the 4-byte id and, when its stats repeat, a back-reference
//! of 2–4 bytes. Stats are read in row order (a service's rows are one
//! run, read together), so no per-row offset is needed; each run (scope)
//! records where its first stats start.
//!
//! Never does: change a value; it is storage.

use std::collections::HashMap;
use std::sync::Arc;

use prost::encoding::{decode_varint, encode_varint};

use super::kept::codec::{self, UNUSED_FLAG};
use crate::model::{SeriesKey, SeriesStats};

/// Marks a back-reference: the flag byte, then the distance back (in bytes,
/// varint) from the marker to the stats it repeats.
const SAME_AS: u8 = UNUSED_FLAG;

/// Interned keys of the windows the history holds, by a 4-byte id; an id
/// is freed (and reused) when no window holds its key any more.
#[derive(Debug, Default)]
pub(crate) struct KeyTable {
    keys: Vec<Option<Arc<SeriesKey>>>,
    /// Windows holding each id.
    uses: Vec<u32>,
    ids: HashMap<Arc<SeriesKey>, u32>,
    free: Vec<u32>,
}

impl KeyTable {
    /// The id of `key`, counted as held once more.
    pub(crate) fn hold(&mut self, key: &Arc<SeriesKey>) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            self.uses[id as usize] += 1;
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.keys[id as usize] = Some(key.clone());
                self.uses[id as usize] = 1;
                id
            }
            None => {
                self.keys.push(Some(key.clone()));
                self.uses.push(1);
                u32::try_from(self.keys.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.ids.insert(key.clone(), id);
        id
    }

    /// Counts `id` as held once less, freeing it at zero.
    pub(crate) fn release(&mut self, id: u32) {
        let Some(uses) = self.uses.get_mut(id as usize) else {
            return;
        };
        *uses = uses.saturating_sub(1);
        if *uses == 0
            && let Some(key) = self.keys[id as usize].take()
        {
            self.ids.remove(&key);
            self.free.push(id);
        }
    }

    /// The key of a held id (ids come only from [`KeyTable::hold`]).
    pub(crate) fn get(&self, id: u32) -> &SeriesKey {
        match self.keys.get(id as usize) {
            Some(Some(key)) => key,
            // A window only holds ids it was given and has not released.
            _ => unreachable!("history key id {id} is not held"),
        }
    }

    /// Ids in use.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Bytes of the table itself (the keys are shared with the journal).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.capacity() * size_of::<Option<Arc<SeriesKey>>>()
            + self.uses.capacity() * size_of::<u32>()
            + self.ids.capacity() * (size_of::<(Arc<SeriesKey>, u32)>() + 1)
            + self.free.capacity() * size_of::<u32>()
    }
}

/// The rows of one window: ids and stats in row order.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    pub(crate) ids: Box<[u32]>,
    /// Each row's stats, or a back-reference, in row order.
    pub(crate) bytes: Box<[u8]>,
}

impl Rows {
    /// Bytes held (keys aside).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.ids.len() * size_of::<u32>() + self.bytes.len()
    }

    /// The stats at byte `at`, and the byte after them.
    pub(crate) fn read(&self, at: usize) -> (SeriesStats, usize) {
        let bytes = &self.bytes[..];
        let mut rest = bytes.get(at..).unwrap_or_default();
        if rest.first() == Some(&SAME_AS) {
            rest = &rest[1..];
            let back = decode_varint(&mut rest).unwrap_or(0) as usize;
            let next = bytes.len() - rest.len();
            let stats = at
                .checked_sub(back)
                .map_or_else(SeriesStats::default, |from| codec::decode(&bytes[from..]));
            return (stats, next);
        }
        let stats = codec::take(&mut rest);
        (stats, bytes.len() - rest.len())
    }
}

/// Builds [`Rows`] row by row.
#[derive(Debug, Default)]
pub(crate) struct RowsBuilder {
    ids: Vec<u32>,
    bytes: Vec<u8>,
    /// Where each distinct stats was written, by its place in the source.
    written: HashMap<u32, u32>,
}

impl RowsBuilder {
    /// Appends a row: its key id, and its stats as encoded in the source
    /// window at `source` (equal stats share a `source`).
    pub(crate) fn push(&mut self, id: u32, (source, encoded): (u32, &[u8])) {
        self.ids.push(id);
        let here = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        match self.written.get(&source) {
            Some(&at) => {
                self.bytes.push(SAME_AS);
                encode_varint(u64::from(here - at), &mut self.bytes);
            }
            None => {
                self.written.insert(source, here);
                self.bytes.extend_from_slice(encoded);
            }
        }
    }

    /// Byte offset of the next row's stats.
    pub(crate) fn position(&self) -> u32 {
        u32::try_from(self.bytes.len()).unwrap_or(u32::MAX)
    }

    /// Rows pushed so far.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn finish(self) -> Rows {
        Rows {
            ids: self.ids.into(),
            bytes: self.bytes.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LatencySummary;

    fn key(service: &str) -> Arc<SeriesKey> {
        Arc::new(SeriesKey::Service {
            environment: "prod".into(),
            service: service.into(),
        })
    }

    fn stats(requests: u64, p50: f64) -> SeriesStats {
        SeriesStats {
            requests,
            errors: 1,
            latency: LatencySummary {
                count: requests,
                sum: p50 * requests as f64,
                p50,
                p95: p50 * 2.0,
                p99: 0.1 + 0.2,
                max: 12.5,
            },
            instances: 2,
        }
    }

    #[test]
    fn ids_are_reused_only_once_no_window_holds_them() {
        let mut table = KeyTable::default();
        let (a, b) = (key("a"), key("b"));
        let first = table.hold(&a);
        assert_eq!(table.hold(&Arc::new((*a).clone())), first, "by content");
        let second = table.hold(&b);
        assert_ne!(first, second);
        table.release(first);
        assert_eq!(table.get(first), &*a, "still held once");
        table.release(first);
        assert_eq!(table.len(), 1);
        let third = table.hold(&key("c"));
        assert_eq!(third, first, "the freed id is reused");
        assert_eq!(table.get(third), &*key("c"));
        assert_eq!(table.get(second), &*b);
    }

    #[test]
    fn rows_read_back_their_stats_in_order_repeats_by_reference() {
        let distinct = [stats(5, 0.001), stats(7, 0.25), stats(0, 0.0)];
        let mut source = Vec::new();
        let starts: Vec<u32> = distinct
            .iter()
            .map(|s| {
                let at = source.len() as u32;
                codec::encode(s, &mut source);
                at
            })
            .collect();
        let encoded = |n: usize| {
            let at = starts[n] as usize;
            (
                starts[n],
                &source[at..at + codec::encoded_len(&source[at..])],
            )
        };
        let order = [0, 1, 0, 2, 1, 1];
        let mut builder = RowsBuilder::default();
        for (id, &n) in order.iter().enumerate() {
            builder.push(id as u32, encoded(n));
        }
        assert_eq!(builder.len(), order.len());
        let rows = builder.finish();
        let mut at = 0;
        for &n in &order {
            let (read, next) = rows.read(at);
            assert_eq!(read, distinct[n]);
            at = next;
        }
        assert_eq!(at, rows.bytes.len());
        // Three distinct stats written once, three repeats of 2 bytes.
        assert_eq!(rows.bytes.len(), source.len() + 3 * 2);
    }
}
