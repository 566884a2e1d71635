//! The fleet the simulator plays: services, instances, operations, the calls
//! between them, databases, message topics and uninstrumented external peers.
//!
//! Authoring types use names (strings) so that fleets and scenarios read
//! well; [`Topology::validate`] checks every reference, and the engine
//! compiles names to indices once.
//!
//! Never does: I/O, clock, randomness (generated fleets take a seed).

use super::rng::{Rng, hash_str, mix};

/// Which semantic-convention generation a service's instrumentation emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Semconv {
    /// Current names (semconv 1.44: `http.request.method`, `db.system.name`, …).
    #[default]
    Current,
    /// Deprecated names older SDKs still send (`http.method`, `db.system`,
    /// `net.peer.name`, `rpc.grpc.status_code`, `deployment.environment`, …).
    Deprecated,
}

/// What an operation is, on the wire.
#[derive(Clone, Debug, PartialEq)]
pub enum Protocol {
    /// An HTTP route: server span `"{method} {route}"`, client span `"{method}"`.
    Http {
        /// `GET`, `POST`, …
        method: String,
        /// Low-cardinality route template (`/api/products/{id}`).
        route: String,
    },
    /// A gRPC method: span name `"{service}/{method}"` on both sides.
    Grpc {
        /// Fully qualified service (`shop.CartService`).
        service: String,
        /// Method (`GetCart`).
        method: String,
    },
    /// Processing of messages from a topic (CONSUMER span `"process {topic}"`).
    Consume {
        /// Topic name, as in [`Topic::name`].
        topic: String,
    },
}

/// Latency of an operation's own work (excluding its calls), lognormal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latency {
    /// Median self time, milliseconds.
    pub median_ms: f64,
    /// Shape of the lognormal (standard deviation of the log); 0.3–0.8 is realistic.
    pub sigma: f64,
}

impl Latency {
    /// A lognormal with median `median_ms` and shape `sigma`.
    pub const fn new(median_ms: f64, sigma: f64) -> Self {
        Self { median_ms, sigma }
    }
}

/// What a call reaches.
#[derive(Clone, Debug, PartialEq)]
pub enum CallTarget {
    /// An operation of an instrumented service (CLIENT span + SERVER span).
    Service {
        /// Callee service name.
        service: String,
        /// Callee operation name ([`Operation::name`]).
        operation: String,
    },
    /// A database (CLIENT span only).
    Database {
        /// [`Database::name`].
        database: String,
        /// `db.operation.name` (`SELECT`, `GET`, …).
        operation: String,
        /// `db.collection.name` (table, key prefix); may be empty.
        collection: String,
    },
    /// Publishing to a topic (PRODUCER span; consumers process it later).
    Publish {
        /// [`Topic::name`].
        topic: String,
    },
    /// An uninstrumented external peer over HTTP (CLIENT span only).
    External {
        /// [`ExternalPeer::name`].
        peer: String,
        /// HTTP method.
        method: String,
        /// Path used in `url.full`.
        path: String,
    },
}

/// One dependency: while serving an operation, call `target`.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// What is called.
    pub target: CallTarget,
    /// Probability that the call happens at all in one request.
    pub probability: f64,
    /// How many times it happens when it does (uniform, inclusive).
    pub fanout: (u32, u32),
    /// Probability that a failure of this call fails the caller's request
    /// (1.0 for a hard dependency, 0.0 for one with a fallback).
    pub propagate_error: f64,
}

impl Call {
    /// A call that always happens once and whose failure fails the caller.
    pub fn always(target: CallTarget) -> Self {
        Self {
            target,
            probability: 1.0,
            fanout: (1, 1),
            propagate_error: 1.0,
        }
    }

    /// Sets the probability of the call.
    pub fn with_probability(mut self, p: f64) -> Self {
        self.probability = p;
        self
    }

    /// Sets the fan-out range.
    pub fn with_fanout(mut self, min: u32, max: u32) -> Self {
        self.fanout = (min, max);
        self
    }

    /// Makes the dependency soft: its failures are absorbed by a fallback.
    pub fn soft(mut self) -> Self {
        self.propagate_error = 0.0;
        self
    }
}

/// One operation (route, RPC method or message handler) of a service.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    /// Name callers refer to (`GET /route`, `pkg.Service/Method`, `process topic`); unique per service.
    pub name: String,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Self time, excluding calls.
    pub latency: Latency,
    /// Probability that the operation fails on its own.
    pub error_ratio: f64,
    /// Calls made while serving, in order (sequentially).
    pub calls: Vec<Call>,
    /// Share of the fleet's root traffic that enters here (0 for internal operations).
    pub entry_weight: f64,
}

/// One running copy of a service.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// `service.instance.id`.
    pub id: String,
    /// `deployment.environment.name`.
    pub environment: String,
    /// Version it runs at the start of the simulation.
    pub version: String,
}

/// An instrumented service.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// `service.name`.
    pub name: String,
    /// `service.namespace`.
    pub namespace: String,
    /// Its instances (all environments).
    pub instances: Vec<Instance>,
    /// Its operations.
    pub operations: Vec<Operation>,
    /// Which attribute names its instrumentation uses.
    pub semconv: Semconv,
    /// Instrumentation scope name (`io.opentelemetry.grpc-1.6`).
    pub scope: String,
    /// Requests per second per instance above which it degrades (errors and
    /// latency grow with the overload); `None` = unlimited.
    pub capacity_rps_per_instance: Option<f64>,
}

/// A database, seen only through client spans.
#[derive(Clone, Debug, PartialEq)]
pub struct Database {
    /// Name used in [`CallTarget::Database`].
    pub name: String,
    /// `db.system.name` (`postgresql`, `redis`).
    pub system: String,
    /// `server.address`.
    pub address: String,
    /// `server.port`.
    pub port: u16,
    /// `db.namespace`.
    pub namespace: String,
    /// Latency of one query, server-side.
    pub latency: Latency,
    /// Probability that a query fails.
    pub error_ratio: f64,
}

/// How a consumer span refers to the producer span of its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LinkMode {
    /// Same trace; the consumer span's parent is the producer span.
    #[default]
    Parent,
    /// A new trace; the consumer span is a root with a span link to the producer.
    Link,
    /// Same trace and parent, plus a span link.
    Both,
}

/// A consumer group of a topic.
#[derive(Clone, Debug, PartialEq)]
pub struct Consumer {
    /// Consuming service.
    pub service: String,
    /// Its [`Protocol::Consume`] operation.
    pub operation: String,
    /// `messaging.consumer.group.name`.
    pub group: String,
}

/// A message topic (Kafka): producers publish, every consumer group processes.
#[derive(Clone, Debug, PartialEq)]
pub struct Topic {
    /// `messaging.destination.name`.
    pub name: String,
    /// `messaging.system`.
    pub system: String,
    /// Broker `server.address`.
    pub address: String,
    /// Consumer groups.
    pub consumers: Vec<Consumer>,
    /// Parent, link, or both.
    pub link_mode: LinkMode,
    /// Time a message waits in the topic before processing starts.
    pub queue_delay: Latency,
    /// Partitions (for `messaging.destination.partition.id`).
    pub partitions: u32,
}

/// An uninstrumented peer reached over HTTP (a SaaS API).
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalPeer {
    /// `peer.service` / `service.peer.name`.
    pub name: String,
    /// `server.address`.
    pub address: String,
    /// Latency of one request.
    pub latency: Latency,
    /// Probability that a request fails (5xx).
    pub error_ratio: f64,
}

/// Diurnal shape of the root traffic: `rate × (1 + amplitude × sin(2π t / period))`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Diurnal {
    /// Relative amplitude in `[0, 1)`.
    pub amplitude: f64,
    /// Period, seconds (86 400 for a day; shorter for tests).
    pub period_secs: f64,
}

/// The whole fleet.
#[derive(Clone, Debug, PartialEq)]
pub struct Topology {
    /// Instrumented services.
    pub services: Vec<Service>,
    /// Databases.
    pub databases: Vec<Database>,
    /// Message topics.
    pub topics: Vec<Topic>,
    /// External peers.
    pub externals: Vec<ExternalPeer>,
    /// Root traffic share per environment (`production` 1.0 by default).
    pub environments: Vec<(String, f64)>,
    /// Optional diurnal shape of the root traffic.
    pub diurnal: Option<Diurnal>,
}

/// A reference that does not resolve, or a value out of range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct TopologyError {
    /// Where (`services[checkout].operations[PlaceOrder].calls[2]`).
    pub path: String,
    /// What is wrong, lowercase.
    pub reason: String,
}

/// A deterministic instance id for (service, environment, index, generation),
/// shaped like a v4 UUID (`service.instance.id` recommends a UUID).
pub fn instance_id(service: &str, environment: &str, index: usize, generation: u64) -> String {
    let mut rng = Rng::new(mix(&[
        hash_str(service),
        hash_str(environment),
        index as u64,
        generation,
    ]));
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

impl Topology {
    /// Adds, for every service, `instances` instances in `environment`
    /// (same versions as the service's first instance) and gives that
    /// environment `traffic_weight` of the root traffic (relative).
    pub fn add_environment(&mut self, environment: &str, instances: usize, traffic_weight: f64) {
        for service in &mut self.services {
            let version = service
                .instances
                .first()
                .map(|i| i.version.clone())
                .unwrap_or_default();
            for index in 0..instances {
                service.instances.push(Instance {
                    id: instance_id(&service.name, environment, index, 0),
                    environment: environment.to_owned(),
                    version: version.clone(),
                });
            }
        }
        self.environments
            .push((environment.to_owned(), traffic_weight));
    }

    /// Makes the named services emit deprecated attribute names.
    pub fn with_deprecated_semconv(mut self, services: &[&str]) -> Self {
        for s in &mut self.services {
            if services.contains(&s.name.as_str()) {
                s.semconv = Semconv::Deprecated;
            }
        }
        self
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Checks every reference and range; returns all problems at once.
    pub fn validate(&self) -> Result<(), Vec<TopologyError>> {
        super::validate::validate_topology(self)
    }
}
