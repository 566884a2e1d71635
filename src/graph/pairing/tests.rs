//! Tests of the pairing store.

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
    assert_eq!(store.waiter_registrations(), 2);
    store.pop_expired(Some(Timestamp(16)));
    let slot = store.find(&key(2)).unwrap();
    assert_eq!(store.take_waiters(&target).unwrap().as_slice(), &[slot]);
    store.insert(
        key(3),
        half(SpanKind::Server, 6, Targets::One(target)),
        &[target],
    );
    store.pop_expired(None);
    store.pop_expired(None);
    assert_eq!(store.waiter_registrations(), 0);
}

#[test]
fn paired_halves_leave_the_unpaired_count() {
    let mut store = PairingStore::new(10, 8);
    store.insert(key(1), half(SpanKind::Client, 5, Targets::None), &[]);
    assert_eq!(store.unpaired(), 1);
    let slot = store.find(&key(1)).unwrap();
    store.mark_paired(slot);
    store.mark_paired(slot);
    assert_eq!(store.unpaired(), 0);
    assert!(store.get(&key(1)).unwrap().paired);
    store.insert(key(2), half(SpanKind::Client, 6, Targets::None), &[]);
    // The paired half expires silently; the unpaired one is returned.
    assert_eq!(store.pop_expired(None).unwrap().0, key(2));
    assert_eq!((store.len(), store.unpaired()), (0, 0));
}

#[test]
fn slots_are_reused_and_old_keys_are_gone() {
    let mut store = PairingStore::new(10, 2);
    store.insert(key(1), half(SpanKind::Client, 5, Targets::None), &[]);
    let slot = store.find(&key(1)).unwrap();
    assert_eq!(store.pop_expired(None).unwrap().0, key(1));
    assert!(store.get(&key(1)).is_none());
    store.insert(key(2), half(SpanKind::Server, 5, Targets::None), &[]);
    assert_eq!(store.find(&key(2)), Some(slot));
    assert!(store.get(&key(1)).is_none());
    assert_eq!(store.half(slot).kind, SpanKind::Server);
}

mod memory {
    use super::*;

    #[test]
    fn a_held_half_costs_about_170_bytes() {
        // Slab entry (key + half) + flag byte + index slot + expiry queue
        // entry; the 500 000 default `max_pending_spans` therefore bounds the
        // store to ~85 MB (plus hash-table slack).
        let entry =
            size_of::<Held>() + 1 + size_of::<u64>() + size_of::<crate::graph::expiry::Entry>();
        eprintln!("held half: {entry} bytes");
        assert!(entry <= 176, "{entry} bytes");
    }
}

#[test]
fn a_paired_half_forgets_its_fallback() {
    let mut store = PairingStore::new(10, 8);
    let mut client = half(SpanKind::Client, 5, Targets::None);
    client.fallback = Fallback::Virtual {
        name: "db".into(),
        kind: crate::model::NodeKind::Database,
        database: true,
    };
    store.insert(key(1), client, &[]);
    let slot = store.find(&key(1)).unwrap();
    store.mark_paired(slot);
    let held = store.half(slot);
    assert!(held.paired);
    assert_eq!(held.fallback, Fallback::Unpaired);
}

#[test]
fn many_halves_are_found_after_the_index_grows_and_churns() {
    // Growth and in-place rehashes use the hash kept in each index entry.
    let mut store = PairingStore::new(10, 100_000);
    let key_n = |n: u32| key_of(&TraceId([2; 16]), &SpanId(u64::from(n).to_le_bytes()));
    for n in 0..20_000u32 {
        store.insert(
            key_n(n),
            half(SpanKind::Client, u64::from(n / 1000), Targets::None),
            &[],
        );
    }
    // Expire the first half, then insert as many new ones (tombstones, rehash).
    while store.pop_expired(Some(Timestamp(21))).is_some() {}
    for n in 20_000..30_000u32 {
        store.insert(key_n(n), half(SpanKind::Client, 30, Targets::None), &[]);
    }
    assert_eq!(store.len(), 30_000 - 11_000);
    assert!((0..11_000).all(|n| store.find(&key_n(n)).is_none()));
    assert!((11_000..30_000).all(|n| {
        store
            .get(&key_n(n))
            .is_some_and(|h| h.end.0 >= n as u64 / 1000)
    }));
}
