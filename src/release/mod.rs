//! Release intelligence: which version of which service is rolling out where,
//! from deployment events (explicit) and from the versions spans show
//! (implicit).
//!
//! The core is [`ReleaseIndex`], synchronous and deterministic:
//!
//! * [`ReleaseIndex::apply_event`] takes a [`DeployEvent`](crate::model::DeployEvent):
//!   - duplicates (same `source` and `id`) are dropped and reported
//!     ([`EventOutcome::Duplicate`]);
//!   - `deployed`/`upgraded` open a release at the event time, or confirm an
//!     existing one: a release of the same version whose exposure (else start)
//!     lies within `merge_tolerance_secs` of the event, or the latest release
//!     if it has that version. Confirming an implicit release makes the event
//!     its identity (origin, `deployment_id`, `started_at` = event time) and
//!     keeps the exposure start seen in spans. A version already running since
//!     well before the event (restart, scale-out) or the target of a recorded
//!     rollback is ignored;
//!   - `rolledback` (its version is the version rolled *to*) marks the latest
//!     release of another version rolled back and records the target;
//!   - `removed` retires the service and marks its latest release removed;
//!   - `published` is informational.
//! * [`ReleaseIndex::observe_window`] takes a closed
//!   [`WindowStats`](crate::model::WindowStats) and reads its
//!   `SeriesKey::ServiceVersion` series (requests and instances per version):
//!   - a version of an announced release showing up starts its exposure;
//!   - a version never seen before, for a service that already had one, is an
//!     implicit release at the window start (the versions of a service's first
//!     `baseline_windows` windows are its baseline, not releases);
//!   - the latest exposed release is tracked: its instance and traffic share
//!     go into its timeline; it is a *canary* once its share stays below
//!     `canary_max_share` (within `canary_hold_tolerance`) for
//!     `canary_min_windows` windows; *complete* at `complete_share`; *rolled
//!     back* when it is absent for `rollback_confirm_windows` windows while
//!     other (known) versions serve; progress is reported every `progress_step`.
//!     A newer release getting exposure supersedes older in-progress ones.
//! * queries: [`ReleaseIndex::candidates`], [`ReleaseIndex::release`],
//!   [`ReleaseIndex::previous_version`], [`ReleaseIndex::timeline`],
//!   [`ReleaseIndex::releases_since`] and a few more.
//!
//! Environments never mix: every key is (service, environment), and an event
//! in `production` never matches spans of `staging` (nor spans without an
//! environment).
//!
//! # Bounds
//!
//! Memory is bounded by `max_services` × (`max_releases_per_service` ×
//! `timeline_max_points` + `max_versions_per_service`) + `dedup_capacity`.
//! Eviction is deterministic: the oldest release of a service, the least
//! recently seen version, the least recently active service, the oldest dedup
//! entry; timelines halve their resolution when full.
//!
//! # How it fails
//!
//! * Windows must arrive in order per service; an older window is ignored.
//! * A low-traffic release whose instances emit no spans for
//!   `rollback_confirm_windows` windows while others do looks rolled back.
//! * A version that comes back after being evicted from the version memory
//!   is taken for a new (implicit) release.
//! * A redeploy of the same version (config change) is merged into the
//!   existing release, not a new one.
//!
//! Never does: I/O, clock reads, logging (the task, still to be written,
//! does those and records [`Metrics`]), hash-map iteration in outputs.

pub mod config;
mod dedup;
mod index;
pub mod metrics;
mod queries;
mod rollout;

pub use config::{Config, Settings};
pub use index::{EventOutcome, IgnoreReason, ReleaseIndex};
pub use metrics::Metrics;

#[cfg(test)]
mod tests;
