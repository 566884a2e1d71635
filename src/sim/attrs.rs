//! Span and resource attributes in current or deprecated semantic-convention
//! names (CONVENTIONS.md §3.4), so that both ingest paths get exercised.
//!
//! Never does: I/O, clock, randomness.

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::topology::Semconv;

/// Schema URL of current-name services.
pub(crate) const SCHEMA_CURRENT: &str = "https://opentelemetry.io/schemas/1.44.0";
/// Schema URL of deprecated-name services.
pub(crate) const SCHEMA_DEPRECATED: &str = "https://opentelemetry.io/schemas/1.20.0";

pub(crate) fn s(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

pub(crate) fn i(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..KeyValue::default()
    }
}

/// The resource of one instance on one version.
pub(crate) fn resource(
    semconv: Semconv,
    service: &str,
    namespace: &str,
    version: &str,
    instance: &str,
    environment: &str,
) -> Resource {
    let env_key = match semconv {
        Semconv::Current => "deployment.environment.name",
        Semconv::Deprecated => "deployment.environment",
    };
    Resource {
        attributes: vec![
            s("service.name", service),
            s("service.namespace", namespace),
            s("service.version", version),
            s("service.instance.id", instance),
            s(env_key, environment),
            s("telemetry.sdk.name", "opentelemetry"),
            s("k8s.namespace.name", namespace),
        ],
        ..Resource::default()
    }
}

pub(crate) fn scope(name: &str) -> InstrumentationScope {
    InstrumentationScope {
        name: name.to_owned(),
        version: "1.0.0".to_owned(),
        ..Default::default()
    }
}

pub(crate) fn http_server(sc: Semconv, method: &str, route: &str, status: i64) -> Vec<KeyValue> {
    match sc {
        Semconv::Current => vec![
            s("http.request.method", method),
            s("http.route", route),
            s("url.scheme", "http"),
            i("http.response.status_code", status),
        ],
        Semconv::Deprecated => vec![
            s("http.method", method),
            s("http.route", route),
            s("http.scheme", "http"),
            i("http.status_code", status),
        ],
    }
}

/// An HTTP client span; `peer` names an uninstrumented peer (`peer.service`).
pub(crate) fn http_client(
    sc: Semconv,
    method: &str,
    host: &str,
    port: i64,
    path: &str,
    status: i64,
    peer: Option<&str>,
) -> Vec<KeyValue> {
    let url = format!("http{}://{host}{path}", if port == 443 { "s" } else { "" });
    let mut out = match sc {
        Semconv::Current => vec![
            s("http.request.method", method),
            s("server.address", host),
            i("server.port", port),
            s("url.full", &url),
            i("http.response.status_code", status),
        ],
        Semconv::Deprecated => vec![
            s("http.method", method),
            s("net.peer.name", host),
            i("net.peer.port", port),
            s("http.url", &url),
            i("http.status_code", status),
        ],
    };
    if let Some(peer) = peer {
        // `service.peer.name` is opt-in and rare; `peer.service` is what SDKs send.
        out.push(s(
            if sc == Semconv::Current {
                "service.peer.name"
            } else {
                "peer.service"
            },
            peer,
        ));
    }
    if status >= 500 {
        out.push(s("error.type", &status.to_string()));
    }
    out
}

/// gRPC status codes used by the simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GrpcCode {
    Ok,
    Internal,
    Unavailable,
}

impl GrpcCode {
    fn number(self) -> i64 {
        match self {
            Self::Ok => 0,
            Self::Internal => 13,
            Self::Unavailable => 14,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Internal => "INTERNAL",
            Self::Unavailable => "UNAVAILABLE",
        }
    }
}

/// A gRPC span; `host` is set on the client side only.
pub(crate) fn grpc(
    sc: Semconv,
    service: &str,
    method: &str,
    host: Option<&str>,
    code: GrpcCode,
) -> Vec<KeyValue> {
    let mut out = match sc {
        Semconv::Current => vec![
            s("rpc.system.name", "grpc"),
            s("rpc.method", &format!("{service}/{method}")),
            s("rpc.response.status_code", code.name()),
        ],
        Semconv::Deprecated => vec![
            s("rpc.system", "grpc"),
            s("rpc.service", service),
            s("rpc.method", method),
            i("rpc.grpc.status_code", code.number()),
        ],
    };
    if let Some(host) = host {
        match sc {
            Semconv::Current => {
                out.push(s("server.address", host));
                out.push(i("server.port", 8080));
            }
            Semconv::Deprecated => {
                out.push(s("net.peer.name", host));
                out.push(i("net.peer.port", 8080));
            }
        }
    }
    if code != GrpcCode::Ok {
        out.push(s("error.type", code.name()));
    }
    out
}

/// A database client span.
pub(crate) fn db_client(
    sc: Semconv,
    system: &str,
    namespace: &str,
    operation: &str,
    collection: &str,
    host: &str,
    port: i64,
) -> Vec<KeyValue> {
    let mut out = match sc {
        Semconv::Current => vec![
            s("db.system.name", system),
            s("db.namespace", namespace),
            s("db.operation.name", operation),
            s("server.address", host),
            i("server.port", port),
        ],
        Semconv::Deprecated => vec![
            s(
                "db.system",
                if system == "postgresql" {
                    "postgresql"
                } else {
                    system
                },
            ),
            s("db.name", namespace),
            s("db.operation", operation),
            s("net.peer.name", host),
            i("net.peer.port", port),
        ],
    };
    if !collection.is_empty() {
        let key = match sc {
            Semconv::Current => "db.collection.name",
            Semconv::Deprecated => "db.sql.table",
        };
        out.push(s(key, collection));
    }
    out
}

/// A messaging span: PRODUCER (`send`) or CONSUMER (`process`, with a group).
pub(crate) fn messaging(
    sc: Semconv,
    system: &str,
    topic: &str,
    broker: &str,
    group: Option<&str>,
    partition: u32,
) -> Vec<KeyValue> {
    let op = if group.is_some() { "process" } else { "send" };
    let mut out = match sc {
        Semconv::Current => vec![
            s("messaging.system", system),
            s("messaging.destination.name", topic),
            s("messaging.operation.type", op),
            s("messaging.operation.name", op),
            s("messaging.destination.partition.id", &partition.to_string()),
            s("server.address", broker),
        ],
        Semconv::Deprecated => vec![
            s("messaging.system", system),
            s("messaging.destination", topic),
            s(
                "messaging.operation",
                if op == "send" { "publish" } else { op },
            ),
            i(
                "messaging.kafka.destination.partition",
                i64::from(partition),
            ),
            s("net.peer.name", broker),
        ],
    };
    if let Some(group) = group {
        let key = match sc {
            Semconv::Current => "messaging.consumer.group.name",
            Semconv::Deprecated => "messaging.kafka.consumer.group",
        };
        out.push(s(key, group));
    }
    out
}
