//! Checks a [`Topology`] and a [`Scenario`] against each other, collecting
//! every problem before failing.
//!
//! Never does: I/O, clock.

use std::collections::BTreeSet;

use super::scenario::{Scenario, ScenarioEvent};
use super::topology::{CallTarget, Protocol, Topology, TopologyError};

fn err(errors: &mut Vec<TopologyError>, path: String, reason: &str) {
    errors.push(TopologyError {
        path,
        reason: reason.to_owned(),
    });
}

fn check_ratio(errors: &mut Vec<TopologyError>, path: String, value: f64) {
    if !(0.0..=1.0).contains(&value) {
        err(errors, path, "must be between 0 and 1");
    }
}

/// See [`Topology::validate`].
pub(crate) fn validate_topology(t: &Topology) -> Result<(), Vec<TopologyError>> {
    let mut errors = Vec::new();
    let mut names = BTreeSet::new();
    for s in &t.services {
        if !names.insert(s.name.as_str()) {
            err(
                &mut errors,
                format!("services[{}]", s.name),
                "duplicate service name",
            );
        }
        if s.instances.is_empty() {
            err(
                &mut errors,
                format!("services[{}].instances", s.name),
                "needs an instance",
            );
        }
        let mut ops = BTreeSet::new();
        for op in &s.operations {
            let path = format!("services[{}].operations[{}]", s.name, op.name);
            if !ops.insert(op.name.as_str()) {
                err(&mut errors, path.clone(), "duplicate operation name");
            }
            check_ratio(&mut errors, format!("{path}.error_ratio"), op.error_ratio);
            if !(op.latency.median_ms > 0.0 && op.latency.sigma >= 0.0) {
                err(
                    &mut errors,
                    format!("{path}.latency"),
                    "median must be > 0, sigma >= 0",
                );
            }
            if let Protocol::Consume { topic } = &op.protocol
                && !t.topics.iter().any(|x| &x.name == topic)
            {
                err(&mut errors, format!("{path}.protocol"), "unknown topic");
            }
            for (i, call) in op.calls.iter().enumerate() {
                let cpath = format!("{path}.calls[{i}]");
                check_ratio(
                    &mut errors,
                    format!("{cpath}.probability"),
                    call.probability,
                );
                check_ratio(
                    &mut errors,
                    format!("{cpath}.propagate_error"),
                    call.propagate_error,
                );
                if call.fanout.0 > call.fanout.1 || call.fanout.1 > 64 {
                    err(
                        &mut errors,
                        format!("{cpath}.fanout"),
                        "needs min <= max <= 64",
                    );
                }
                check_target(t, &call.target, &cpath, &mut errors);
            }
        }
    }
    for topic in &t.topics {
        for c in &topic.consumers {
            let ok = t.service(&c.service).is_some_and(|s| {
                s.operations.iter().any(|o| {
                    o.name == c.operation
                        && matches!(&o.protocol, Protocol::Consume { topic: x } if *x == topic.name)
                })
            });
            if !ok {
                err(
                    &mut errors,
                    format!("topics[{}].consumers[{}]", topic.name, c.service),
                    "needs a service with a consume operation on this topic",
                );
            }
        }
    }
    if t.environments.is_empty() || t.environments.iter().all(|(_, w)| *w <= 0.0) {
        err(
            &mut errors,
            "environments".to_owned(),
            "needs an environment with traffic",
        );
    }
    if !t
        .services
        .iter()
        .any(|s| s.operations.iter().any(|o| o.entry_weight > 0.0))
    {
        err(
            &mut errors,
            "services".to_owned(),
            "needs an operation with entry_weight > 0",
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_target(t: &Topology, target: &CallTarget, path: &str, errors: &mut Vec<TopologyError>) {
    let found = match target {
        CallTarget::Service { service, operation } => t
            .service(service)
            .is_some_and(|s| s.operations.iter().any(|o| &o.name == operation)),
        CallTarget::Database { database, .. } => t.databases.iter().any(|d| &d.name == database),
        CallTarget::Publish { topic } => t.topics.iter().any(|x| &x.name == topic),
        CallTarget::External { peer, .. } => t.externals.iter().any(|x| &x.name == peer),
    };
    if !found {
        err(errors, format!("{path}.target"), "unknown target");
    }
}

/// Checks the scenario's references against the topology.
pub(crate) fn validate_scenario(t: &Topology, s: &Scenario) -> Result<(), Vec<TopologyError>> {
    let mut errors = Vec::new();
    let known = |name: &str| {
        t.service(name).is_some()
            || t.databases.iter().any(|d| d.name == name)
            || t.externals.iter().any(|x| x.name == name)
    };
    for (i, ev) in s.events.iter().enumerate() {
        let path = format!("scenario.events[{i}]");
        if !(ev.at_secs >= 0.0 && ev.at_secs.is_finite()) {
            err(
                &mut errors,
                format!("{path}.at_secs"),
                "must be a finite offset >= 0",
            );
        }
        match &ev.event {
            ScenarioEvent::Rollout(r) => {
                if t.service(&r.service).is_none() {
                    err(&mut errors, format!("{path}.service"), "unknown service");
                }
                for (j, step) in r.steps.iter().enumerate() {
                    if !(0.0..=1.0).contains(&step.share) {
                        err(
                            &mut errors,
                            format!("{path}.steps[{j}].share"),
                            "must be in [0, 1]",
                        );
                    }
                }
            }
            ScenarioEvent::Fault(f) => {
                if !known(&f.target.service) {
                    err(
                        &mut errors,
                        format!("{path}.target.service"),
                        "unknown service or peer",
                    );
                }
                if f.error_ratio < 0.0 || f.error_ratio > 1.0 || f.latency_multiplier <= 0.0 {
                    err(
                        &mut errors,
                        path,
                        "error_ratio in [0, 1], latency_multiplier > 0",
                    );
                }
            }
            ScenarioEvent::TrafficRamp { multiplier, .. } => {
                if !(*multiplier >= 0.0 && multiplier.is_finite()) {
                    err(&mut errors, format!("{path}.multiplier"), "must be >= 0");
                }
            }
            ScenarioEvent::CallChange(c) => {
                if t.service(&c.service).is_none() {
                    err(&mut errors, format!("{path}.service"), "unknown service");
                }
                check_target(t, &c.call.target, &path, &mut errors);
            }
            ScenarioEvent::Deploy(_) => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
