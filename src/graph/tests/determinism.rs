//! Property: the output does not depend on arrival order (within the
//! lateness bound) or batch boundaries.

use proptest::prelude::*;

use super::*;
use crate::model::SpanKind::{self, *};

const SERVICES: [&str; 5] = ["edge", "api", "orders", "billing", "search"];

/// One interaction, in its own trace.
#[derive(Clone, Debug)]
enum Call {
    Rpc {
        client: usize,
        server: usize,
        end_ms: u64,
        client_ms: u64,
        server_ms: u64,
        err: (bool, bool),
    },
    Database {
        client: usize,
        end_ms: u64,
        ms: u64,
        named: bool,
    },
    External {
        client: usize,
        end_ms: u64,
        ms: u64,
        named: bool,
    },
    Root {
        server: usize,
        end_ms: u64,
        ms: u64,
    },
    Message {
        producer: usize,
        consumer: usize,
        end_ms: u64,
        lag_ms: u64,
        linked: bool,
    },
    LostCaller {
        server: usize,
        end_ms: u64,
    },
}

fn call() -> impl Strategy<Value = Call> {
    let svc = 0..SERVICES.len();
    let end = 0u64..90_000;
    prop_oneof![
        4 => (svc.clone(), svc.clone(), end.clone(), 1u64..3_000, 0u64..2_000, any::<(bool, bool)>()).prop_map(
            |(client, server, end_ms, client_ms, server_ms, err)| Call::Rpc {
                client, server, end_ms, client_ms, server_ms: server_ms.min(client_ms), err,
            }
        ),
        1 => (svc.clone(), end.clone(), 1u64..500, any::<bool>())
            .prop_map(|(client, end_ms, ms, named)| Call::Database { client, end_ms, ms, named }),
        1 => (svc.clone(), end.clone(), 1u64..500, any::<bool>())
            .prop_map(|(client, end_ms, ms, named)| Call::External { client, end_ms, ms, named }),
        1 => (svc.clone(), end.clone(), 1u64..500).prop_map(|(server, end_ms, ms)| Call::Root { server, end_ms, ms }),
        1 => (svc.clone(), svc.clone(), end.clone(), 0u64..9_000, any::<bool>()).prop_map(
            |(producer, consumer, end_ms, lag_ms, linked)| Call::Message { producer, consumer, end_ms, lag_ms, linked }
        ),
        1 => (svc, end).prop_map(|(server, end_ms)| Call::LostCaller { server, end_ms }),
    ]
}

fn spans_of(calls: &[Call]) -> Vec<(usize, SpanSpec)> {
    let mut out = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let t = i as u16 + 1;
        let s = |kind: SpanKind, id: u16| SpanSpec::new(kind, t, id);
        match *c {
            Call::Rpc {
                client,
                server,
                end_ms,
                client_ms,
                server_ms,
                err,
            } => {
                let mut cs = s(Client, 1).at(end_ms.saturating_sub(client_ms), end_ms);
                let mut ss = s(Server, 2).parent(1).at(
                    end_ms.saturating_sub(server_ms + 1),
                    end_ms.saturating_sub(1),
                );
                if err.0 {
                    cs = cs.error();
                }
                if err.1 {
                    ss = ss.error();
                }
                out.push((client, cs));
                out.push((
                    server,
                    ss.op(if end_ms % 3 == 0 { "GET /a" } else { "GET /b" }),
                ));
            }
            Call::Database {
                client,
                end_ms,
                ms,
                named,
            } => out.push((
                client,
                s(Client, 1)
                    .at(end_ms.saturating_sub(ms), end_ms)
                    .peer(|p| {
                        p.db_system = boxed("postgresql");
                        if named {
                            p.db_namespace = boxed("orders-db");
                        }
                    }),
            )),
            Call::External {
                client,
                end_ms,
                ms,
                named,
            } => out.push((
                client,
                s(Client, 1)
                    .at(end_ms.saturating_sub(ms), end_ms)
                    .peer(|p| {
                        if named {
                            p.server_address = boxed("api.stripe.com");
                        }
                    }),
            )),
            Call::Root { server, end_ms, ms } => {
                out.push((server, s(Server, 1).at(end_ms.saturating_sub(ms), end_ms)))
            }
            Call::Message {
                producer,
                consumer,
                end_ms,
                lag_ms,
                linked,
            } => {
                out.push((
                    producer,
                    s(Producer, 1).at(end_ms.saturating_sub(1), end_ms),
                ));
                let consumer_span = if linked {
                    SpanSpec::new(Consumer, t + 5_000, 1).link(t, 1)
                } else {
                    s(Consumer, 2).parent(1)
                };
                out.push((
                    consumer,
                    consumer_span.at(end_ms + lag_ms, end_ms + lag_ms + 3),
                ));
            }
            Call::LostCaller { server, end_ms } => {
                out.push((server, s(Server, 3).parent(77).at(end_ms, end_ms + 1)))
            }
        }
    }
    out
}

fn batches_of(spans: &[(usize, SpanSpec)], cuts: &[usize]) -> Vec<SpanBatch> {
    let resources: Vec<ResourceInfo> = SERVICES
        .iter()
        .enumerate()
        .map(|(i, s)| versioned(s, &format!("v{}", i % 2), &format!("{s}-0")))
        .collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (spans.len() + 1)).collect();
    cuts.push(spans.len());
    cuts.sort_unstable();
    for cut in cuts {
        if cut > start {
            let chunk: Vec<(&ResourceInfo, SpanSpec)> = spans[start..cut]
                .iter()
                .map(|(r, s)| (&resources[*r], s.clone()))
                .collect();
            out.push(batch(&chunk));
            start = cut;
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn output_is_independent_of_order_within_lateness_and_batch_splits(
        calls in prop::collection::vec(call(), 1..60),
        jitter in prop::collection::vec(0u64..9_999, 200),
        cuts in prop::collection::vec(0usize..200, 0..12),
    ) {
        let settings = settings();
        let spans = spans_of(&calls);
        // Reference: sorted by end time, one batch.
        let mut sorted = spans.clone();
        sorted.sort_by_key(|(_, s)| (s.0.end, s.0.trace_id, s.0.span_id));
        let (reference, reference_windows) = run_finished(&settings, &batches_of(&sorted, &[]));
        // Shuffled: arrival order = end + jitter < end + lateness (10 s).
        let mut shuffled: Vec<(u64, (usize, SpanSpec))> = spans
            .into_iter()
            .enumerate()
            .map(|(i, s)| (s.1.0.end.0 + jitter[i % jitter.len()] * MS, s))
            .collect();
        shuffled.sort_by_key(|(arrival, (_, s))| (*arrival, s.0.trace_id, s.0.span_id));
        let shuffled: Vec<(usize, SpanSpec)> = shuffled.into_iter().map(|(_, s)| s).collect();
        let (graph, windows) = run_finished(&settings, &batches_of(&shuffled, &cuts));
        prop_assert_eq!(graph.totals().late, 0);
        let pairs = calls.iter().filter(|c| matches!(c, Call::Rpc { .. } | Call::Message { .. })).count();
        prop_assert_eq!(reference.totals().edges_paired, pairs as u64, "every pair formed");
        prop_assert_eq!(&windows, &reference_windows);
        prop_assert_eq!(graph.snapshot(), reference.snapshot());
        prop_assert_eq!(graph.totals().advance.expired, reference.totals().advance.expired);
        prop_assert_eq!(graph.totals().edges_paired, reference.totals().edges_paired);
    }
}

#[test]
fn two_runs_give_identical_state() {
    let calls: Vec<Call> = (0..40)
        .map(|i| Call::Rpc {
            client: i % 5,
            server: (i * 3) % 5,
            end_ms: (i as u64) * 997,
            client_ms: 30,
            server_ms: 20,
            err: (i % 7 == 0, false),
        })
        .collect();
    let batches = batches_of(&spans_of(&calls), &[7, 19, 33]);
    let (a, _) = run_finished(&settings(), &batches);
    let (b, _) = run_finished(&settings(), &batches);
    assert_eq!(a.export_state(), b.export_state());
}
