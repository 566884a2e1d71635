//! Pairing rules: orders, batches, virtual nodes, databases, links, limits.

use super::*;
use crate::graph::{Expiry, HalfKind};
use crate::model::{NodeKind, SpanKind::*};

fn client_server() -> (ResourceInfo, ResourceInfo, SpanSpec, SpanSpec) {
    let (a, b) = (resource("frontend"), resource("checkout"));
    let client = SpanSpec::new(Client, 1, 1).at(0, 50);
    let server = SpanSpec::new(Server, 1, 2).parent(1).at(5, 40);
    (a, b, client, server)
}

#[test]
fn client_and_server_pair_in_either_order_and_across_batches() {
    let (a, b, client, server) = client_server();
    let orders = [
        vec![batch(&[(&a, client.clone()), (&b, server.clone())])],
        vec![batch(&[(&b, server.clone()), (&a, client.clone())])],
        vec![
            batch(&[(&a, client.clone())]),
            batch(&[(&b, server.clone())]),
        ],
        vec![
            batch(&[(&b, server.clone())]),
            batch(&[(&a, client.clone())]),
        ],
    ];
    for batches in orders {
        let mut graph = Graph::new(&settings());
        let paired: u64 = batches.iter().map(|b| graph.observe(b).edges_paired).sum();
        assert_eq!(paired, 1);
        let snapshot = graph.snapshot();
        assert_eq!(edges(&snapshot), [e("frontend", "checkout", "", 1, 0)]);
        let edge = edge(&snapshot, "frontend", "checkout");
        assert_eq!(edge.client_latency.sum, 0.05);
        assert_eq!(edge.server_latency.sum, 0.035);
        assert_eq!(edge.client_latency.exemplars[0].unwrap().0, trace(1));
        assert_eq!(snapshot.pairing.pending, 0);
    }
}

#[test]
fn a_failure_on_either_side_fails_the_edge() {
    let (a, b, client, server) = client_server();
    for (client, server) in [
        (client.clone().error(), server.clone()),
        (client, server.error()),
    ] {
        let mut graph = Graph::new(&settings());
        graph.observe(&batch(&[(&a, client), (&b, server)]));
        assert_eq!(
            edges(&graph.snapshot()),
            [e("frontend", "checkout", "", 1, 1)]
        );
    }
}

#[test]
fn halves_pair_only_when_their_ends_are_within_the_ttl() {
    let (a, b, client, _) = client_server();
    let server = SpanSpec::new(Server, 1, 2).parent(1).at(5, 10_051);
    let mut graph = Graph::new(&settings());
    graph.observe(&batch(&[(&b, server), (&a, client)]));
    assert!(graph.snapshot().edges.is_empty());
}

#[test]
fn root_server_spans_are_keyed_by_their_own_id_and_never_collide() {
    // Regression for the peers' `(trace, "")` key: alloy-static
    // unpaired-trace-sample keeps only the last root server of a trace.
    let (app, db) = (resource("app"), resource("db"));
    let spans = [
        (&app, SpanSpec::new(Server, 1, 1).at(0, 10)),
        (&app, SpanSpec::new(Server, 1, 2).at(0, 10)),
        (&db, SpanSpec::new(Server, 1, 3).at(0, 10)),
    ];
    let (graph, _) = run_finished(&settings(), &[batch(&spans)]);
    let snapshot = graph.snapshot();
    assert_eq!(
        edges(&snapshot),
        [
            e("user", "app", "virtual_node", 2, 0),
            e("user", "db", "virtual_node", 1, 0)
        ]
    );
    let user = snapshot.nodes.iter().find(|n| &*n.name == "user").unwrap();
    assert_eq!(user.kind, NodeKind::User);
    assert_eq!(
        graph
            .totals()
            .advance
            .expired
            .get(HalfKind::Server, Expiry::VirtualNode),
        3
    );
}

#[test]
fn a_root_server_with_a_peer_name_is_called_by_that_peer() {
    let svc = resource("internal-consumer");
    let consumer =
        SpanSpec::new(Consumer, 1, 1).peer(|p| p.peer_service = boxed("external-producer"));
    let (graph, _) = run_finished(&settings(), &[batch(&[(&svc, consumer)])]);
    assert_eq!(
        edges(&graph.snapshot()),
        [e(
            "external-producer",
            "internal-consumer",
            "virtual_node",
            1,
            0
        )]
    );
}

#[test]
fn unnamed_unpaired_clients_are_counted_and_never_become_unknown() {
    let svc = resource("mythical-server");
    let spans = [
        (&svc, SpanSpec::new(Client, 1, 1)),
        (
            &svc,
            SpanSpec::new(Client, 1, 2).peer(|p| p.server_address = boxed("")),
        ),
        (&svc, SpanSpec::new(Server, 1, 3).parent(99)), // caller lost: no user edge
    ];
    let (graph, _) = run_finished(&settings(), &[batch(&spans)]);
    let snapshot = graph.snapshot();
    assert!(snapshot.edges.is_empty(), "{:?}", edges(&snapshot));
    assert!(snapshot.nodes.iter().all(|n| &*n.name != "unknown"));
    let expired = graph.totals().advance.expired;
    assert_eq!(expired.get(HalfKind::Client, Expiry::Unpaired), 2);
    assert_eq!(expired.get(HalfKind::Server, Expiry::Unpaired), 1);
    assert_eq!(snapshot.pairing.unpaired, 3);
}

#[test]
fn unpaired_clients_become_their_named_peer() {
    let svc = resource("shop");
    let spans = [
        (
            &svc,
            SpanSpec::new(Client, 1, 1).peer(|p| p.peer_service = boxed("payments")),
        ),
        (
            &svc,
            SpanSpec::new(Client, 1, 2).peer(|p| {
                p.server_address = boxed("api.example.com");
                p.server_port = Some(443);
            }),
        ),
        (
            &svc,
            SpanSpec::new(Producer, 1, 3).peer(|p| {
                p.messaging_system = boxed("kafka");
                p.messaging_destination = boxed("orders");
            }),
        ),
    ];
    let (graph, _) = run_finished(&settings(), &[batch(&spans)]);
    let snapshot = graph.snapshot();
    assert_eq!(
        edges(&snapshot),
        [
            e("shop", "api.example.com:443", "virtual_node", 1, 0),
            e("shop", "kafka/orders", "virtual_node", 1, 0),
            e("shop", "payments", "virtual_node", 1, 0),
        ]
    );
    let kinds: Vec<(String, NodeKind)> = snapshot
        .nodes
        .iter()
        .map(|n| (n.name.to_string(), n.kind))
        .collect();
    assert!(kinds.contains(&("kafka/orders".into(), NodeKind::Messaging)));
    assert!(kinds.contains(&("payments".into(), NodeKind::External)));
    // The virtual server side copies the client latency.
    let edge = edge(&snapshot, "shop", "payments");
    assert_eq!(edge.server_latency.sum, edge.client_latency.sum);
}

#[test]
fn a_database_client_becomes_a_database_edge_when_nothing_answers() {
    let svc = resource("mythical-server");
    let query = SpanSpec::new(Client, 1, 1).at(0, 23).peer(|p| {
        p.db_namespace = boxed("postgres");
        p.db_system = boxed("postgresql");
    });
    let mut graph = Graph::new(&settings());
    graph.observe(&batch(&[(&svc, query)]));
    assert!(
        graph.snapshot().edges.is_empty(),
        "the database edge waits for the TTL"
    );
    graph.finish();
    let snapshot = graph.snapshot();
    assert_eq!(
        edges(&snapshot),
        [e("mythical-server", "postgres", "database", 1, 0)]
    );
    let edge = edge(&snapshot, "mythical-server", "postgres");
    assert_eq!(
        edge.server_latency.sum, 0.023,
        "server latency = client latency"
    );
    assert_eq!(
        graph
            .totals()
            .advance
            .expired
            .get(HalfKind::Client, Expiry::Database),
        1
    );
}

#[test]
fn a_database_flagged_client_never_overrides_a_real_server() {
    // Tempo's serverPeerSurvivesClientDatabaseUpdate quirk and OTel's
    // unconditional override both lose this real edge; we keep it.
    let (a, b) = (resource("svc-a"), resource("svc-b"));
    let client = SpanSpec::new(Client, 1, 1).peer(|p| {
        p.db_namespace = boxed("database");
        p.server_address = boxed("");
    });
    let server = SpanSpec::new(Server, 1, 2)
        .parent(1)
        .peer(|p| p.peer_service = boxed("external-peer"));
    for spans in [
        [(&b, server.clone()), (&a, client.clone())],
        [(&a, client.clone()), (&b, server.clone())],
    ] {
        let (graph, _) = run_finished(&settings(), &[batch(&spans)]);
        assert_eq!(edges(&graph.snapshot()), [e("svc-a", "svc-b", "", 1, 0)]);
    }
}

#[test]
fn a_server_span_with_database_attributes_is_not_a_database_call() {
    let (a, b) = (resource("foo-server"), resource("bar-requester"));
    let client = SpanSpec::new(Client, 1, 1).peer(|p| p.messaging_system = boxed("kafka"));
    let server = SpanSpec::new(Server, 1, 2)
        .parent(1)
        .peer(|p| p.db_system = boxed("postgresql"));
    let (graph, _) = run_finished(&settings(), &[batch(&[(&a, client), (&b, server)])]);
    assert_eq!(
        edges(&graph.snapshot()),
        [e("foo-server", "bar-requester", "", 1, 0)]
    );
}

#[test]
fn producer_and_consumer_pair_through_parent_or_links_with_fan_out() {
    let (orders, billing, audit) = (resource("orders"), resource("billing"), resource("audit"));
    let producer = SpanSpec::new(Producer, 1, 1).at(0, 2);
    // Billing links from another trace and arrives first; audit is a child.
    let linked = SpanSpec::new(Consumer, 2, 7).at(50, 80).link(1, 1);
    let child = SpanSpec::new(Consumer, 1, 8).parent(1).at(60, 70);
    let (graph, _) = run_finished(
        &settings(),
        &[
            batch(&[(&billing, linked)]),
            batch(&[(&orders, producer), (&audit, child)]),
        ],
    );
    assert_eq!(
        edges(&graph.snapshot()),
        [
            e("orders", "audit", "messaging_system", 1, 0),
            e("orders", "billing", "messaging_system", 1, 0),
        ]
    );
    assert_eq!(
        graph.totals().advance.expired,
        Default::default(),
        "nothing expired unpaired"
    );
}

#[test]
fn a_batch_consumer_pairs_with_each_linked_producer() {
    let (a, b, sink) = (
        resource("producer-a"),
        resource("producer-b"),
        resource("sink"),
    );
    let consumer = SpanSpec::new(Consumer, 9, 9)
        .at(20, 30)
        .link(1, 1)
        .link(2, 1)
        .link(3, 1);
    let spans = [
        (&sink, consumer),
        (&a, SpanSpec::new(Producer, 1, 1).at(0, 1)),
        (&b, SpanSpec::new(Producer, 2, 1).at(0, 1)),
    ];
    let (graph, _) = run_finished(&settings(), &[batch(&spans)]);
    assert_eq!(
        edges(&graph.snapshot()),
        [
            e("producer-a", "sink", "messaging_system", 1, 0),
            e("producer-b", "sink", "messaging_system", 1, 0)
        ]
    );
    // The third link never arrived, but the consumer paired: nothing unpaired.
    assert_eq!(graph.snapshot().pairing.unpaired, 0);
}

#[test]
fn expired_halves_are_counted_by_kind() {
    // Tempo TestServiceGraphs_expiredEdgesByUnmatchedSpanKind, our ids.
    let spans = [
        (&resource("client"), SpanSpec::new(Client, 1, 1)),
        (&resource("server"), SpanSpec::new(Server, 2, 2).parent(10)),
        (&resource("producer"), SpanSpec::new(Producer, 3, 3)),
        (
            &resource("consumer"),
            SpanSpec::new(Consumer, 4, 4).parent(11),
        ),
    ];
    let (graph, _) = run_finished(&settings(), &[batch(&spans)]);
    let expired = graph.totals().advance.expired;
    for kind in HalfKind::ALL {
        assert_eq!(expired.get(kind, Expiry::Unpaired), 1, "{kind:?}");
    }
    assert!(graph.snapshot().edges.is_empty());
}

#[test]
fn halves_expire_after_the_ttl_in_event_time() {
    let (a, b, client, _) = client_server();
    let mut graph = Graph::new(&settings());
    graph.observe(&batch(&[(
        &a,
        client.peer(|p| p.peer_service = boxed("x")),
    )]));
    assert_eq!(graph.pending(), 1);
    // ttl 10 s: expires once the watermark passes end + 10 s.
    let outcome = graph.advance_watermark(Timestamp(T0 + 50 * MS + 10 * SEC));
    assert_eq!(outcome.expired.total(Expiry::VirtualNode), 0);
    let outcome = graph.advance_watermark(Timestamp(T0 + 50 * MS + 10 * SEC + 1));
    assert_eq!(
        outcome.expired.get(HalfKind::Client, Expiry::VirtualNode),
        1
    );
    assert_eq!(graph.pending(), 0);
    let _ = b;
}

#[test]
fn repeated_spans_are_counted_once() {
    let (a, b, client, server) = client_server();
    let mut graph = Graph::new(&settings());
    let first = graph.observe(&batch(&[(&a, client.clone()), (&b, server.clone())]));
    let again = graph.observe(&batch(&[(&a, client), (&b, server)]));
    assert_eq!((first.duplicates, again.duplicates), (0, 2));
    assert_eq!(
        edges(&graph.snapshot()),
        [e("frontend", "checkout", "", 1, 0)]
    );
}

#[test]
fn shared_client_and_server_span_ids_pair_directly() {
    // Zipkin-style: one id for both sides of the call.
    let (a, b) = (resource("a"), resource("b"));
    let client = SpanSpec::new(Client, 1, 1).parent(5).at(0, 20);
    let server = SpanSpec::new(Server, 1, 1).parent(5).at(2, 18);
    let (graph, _) = run_finished(&settings(), &[batch(&[(&a, client), (&b, server)])]);
    assert_eq!(edges(&graph.snapshot()), [e("a", "b", "", 1, 0)]);
}

#[test]
fn a_full_store_rejects_new_halves_and_a_flood_cannot_evict_good_ones() {
    let settings = settings_with(|c| c.max_pending_spans = 10);
    let (a, b, client, server) = client_server();
    let mut graph = Graph::new(&settings);
    graph.observe(&batch(&[(&a, client)]));
    let flood: Vec<(&ResourceInfo, SpanSpec)> = (0..100)
        .map(|i| (&a, SpanSpec::new(Client, 500 + i, 1)))
        .collect();
    let outcome = graph.observe(&batch(&flood));
    assert_eq!(outcome.rejected_full, 91);
    assert_eq!(graph.held_halves(), 10);
    let outcome = graph.observe(&batch(&[(&b, server)]));
    assert_eq!(outcome.edges_paired, 1, "the good half survived the flood");
    assert_eq!(outcome.rejected_full, 1, "the server itself is not held");
    assert_eq!(graph.snapshot().pairing.dropped, 92);
}

#[test]
fn late_spans_are_counted_and_ignored() {
    let (a, b, client, server) = client_server();
    let mut graph = Graph::new(&settings());
    // Move the watermark to T0 + 20 s (lateness 10 s).
    graph.observe(&batch(&[(
        &a,
        SpanSpec::new(Internal, 7, 7).at(30_000, 30_000),
    )]));
    assert_eq!(graph.watermark(), Timestamp(T0 + 20 * SEC));
    let outcome = graph.observe(&batch(&[(&a, client), (&b, server)]));
    assert_eq!(outcome.late, 2);
    assert!(graph.snapshot().edges.is_empty());
    assert!(
        !graph
            .snapshot()
            .nodes
            .iter()
            .any(|n| &*n.name == "checkout")
    );
}

#[test]
fn node_and_edge_limits_drop_and_count() {
    let settings = settings_with(|c| {
        c.max_nodes = 2;
        c.max_edges = 1;
    });
    let (a, b, c) = (resource("a"), resource("b"), resource("c"));
    let spans = [
        (&a, SpanSpec::new(Client, 1, 1)),
        (&b, SpanSpec::new(Server, 1, 2).parent(1)),
        (&c, SpanSpec::new(Server, 1, 3).parent(1)), // a third node: dropped
        (&b, SpanSpec::new(Client, 2, 1)),
        (&a, SpanSpec::new(Server, 2, 2).parent(1)), // a second edge: dropped
    ];
    let mut graph = Graph::new(&settings);
    let outcome = graph.observe(&batch(&spans));
    assert_eq!(outcome.node_limit, 1);
    assert_eq!(outcome.edges_dropped.edge_limit, 1);
    assert_eq!(outcome.edges_paired, 1);
    assert_eq!(edges(&graph.snapshot()), [e("a", "b", "", 1, 0)]);
}

#[test]
fn operations_beyond_the_limit_become_other() {
    let settings = settings_with(|c| c.max_operations_per_service = 1);
    let svc = resource("svc");
    let spans = [
        (&svc, SpanSpec::new(Server, 1, 1).op("GET /a")),
        (&svc, SpanSpec::new(Server, 1, 2).op("GET /b")),
    ];
    let mut graph = Graph::new(&settings);
    assert_eq!(graph.observe(&batch(&spans)).operations_overflowed, 1);
}

#[test]
fn idle_edges_leave_the_live_graph() {
    let (a, b, client, server) = client_server();
    let mut graph = Graph::new(&settings());
    graph.observe(&batch(&[(&a, client), (&b, server)]));
    assert_eq!(graph.snapshot().edges.len(), 1);
    // Visible until last_seen + ttl (10 s) + idle (900 s).
    graph.advance_watermark(Timestamp(T0 + 50 * MS + 910 * SEC));
    assert_eq!(graph.snapshot().edges.len(), 1);
    let outcome = graph.advance_watermark(Timestamp(T0 + 50 * MS + 910 * SEC + 20 * SEC));
    assert_eq!(outcome.edges_removed_idle, 1);
    assert!(graph.snapshot().edges.is_empty());
    assert_eq!(graph.sizes(), (0, 0), "idle nodes without edges leave too");
}
