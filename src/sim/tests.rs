//! Unit tests of the simulator core, with shared helpers.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;

use super::*;
use crate::model::Timestamp;

mod core;
mod scenarios;
mod wire;

/// 2026-03-02T09:00:00Z.
pub(super) const START: Timestamp = Timestamp::from_secs(1_772_442_000);

/// One decoded span with its batch number and resource attributes.
pub(super) struct Flat {
    pub(super) batch: usize,
    pub(super) resource: BTreeMap<String, String>,
    pub(super) span: Span,
}

impl Flat {
    pub(super) fn res(&self, key: &str) -> &str {
        self.resource.get(key).map_or("", String::as_str)
    }

    pub(super) fn attr(&self, key: &str) -> Option<String> {
        attr(&self.span.attributes, key)
    }

    pub(super) fn is_error(&self) -> bool {
        self.span.status.as_ref().is_some_and(|s| s.code == 2)
    }
}

pub(super) fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            any_value::Value::IntValue(i) => Some(i.to_string()),
            any_value::Value::BoolValue(b) => Some(b.to_string()),
            _ => None,
        }
    })
}

pub(super) fn sim(topology: Topology, scenario: Scenario, seed: u64, rate: f64) -> Simulator {
    Simulator::new(topology, scenario, seed, START, rate).expect("valid simulation")
}

/// Runs to the end; returns every batch.
pub(super) fn run(s: &mut Simulator) -> Vec<ExportTraceServiceRequest> {
    let mut out = Vec::new();
    while let Some(b) = s.next_batch() {
        out.push(b);
        assert!(out.len() < 1_000_000, "simulation does not end");
    }
    out
}

pub(super) fn flatten(batches: &[ExportTraceServiceRequest]) -> Vec<Flat> {
    let mut out = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        for rs in &b.resource_spans {
            let resource: BTreeMap<String, String> = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .filter_map(|kv| Some((kv.key.clone(), attr(std::slice::from_ref(kv), &kv.key)?)))
                .collect();
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    out.push(Flat {
                        batch: i,
                        resource: resource.clone(),
                        span: span.clone(),
                    });
                }
            }
        }
    }
    out
}

/// (requests, errors) of server/consumer spans per (service, version).
pub(super) fn served(flat: &[Flat]) -> BTreeMap<(String, String), (u64, u64)> {
    let mut out: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for f in flat.iter().filter(|f| f.span.kind == 2 || f.span.kind == 5) {
        let e = out
            .entry((
                f.res("service.name").to_owned(),
                f.res("service.version").to_owned(),
            ))
            .or_default();
        e.0 += 1;
        e.1 += u64::from(f.is_error());
    }
    out
}
