//! Export and restore: a restart resumes exactly where the graph stopped.

use super::*;
use crate::graph::{GraphState, RestoreError};
use crate::model::SpanKind::*;

/// A workload with every kind of state: paired edges, a pending client,
/// a pending root server, a pending waiter, versions, open windows.
fn first_half() -> SpanBatch {
    let (a, b, db) = (
        versioned("a", "1", "a-1"),
        versioned("b", "2", "b-1"),
        resource("c"),
    );
    batch(&[
        (&a, SpanSpec::new(Client, 1, 1).at(0, 50)),
        (&b, SpanSpec::new(Server, 1, 2).parent(1).at(5, 40).error()),
        (
            &a,
            SpanSpec::new(Client, 2, 1)
                .at(100, 300)
                .peer(|p| p.db_system = boxed("mysql")),
        ),
        (&b, SpanSpec::new(Server, 3, 1).at(1_000, 1_200)),
        (&db, SpanSpec::new(Server, 4, 2).parent(1).at(2_000, 2_100)),
        (&a, SpanSpec::new(Producer, 5, 1).at(2_000, 2_001)),
    ])
}

fn second_half() -> Vec<SpanBatch> {
    let (a, c, d) = (versioned("a", "1", "a-1"), resource("c"), resource("d"));
    vec![
        batch(&[(&a, SpanSpec::new(Client, 4, 1).at(1_900, 2_200))]),
        batch(&[(
            &d,
            SpanSpec::new(Consumer, 6, 1).at(2_500, 2_600).link(5, 1),
        )]),
        batch(&[(&c, SpanSpec::new(Internal, 9, 9).at(0, 45_000))]),
    ]
}

#[test]
fn state_round_trips_through_json() {
    let settings = settings();
    let mut graph = Graph::new(&settings);
    graph.observe(&first_half());
    let state = graph.export_state();
    let json = serde_json::to_string(&state).unwrap();
    let parsed: GraphState = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed, state);
    let restored = Graph::restore(&settings, parsed).unwrap();
    assert_eq!(restored.export_state(), state);
    assert_eq!(restored.snapshot(), graph.snapshot());
    assert_eq!(restored.pending(), graph.pending());
    assert_eq!(restored.watermark(), graph.watermark());
    assert_eq!(restored.totals(), graph.totals());
}

#[test]
fn a_restored_graph_continues_exactly_like_an_uninterrupted_one() {
    let settings = settings();
    let mut uninterrupted = Graph::new(&settings);
    let mut restarted = Graph::new(&settings);
    uninterrupted.observe(&first_half());
    restarted.observe(&first_half());
    let json = serde_json::to_vec(&restarted.export_state()).unwrap();
    let mut restarted = Graph::restore(&settings, serde_json::from_slice(&json).unwrap()).unwrap();
    for b in second_half() {
        uninterrupted.observe(&b);
        restarted.observe(&b);
    }
    let mut a = uninterrupted.take_closed_windows();
    let mut b = restarted.take_closed_windows();
    assert!(!a.is_empty());
    a.extend(uninterrupted.finish());
    b.extend(restarted.finish());
    assert_eq!(a, b);
    assert_eq!(uninterrupted.snapshot(), restarted.snapshot());
    let snapshot = restarted.snapshot();
    assert_eq!(
        edges(&snapshot),
        [
            e("a", "b", "", 1, 1),
            e("a", "c", "", 1, 0),
            e("a", "d", "messaging_system", 1, 0),
            e("a", "mysql", "database", 1, 0),
            e("user", "b", "virtual_node", 1, 0),
        ]
    );
}

#[test]
fn restore_refuses_changed_windows_or_buckets() {
    let mut graph = Graph::new(&settings());
    graph.observe(&first_half());
    let state = graph.export_state();
    let window = settings_with(|c| c.window_secs = 30);
    assert_eq!(
        Graph::restore(&window, state.clone()).unwrap_err(),
        RestoreError::WindowChanged { was_ns: 10 * SEC }
    );
    let buckets = settings_with(|c| c.histogram_buckets = vec![1.0]);
    assert_eq!(
        Graph::restore(&buckets, state).unwrap_err(),
        RestoreError::BucketsChanged
    );
}

#[test]
fn corrupt_state_is_an_error_not_a_panic() {
    let mut graph = Graph::new(&settings());
    graph.observe(&first_half());
    let mut json: serde_json::Value = serde_json::to_value(graph.export_state()).unwrap();
    json["halves"][0]["key"] = "zz".into();
    let state: GraphState = serde_json::from_value(json).unwrap();
    assert!(matches!(
        Graph::restore(&settings(), state),
        Err(RestoreError::Invalid(_))
    ));
}

#[test]
fn the_streamed_encoding_is_the_exported_state() {
    let settings = settings();
    let mut graph = Graph::new(&settings);
    let empty = GraphState::decode(&graph.encode_state().unwrap()).unwrap();
    assert_eq!(empty, graph.export_state());
    graph.observe(&first_half());
    for b in second_half() {
        graph.observe(&b);
    }
    let state = graph.export_state();
    let streamed = graph.encode_state().unwrap();
    assert_eq!(GraphState::decode(&streamed).unwrap(), state);
    // Byte for byte the same as encoding the built state.
    assert_eq!(streamed, state.encode().unwrap());
    // A buffer sized from the previous state changes nothing but its size.
    for capacity in [1, streamed.len(), 2 * streamed.len()] {
        let sized = graph.encode_state_sized(capacity).unwrap();
        assert_eq!(sized, streamed);
        assert_eq!(sized.capacity(), sized.len(), "shrunk to fit");
    }
}
