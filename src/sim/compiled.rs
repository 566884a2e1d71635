//! The simulator's compiled form: a [`Topology`](super::topology::Topology)
//! and a scenario resolved to index-based tables the engine walks quickly,
//! with the scenario's timeline (instance changes, faults, extra calls,
//! traffic ramps). Built by `compile`; read by the engine.
//!
//! Never does: I/O, clock, randomness, validation.

use std::sync::Arc;

use super::DeployRecord;
use super::topology::{Database, Diurnal, ExternalPeer, Latency, LinkMode, Protocol, Semconv};

pub(crate) const NANOS_PER_SEC: f64 = 1e9;

pub(crate) fn secs_to_nanos(secs: f64) -> u64 {
    if secs <= 0.0 {
        0
    } else {
        (secs * NANOS_PER_SEC).round() as u64
    }
}

#[derive(Clone, Debug)]
pub(crate) enum CTarget {
    Service {
        service: usize,
        op: usize,
    },
    Db {
        db: usize,
        operation: Arc<str>,
        collection: Arc<str>,
    },
    Publish {
        topic: usize,
    },
    External {
        peer: usize,
        method: Arc<str>,
        path: Arc<str>,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct CCall {
    pub(crate) target: CTarget,
    pub(crate) probability: f64,
    pub(crate) fanout: (u32, u32),
    pub(crate) propagate: f64,
}

#[derive(Clone, Debug)]
pub(crate) struct COp {
    pub(crate) name: Arc<str>,
    pub(crate) protocol: Protocol,
    pub(crate) latency: Latency,
    pub(crate) error_ratio: f64,
    pub(crate) calls: Vec<CCall>,
}

#[derive(Clone, Debug)]
pub(crate) struct CInstance {
    /// Position among the service's instances in the same environment.
    pub(crate) index_in_env: usize,
    /// Version at the start.
    pub(crate) version: Arc<str>,
    /// `service.instance.id` at the start.
    pub(crate) id: Arc<str>,
    /// `deployment.environment.name`.
    pub(crate) env_name: Arc<str>,
}

#[derive(Clone, Debug)]
pub(crate) struct CService {
    pub(crate) name: Arc<str>,
    pub(crate) namespace: Arc<str>,
    pub(crate) semconv: Semconv,
    pub(crate) scope: Arc<str>,
    pub(crate) capacity: Option<f64>,
    pub(crate) ops: Vec<COp>,
    pub(crate) instances: Vec<CInstance>,
    /// Instance indices per environment index.
    pub(crate) by_env: Vec<Vec<usize>>,
}

#[derive(Clone, Debug)]
pub(crate) struct CTopic {
    pub(crate) name: Arc<str>,
    pub(crate) system: Arc<str>,
    pub(crate) address: Arc<str>,
    pub(crate) consumers: Vec<(usize, usize, Arc<str>)>,
    pub(crate) link_mode: LinkMode,
    pub(crate) queue_delay: Latency,
    pub(crate) partitions: u32,
}

/// What a fault's `service` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultSubject {
    Service(usize),
    Db(usize),
    External(usize),
}

#[derive(Clone, Debug)]
pub(crate) struct CFault {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) subject: FaultSubject,
    pub(crate) version: Option<Arc<str>>,
    pub(crate) op: Option<Arc<str>>,
    pub(crate) env: Option<Arc<str>>,
    pub(crate) caller: Option<usize>,
    pub(crate) caller_version: Option<Arc<str>>,
    pub(crate) error_ratio: f64,
    pub(crate) latency_multiplier: f64,
}

#[derive(Clone, Debug)]
pub(crate) struct CCallChange {
    pub(crate) start: u64,
    pub(crate) service: usize,
    pub(crate) op: usize,
    pub(crate) version: Option<Arc<str>>,
    pub(crate) call: CCall,
}

/// One instance switching version at `at`.
#[derive(Clone, Debug)]
pub(crate) struct InstanceChange {
    pub(crate) at: u64,
    pub(crate) service: usize,
    pub(crate) instance: usize,
    pub(crate) version: Arc<str>,
    pub(crate) replace: bool,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Ramp {
    pub(crate) start: u64,
    pub(crate) over: u64,
    pub(crate) target: f64,
}

/// Everything the engine needs, resolved to indices.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    pub(crate) services: Vec<CService>,
    pub(crate) dbs: Vec<Database>,
    pub(crate) topics: Vec<CTopic>,
    pub(crate) externals: Vec<ExternalPeer>,
    pub(crate) envs: Vec<Arc<str>>,
    pub(crate) env_weights: Vec<f64>,
    pub(crate) entries: Vec<(usize, usize)>,
    pub(crate) entry_weights: Vec<f64>,
    pub(crate) faults: Vec<CFault>,
    pub(crate) call_changes: Vec<CCallChange>,
    pub(crate) changes: Vec<InstanceChange>,
    pub(crate) ramps: Vec<Ramp>,
    pub(crate) deploys: Vec<DeployRecord>,
    pub(crate) end: Option<u64>,
    pub(crate) diurnal: Option<Diurnal>,
}

impl Compiled {
    /// Root traffic multiplier at `t` (ramps applied in order).
    pub(crate) fn traffic_multiplier(&self, t: u64) -> f64 {
        let mut m = 1.0;
        for r in &self.ramps {
            if t < r.start {
                break;
            }
            let progress = if r.over == 0 {
                1.0
            } else {
                ((t - r.start) as f64 / r.over as f64).min(1.0)
            };
            m += (r.target - m) * progress;
        }
        if let Some(d) = self.diurnal.filter(|d| d.period_secs > 0.0) {
            let phase = t as f64 / NANOS_PER_SEC / d.period_secs;
            m *= 1.0 + d.amplitude * (std::f64::consts::TAU * phase).sin();
        }
        m.max(0.0)
    }
}
