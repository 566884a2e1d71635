//! Assembles exported spans into OTLP requests the way a Collector's batch
//! processor hands them to an exporter, and splits a request per trace id
//! the way the Kafka exporter does with `partition_traces_by_id`.
//!
//! Never does: I/O, clock, randomness.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

use super::state::{PendingSpan, ResourceSlot};

/// One `ResourceSpans` per resource, in order of first appearance; spans in
/// export order.
pub(crate) fn assemble(
    spans: Vec<PendingSpan>,
    resources: &[ResourceSlot],
) -> ExportTraceServiceRequest {
    let mut position: BTreeMap<u32, usize> = BTreeMap::new();
    let mut out: Vec<ResourceSpans> = Vec::new();
    for p in spans {
        let Some(slot) = resources.get(p.resource as usize) else {
            continue;
        };
        let at = *position.entry(p.resource).or_insert_with(|| {
            out.push(ResourceSpans {
                resource: Some(slot.resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(slot.scope.clone()),
                    spans: Vec::new(),
                    schema_url: String::new(),
                }],
                schema_url: slot.schema_url.to_owned(),
            });
            out.len() - 1
        });
        out[at].scope_spans[0].spans.push(p.span);
    }
    ExportTraceServiceRequest {
        resource_spans: out,
    }
}

/// Splits a request into one request per trace id (in order of first
/// appearance), each keeping only that trace's spans with their resource and
/// scope — what the Collector's Kafka exporter sends with
/// `partition_traces_by_id: true` (CONVENTIONS.md §1.3). Spans whose trace id
/// is not 16 bytes are dropped.
pub fn split_by_trace(
    request: &ExportTraceServiceRequest,
) -> Vec<([u8; 16], ExportTraceServiceRequest)> {
    let mut order: BTreeMap<[u8; 16], usize> = BTreeMap::new();
    let mut out: Vec<([u8; 16], ExportTraceServiceRequest)> = Vec::new();
    for rs in &request.resource_spans {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                let Ok(trace) = <[u8; 16]>::try_from(span.trace_id.as_slice()) else {
                    continue;
                };
                let at = *order.entry(trace).or_insert_with(|| {
                    out.push((trace, ExportTraceServiceRequest::default()));
                    out.len() - 1
                });
                let req = &mut out[at].1;
                let same_resource = req.resource_spans.last().is_some_and(|last| {
                    last.resource == rs.resource && last.schema_url == rs.schema_url
                });
                if !same_resource {
                    req.resource_spans.push(ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans: Vec::new(),
                        schema_url: rs.schema_url.clone(),
                    });
                }
                let Some(target) = req.resource_spans.last_mut() else {
                    continue;
                };
                let same_scope = target
                    .scope_spans
                    .last()
                    .is_some_and(|last| last.scope == ss.scope && last.schema_url == ss.schema_url);
                if !same_scope {
                    target.scope_spans.push(ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: Vec::new(),
                        schema_url: ss.schema_url.clone(),
                    });
                }
                if let Some(scope) = target.scope_spans.last_mut() {
                    scope.spans.push(span.clone());
                }
            }
        }
    }
    out
}

/// Number of spans in a request.
pub fn span_count(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

/// Splits a request in halves (by spans, keeping resources and scopes) until
/// every part encodes to at most `max_bytes` of protobuf, or holds one span.
/// Kafka brokers reject records above `message.max.bytes` (1 MB by default;
/// CONVENTIONS.md §1.3).
pub fn split_to_fit(
    request: ExportTraceServiceRequest,
    max_bytes: usize,
) -> Vec<ExportTraceServiceRequest> {
    use prost::Message as _;
    let spans = span_count(&request);
    if spans <= 1 || request.encoded_len() <= max_bytes {
        return vec![request];
    }
    let (a, b) = split_at(request, spans / 2);
    let mut out = split_to_fit(a, max_bytes);
    out.extend(split_to_fit(b, max_bytes));
    out
}

/// The first `n` spans and the rest, each with its resources and scopes.
fn split_at(
    request: ExportTraceServiceRequest,
    n: usize,
) -> (ExportTraceServiceRequest, ExportTraceServiceRequest) {
    let mut first = ExportTraceServiceRequest::default();
    let mut rest = ExportTraceServiceRequest::default();
    let mut taken = 0usize;
    for rs in request.resource_spans {
        let mut head = ResourceSpans {
            resource: rs.resource.clone(),
            scope_spans: Vec::new(),
            schema_url: rs.schema_url.clone(),
        };
        let mut tail = ResourceSpans {
            resource: rs.resource,
            scope_spans: Vec::new(),
            schema_url: rs.schema_url,
        };
        for mut ss in rs.scope_spans {
            let k = n.saturating_sub(taken).min(ss.spans.len());
            taken += k;
            let later = ss.spans.split_off(k);
            if !ss.spans.is_empty() {
                head.scope_spans.push(ScopeSpans {
                    scope: ss.scope.clone(),
                    spans: ss.spans,
                    schema_url: ss.schema_url.clone(),
                });
            }
            if !later.is_empty() {
                tail.scope_spans.push(ScopeSpans {
                    scope: ss.scope,
                    spans: later,
                    schema_url: ss.schema_url,
                });
            }
        }
        if !head.scope_spans.is_empty() {
            first.resource_spans.push(head);
        }
        if !tail.scope_spans.is_empty() {
            rest.resource_spans.push(tail);
        }
    }
    (first, rest)
}
