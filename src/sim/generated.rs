//! Large generated fleets for benchmarks and scale tests.
//!
//! Services sit in layers that grow by 1.6× from the edge inwards (a few
//! HTTP gateways, many gRPC services, storage-heavy leaves). Every service
//! is called by at least one service of the layer above, so all of them see
//! traffic (so does every operation); a few extra calls skip a layer. Leaves use databases, some
//! middle services publish to topics consumed by leaves, a few call external
//! peers. About one service in five emits deprecated attribute names.
//!
//! Never does: I/O, clock. Deterministic in (`n_services`, `seed`).

use super::rng::{Rng, mix};
use super::topology::{
    Call, CallTarget, Consumer, Database, ExternalPeer, Instance, Latency, LinkMode, Operation,
    Protocol, Semconv, Service, Topic, Topology, instance_id,
};

const LAYER_NAMES: [&str; 7] = ["edge", "api", "svc", "core", "domain", "data", "store"];
const ENV: &str = "production";

fn layer_sizes(n: usize) -> Vec<usize> {
    let layers = match n {
        0..=1 => 1,
        2..=9 => 2,
        10..=99 => 4,
        100..=999 => 5,
        _ => 6,
    };
    let weights: Vec<f64> = (0..layers).map(|k| 1.6f64.powi(k)).collect();
    let total: f64 = weights.iter().sum();
    let mut sizes: Vec<usize> = weights
        .iter()
        .map(|w| ((w / total) * n as f64).floor().max(1.0) as usize)
        .collect();
    // Give the rounding remainder to the last layer; trim if small n overshot.
    let sum: usize = sizes.iter().sum();
    if let Some(last) = sizes.last_mut().filter(|_| sum < n) {
        *last += n - sum;
    }
    while sizes.iter().sum::<usize>() > n && sizes.len() > 1 {
        let len = sizes.len();
        if sizes[len - 1] > 1 {
            sizes[len - 1] -= 1;
        } else {
            sizes.pop();
        }
    }
    sizes
}

fn op_name(service: &str, j: usize, layer: usize) -> (String, Protocol) {
    if layer == 0 {
        let route = format!("/api/{service}/r{j}");
        (
            route.clone(),
            Protocol::Http {
                method: if j % 3 == 2 { "POST" } else { "GET" }.to_owned(),
                route,
            },
        )
    } else {
        let gs = format!("gen.{}", service.replace('-', "_"));
        let method = format!("Method{j}");
        (
            format!("{gs}/{method}"),
            Protocol::Grpc {
                service: gs,
                method,
            },
        )
    }
}

impl Topology {
    /// A generated fleet of `n_services` services (at least 1), with about
    /// one database per 10 services, one external peer per 50 and one topic
    /// per 100. Deterministic in (`n_services`, `seed`).
    pub fn generated(n_services: usize, seed: u64) -> Self {
        let n = n_services.max(1);
        let mut rng = Rng::new(mix(&[seed, 0x6E4E]));
        let sizes = layer_sizes(n);
        let n_dbs = (n / 10).max(1);
        let n_ext = (n / 50).max(1);
        let n_topics = if n >= 20 { (n / 100).max(1) } else { 0 };

        // Layout: (layer, name) per service.
        let mut layer_of = Vec::with_capacity(n);
        let mut services: Vec<Service> = Vec::with_capacity(n);
        for (layer, &size) in sizes.iter().enumerate() {
            for _ in 0..size {
                let i = services.len();
                let name = format!("{}-{i:04}", LAYER_NAMES[layer.min(LAYER_NAMES.len() - 1)]);
                let instances = rng.range_u32(1, 4) as usize;
                let version = format!("1.{}.{}", rng.below(12), rng.below(8));
                let ops = (0..rng.range_u32(1, 3) as usize)
                    .map(|j| {
                        let (op, protocol) = op_name(&name, j, layer);
                        Operation {
                            name: op,
                            protocol,
                            latency: Latency::new(0.5 + rng.f64() * 6.0, 0.3 + rng.f64() * 0.4),
                            error_ratio: 0.0002 + rng.f64() * 0.002,
                            calls: Vec::new(),
                            entry_weight: if layer == 0 { 1.0 } else { 0.0 },
                        }
                    })
                    .collect();
                services.push(Service {
                    namespace: format!("team-{:02}", i / 50),
                    instances: (0..instances)
                        .map(|k| Instance {
                            id: instance_id(&name, ENV, k, 0),
                            environment: ENV.to_owned(),
                            version: version.clone(),
                        })
                        .collect(),
                    operations: ops,
                    semconv: if rng.chance(0.2) {
                        Semconv::Deprecated
                    } else {
                        Semconv::Current
                    },
                    scope: "io.opentelemetry.generated".to_owned(),
                    capacity_rps_per_instance: None,
                    name,
                });
                layer_of.push(layer);
            }
        }
        let first_of_layer: Vec<usize> = sizes
            .iter()
            .scan(0, |acc, s| {
                let f = *acc;
                *acc += s;
                Some(f)
            })
            .collect();
        let pick_in_layer = |rng: &mut Rng, layer: usize| {
            first_of_layer[layer] + rng.below(sizes[layer] as u64) as usize
        };

        // Every operation below the edge gets a caller one layer up (and, by
        // induction, every operation is reachable from an entry operation).
        let push_call = |services: &mut Vec<Service>,
                         rng: &mut Rng,
                         caller: usize,
                         callee: usize,
                         op: usize,
                         p: f64| {
            let target = CallTarget::Service {
                service: services[callee].name.clone(),
                operation: services[callee].operations[op].name.clone(),
            };
            let mut call = Call::always(target).with_probability(p);
            if rng.chance(0.2) {
                call = call.soft();
            }
            let cops = services[caller].operations.len() as u64;
            let j = rng.below(cops) as usize;
            services[caller].operations[j].calls.push(call);
        };
        for callee in 0..n {
            let layer = layer_of[callee];
            if layer == 0 {
                continue;
            }
            for op in 0..services[callee].operations.len() {
                let caller = pick_in_layer(&mut rng, layer - 1);
                push_call(&mut services, &mut rng, caller, callee, op, 0.9);
                if layer >= 2 && rng.chance(0.1) {
                    let caller = pick_in_layer(&mut rng, layer - 2);
                    push_call(&mut services, &mut rng, caller, callee, op, 0.3);
                }
            }
        }

        let databases: Vec<Database> = (0..n_dbs)
            .map(|k| {
                let redis = k % 3 == 2;
                let name = format!("{}-{k:03}", if redis { "redis" } else { "pg" });
                Database {
                    address: name.clone(),
                    system: if redis { "redis" } else { "postgresql" }.to_owned(),
                    port: if redis { 6379 } else { 5432 },
                    namespace: if redis {
                        "0".to_owned()
                    } else {
                        format!("db{k}")
                    },
                    latency: if redis {
                        Latency::new(0.3, 0.4)
                    } else {
                        Latency::new(1.5, 0.6)
                    },
                    error_ratio: 0.0001,
                    name,
                }
            })
            .collect();
        let externals: Vec<ExternalPeer> = (0..n_ext)
            .map(|k| ExternalPeer {
                name: format!("saas-{k:02}"),
                address: format!("api.saas-{k:02}.example"),
                latency: Latency::new(60.0, 0.4),
                error_ratio: 0.001,
            })
            .collect();
        let deepest = sizes.len() - 1;
        for (i, s) in services.iter_mut().enumerate() {
            let layer = layer_of[i];
            for op in &mut s.operations {
                if layer + 1 >= sizes.len() || rng.chance(0.15) {
                    let db = &databases[rng.below(n_dbs as u64) as usize];
                    let operation = if db.system == "redis" {
                        "GET"
                    } else {
                        "SELECT"
                    };
                    op.calls.push(Call::always(CallTarget::Database {
                        database: db.name.clone(),
                        operation: operation.to_owned(),
                        collection: format!("t{}", rng.below(20)),
                    }));
                }
                if layer > 0 && rng.chance(0.02) {
                    let peer = externals[rng.below(n_ext as u64) as usize].name.clone();
                    op.calls.push(Call::always(CallTarget::External {
                        peer,
                        method: "POST".to_owned(),
                        path: "/v1/call".to_owned(),
                    }));
                }
            }
        }

        let mut topics = Vec::new();
        for k in 0..n_topics {
            let name = format!("events-{k:02}");
            let producer = pick_in_layer(&mut rng, 1.min(deepest));
            let consumer = pick_in_layer(&mut rng, deepest);
            let op = format!("process {name}");
            services[consumer].operations.push(Operation {
                name: op.clone(),
                protocol: Protocol::Consume {
                    topic: name.clone(),
                },
                latency: Latency::new(2.0, 0.5),
                error_ratio: 0.0005,
                calls: Vec::new(),
                entry_weight: 0.0,
            });
            services[producer].operations[0].calls.push(
                Call::always(CallTarget::Publish {
                    topic: name.clone(),
                })
                .with_probability(0.3),
            );
            topics.push(Topic {
                consumers: vec![Consumer {
                    service: services[consumer].name.clone(),
                    operation: op,
                    group: services[consumer].name.clone(),
                }],
                name,
                system: "kafka".to_owned(),
                address: "kafka".to_owned(),
                link_mode: if k % 2 == 0 {
                    LinkMode::Parent
                } else {
                    LinkMode::Link
                },
                queue_delay: Latency::new(10.0, 0.8),
                partitions: 12,
            });
        }
        Self {
            services,
            databases,
            topics,
            externals,
            environments: vec![(ENV.to_owned(), 1.0)],
            diurnal: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_sizes_add_up() {
        for n in [1, 2, 5, 10, 50, 500, 5_000] {
            let sizes = layer_sizes(n);
            assert_eq!(sizes.iter().sum::<usize>(), n, "n={n} sizes={sizes:?}");
            assert!(sizes.iter().all(|s| *s > 0));
        }
    }

    #[test]
    fn generated_fleets_are_valid_deterministic_and_sized() {
        for n in [1, 7, 50, 500] {
            let t = Topology::generated(n, 3);
            assert_eq!(t.services.len(), n);
            t.validate().unwrap_or_else(|e| panic!("n={n}: {e:?}"));
            assert_eq!(t, Topology::generated(n, 3));
        }
        assert_ne!(Topology::generated(50, 3), Topology::generated(50, 4));
    }
}
