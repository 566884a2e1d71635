//! Tests of the state store (see `persist.rs`).

use super::*;

#[test]
fn state_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.get("graph").unwrap(), None);
        store.put("graph", b"v1").unwrap();
        store.put("graph", b"v2").unwrap();
    }
    let store = StateStore::open(dir.path()).unwrap();
    assert_eq!(store.get("graph").unwrap().as_deref(), Some(&b"v2"[..]));
}

#[test]
fn several_blobs_are_replaced_together_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    store.put_all(&[("a", b"1"), ("b", b"1")]).unwrap();
    // A transaction that is never committed (the process died) leaves
    // the previous values.
    {
        let txn = store.db.begin_write().unwrap();
        let mut table = txn.open_table(STATE).unwrap();
        table.insert("a", &b"2"[..]).unwrap();
        drop(table);
        drop(txn);
    }
    assert_eq!(store.get("a").unwrap().as_deref(), Some(&b"1"[..]));
    store.put_all(&[("a", b"3"), ("b", b"3")]).unwrap();
    drop(store);
    let store = StateStore::open(dir.path()).unwrap();
    assert_eq!(store.get("a").unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(store.get("b").unwrap().as_deref(), Some(&b"3"[..]));
}

/// A log item already encoded: (position, bytes).
#[derive(Debug)]
struct Part(u64, Vec<u8>);

impl LazyPart for Part {
    fn position(&self) -> u64 {
        self.0
    }

    fn encode(&self) -> std::io::Result<Vec<u8>> {
        Ok(self.1.clone())
    }
}

fn parts(items: &[(u64, &[u8])]) -> Vec<Arc<dyn LazyPart>> {
    items
        .iter()
        .map(|(at, bytes)| Arc::new(Part(*at, bytes.to_vec())) as Arc<dyn LazyPart>)
        .collect()
}

/// A part that cannot be encoded.
#[derive(Debug)]
struct Broken;

impl LazyPart for Broken {
    fn position(&self) -> u64 {
        40
    }

    fn encode(&self) -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::other("cannot encode"))
    }
}

fn log(store: &StateStore, name: &str) -> Vec<(u64, Vec<u8>)> {
    let mut items = Vec::new();
    store
        .read_log(name, |at, bytes| {
            items.push((at, bytes.to_vec()));
            true
        })
        .unwrap();
    items
}

#[test]
fn a_log_grows_by_parts_and_forgets_its_oldest_with_the_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    assert!(log(&store, "w").is_empty());
    let first = parts(&[(10, b"a"), (20, b"b")]);
    store
        .write(&Write {
            put: &[("head", b"1"), ("old", b"x")],
            log: Some(LogWrite {
                name: "w",
                keep_from: 0,
                append: &first,
            }),
            ..Write::default()
        })
        .unwrap();
    // Another log's items are apart.
    let other = parts(&[(15, b"o")]);
    store
        .write(&Write {
            log: Some(LogWrite {
                name: "v",
                keep_from: 0,
                append: &other,
            }),
            ..Write::default()
        })
        .unwrap();
    let second = parts(&[(5, b"too old"), (30, b"c")]);
    store
        .write(&Write {
            put: &[("head", b"2")],
            remove: &["old"],
            log: Some(LogWrite {
                name: "w",
                keep_from: 20,
                append: &second,
            }),
        })
        .unwrap();
    drop(store);
    let store = StateStore::open(dir.path()).unwrap();
    assert_eq!(
        log(&store, "w"),
        vec![(20, b"b".to_vec()), (30, b"c".to_vec())]
    );
    assert_eq!(log(&store, "v"), vec![(15, b"o".to_vec())]);
    assert_eq!(store.get("head").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(store.get("old").unwrap(), None);
}

#[test]
fn a_blob_stored_in_chunks_is_read_in_order_and_removed_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    store.put("whole", b"w").unwrap();
    assert_eq!(
        store.get_chunked("whole").unwrap(),
        Some(vec![b"w".to_vec()])
    );
    let chunks: Vec<Vec<u8>> = (0..12u8).map(|i| vec![i; 3]).collect();
    store.put_chunks("journal", &chunks);
    store.put_chunks("other", &[b"o".to_vec()]);
    assert_eq!(store.get_chunked("journal").unwrap(), Some(chunks));
    store
        .write(&Write {
            remove: &["journal", "whole"],
            ..Write::default()
        })
        .unwrap();
    assert_eq!(store.get_chunked("journal").unwrap(), None);
    assert_eq!(store.get_chunked("whole").unwrap(), None);
    assert_eq!(
        store.get_chunked("other").unwrap(),
        Some(vec![b"o".to_vec()])
    );
}

#[test]
fn an_alert_is_recorded_once_per_content() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    assert!(store.record_emitted("a1", 10, b"{v1}").unwrap());
    assert!(!store.record_emitted("a1", 10, b"{v1}").unwrap());
    assert!(
        store.record_emitted("a1", 20, b"{v2}").unwrap(),
        "an update"
    );
    assert!(store.record_emitted("a2", 20, b"{v1}").unwrap());
    drop(store);
    let store = StateStore::open(dir.path()).unwrap();
    assert!(!store.record_emitted("a1", 20, b"{v2}").unwrap(), "durable");
}

#[test]
fn the_ledger_forgets_alerts_a_week_older_than_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let day = 86_400 * 1_000_000_000u64;
    store.record_emitted("old", day, b"{}").unwrap();
    store.record_emitted("kept", 2 * day, b"{}").unwrap();
    // Updated later: its newer entry keeps it.
    store.record_emitted("updated", day, b"{v1}").unwrap();
    store.record_emitted("updated", 5 * day, b"{v2}").unwrap();
    assert_eq!(store.emitted_len().unwrap(), 3);
    store.record_emitted("new", 8 * day + 1, b"{}").unwrap();
    assert_eq!(store.emitted_len().unwrap(), 3, "only `old` is dropped");
    assert!(
        store.record_emitted("old", 8 * day, b"{}").unwrap(),
        "forgotten"
    );
    assert!(!store.record_emitted("kept", 2 * day, b"{}").unwrap());
    assert!(!store.record_emitted("updated", 5 * day, b"{v2}").unwrap());
}

#[test]
fn a_file_that_is_not_a_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(FILE_NAME), b"not a database at all").unwrap();
    assert!(StateStore::open(dir.path()).is_err());
}

#[test]
fn a_log_item_that_cannot_be_encoded_abandons_the_whole_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let append: Vec<Arc<dyn LazyPart>> = vec![Arc::new(Part(30, b"c".to_vec())), Arc::new(Broken)];
    let failed = store.write(&Write {
        put: &[("head", b"2")],
        log: Some(LogWrite {
            name: "w",
            keep_from: 0,
            append: &append,
        }),
        ..Write::default()
    });
    assert!(matches!(failed, Err(StoreError::Encode(_))));
    assert_eq!(store.get("head").unwrap(), None);
    assert!(log(&store, "w").is_empty());
}
