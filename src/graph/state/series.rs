//! The serialisable window series of a [`super::GraphState`]: series keys
//! and the aggregates of open windows, and their conversions. The layout is
//! part of the state format: changing it needs a new `FORMAT`.
//!
//! Never does: I/O, or decide what is exported (see the parent module).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::SeriesKey;

use super::super::sketch::Sketch;
use super::super::windows::SeriesAgg;
use super::RestoreError;
use super::parts::connection_type;

/// `SeriesKey` as `(variant, [strings…], connection type)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct KeyState(String, Vec<String>, String);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct AggState {
    requests: u64,
    errors: u64,
    bins: Vec<(u16, u32)>,
    count: u64,
    sum_ns: u128,
    max_ns: u64,
    instances: Vec<String>,
}

pub(super) fn key_state(key: &SeriesKey) -> KeyState {
    let s = |v: &Arc<str>| v.to_string();
    match key {
        SeriesKey::Service {
            environment,
            service,
        } => KeyState(
            "service".into(),
            vec![s(environment), s(service)],
            String::new(),
        ),
        SeriesKey::Edge {
            environment,
            client,
            server,
            connection_type,
        } => KeyState(
            "edge".into(),
            vec![s(environment), s(client), s(server)],
            connection_type.as_str().to_owned(),
        ),
        SeriesKey::EdgeByClientVersion {
            environment,
            client,
            client_version,
            server,
        } => KeyState(
            "edge_by_client_version".into(),
            vec![s(environment), s(client), s(client_version), s(server)],
            String::new(),
        ),
        SeriesKey::EdgeByServerVersion {
            environment,
            client,
            server,
            server_version,
        } => KeyState(
            "edge_by_server_version".into(),
            vec![s(environment), s(client), s(server), s(server_version)],
            String::new(),
        ),
        SeriesKey::Operation {
            environment,
            service,
            operation,
        } => KeyState(
            "operation".into(),
            vec![s(environment), s(service), s(operation)],
            String::new(),
        ),
        SeriesKey::ServiceVersion {
            environment,
            service,
            version,
        } => KeyState(
            "service_version".into(),
            vec![s(environment), s(service), s(version)],
            String::new(),
        ),
    }
}

pub(super) fn restore_key(state: KeyState) -> Result<SeriesKey, RestoreError> {
    let KeyState(variant, parts, ct) = state;
    let parts: Vec<Arc<str>> = parts.into_iter().map(Arc::from).collect();
    let key = match (variant.as_str(), parts.as_slice()) {
        ("service", [environment, service]) => SeriesKey::Service {
            environment: environment.clone(),
            service: service.clone(),
        },
        ("edge", [environment, client, server]) => SeriesKey::Edge {
            environment: environment.clone(),
            client: client.clone(),
            server: server.clone(),
            connection_type: connection_type(&ct)?,
        },
        ("edge_by_client_version", [environment, client, client_version, server]) => {
            SeriesKey::EdgeByClientVersion {
                environment: environment.clone(),
                client: client.clone(),
                client_version: client_version.clone(),
                server: server.clone(),
            }
        }
        ("edge_by_server_version", [environment, client, server, server_version]) => {
            SeriesKey::EdgeByServerVersion {
                environment: environment.clone(),
                client: client.clone(),
                server: server.clone(),
                server_version: server_version.clone(),
            }
        }
        ("operation", [environment, service, operation]) => SeriesKey::Operation {
            environment: environment.clone(),
            service: service.clone(),
            operation: operation.clone(),
        },
        ("service_version", [environment, service, version]) => SeriesKey::ServiceVersion {
            environment: environment.clone(),
            service: service.clone(),
            version: version.clone(),
        },
        _ => return Err(RestoreError::Invalid("series key")),
    };
    Ok(key)
}

pub(super) fn agg_state(agg: &SeriesAgg) -> AggState {
    let mut instances: Vec<String> = agg.instances.iter().map(|i| i.to_string()).collect();
    instances.sort();
    AggState {
        requests: agg.requests,
        errors: agg.errors,
        bins: agg.latency.bins(),
        count: agg.latency.count,
        sum_ns: agg.latency.sum_ns,
        max_ns: agg.latency.max_ns,
        instances,
    }
}

pub(super) fn restore_agg(state: AggState) -> SeriesAgg {
    SeriesAgg {
        requests: state.requests,
        errors: state.errors,
        latency: Sketch::from_parts(&state.bins, state.count, state.sum_ns, state.max_ns),
        instances: state.instances.into_iter().map(Arc::from).collect(),
        last_instance: None,
    }
}
