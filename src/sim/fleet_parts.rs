//! Builders for the built-in fleet (`fleet.rs`): a service with its
//! instances, HTTP and gRPC server operations, entry points, and the calls
//! they make (to services, databases, external peers and topics).
//!
//! Never does: I/O, randomness.

use super::topology::{
    Call, CallTarget, Instance, Latency, Operation, Protocol, Semconv, Service, instance_id,
};

const NAMESPACE: &str = "shop";
pub(super) const PRODUCTION: &str = "production";

pub(super) fn svc(
    name: &str,
    instances: usize,
    version: &str,
    scope: &str,
    ops: Vec<Operation>,
) -> Service {
    Service {
        name: name.to_owned(),
        namespace: NAMESPACE.to_owned(),
        instances: (0..instances)
            .map(|i| Instance {
                id: instance_id(name, PRODUCTION, i, 0),
                environment: PRODUCTION.to_owned(),
                version: version.to_owned(),
            })
            .collect(),
        operations: ops,
        semconv: Semconv::Current,
        scope: scope.to_owned(),
        capacity_rps_per_instance: None,
    }
}

pub(super) fn http(
    method: &str,
    route: &str,
    median_ms: f64,
    error_ratio: f64,
    calls: Vec<Call>,
) -> Operation {
    Operation {
        name: format!("{method} {route}"),
        protocol: Protocol::Http {
            method: method.to_owned(),
            route: route.to_owned(),
        },
        latency: Latency::new(median_ms, 0.5),
        error_ratio,
        calls,
        entry_weight: 0.0,
    }
}

pub(super) fn grpc(
    service: &str,
    method: &str,
    median_ms: f64,
    error_ratio: f64,
    calls: Vec<Call>,
) -> Operation {
    Operation {
        name: format!("{service}/{method}"),
        protocol: Protocol::Grpc {
            service: service.to_owned(),
            method: method.to_owned(),
        },
        latency: Latency::new(median_ms, 0.45),
        error_ratio,
        calls,
        entry_weight: 0.0,
    }
}

pub(super) fn entry(mut op: Operation, weight: f64) -> Operation {
    op.entry_weight = weight;
    op
}

pub(super) fn to(service: &str, operation: &str) -> Call {
    Call::always(CallTarget::Service {
        service: service.to_owned(),
        operation: operation.to_owned(),
    })
}

pub(super) fn db(database: &str, operation: &str, collection: &str) -> Call {
    Call::always(CallTarget::Database {
        database: database.to_owned(),
        operation: operation.to_owned(),
        collection: collection.to_owned(),
    })
}

pub(super) fn ext(peer: &str, method: &str, path: &str) -> Call {
    Call::always(CallTarget::External {
        peer: peer.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
    })
}

pub(super) fn publish(topic: &str) -> Call {
    Call::always(CallTarget::Publish {
        topic: topic.to_owned(),
    })
}
