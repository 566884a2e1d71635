//! Scenarios: what happens to the fleet over event time — rollouts (gradual,
//! canary, with or without replacing instances), rollbacks, faults (on a
//! service, a version, an operation, a caller's version, a database or an
//! external peer), traffic ramps, version-scoped new calls, and the
//! deployment records a CD system would emit.
//!
//! All times are offsets in seconds from the simulation start, so a scenario
//! can be replayed at any start timestamp.
//!
//! Never does: I/O, clock, randomness.

use super::topology::Call;

/// What a deployment record announces (the CDEvents `service.*` subjects).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeployKind {
    /// `service.deployed`: a service (or environment) appears.
    Deployed,
    /// `service.upgraded`: a new version replaces the old one.
    Upgraded,
    /// `service.rolledback`: back to an earlier version.
    RolledBack,
    /// `service.removed`.
    Removed,
}

impl DeployKind {
    /// The CDEvents subject predicate (`deployed`, `upgraded`, `rolledback`, `removed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployed => "deployed",
            Self::Upgraded => "upgraded",
            Self::RolledBack => "rolledback",
            Self::Removed => "removed",
        }
    }
}

/// One step of a rollout: from `after_secs` after the rollout starts,
/// `share` of the environment's instances (rounded up, in instance order)
/// run the new version.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RolloutStep {
    /// Offset from the rollout's start, seconds.
    pub after_secs: f64,
    /// Share of instances on the new version, `[0, 1]`; any share above 0
    /// moves at least one instance (a canary).
    pub share: f64,
}

/// A change of version on a service's instances in one environment.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollout {
    /// Service name.
    pub service: String,
    /// Environment whose instances change.
    pub environment: String,
    /// Target version.
    pub version: String,
    /// Steps, in order of `after_secs`.
    pub steps: Vec<RolloutStep>,
    /// Kubernetes style: an instance that changes version gets a new
    /// `service.instance.id` (a new pod). Otherwise the id is kept (VMs).
    pub replace_instances: bool,
    /// What the deployment record says (`Upgraded`, `RolledBack`, …).
    pub kind: DeployKind,
    /// Emit a deployment record; `false` = an implicit release, visible
    /// only through `service.version` in the spans.
    pub announce: bool,
}

impl Rollout {
    /// A rollout in `steps` equal steps, the first at the start and the last
    /// `over_secs` later (one step = all at once).
    pub fn gradual(service: &str, version: &str, steps: u32, over_secs: f64) -> Self {
        let steps = steps.max(1);
        let spacing = if steps > 1 {
            over_secs / f64::from(steps - 1)
        } else {
            0.0
        };
        Self {
            service: service.to_owned(),
            environment: "production".to_owned(),
            version: version.to_owned(),
            steps: (1..=steps)
                .map(|k| RolloutStep {
                    after_secs: spacing * f64::from(k - 1),
                    share: f64::from(k) / f64::from(steps),
                })
                .collect(),
            replace_instances: true,
            kind: DeployKind::Upgraded,
            announce: true,
        }
    }

    /// A canary: exactly one instance moves to `version`, and stays there.
    pub fn canary(service: &str, version: &str) -> Self {
        let mut r = Self::gradual(service, version, 1, 0.0);
        r.steps = vec![RolloutStep {
            after_secs: 0.0,
            share: f64::MIN_POSITIVE,
        }];
        r
    }

    /// A rollback of every instance to `version`, all at once.
    pub fn rollback(service: &str, version: &str) -> Self {
        let mut r = Self::gradual(service, version, 1, 0.0);
        r.kind = DeployKind::RolledBack;
        r
    }

    /// Sets the environment.
    pub fn in_environment(mut self, environment: &str) -> Self {
        self.environment = environment.to_owned();
        self
    }

    /// Makes it an implicit release (no deployment record).
    pub fn implicit(mut self) -> Self {
        self.announce = false;
        self
    }

    /// Keeps instance ids across the version change.
    pub fn in_place(mut self) -> Self {
        self.replace_instances = false;
        self
    }
}

/// Which requests a fault hits. Every `Some` field must match.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FaultTarget {
    /// A service, a database or an external peer (by name).
    pub service: String,
    /// Only instances running this version (a bad release).
    pub version: Option<String>,
    /// Only this operation of the service.
    pub operation: Option<String>,
    /// Only in this environment.
    pub environment: Option<String>,
    /// Only requests (or messages) coming from this calling service.
    pub caller: Option<String>,
    /// Only requests coming from instances of the caller on this version
    /// (a caller release that breaks its callee or consumer).
    pub caller_version: Option<String>,
}

impl FaultTarget {
    /// Every request served by `service`.
    pub fn service(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            ..Self::default()
        }
    }

    /// Requests served by `service` instances on `version`.
    pub fn version(service: &str, version: &str) -> Self {
        Self {
            version: Some(version.to_owned()),
            ..Self::service(service)
        }
    }

    /// Requests from `caller` instances on `caller_version` into `service`.
    pub fn from_caller_version(service: &str, caller: &str, caller_version: &str) -> Self {
        Self {
            caller: Some(caller.to_owned()),
            caller_version: Some(caller_version.to_owned()),
            ..Self::service(service)
        }
    }
}

/// Extra failures and latency on the matching requests.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// Which requests.
    pub target: FaultTarget,
    /// How long it lasts, seconds; `None` = until the end.
    pub duration_secs: Option<f64>,
    /// Probability that a matching request fails (on top of the base ratio).
    pub error_ratio: f64,
    /// Multiplies the latency of matching requests (1.0 = unchanged).
    pub latency_multiplier: f64,
}

impl Fault {
    /// A fault that makes `error_ratio` of the matching requests fail.
    pub fn errors(target: FaultTarget, error_ratio: f64) -> Self {
        Self {
            target,
            duration_secs: None,
            error_ratio,
            latency_multiplier: 1.0,
        }
    }

    /// A fault that multiplies the latency of the matching requests.
    pub fn latency(target: FaultTarget, multiplier: f64) -> Self {
        Self {
            target,
            duration_secs: None,
            error_ratio: 0.0,
            latency_multiplier: multiplier,
        }
    }

    /// Limits the fault to `secs` seconds.
    pub fn lasting(mut self, secs: f64) -> Self {
        self.duration_secs = Some(secs);
        self
    }
}

/// From the event on, instances of `service` on `version` (any version when
/// `None`) make an extra call while serving `operation` — a release that
/// adds a dependency or calls one more often.
#[derive(Clone, Debug, PartialEq)]
pub struct CallChange {
    /// Calling service.
    pub service: String,
    /// Its operation that gains the call.
    pub operation: String,
    /// Only instances on this version.
    pub version: Option<String>,
    /// The added call (appended after the operation's own calls).
    pub call: Call,
}

/// A deployment record with no effect on traffic (a staging deploy seen only
/// by the CD system, or a record that arrives for a version nobody runs).
#[derive(Clone, Debug, PartialEq)]
pub struct DeployNotice {
    /// Service name.
    pub service: String,
    /// Version announced.
    pub version: String,
    /// Environment announced.
    pub environment: String,
    /// Kind of record.
    pub kind: DeployKind,
    /// Seconds between start and finish of the deployment.
    pub duration_secs: f64,
}

/// Something that happens to the fleet.
#[derive(Clone, Debug, PartialEq)]
pub enum ScenarioEvent {
    /// Instances change version (also rollbacks: `kind = RolledBack`).
    Rollout(Rollout),
    /// Extra failures or latency.
    Fault(Fault),
    /// The root traffic multiplier moves linearly to `multiplier` over `over_secs`.
    TrafficRamp {
        /// Target multiplier of the base rate.
        multiplier: f64,
        /// Ramp duration, seconds (0 = a step).
        over_secs: f64,
    },
    /// A version-scoped extra call.
    CallChange(CallChange),
    /// A deployment record only.
    Deploy(DeployNotice),
}

/// An event at an offset.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedEvent {
    /// Offset from the simulation start, seconds.
    pub at_secs: f64,
    /// What happens.
    pub event: ScenarioEvent,
}

/// A timeline of events.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Scenario {
    /// Short name (`bad-release`), for reports.
    pub name: String,
    /// Total simulated time, seconds; `None` = endless (the demo).
    pub duration_secs: Option<f64>,
    /// Events; any order (sorted by the simulator, stable for equal times).
    pub events: Vec<TimedEvent>,
}

impl Scenario {
    /// Steady traffic, no events.
    pub fn steady(duration_secs: Option<f64>) -> Self {
        Self {
            name: "steady".to_owned(),
            duration_secs,
            events: Vec::new(),
        }
    }

    /// Adds an event at `at_secs`.
    pub fn at(mut self, at_secs: f64, event: ScenarioEvent) -> Self {
        self.events.push(TimedEvent { at_secs, event });
        self
    }

    /// Sets the name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }
}
