//! The simulator's mutable state: which version and resource each instance
//! has now, per-service load, the spans waiting to be exported, and the
//! ground-truth counters.
//!
//! Export model: every instance's SDK flushes its finished spans every
//! `sdk_flush_ms` at a phase of its own (a `BatchSpanProcessor`), so the
//! spans of one trace reach the collector at different times and land in
//! different collector batches, as they do in production.
//!
//! Never does: I/O, clock, randomness.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::attrs;
use super::compiled::Compiled;
use super::rng::{hash_str, mix};
use super::topology::{Semconv, instance_id};
use super::truth::TruthCounters;

/// A finished span waiting for its instance's next SDK flush.
#[derive(Debug)]
pub(crate) struct PendingSpan {
    pub(crate) export_at: u64,
    pub(crate) seq: u64,
    pub(crate) resource: u32,
    pub(crate) span: Span,
}

impl PartialEq for PendingSpan {
    fn eq(&self, other: &Self) -> bool {
        (self.export_at, self.seq) == (other.export_at, other.seq)
    }
}

impl Eq for PendingSpan {}

impl PartialOrd for PendingSpan {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PendingSpan {
    /// Reversed, so that `BinaryHeap` pops the earliest export first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.export_at, other.seq).cmp(&(self.export_at, self.seq))
    }
}

/// Current state of one instance.
#[derive(Clone, Debug)]
pub(crate) struct InstState {
    pub(crate) version: Arc<str>,
    pub(crate) generation: u64,
    pub(crate) resource: u32,
    pub(crate) phase_ns: u64,
}

/// One resource (instance × version × id) as it goes on the wire.
#[derive(Clone, Debug)]
pub(crate) struct ResourceSlot {
    pub(crate) resource: Resource,
    pub(crate) scope: InstrumentationScope,
    pub(crate) schema_url: &'static str,
}

/// Mutable simulation state.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) inst: Vec<Vec<InstState>>,
    pub(crate) resources: Vec<ResourceSlot>,
    change_cursor: usize,
    /// Per service: (decayed request rate, last update), only for services with a capacity.
    load: Vec<(f64, u64)>,
    pub(crate) truth: TruthCounters,
    pub(crate) pending: BinaryHeap<PendingSpan>,
    flush_period_ns: u64,
    seq: u64,
}

/// Time constant of the load estimate, nanoseconds.
const LOAD_TAU_NS: f64 = 5e9;

impl State {
    pub(crate) fn new(c: &Compiled, flush_period_ns: u64) -> Self {
        let mut st = Self {
            inst: Vec::with_capacity(c.services.len()),
            resources: Vec::new(),
            change_cursor: 0,
            load: vec![(0.0, 0); c.services.len()],
            truth: TruthCounters::default(),
            pending: BinaryHeap::new(),
            flush_period_ns: flush_period_ns.max(1),
            seq: 0,
        };
        for (si, s) in c.services.iter().enumerate() {
            let mut row = Vec::with_capacity(s.instances.len());
            for i in &s.instances {
                let phase_ns = mix(&[hash_str(&i.id)]) % st.flush_period_ns;
                let resource = st.add_resource(c, si, &i.version, &i.id, &i.env_name);
                row.push(InstState {
                    version: i.version.clone(),
                    generation: 0,
                    resource,
                    phase_ns,
                });
            }
            st.inst.push(row);
        }
        st
    }

    fn add_resource(&mut self, c: &Compiled, si: usize, version: &str, id: &str, env: &str) -> u32 {
        let s = &c.services[si];
        self.resources.push(ResourceSlot {
            resource: attrs::resource(s.semconv, &s.name, &s.namespace, version, id, env),
            scope: attrs::scope(&s.scope),
            schema_url: match s.semconv {
                Semconv::Current => attrs::SCHEMA_CURRENT,
                Semconv::Deprecated => attrs::SCHEMA_DEPRECATED,
            },
        });
        (self.resources.len() - 1) as u32
    }

    /// Applies every instance version change scheduled at or before `t`.
    pub(crate) fn apply_changes(&mut self, c: &Compiled, t: u64) {
        while let Some(ch) = c.changes.get(self.change_cursor) {
            if ch.at > t {
                break;
            }
            self.change_cursor += 1;
            let ci = &c.services[ch.service].instances[ch.instance];
            let cur = &self.inst[ch.service][ch.instance];
            if cur.version == ch.version {
                continue;
            }
            let generation = if ch.replace {
                cur.generation + 1
            } else {
                cur.generation
            };
            let id = if generation == 0 {
                ci.id.to_string()
            } else {
                instance_id(
                    &c.services[ch.service].name,
                    &ci.env_name,
                    ci.index_in_env,
                    generation,
                )
            };
            let resource = self.add_resource(c, ch.service, &ch.version, &id, &ci.env_name);
            let phase_ns = mix(&[hash_str(&id)]) % self.flush_period_ns;
            self.inst[ch.service][ch.instance] = InstState {
                version: ch.version.clone(),
                generation,
                resource,
                phase_ns,
            };
        }
    }

    /// Queues a finished span for its instance's next flush after its end.
    pub(crate) fn emit(&mut self, resource: u32, phase_ns: u64, span: Span) {
        let end = span.end_time_unix_nano;
        let p = self.flush_period_ns;
        let export_at = if end <= phase_ns {
            phase_ns
        } else {
            phase_ns + (end - phase_ns).div_ceil(p) * p
        };
        self.seq += 1;
        self.truth.spans += 1;
        self.pending.push(PendingSpan {
            export_at,
            seq: self.seq,
            resource,
            span,
        });
    }

    /// Records one request to `svc` at `t` and returns the overload effect
    /// (extra error probability, latency factor) for a service with a
    /// per-instance capacity.
    pub(crate) fn overload(
        &mut self,
        svc: usize,
        t: u64,
        capacity: Option<f64>,
        instances: usize,
    ) -> (f64, f64) {
        let Some(capacity) = capacity.filter(|c| *c > 0.0) else {
            return (0.0, 1.0);
        };
        let (rate, last) = self.load[svc];
        let dt = t.saturating_sub(last) as f64;
        let rate = rate * (-dt / LOAD_TAU_NS).exp() + 1e9 / LOAD_TAU_NS;
        self.load[svc] = (rate, t.max(last));
        let per_instance = rate / instances.max(1) as f64;
        let over = per_instance / capacity - 1.0;
        if over <= 0.0 {
            return (0.0, 1.0);
        }
        ((0.5 * over).min(0.6), (1.0 + 3.0 * over).min(20.0))
    }
}
