//! Unit tests of window recording and closing.

use super::*;

const W: u64 = 10;

fn key(service: &str) -> SeriesKey {
    SeriesKey::Service {
        environment: "".into(),
        service: service.into(),
    }
}

fn sample(latency_ns: u64) -> Sample<'static> {
    Sample {
        latency_ns,
        error: false,
        instance: None,
    }
}

#[test]
fn windows_close_ttl_after_their_end_and_in_order() {
    let mut windows = Windows::new(W, 5, 8);
    windows.record(Timestamp(3), key("a"), sample(1));
    windows.record(Timestamp(12), key("a"), sample(2));
    let mut out = Vec::new();
    assert_eq!(windows.close(Some(Timestamp(14)), &mut out).closed, 0);
    assert_eq!(windows.close(Some(Timestamp(15)), &mut out).closed, 1);
    assert_eq!((out[0].start, out[0].end), (Timestamp(0), Timestamp(10)));
    assert!(
        !windows.record(Timestamp(9), key("a"), sample(1)),
        "closed window"
    );
    assert_eq!(windows.close(None, &mut out).closed, 1);
    assert_eq!(out[1].start, Timestamp(10));
    assert_eq!(out[1].series[0].1.requests, 1);
}

#[test]
fn an_earlier_window_may_open_until_the_first_close() {
    let mut windows = Windows::new(W, 0, 8);
    windows.record(Timestamp(25), key("a"), sample(1));
    let mut out = Vec::new();
    windows.close(Some(Timestamp(15)), &mut out);
    assert!(windows.record(Timestamp(12), key("a"), sample(1)));
    windows.close(None, &mut out);
    let starts: Vec<u64> = out.iter().map(|w| w.start.0).collect();
    assert_eq!(starts, [10, 20]);
}

#[test]
fn empty_windows_between_data_are_emitted() {
    let mut windows = Windows::new(W, 0, 8);
    windows.record(Timestamp(1), key("a"), sample(1));
    windows.record(Timestamp(31), key("a"), sample(1));
    let mut out = Vec::new();
    windows.close(None, &mut out);
    let starts: Vec<u64> = out.iter().map(|w| w.start.0).collect();
    assert_eq!(starts, [0, 10, 20, 30]);
    assert!(out[1].series.is_empty());
}

#[test]
fn long_gaps_are_skipped_after_the_cap() {
    let mut windows = Windows::new(W, 0, 8);
    windows.record(Timestamp(1), key("a"), sample(1));
    let far = (MAX_EMPTY_WINDOWS + 1_000_000) * W;
    windows.record(Timestamp(far), key("a"), sample(1));
    let mut out = Vec::new();
    let counts = windows.close(None, &mut out);
    assert_eq!(counts.closed, MAX_EMPTY_WINDOWS + 2);
    assert_eq!(counts.skipped, 1_000_000 - 1);
    assert_eq!(out.last().unwrap().start, Timestamp(far));
}

#[test]
fn skipping_is_the_same_in_small_and_large_steps() {
    let run = |steps: &[u64]| {
        let mut windows = Windows::new(W, 0, 8);
        windows.record(Timestamp(1), key("a"), sample(1));
        let mut out = Vec::new();
        for step in steps {
            windows.close(Some(Timestamp(*step)), &mut out);
        }
        windows.record(Timestamp(5_000 * W + 1), key("a"), sample(1));
        windows.close(None, &mut out);
        out.iter()
            .map(|w| (w.start, w.series.len()))
            .collect::<Vec<_>>()
    };
    let small: Vec<u64> = (1..4_000).map(|i| i * W).collect();
    assert_eq!(run(&small), run(&[4_000 * W]));
}

#[test]
fn series_are_sorted_and_instances_counted() {
    let mut windows = Windows::new(W, 0, 8);
    let (i1, i2) = (Arc::from("i1"), Arc::from("i2"));
    for (service, instance) in [("b", &i1), ("a", &i1), ("a", &i2), ("a", &i1)] {
        windows.record(
            Timestamp(1),
            key(service),
            Sample {
                latency_ns: 1,
                error: service == "b",
                instance: Some(instance),
            },
        );
    }
    let mut out = Vec::new();
    windows.close(None, &mut out);
    let rows: Vec<(SeriesKey, u64, u64, u32)> = out[0]
        .series
        .iter()
        .map(|(k, s)| (k.clone(), s.requests, s.errors, s.instances))
        .collect();
    assert_eq!(rows, [(key("a"), 3, 0, 2), (key("b"), 1, 1, 1)]);
}

#[test]
fn borrowed_group_keys_hash_like_the_owned_tuples() {
    use std::hash::BuildHasher;
    let hasher = foldhash::fast::FixedState::with_seed(7);
    let service: group::ServiceKey = (Arc::from("prod"), Arc::from("checkout"));
    let view: (&str, &str) = ("prod", "checkout");
    assert_eq!(
        hasher.hash_one(&service),
        hasher.hash_one(&view as &dyn KeyView)
    );
    let edge: group::EdgeGroupKey = (Arc::from("prod"), Arc::from("a"), Arc::from("b"));
    let view: (&str, &str, &str) = ("prod", "a", "b");
    assert_eq!(
        hasher.hash_one(&edge),
        hasher.hash_one(&view as &dyn KeyView)
    );
    // And the maps find entries through the views.
    let mut window = Window::default();
    let mut pool = Vec::new();
    window
        .services
        .insert(service.clone(), ServiceGroup::new(&mut pool));
    assert!(
        window
            .services
            .contains_key(&("prod", "checkout") as &dyn KeyView)
    );
    assert!(
        !window
            .services
            .contains_key(&("prod", "cart") as &dyn KeyView)
    );
}

mod shared_aggregates {
    use proptest::prelude::*;

    use super::*;

    /// One recorded event: a server-side span or an edge request.
    #[derive(Clone, Debug)]
    struct Event {
        edge: bool,
        at: u64,
        a: usize,
        b: usize,
        c: usize,
        d: usize,
        latency_ns: u64,
        error: bool,
    }

    fn event() -> impl Strategy<Value = Event> {
        (
            any::<bool>(),
            0u64..3 * W,
            (0usize..2, 0usize..3, 0usize..3, 0usize..3),
            0u64..10_000_000,
            any::<bool>(),
        )
            .prop_map(|(edge, at, (a, b, c, d), latency_ns, error)| Event {
                edge,
                at,
                a,
                b,
                c,
                d,
                latency_ns,
                error,
            })
    }

    proptest! {
        /// Recording through the grouped, shared path gives exactly the rows
        /// of recording every series separately.
        #[test]
        fn grouped_recording_equals_separate_series(events in prop::collection::vec(event(), 0..120)) {
            let names: Vec<Arc<str>> = ["", "v1", "v2", "svc-a", "svc-b"].map(Arc::from).to_vec();
            let types = [ConnectionType::Direct, ConnectionType::Database, ConnectionType::VirtualNode];
            let env: Arc<str> = Arc::from("prod");
            let (mut grouped, mut separate) = (Windows::new(W, 0, 2), Windows::new(W, 0, 2));
            for e in &events {
                let sample = |instance| Sample { latency_ns: e.latency_ns, error: e.error, instance };
                let at = Timestamp(e.at);
                if e.edge {
                    let (client, server) = (&names[3 + e.a], &names[4 - e.a]);
                    let (client_version, server_version) = (&names[e.c], &names[e.d]);
                    grouped.record_edge(at, EdgeSample {
                        environment: &env,
                        client,
                        server,
                        connection_type: types[e.b],
                        client_version,
                        server_version,
                        latency_ns: e.latency_ns,
                        error: e.error,
                    });
                    for key in [
                        SeriesKey::Edge { environment: env.clone(), client: client.clone(), server: server.clone(), connection_type: types[e.b] },
                        SeriesKey::EdgeByClientVersion { environment: env.clone(), client: client.clone(), client_version: client_version.clone(), server: server.clone() },
                        SeriesKey::EdgeByServerVersion { environment: env.clone(), client: client.clone(), server: server.clone(), server_version: server_version.clone() },
                    ] {
                        separate.record(at, key, sample(None));
                    }
                } else {
                    let service = &names[3 + e.a];
                    let (version, operation, instance) = (&names[e.b], &names[e.c], &names[e.d]);
                    grouped.record_service(at, ServiceSample {
                        environment: &env,
                        service,
                        version,
                        operation,
                        instance,
                        latency_ns: e.latency_ns,
                        error: e.error,
                    });
                    let (environment, service) = (env.clone(), service.clone());
                    separate.record(at, SeriesKey::Service { environment: environment.clone(), service: service.clone() }, sample(Some(instance)));
                    separate.record(at, SeriesKey::ServiceVersion { environment: environment.clone(), service: service.clone(), version: version.clone() }, sample(Some(instance)));
                    separate.record(at, SeriesKey::Operation { environment, service, operation: operation.clone() }, sample(None));
                }
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            grouped.close(None, &mut a);
            separate.close(None, &mut b);
            prop_assert_eq!(a, b);
        }
    }
}
