//! The analysis stage: the release index, detection and attribution driven
//! together over closed windows, turning them and deployment events into
//! alerts.
//!
//! [`Analyzer`] is the deterministic core (see its module doc for the order
//! of a step); [`task`] runs it in the daemon; `epicenter replay` calls it
//! directly. The adapters in `inputs` turn the release index and the recent
//! windows into the plain inputs of [`crate::attribute`]. [`record`] builds
//! the durable history's batch of a step; [`reexamine`] re-runs attribution
//! over a stored past period.
//!
//! Never does: decode input, deliver alerts (see `emit`), or read the clock.

mod analyzer;
mod coarse;
pub mod config;
mod history;
mod history_rows;
mod inputs;
pub mod journal;
mod kept;
pub mod metrics;
pub mod owners;
pub mod record;
pub mod reexamine;
pub mod task;
mod topology;

pub use analyzer::{Analyzer, Outcome};
pub use config::{Config, Settings};
pub use journal::Journal;
pub use kept::KeptWindow;
pub use metrics::Metrics;
pub use owners::Owners;
pub use record::history_batch;
pub use reexamine::{Reexamination, reexamine, reexamine_range};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_incidents;
#[cfg(test)]
pub(crate) mod tests_support;
