//! A seeded, deterministic traffic simulator of a realistic fleet, for the
//! demo, the tests, the benchmarks and the release scenarios.
//!
//! * [`Topology`]: services, instances and versions, operations, the calls
//!   between them, databases, a Kafka topic, external peers;
//!   [`Topology::default_fleet`] (a 14-service shop) and
//!   [`Topology::generated`] (50 to 5,000 services for benchmarks).
//! * [`Scenario`]: rollouts, canaries, rollbacks, faults, traffic ramps,
//!   version-scoped new calls and deployment records, in event time;
//!   [`DeployFormat`]: records as CDEvents v0.4, v0.5 or the plain form.
//! * [`score`]: judges a replay's alerts against a preset's answer key.
//! * [`Simulator`]: turns both into Collector-like OTLP batches
//!   ([`Simulator::next_batch`]) that mix services and split traces across
//!   batches, plus the deployment records ([`DeployRecord`]) and the ground
//!   truth ([`GroundTruth`], [`Topology::expected_edges`]).
//! * [`to_otlp_json_line`]: the OTLP/JSON encoding for files.
//! * [`send`]: the only part that does I/O (OTLP/HTTP, Kafka, files) and
//!   paces event time against wall time ([`write_scenario`] uses it to write
//!   a release scenario's files for `epicenter replay`); [`cli`] holds `epicenter simulate`'s
//!   arguments; [`view`] renders the demo's terminal view of a graph snapshot.
//!
//! Everything except `send` is pure: no I/O, no clock, and all randomness
//! comes from the seed (see [`rng`] for why the PRNG is our own). The same
//! inputs give byte-identical batches.
//!
//! Allowed dependencies: `model` and the OTLP types (`opentelemetry_proto`).

mod attrs;
mod batch;
mod cdevents;
pub mod cli;
mod compile;
mod compiled;
mod engine;
mod fleet;
mod fleet_parts;
mod generated;
mod json;
pub mod presets;
pub mod rng;
mod scenario;
mod scenario_files;
pub mod score;
pub mod send;
mod simulator;
mod state;
mod topology;
mod truth;
mod validate;
pub mod view;

#[cfg(test)]
mod tests;

pub use batch::{span_count, split_by_trace, split_to_fit};
pub use cdevents::DeployFormat;
pub use json::{request_to_otlp_json, to_otlp_json_line};
pub use presets::{GENERATED_PRESET_NAMES, PRESET_NAMES, Preset, generated_preset, preset};
pub use scenario::{
    CallChange, DeployKind, DeployNotice, Fault, FaultTarget, Rollout, RolloutStep, Scenario,
    ScenarioEvent, TimedEvent,
};
pub use scenario_files::{ScenarioFiles, ScenarioSpec, write_scenario};
pub use simulator::{BatchOptions, SimStats, Simulator};
pub use topology::{
    Call, CallTarget, Consumer, Database, Diurnal, ExternalPeer, Instance, Latency, LinkMode,
    Operation, Protocol, Semconv, Service, Topic, Topology, TopologyError, instance_id,
};
pub use truth::{Count, EdgeTruth, ExpectedEdge, GroundTruth, ServerKind, VersionTruth};

use crate::model::Timestamp;

/// A deployment as a CD system would announce it; [`DeployRecord::encode`]
/// writes it as a CDEvent (v0.4 or v0.5) or in the plain form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployRecord {
    /// Stable id (`sim-0003-payment-1.5.0`).
    pub id: String,
    /// When the rollout started, event time.
    pub started_at: Timestamp,
    /// When its last step happened, event time.
    pub finished_at: Timestamp,
    /// Service.
    pub service: String,
    /// New version.
    pub version: String,
    /// The version most instances ran just before, if any.
    pub previous_version: Option<String>,
    /// Environment.
    pub environment: String,
    /// Deployed, upgraded, rolled back, removed.
    pub kind: DeployKind,
}

impl DeployRecord {
    /// The plain JSON form the daemon accepts
    /// (`{"service","version","environment","started_at","finished_at","id",...}`).
    pub fn to_json(&self) -> String {
        let mut v = serde_json::json!({
            "id": self.id,
            "service": self.service,
            "version": self.version,
            "environment": self.environment,
            "started_at": self.started_at.to_rfc3339(),
            "finished_at": self.finished_at.to_rfc3339(),
            "kind": self.kind.as_str(),
        });
        if let (Some(prev), Some(obj)) = (&self.previous_version, v.as_object_mut()) {
            obj.insert(
                "previous_version".to_owned(),
                serde_json::Value::String(prev.clone()),
            );
        }
        v.to_string()
    }
}

/// Why a simulator could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The topology, scenario or options are inconsistent (every problem listed).
    #[error("invalid simulation: {}", list(.0))]
    Invalid(Vec<TopologyError>),
}

fn list(errors: &[TopologyError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
