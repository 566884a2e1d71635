//! Trace generation: walks the compiled topology for one root request and
//! produces its spans with timings, statuses and attributes, plus the
//! ground-truth counters.
//!
//! Timing: a server span contains its own work (lognormal, split before and
//! after its calls) and its calls, made one after the other; each client span
//! wraps the callee's server span plus a network hop each way, so it is
//! slightly longer. A fault's latency multiplier stretches the whole server
//! span (extra own time), or the whole database / external call.
//!
//! Never does: I/O, clock. All randomness comes from the per-trace [`Rng`].

use std::sync::Arc;

use opentelemetry_proto::tonic::trace::v1::span::{Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};

use crate::model::ConnectionType;

use super::attrs::{self, GrpcCode};
use super::compiled::{CCall, CTarget, Compiled, FaultSubject};
use super::rng::Rng;
use super::state::State;
use super::topology::Protocol;
use super::truth::Node;

#[path = "engine_messaging.rs"]
mod messaging;

/// Calls deeper than this are not made (protects against cyclic topologies).
const MAX_DEPTH: u32 = 24;
/// W3C sampled flag plus "has is_remote" (0x100).
const FLAGS_LOCAL: u32 = 0x101;
/// Sampled, parent is remote (0x100 | 0x200).
const FLAGS_REMOTE: u32 = 0x301;

fn ms(x: f64) -> u64 {
    if x <= 0.0 {
        0
    } else {
        (x * 1e6).round() as u64
    }
}

fn status(error: bool, message: &str) -> Option<Status> {
    error.then(|| Status {
        message: message.to_owned(),
        code: StatusCode::Error as i32,
    })
}

fn combine(a: f64, b: f64) -> f64 {
    1.0 - (1.0 - a.clamp(0.0, 1.0)) * (1.0 - b.clamp(0.0, 1.0))
}

/// The generator for one trace (and the consumer traces it causes).
pub(crate) struct Gen<'a> {
    pub(crate) c: &'a Compiled,
    pub(crate) st: &'a mut State,
    pub(crate) rng: Rng,
    pub(crate) env: usize,
}

impl Gen<'_> {
    /// Generates a root request arriving at `at`.
    pub(crate) fn root(&mut self, at: u64) {
        let Some(entry) = self.rng.weighted(&self.c.entry_weights) else {
            return;
        };
        let (svc, op) = self.c.entries[entry];
        let trace = self.rng.trace_id();
        self.st.truth.traces += 1;
        let (_, error) = self.serve(svc, op, trace, [0; 8], at, None, Vec::new(), 0);
        self.st
            .truth
            .edges
            .entry((Node::User, Node::Service(svc), ConnectionType::VirtualNode))
            .or_default()
            .add(error);
    }

    /// Extra error probability and latency factor of matching faults.
    fn effects(
        &self,
        t: u64,
        subject: FaultSubject,
        version: Option<&str>,
        op: Option<&str>,
        caller: Option<(usize, &str)>,
    ) -> (f64, f64) {
        let mut err = 0.0;
        let mut lat = 1.0;
        for f in &self.c.faults {
            let hit = f.subject == subject
                && f.start <= t
                && t < f.end
                && f.version.as_deref().is_none_or(|v| Some(v) == version)
                && f.op.as_deref().is_none_or(|o| Some(o) == op)
                && f.env
                    .as_deref()
                    .is_none_or(|e| *e == *self.c.envs[self.env])
                && f.caller.is_none_or(|c| caller.is_some_and(|(s, _)| s == c))
                && f.caller_version
                    .as_deref()
                    .is_none_or(|v| caller.is_some_and(|(_, cv)| cv == v));
            if hit {
                err = combine(err, f.error_ratio);
                lat *= f.latency_multiplier;
            }
        }
        (err, lat)
    }

    fn net(&mut self) -> u64 {
        ms(self.rng.lognormal(0.25, 0.4))
    }

    /// Serves `op` of `svc` on one instance; returns (end, failed).
    #[allow(clippy::too_many_arguments)]
    fn serve(
        &mut self,
        svc: usize,
        op: usize,
        trace: [u8; 16],
        parent: [u8; 8],
        start: u64,
        caller: Option<(usize, Arc<str>)>,
        links: Vec<Link>,
        depth: u32,
    ) -> (u64, bool) {
        let c = self.c;
        let s = &c.services[svc];
        let o = &s.ops[op];
        let members = s.by_env.get(self.env).filter(|m| !m.is_empty());
        let ii = match members {
            Some(m) => m[self.rng.below(m.len() as u64) as usize],
            None => self.rng.below(s.instances.len() as u64) as usize,
        };
        let inst = &self.st.inst[svc][ii];
        let (version, resource, phase) = (inst.version.clone(), inst.resource, inst.phase_ns);
        let caller_ref = caller.as_ref().map(|(s, v)| (*s, &**v));
        let (fault_err, fault_lat) = self.effects(
            start,
            FaultSubject::Service(svc),
            Some(&version),
            Some(&o.name),
            caller_ref,
        );
        let (over_err, over_lat) =
            self.st
                .overload(svc, start, s.capacity, members.map_or(1, Vec::len));
        let self_ms = self.rng.lognormal(o.latency.median_ms, o.latency.sigma);
        let pre = self_ms * (0.2 + 0.3 * self.rng.f64());
        let span_id = self.rng.span_id();
        let mut cursor = start + ms(pre);
        let mut error = false;
        let mut propagated = false;
        if depth < MAX_DEPTH {
            let extras = c.call_changes.iter().filter(|cc| {
                cc.service == svc
                    && cc.op == op
                    && cc.start <= start
                    && cc.version.as_deref().is_none_or(|v| *v == *version)
            });
            'calls: for call in o.calls.iter().chain(extras.map(|cc| &cc.call)) {
                if !self.rng.chance(call.probability) {
                    continue;
                }
                for _ in 0..self.rng.range_u32(call.fanout.0, call.fanout.1) {
                    let (end, failed) = self.call(
                        svc, &version, resource, phase, call, trace, span_id, cursor, depth,
                    );
                    cursor = end + ms(self.rng.lognormal(0.05, 0.5));
                    if failed && self.rng.chance(call.propagate) {
                        error = true;
                        propagated = true;
                        break 'calls;
                    }
                }
            }
        }
        if self
            .rng
            .chance(combine(combine(o.error_ratio, fault_err), over_err))
        {
            error = true;
        }
        let mut end = cursor + ms(self_ms - pre);
        let stretch = fault_lat * over_lat;
        if stretch != 1.0 {
            end += ((end - start) as f64 * (stretch - 1.0).max(0.0)) as u64;
        }
        let sc = s.semconv;
        let (kind, name, attributes) = match &o.protocol {
            Protocol::Http { method, route } => {
                let code = if error { 500 } else { 200 };
                (
                    SpanKind::Server,
                    format!("{method} {route}"),
                    attrs::http_server(sc, method, route, code),
                )
            }
            Protocol::Grpc { service, method } => {
                let code = match (error, propagated) {
                    (false, _) => GrpcCode::Ok,
                    (true, true) => GrpcCode::Unavailable,
                    (true, false) => GrpcCode::Internal,
                };
                (
                    SpanKind::Server,
                    format!("{service}/{method}"),
                    attrs::grpc(sc, service, method, None, code),
                )
            }
            Protocol::Consume { topic } => {
                let t = c.topics.iter().find(|t| *t.name == **topic);
                let group = t
                    .and_then(|t| {
                        t.consumers
                            .iter()
                            .find(|(cs, co, _)| *cs == svc && *co == op)
                    })
                    .map_or(&*s.name, |(_, _, g)| &**g);
                let (system, address, partitions) = t.map_or(("kafka", "", 1), |t| {
                    (&*t.system, &*t.address, t.partitions)
                });
                let partition = u32::from(trace[15]) % partitions;
                let attributes =
                    attrs::messaging(sc, system, topic, address, Some(group), partition);
                (SpanKind::Consumer, format!("process {topic}"), attributes)
            }
        };
        let flags = if parent == [0; 8] {
            FLAGS_LOCAL
        } else {
            FLAGS_REMOTE
        };
        self.st.emit(
            resource,
            phase,
            Span {
                trace_id: trace.to_vec(),
                span_id: span_id.to_vec(),
                parent_span_id: if parent == [0; 8] {
                    Vec::new()
                } else {
                    parent.to_vec()
                },
                flags,
                name,
                kind: kind as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                links,
                status: status(
                    error,
                    if propagated {
                        "dependency failed"
                    } else {
                        "internal error"
                    },
                ),
                ..Span::default()
            },
        );
        self.st
            .truth
            .versions
            .entry((svc, version))
            .or_default()
            .add(error);
        (end, error)
    }

    /// Makes one call from an instance of `svc`; returns (client end, failed).
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        svc: usize,
        version: &Arc<str>,
        resource: u32,
        phase: u64,
        call: &CCall,
        trace: [u8; 16],
        parent: [u8; 8],
        start: u64,
        depth: u32,
    ) -> (u64, bool) {
        let c = self.c;
        let sc = c.services[svc].semconv;
        let client_id = self.rng.span_id();
        let (kind, name, attributes, end, error, edge) = match &call.target {
            CTarget::Service { service, op } => {
                let net = self.net();
                let (served_end, failed) = self.serve(
                    *service,
                    *op,
                    trace,
                    client_id,
                    start + net,
                    Some((svc, version.clone())),
                    Vec::new(),
                    depth + 1,
                );
                let end = served_end + self.net();
                let host = &*c.services[*service].name;
                let (name, attributes) = match &c.services[*service].ops[*op].protocol {
                    Protocol::Http { method, .. } => {
                        let code = if failed { 500 } else { 200 };
                        let path = match &c.services[*service].ops[*op].protocol {
                            Protocol::Http { route, .. } => route.clone(),
                            _ => String::new(),
                        };
                        (
                            method.clone(),
                            attrs::http_client(sc, method, host, 8080, &path, code, None),
                        )
                    }
                    Protocol::Grpc {
                        service: gs,
                        method,
                    } => {
                        let code = if failed {
                            GrpcCode::Unavailable
                        } else {
                            GrpcCode::Ok
                        };
                        (
                            format!("{gs}/{method}"),
                            attrs::grpc(sc, gs, method, Some(host), code),
                        )
                    }
                    Protocol::Consume { topic } => (format!("send {topic}"), Vec::new()),
                };
                let edge = (Node::Service(*service), ConnectionType::Direct);
                (SpanKind::Client, name, attributes, end, failed, edge)
            }
            CTarget::Db {
                db,
                operation,
                collection,
            } => {
                let d = &c.dbs[*db];
                let (err, lat) = self.effects(
                    start,
                    FaultSubject::Db(*db),
                    None,
                    None,
                    Some((svc, version)),
                );
                let dur = self.rng.lognormal(d.latency.median_ms, d.latency.sigma) * lat;
                let end = start + ms(dur) + 2 * self.net();
                let failed = self.rng.chance(combine(d.error_ratio, err));
                let name = if collection.is_empty() {
                    operation.to_string()
                } else {
                    format!("{operation} {collection}")
                };
                let attributes = attrs::db_client(
                    sc,
                    &d.system,
                    &d.namespace,
                    operation,
                    collection,
                    &d.address,
                    i64::from(d.port),
                );
                (
                    SpanKind::Client,
                    name,
                    attributes,
                    end,
                    failed,
                    (Node::Db(*db), ConnectionType::Database),
                )
            }
            CTarget::External { peer, method, path } => {
                let p = &c.externals[*peer];
                let (err, lat) = self.effects(
                    start,
                    FaultSubject::External(*peer),
                    None,
                    None,
                    Some((svc, version)),
                );
                let dur = self.rng.lognormal(p.latency.median_ms, p.latency.sigma) * lat;
                let end = start + ms(dur);
                let failed = self.rng.chance(combine(p.error_ratio, err));
                let code = if failed { 503 } else { 200 };
                let attributes =
                    attrs::http_client(sc, method, &p.address, 443, path, code, Some(&p.name));
                let edge = (Node::External(*peer), ConnectionType::VirtualNode);
                (
                    SpanKind::Client,
                    method.to_string(),
                    attributes,
                    end,
                    failed,
                    edge,
                )
            }
            CTarget::Publish { topic } => {
                return self.publish(
                    svc, version, resource, phase, *topic, trace, parent, start, depth,
                );
            }
        };
        self.st
            .truth
            .edges
            .entry((Node::Service(svc), edge.0, edge.1))
            .or_default()
            .add(error);
        self.st.emit(
            resource,
            phase,
            Span {
                trace_id: trace.to_vec(),
                span_id: client_id.to_vec(),
                parent_span_id: parent.to_vec(),
                flags: FLAGS_LOCAL,
                name,
                kind: kind as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                status: status(error, "request failed"),
                ..Span::default()
            },
        );
        (end, error)
    }
}
