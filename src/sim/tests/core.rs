//! Determinism, OTLP validity, pairing structure, batching.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost::Message as _;

use super::*;

fn encoded(batches: &[ExportTraceServiceRequest]) -> Vec<Vec<u8>> {
    batches.iter().map(|b| b.encode_to_vec()).collect()
}

#[test]
fn same_seed_gives_byte_identical_batches_and_another_seed_differs() {
    let scenario = || preset("rollback", 30.0).unwrap().scenario;
    let mut a = sim(
        Topology::default_fleet(),
        Scenario {
            duration_secs: Some(60.0),
            ..scenario()
        },
        7,
        40.0,
    );
    let mut b = sim(
        Topology::default_fleet(),
        Scenario {
            duration_secs: Some(60.0),
            ..scenario()
        },
        7,
        40.0,
    );
    let mut c = sim(
        Topology::default_fleet(),
        Scenario {
            duration_secs: Some(60.0),
            ..scenario()
        },
        8,
        40.0,
    );
    let (a, b, c) = (
        encoded(&run(&mut a)),
        encoded(&run(&mut b)),
        encoded(&run(&mut c)),
    );
    assert!(a.len() > 50, "{} batches", a.len());
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn batches_decode_as_otlp_with_valid_ids_times_and_resources() {
    let mut s = sim(
        Topology::default_fleet(),
        Scenario::steady(Some(30.0)),
        1,
        50.0,
    );
    let batches = run(&mut s);
    let mut spans = 0usize;
    for b in &batches {
        let decoded = ExportTraceServiceRequest::decode(b.encode_to_vec().as_slice()).unwrap();
        assert_eq!(&decoded, b);
        assert!(!decoded.resource_spans.is_empty(), "no empty envelopes");
    }
    for f in flatten(&batches) {
        spans += 1;
        let sp = &f.span;
        assert_eq!(sp.trace_id.len(), 16);
        assert_eq!(sp.span_id.len(), 8);
        assert!(sp.trace_id.iter().any(|b| *b != 0) && sp.span_id.iter().any(|b| *b != 0));
        assert!(
            sp.parent_span_id.is_empty()
                || (sp.parent_span_id.len() == 8 && sp.parent_span_id.iter().any(|b| *b != 0))
        );
        assert!(sp.end_time_unix_nano >= sp.start_time_unix_nano);
        assert!(sp.start_time_unix_nano >= START.nanos());
        assert!((1..=5).contains(&sp.kind), "kind {}", sp.kind);
        for key in [
            "service.name",
            "service.namespace",
            "service.version",
            "service.instance.id",
        ] {
            assert!(!f.res(key).is_empty(), "{key} missing");
        }
        assert!(
            !f.res("deployment.environment.name").is_empty()
                || !f.res("deployment.environment").is_empty()
        );
    }
    assert_eq!(spans as u64, s.stats().spans_emitted);
    assert_eq!(s.stats().spans_emitted, s.stats().spans_generated);
    assert_eq!(s.truth().spans, s.stats().spans_generated);
}

#[test]
fn every_instrumented_client_span_has_its_server_span_and_consumers_link_to_producers() {
    let mut s = sim(
        Topology::default_fleet(),
        Scenario::steady(Some(40.0)),
        3,
        40.0,
    );
    let flat = flatten(&run(&mut s));
    let by_parent: HashMap<(Vec<u8>, Vec<u8>), &Flat> = flat
        .iter()
        .map(|f| ((f.span.trace_id.clone(), f.span.parent_span_id.clone()), f))
        .collect();
    let by_id: HashMap<(Vec<u8>, Vec<u8>), &Flat> = flat
        .iter()
        .map(|f| ((f.span.trace_id.clone(), f.span.span_id.clone()), f))
        .collect();
    let (mut instrumented, mut leaves) = (0, 0);
    for f in flat.iter().filter(|f| f.span.kind == 3) {
        let db = f
            .attr("db.system.name")
            .or_else(|| f.attr("db.system"))
            .is_some();
        let ext = f
            .attr("peer.service")
            .or_else(|| f.attr("service.peer.name"))
            .is_some();
        if db || ext {
            leaves += 1;
            assert!(!by_parent.contains_key(&(f.span.trace_id.clone(), f.span.span_id.clone())));
            continue;
        }
        instrumented += 1;
        let server = by_parent
            .get(&(f.span.trace_id.clone(), f.span.span_id.clone()))
            .unwrap_or_else(|| panic!("client span {} has no server span", f.span.name));
        assert_eq!(server.span.kind, 2);
        assert_ne!(server.res("service.name"), f.res("service.name"));
        // The client span wraps the server span.
        assert!(f.span.start_time_unix_nano <= server.span.start_time_unix_nano);
        assert!(f.span.end_time_unix_nano >= server.span.end_time_unix_nano);
        assert_eq!(
            f.is_error(),
            server.is_error(),
            "errors propagate to the client span"
        );
    }
    assert!(
        instrumented > 1000 && leaves > 1000,
        "{instrumented} {leaves}"
    );
    // Default fleet: accounting consumes `orders` through span links only.
    let consumers: Vec<&Flat> = flat.iter().filter(|f| f.span.kind == 5).collect();
    assert!(!consumers.is_empty());
    for c in consumers {
        assert!(c.span.parent_span_id.is_empty());
        let link = &c.span.links[0];
        let producer = by_id
            .get(&(link.trace_id.clone(), link.span_id.clone()))
            .expect("linked producer");
        assert_eq!(producer.span.kind, 4);
        assert_eq!(producer.res("service.name"), "checkout");
        assert!(c.span.start_time_unix_nano >= producer.span.end_time_unix_nano);
    }
}

#[test]
fn parent_mode_consumers_are_children_of_the_producer() {
    let mut t = Topology::default_fleet();
    t.topics[0].link_mode = LinkMode::Both;
    let mut s = sim(t, Scenario::steady(Some(30.0)), 3, 40.0);
    let flat = flatten(&run(&mut s));
    let ids: HashMap<(Vec<u8>, Vec<u8>), &Flat> = flat
        .iter()
        .map(|f| ((f.span.trace_id.clone(), f.span.span_id.clone()), f))
        .collect();
    let consumers: Vec<_> = flat.iter().filter(|f| f.span.kind == 5).collect();
    assert!(!consumers.is_empty());
    for c in consumers {
        let parent = ids[&(c.span.trace_id.clone(), c.span.parent_span_id.clone())];
        assert_eq!(parent.span.kind, 4);
        assert_eq!(c.span.links[0].span_id, parent.span.span_id);
    }
}

#[test]
fn batches_mix_services_split_traces_and_advance_in_event_time() {
    let mut s = sim(
        Topology::default_fleet(),
        Scenario::steady(Some(30.0)),
        5,
        60.0,
    );
    let mut batches = Vec::new();
    let mut last = s.simulated_until();
    while let Some(b) = s.next_batch() {
        let until = s.simulated_until();
        assert!(until >= last, "horizon went back");
        last = until;
        batches.push(b);
    }
    let flat = flatten(&batches);
    let mut batches_of_trace: BTreeMap<Vec<u8>, BTreeSet<usize>> = BTreeMap::new();
    let mut services_of_batch: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for f in &flat {
        batches_of_trace
            .entry(f.span.trace_id.clone())
            .or_default()
            .insert(f.batch);
        services_of_batch
            .entry(f.batch)
            .or_default()
            .insert(f.res("service.name").to_owned());
    }
    let split = batches_of_trace.values().filter(|b| b.len() > 1).count();
    assert!(
        split * 4 > batches_of_trace.len(),
        "only {split} of {} traces span batches",
        batches_of_trace.len()
    );
    let mixed = services_of_batch.values().filter(|s| s.len() >= 5).count();
    assert!(
        mixed * 2 > services_of_batch.len(),
        "batches rarely mix services"
    );
    assert!(s.simulated_until().nanos() >= START.nanos() + 30 * Timestamp::SECOND);
}

#[test]
fn max_batch_spans_caps_every_batch() {
    let opts = BatchOptions {
        max_batch_spans: 100,
        ..BatchOptions::default()
    };
    let mut s = Simulator::with_options(
        Topology::default_fleet(),
        Scenario::steady(Some(10.0)),
        1,
        START,
        100.0,
        opts,
    )
    .unwrap();
    let batches = run(&mut s);
    assert!(batches.iter().all(|b| span_count(b) <= 100));
    assert!(batches.iter().filter(|b| span_count(b) == 100).count() > 5);
    assert_eq!(
        batches.iter().map(span_count).sum::<usize>() as u64,
        s.stats().spans_generated
    );
}

#[test]
fn ground_truth_matches_the_topology_and_the_output() {
    let t = Topology::default_fleet();
    let expected = t.expected_edges();
    let mut s = sim(t, Scenario::steady(Some(60.0)), 11, 50.0);
    let flat = flatten(&run(&mut s));
    let truth = s.truth();
    let has = |c: &str, srv: &str, ct| {
        expected
            .iter()
            .any(|e| e.client == c && e.server == srv && e.connection_type == ct)
    };
    assert!(has(
        "user",
        "frontend",
        crate::model::ConnectionType::VirtualNode
    ));
    assert!(has(
        "frontend",
        "checkout",
        crate::model::ConnectionType::Direct
    ));
    assert!(has(
        "checkout",
        "accounting",
        crate::model::ConnectionType::MessagingSystem
    ));
    assert!(has(
        "catalog",
        "catalog-postgres",
        crate::model::ConnectionType::Database
    ));
    assert!(has(
        "payment",
        "payment-provider",
        crate::model::ConnectionType::VirtualNode
    ));
    // Every generated edge is expected, and at 50 rps for a minute every expected edge occurs.
    let generated: BTreeSet<&ExpectedEdge> = truth.edges.iter().map(|e| &e.edge).collect();
    assert_eq!(generated, expected.iter().collect::<BTreeSet<_>>());
    // Truth per version equals what the spans say.
    let from_spans = served(&flat);
    for v in &truth.versions {
        let (req, err) = from_spans[&(v.service.clone(), v.version.clone())];
        assert_eq!(
            (v.count.requests, v.count.failed),
            (req, err),
            "{}",
            v.service
        );
    }
    let frontend = truth.edge("user", "frontend").unwrap();
    assert!(frontend.requests > 2_500 && frontend.failed < frontend.requests / 20);
}

#[test]
fn generated_fleets_produce_traffic_across_many_services() {
    let t = Topology::generated(500, 9);
    let mut s = sim(t, Scenario::steady(Some(20.0)), 9, 200.0);
    let flat = flatten(&run(&mut s));
    let services: BTreeSet<&str> = flat.iter().map(|f| f.res("service.name")).collect();
    let mut by_prefix = std::collections::BTreeMap::new();
    for s in &services {
        *by_prefix.entry(s.split('-').next().unwrap()).or_insert(0) += 1;
    }
    assert!(
        services.len() > 300,
        "{} services seen {by_prefix:?}",
        services.len()
    );
    let per_trace = flat.len() as f64 / s.stats().traces as f64;
    assert!(
        (3.0..200.0).contains(&per_trace),
        "{per_trace} spans per trace"
    );
}

#[test]
fn deprecated_services_use_old_attribute_names_and_others_current_ones() {
    let mut s = sim(
        Topology::default_fleet(),
        Scenario::steady(Some(20.0)),
        2,
        40.0,
    );
    let flat = flatten(&run(&mut s));
    let currency = flat
        .iter()
        .find(|f| f.res("service.name") == "currency")
        .unwrap();
    assert!(
        currency.attr("rpc.grpc.status_code").is_some() && currency.attr("rpc.system").is_some()
    );
    assert!(currency.resource.contains_key("deployment.environment"));
    let cart_db = flat
        .iter()
        .find(|f| f.res("service.name") == "cart" && f.span.kind == 3)
        .unwrap();
    assert_eq!(cart_db.attr("db.system.name").as_deref(), Some("redis"));
    assert!(cart_db.attr("db.system").is_none());
    let frontend = flat
        .iter()
        .find(|f| f.res("service.name") == "frontend" && f.span.kind == 2)
        .unwrap();
    assert!(
        frontend.attr("http.request.method").is_some() && frontend.attr("http.route").is_some()
    );
    assert!(frontend.attr("http.response.status_code").is_some());
}

#[test]
fn invalid_topologies_report_every_problem() {
    let mut t = Topology::default_fleet();
    t.services[0].operations[0].error_ratio = 2.0;
    t.services[1].instances.clear();
    if let Some(call) = t.services[2].operations[0].calls.first_mut() {
        call.target = CallTarget::Service {
            service: "nope".into(),
            operation: "x".into(),
        };
    }
    let err = Simulator::new(t, Scenario::steady(None), 1, START, 1.0).unwrap_err();
    let SimError::Invalid(problems) = err;
    assert_eq!(problems.len(), 3, "{problems:?}");
    let scenario = Scenario::steady(None).at(
        1.0,
        ScenarioEvent::Rollout(Rollout::gradual("ghost", "1", 1, 0.0)),
    );
    assert!(Simulator::new(Topology::default_fleet(), scenario, 1, START, 1.0).is_err());
    assert!(
        Simulator::new(
            Topology::default_fleet(),
            Scenario::steady(None),
            1,
            START,
            f64::NAN
        )
        .is_err()
    );
}
