//! Compiles a [`Topology`] and a [`Scenario`] into index-based tables the
//! engine walks quickly, and precomputes the scenario's timeline: instance
//! version changes, faults, extra calls, traffic ramps and deployment records.
//!
//! Never does: I/O, clock, randomness.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::Timestamp;

use super::compiled::{
    CCall, CCallChange, CFault, CInstance, COp, CService, CTarget, CTopic, Compiled, FaultSubject,
    InstanceChange, Ramp, secs_to_nanos,
};
use super::scenario::{DeployKind, Scenario, ScenarioEvent};
use super::topology::{CallTarget, Topology};
use super::{DeployRecord, SimError};

fn arc(s: &str) -> Arc<str> {
    Arc::from(s)
}

/// Compiles; `start` is the simulation start in event time.
pub(crate) fn compile(t: &Topology, s: &Scenario, start: Timestamp) -> Result<Compiled, SimError> {
    t.validate().map_err(SimError::Invalid)?;
    super::validate::validate_scenario(t, s).map_err(SimError::Invalid)?;
    let start = start.nanos();
    let envs: Vec<Arc<str>> = t.environments.iter().map(|(e, _)| arc(e)).collect();
    let env_index = |e: &str| envs.iter().position(|x| &**x == e);
    let service_index = |name: &str| t.services.iter().position(|x| x.name == name);
    let op_index =
        |svc: usize, op: &str| t.services[svc].operations.iter().position(|o| o.name == op);
    let compile_call = |call: &super::topology::Call| -> CCall {
        let target = match &call.target {
            CallTarget::Service { service, operation } => {
                let service = service_index(service).unwrap_or(0);
                CTarget::Service {
                    service,
                    op: op_index(service, operation).unwrap_or(0),
                }
            }
            CallTarget::Database {
                database,
                operation,
                collection,
            } => CTarget::Db {
                db: t
                    .databases
                    .iter()
                    .position(|d| &d.name == database)
                    .unwrap_or(0),
                operation: arc(operation),
                collection: arc(collection),
            },
            CallTarget::Publish { topic } => CTarget::Publish {
                topic: t.topics.iter().position(|x| &x.name == topic).unwrap_or(0),
            },
            CallTarget::External { peer, method, path } => CTarget::External {
                peer: t
                    .externals
                    .iter()
                    .position(|x| &x.name == peer)
                    .unwrap_or(0),
                method: arc(method),
                path: arc(path),
            },
        };
        CCall {
            target,
            probability: call.probability,
            fanout: call.fanout,
            propagate: call.propagate_error,
        }
    };

    let mut services = Vec::with_capacity(t.services.len());
    let mut entries = Vec::new();
    let mut entry_weights = Vec::new();
    for (si, svc) in t.services.iter().enumerate() {
        let mut by_env = vec![Vec::new(); envs.len()];
        let mut instances = Vec::with_capacity(svc.instances.len());
        for (ii, inst) in svc.instances.iter().enumerate() {
            // Instances of an environment the traffic never visits stay idle.
            let env = env_index(&inst.environment).unwrap_or(usize::MAX);
            let index_in_env = if env < by_env.len() {
                by_env[env].push(ii);
                by_env[env].len() - 1
            } else {
                0
            };
            instances.push(CInstance {
                index_in_env,
                version: arc(&inst.version),
                id: arc(&inst.id),
                env_name: arc(&inst.environment),
            });
        }
        let ops = svc
            .operations
            .iter()
            .enumerate()
            .map(|(oi, op)| {
                if op.entry_weight > 0.0 {
                    entries.push((si, oi));
                    entry_weights.push(op.entry_weight);
                }
                COp {
                    name: arc(&op.name),
                    protocol: op.protocol.clone(),
                    latency: op.latency,
                    error_ratio: op.error_ratio,
                    calls: op.calls.iter().map(compile_call).collect(),
                }
            })
            .collect();
        services.push(CService {
            name: arc(&svc.name),
            namespace: arc(&svc.namespace),
            semconv: svc.semconv,
            scope: arc(&svc.scope),
            capacity: svc.capacity_rps_per_instance,
            ops,
            instances,
            by_env,
        });
    }
    let topics = t
        .topics
        .iter()
        .map(|x| CTopic {
            name: arc(&x.name),
            system: arc(&x.system),
            address: arc(&x.address),
            consumers: x
                .consumers
                .iter()
                .filter_map(|c| {
                    let s = service_index(&c.service)?;
                    Some((s, op_index(s, &c.operation)?, arc(&c.group)))
                })
                .collect(),
            link_mode: x.link_mode,
            queue_delay: x.queue_delay,
            partitions: x.partitions.max(1),
        })
        .collect();

    let mut events: Vec<_> = s.events.iter().collect();
    events.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
    let mut faults = Vec::new();
    let mut call_changes = Vec::new();
    let mut changes = Vec::new();
    let mut ramps = Vec::new();
    let mut rollouts = Vec::new();
    let mut notices = Vec::new();
    for ev in events {
        let at = start + secs_to_nanos(ev.at_secs);
        match &ev.event {
            ScenarioEvent::Rollout(r) => {
                let Some(si) = service_index(&r.service) else {
                    continue;
                };
                let env = env_index(&r.environment);
                let members: Vec<usize> = env
                    .map(|e| services[si].by_env[e].clone())
                    .unwrap_or_default();
                let mut moved = 0usize;
                let mut last = at;
                for step in &r.steps {
                    let step_at = at + secs_to_nanos(step.after_secs);
                    last = last.max(step_at);
                    let want = if step.share <= 0.0 {
                        0
                    } else {
                        ((step.share * members.len() as f64).ceil() as usize)
                            .clamp(1, members.len())
                    };
                    while moved < want {
                        changes.push(InstanceChange {
                            at: step_at,
                            service: si,
                            instance: members[moved],
                            version: arc(&r.version),
                            replace: r.replace_instances,
                        });
                        moved += 1;
                    }
                }
                rollouts.push((at, last, si, env, r));
            }
            ScenarioEvent::Fault(f) => {
                let subject = if let Some(i) = service_index(&f.target.service) {
                    FaultSubject::Service(i)
                } else if let Some(i) = t.databases.iter().position(|d| d.name == f.target.service)
                {
                    FaultSubject::Db(i)
                } else if let Some(i) = t.externals.iter().position(|x| x.name == f.target.service)
                {
                    FaultSubject::External(i)
                } else {
                    continue;
                };
                faults.push(CFault {
                    start: at,
                    end: f.duration_secs.map_or(u64::MAX, |d| at + secs_to_nanos(d)),
                    subject,
                    version: f.target.version.as_deref().map(arc),
                    op: f.target.operation.as_deref().map(arc),
                    env: f.target.environment.as_deref().map(arc),
                    caller: f.target.caller.as_deref().and_then(service_index),
                    caller_version: f.target.caller_version.as_deref().map(arc),
                    error_ratio: f.error_ratio,
                    latency_multiplier: f.latency_multiplier,
                });
            }
            ScenarioEvent::TrafficRamp {
                multiplier,
                over_secs,
            } => ramps.push(Ramp {
                start: at,
                over: secs_to_nanos(*over_secs),
                target: *multiplier,
            }),
            ScenarioEvent::CallChange(c) => {
                let Some(si) = service_index(&c.service) else {
                    continue;
                };
                let Some(oi) = op_index(si, &c.operation) else {
                    continue;
                };
                call_changes.push(CCallChange {
                    start: at,
                    service: si,
                    op: oi,
                    version: c.version.as_deref().map(arc),
                    call: compile_call(&c.call),
                });
            }
            ScenarioEvent::Deploy(n) => notices.push((at, n)),
        }
    }
    changes.sort_by_key(|c| c.at);
    let deploys = deploy_records(&services, &changes, &rollouts, &notices);
    Ok(Compiled {
        services,
        dbs: t.databases.clone(),
        topics,
        externals: t.externals.clone(),
        envs,
        env_weights: t.environments.iter().map(|(_, w)| *w).collect(),
        entries,
        entry_weights,
        faults,
        call_changes,
        changes,
        ramps,
        deploys,
        end: s.duration_secs.map(|d| start + secs_to_nanos(d)),
        diurnal: t.diurnal,
    })
}

type RolloutRef<'a> = (u64, u64, usize, Option<usize>, &'a super::scenario::Rollout);

/// Deployment records: announced rollouts (with the version most instances
/// of the environment ran just before) and notices, sorted by time.
fn deploy_records(
    services: &[CService],
    changes: &[InstanceChange],
    rollouts: &[RolloutRef<'_>],
    notices: &[(u64, &super::scenario::DeployNotice)],
) -> Vec<DeployRecord> {
    let mut out = Vec::new();
    for (n, &(at, last, si, env, r)) in rollouts.iter().enumerate() {
        if !r.announce {
            continue;
        }
        // Versions per instance just before `at`.
        let mut versions: Vec<Arc<str>> = services[si]
            .instances
            .iter()
            .map(|i| i.version.clone())
            .collect();
        for c in changes.iter().filter(|c| c.service == si && c.at < at) {
            versions[c.instance] = c.version.clone();
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let members = env
            .and_then(|e| services[si].by_env.get(e))
            .map_or(&[][..], Vec::as_slice);
        for &ii in members {
            *counts.entry(&versions[ii]).or_default() += 1;
        }
        let previous = counts
            .iter()
            .filter(|(v, _)| **v != r.version)
            .max_by_key(|(_, n)| **n)
            .map(|(v, _)| (*v).to_owned());
        let kind = match (r.kind, &previous) {
            (DeployKind::Upgraded, None) => DeployKind::Deployed,
            (k, _) => k,
        };
        out.push(DeployRecord {
            id: format!("sim-{n:04}-{}-{}", r.service, r.version),
            started_at: Timestamp(at),
            finished_at: Timestamp(last),
            service: r.service.clone(),
            version: r.version.clone(),
            previous_version: previous,
            environment: r.environment.clone(),
            kind,
        });
    }
    for (k, &(at, n)) in notices.iter().enumerate() {
        out.push(DeployRecord {
            id: format!("sim-notice-{k:04}-{}-{}", n.service, n.version),
            started_at: Timestamp(at),
            finished_at: Timestamp(at + secs_to_nanos(n.duration_secs)),
            service: n.service.clone(),
            version: n.version.clone(),
            previous_version: None,
            environment: n.environment.clone(),
            kind: n.kind,
        });
    }
    out.sort_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    out
}
