//! Built-in scenarios on the default fleet, one per kind the release
//! scenario suite needs (issue 3), each with its answer key: which releases
//! are bad and which are innocent.
//!
//! Every scenario starts with `warmup_secs` of clean traffic, then its
//! events, then 20 minutes of aftermath. [`generated_preset`] builds the
//! same kinds of release on a generated fleet.
//!
//! Never does: I/O, clock, randomness.

use super::scenario::{
    CallChange, DeployKind, DeployNotice, Fault, FaultTarget, Rollout, Scenario, ScenarioEvent,
};
use super::topology::{Call, CallTarget, Topology};

/// The names [`preset`] knows.
pub const PRESET_NAMES: [&str; 13] = [
    "steady",
    "rollout",
    "bad-release",
    "latency-regression",
    "canary",
    "rollback",
    "overload",
    "implicit-release",
    "consumer-break",
    "staging-deploy",
    "external-outage",
    "traffic-ramp",
    "two-bad-releases",
];

/// A scenario with its fleet and its answer key.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// One of [`PRESET_NAMES`].
    pub name: &'static str,
    /// The fleet (the default shop, sometimes adjusted).
    pub topology: Topology,
    /// The timeline.
    pub scenario: Scenario,
    /// Releases that cause an anomaly: (service, version, environment).
    pub bad_releases: Vec<(String, String, String)>,
    /// Releases that must never be blamed.
    pub innocent_releases: Vec<(String, String, String)>,
}

const AFTERMATH_SECS: f64 = 1200.0;

fn release(service: &str, version: &str) -> (String, String, String) {
    (
        service.to_owned(),
        version.to_owned(),
        "production".to_owned(),
    )
}

fn roll(r: Rollout) -> ScenarioEvent {
    ScenarioEvent::Rollout(r)
}

fn fault(f: Fault) -> ScenarioEvent {
    ScenarioEvent::Fault(f)
}

/// The named preset, or `None`. `warmup_secs` of clean traffic come first.
pub fn preset(name: &str, warmup_secs: f64) -> Option<Preset> {
    let w = warmup_secs.max(0.0);
    let mut topology = Topology::default_fleet();
    let base = Scenario::steady(Some(w + AFTERMATH_SECS)).named(name);
    let mut bad = Vec::new();
    let mut innocent = Vec::new();
    let scenario = match name {
        "steady" => Scenario::steady(None).named("steady"),
        "rollout" => {
            innocent.push(release("checkout", "1.4.1"));
            base.at(w, roll(Rollout::gradual("checkout", "1.4.1", 3, 300.0)))
        }
        "bad-release" => {
            bad.push(release("payment", "1.5.0"));
            base.at(
                0.0,
                fault(Fault::errors(
                    FaultTarget::version("payment", "1.5.0"),
                    0.25,
                )),
            )
            .at(w, roll(Rollout::gradual("payment", "1.5.0", 2, 120.0)))
        }
        "latency-regression" => {
            bad.push(release("catalog", "1.9.0"));
            base.at(
                0.0,
                fault(Fault::latency(
                    FaultTarget::version("catalog", "1.9.0"),
                    4.0,
                )),
            )
            .at(w, roll(Rollout::gradual("catalog", "1.9.0", 3, 180.0)))
        }
        "canary" => {
            bad.push(release("cart", "1.7.0"));
            base.at(
                0.0,
                fault(Fault::errors(FaultTarget::version("cart", "1.7.0"), 0.4)),
            )
            .at(w, roll(Rollout::canary("cart", "1.7.0")))
        }
        "rollback" => {
            bad.push(release("payment", "1.5.0"));
            base.at(
                0.0,
                fault(Fault::errors(FaultTarget::version("payment", "1.5.0"), 0.3)),
            )
            .at(w, roll(Rollout::gradual("payment", "1.5.0", 1, 0.0)))
            .at(w + 420.0, roll(Rollout::rollback("payment", "1.4.0")))
        }
        "overload" => {
            // checkout 1.5.0 checks stock per item: 4–6 extra calls into inventory,
            // which saturates; the symptom is on inventory, the culprit upstream.
            bad.push(release("checkout", "1.5.0"));
            if let Some(s) = topology.services.iter_mut().find(|s| s.name == "inventory") {
                s.capacity_rps_per_instance = Some(2.0);
            }
            let call = Call::always(CallTarget::Service {
                service: "inventory".to_owned(),
                operation: "shop.InventoryService/Reserve".to_owned(),
            })
            .with_fanout(4, 6);
            base.at(
                0.0,
                ScenarioEvent::CallChange(CallChange {
                    service: "checkout".to_owned(),
                    operation: "shop.CheckoutService/PlaceOrder".to_owned(),
                    version: Some("1.5.0".to_owned()),
                    call,
                }),
            )
            .at(w, roll(Rollout::gradual("checkout", "1.5.0", 2, 120.0)))
        }
        "implicit-release" => {
            bad.push(release("shipping", "1.2.0"));
            base.at(
                0.0,
                fault(Fault::errors(
                    FaultTarget::version("shipping", "1.2.0"),
                    0.3,
                )),
            )
            .at(
                w,
                roll(Rollout::gradual("shipping", "1.2.0", 2, 120.0).implicit()),
            )
        }
        "consumer-break" => {
            // checkout 1.5.0 publishes a new payload that accounting cannot parse;
            // checkout itself stays healthy.
            bad.push(release("checkout", "1.5.0"));
            let target = FaultTarget::from_caller_version("accounting", "checkout", "1.5.0");
            base.at(0.0, fault(Fault::errors(target, 0.6)))
                .at(w, roll(Rollout::gradual("checkout", "1.5.0", 3, 180.0)))
        }
        "staging-deploy" => {
            // A bad payment build reaches staging only; production stays healthy.
            topology.add_environment("staging", 1, 0.05);
            innocent.push((
                "payment".to_owned(),
                "2.0.0".to_owned(),
                "staging".to_owned(),
            ));
            let target = FaultTarget {
                environment: Some("staging".to_owned()),
                ..FaultTarget::version("payment", "2.0.0")
            };
            base.at(0.0, fault(Fault::errors(target, 0.5))).at(
                w,
                roll(Rollout::gradual("payment", "2.0.0", 1, 0.0).in_environment("staging")),
            )
        }
        "external-outage" => {
            innocent.push(release("ad", "1.0.8"));
            innocent.push(release("currency", "1.2.1"));
            base.at(w, roll(Rollout::gradual("ad", "1.0.8", 1, 0.0)))
                .at(
                    w + 60.0,
                    roll(Rollout::gradual("currency", "1.2.1", 1, 0.0)),
                )
                .at(
                    w + 150.0,
                    fault(Fault {
                        target: FaultTarget::service("payment-provider"),
                        duration_secs: Some(420.0),
                        error_ratio: 0.6,
                        latency_multiplier: 3.0,
                    }),
                )
        }
        "traffic-ramp" => {
            innocent.push(release("frontend", "2.5.0"));
            innocent.push(release("recommendation", "0.9.4"));
            base.at(
                w,
                ScenarioEvent::TrafficRamp {
                    multiplier: 2.5,
                    over_secs: 600.0,
                },
            )
            .at(
                w + 120.0,
                roll(Rollout::gradual("frontend", "2.5.0", 3, 300.0)),
            )
            .at(
                w + 400.0,
                roll(Rollout::gradual("recommendation", "0.9.4", 1, 0.0)),
            )
        }
        "two-bad-releases" => {
            bad.push(release("payment", "1.5.0"));
            bad.push(release("catalog", "1.9.0"));
            base.at(
                0.0,
                fault(Fault::errors(
                    FaultTarget::version("payment", "1.5.0"),
                    0.25,
                )),
            )
            .at(
                0.0,
                fault(Fault::latency(
                    FaultTarget::version("catalog", "1.9.0"),
                    4.0,
                )),
            )
            .at(w, roll(Rollout::gradual("payment", "1.5.0", 2, 120.0)))
            .at(
                w + 600.0,
                roll(Rollout::gradual("catalog", "1.9.0", 2, 120.0)),
            )
            .at(
                w + 30.0,
                ScenarioEvent::Deploy(DeployNotice {
                    service: "email".to_owned(),
                    version: "0.7.2".to_owned(),
                    environment: "staging".to_owned(),
                    kind: DeployKind::Upgraded,
                    duration_secs: 30.0,
                }),
            )
        }
        _ => return None,
    };
    let name = PRESET_NAMES.iter().copied().find(|n| *n == name)?;
    Some(Preset {
        name,
        topology,
        scenario,
        bad_releases: bad,
        innocent_releases: innocent,
    })
}

/// The names [`generated_preset`] knows.
pub const GENERATED_PRESET_NAMES: [&str; 2] = ["gen-bad-release", "gen-latency-regression"];

/// A release scenario on [`Topology::generated`]`(n_services, topology_seed)`:
/// the API-layer service with the most instances gets a bad release
/// (`gen-bad-release`: 25% errors, two steps over 2 minutes;
/// `gen-latency-regression`: 4× latency, three steps over 3 minutes), and
/// another API-layer service an innocent release 90 seconds earlier (right
/// after the `warmup_secs` of clean history).
/// `None` for an unknown name or a fleet without two API-layer services.
pub fn generated_preset(
    name: &str,
    n_services: usize,
    topology_seed: u64,
    warmup_secs: f64,
) -> Option<Preset> {
    let w = warmup_secs.max(0.0);
    let name = GENERATED_PRESET_NAMES
        .iter()
        .copied()
        .find(|n| *n == name)?;
    let topology = Topology::generated(n_services, topology_seed);
    let mut api: Vec<(usize, &str)> = topology
        .services
        .iter()
        .filter(|s| s.name.starts_with("api-"))
        .map(|s| (s.instances.len(), s.name.as_str()))
        .collect();
    // Most instances first, then by name.
    api.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let (&(_, culprit), &(_, bystander)) = (api.first()?, api.get(1)?);
    let (culprit, bystander) = (culprit.to_owned(), bystander.to_owned());
    let base = Scenario::steady(Some(w + AFTERMATH_SECS)).named(name);
    let target = FaultTarget::version(&culprit, "2.0.0");
    let (effect, rollout) = if name == "gen-bad-release" {
        (
            Fault::errors(target, 0.25),
            Rollout::gradual(&culprit, "2.0.0", 2, 120.0),
        )
    } else {
        (
            Fault::latency(target, 4.0),
            Rollout::gradual(&culprit, "2.0.0", 3, 180.0),
        )
    };
    let scenario = base
        .at(0.0, fault(effect))
        .at(w, roll(Rollout::gradual(&bystander, "3.1.0", 1, 0.0)))
        .at(w + 90.0, roll(rollout));
    Some(Preset {
        name,
        topology,
        scenario,
        bad_releases: vec![release(&culprit, "2.0.0")],
        innocent_releases: vec![release(&bystander, "3.1.0")],
    })
}
