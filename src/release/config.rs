//! Configuration of the release index: matching tolerance, rollout
//! recognition thresholds and memory bounds.
//!
//! Never does: I/O; `validate` collects every error at once.

use serde::Deserialize;

use crate::model::{Invalid, Timestamp};

/// `release` section of the configuration file.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// A service's first this many windows with traffic are its baseline:
    /// versions seen then are not implicit releases (a low-traffic version
    /// missing from the very first window is not a release).
    pub baseline_windows: u32,
    /// An event and a version first seen in spans within this many seconds of
    /// each other are the same release.
    pub merge_tolerance_secs: u64,
    /// A version on fewer than this share of instances (exclusive, `(0, 1)`)
    /// may be a canary.
    pub canary_max_share: f64,
    /// Windows a minority share must be held before it is called a canary.
    pub canary_min_windows: u32,
    /// How much the share may move (absolute) while still "held".
    pub canary_hold_tolerance: f64,
    /// A release is complete when its share reaches this (`(0, 1]`).
    pub complete_share: f64,
    /// Consecutive windows without a release's version (while others serve)
    /// before traffic counts as rolled back.
    pub rollback_confirm_windows: u32,
    /// Report rollout progress when the share moved at least this much.
    pub progress_step: f64,
    /// Timeline points kept per release; when full, every other point is dropped.
    pub timeline_max_points: usize,
    /// Releases kept per (service, environment); the oldest are dropped.
    pub max_releases_per_service: usize,
    /// Versions remembered per (service, environment); least recently seen dropped.
    pub max_versions_per_service: usize,
    /// (service, environment) pairs tracked; least recently active dropped.
    pub max_services: usize,
    /// (source, id) pairs remembered for deduplication; oldest dropped.
    pub dedup_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            baseline_windows: 2,
            merge_tolerance_secs: 600,
            canary_max_share: 0.5,
            canary_min_windows: 3,
            canary_hold_tolerance: 0.1,
            complete_share: 0.99,
            rollback_confirm_windows: 3,
            progress_step: 0.1,
            timeline_max_points: 240,
            max_releases_per_service: 32,
            max_versions_per_service: 64,
            max_services: 20_000,
            dedup_capacity: 65_536,
        }
    }
}

/// Validated settings, in the units the core uses.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// See [`Config::baseline_windows`].
    pub baseline_windows: u32,
    /// Merge tolerance in nanoseconds.
    pub merge_tolerance_nanos: u64,
    /// See [`Config::canary_max_share`].
    pub canary_max_share: f64,
    /// See [`Config::canary_min_windows`].
    pub canary_min_windows: u32,
    /// See [`Config::canary_hold_tolerance`].
    pub canary_hold_tolerance: f64,
    /// See [`Config::complete_share`].
    pub complete_share: f64,
    /// See [`Config::rollback_confirm_windows`].
    pub rollback_confirm_windows: u32,
    /// See [`Config::progress_step`].
    pub progress_step: f64,
    /// See [`Config::timeline_max_points`].
    pub timeline_max_points: usize,
    /// See [`Config::max_releases_per_service`].
    pub max_releases_per_service: usize,
    /// See [`Config::max_versions_per_service`].
    pub max_versions_per_service: usize,
    /// See [`Config::max_services`].
    pub max_services: usize,
    /// See [`Config::dedup_capacity`].
    pub dedup_capacity: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

impl Settings {
    fn from_config(c: &Config) -> Self {
        Self {
            baseline_windows: c.baseline_windows,
            merge_tolerance_nanos: c.merge_tolerance_secs.saturating_mul(Timestamp::SECOND),
            canary_max_share: c.canary_max_share,
            canary_min_windows: c.canary_min_windows,
            canary_hold_tolerance: c.canary_hold_tolerance,
            complete_share: c.complete_share,
            rollback_confirm_windows: c.rollback_confirm_windows,
            progress_step: c.progress_step,
            timeline_max_points: c.timeline_max_points,
            max_releases_per_service: c.max_releases_per_service,
            max_versions_per_service: c.max_versions_per_service,
            max_services: c.max_services,
            dedup_capacity: c.dedup_capacity,
        }
    }
}

impl Config {
    /// Checks every field; returns all problems at once.
    pub fn validate(&self) -> Result<Settings, Vec<Invalid>> {
        let mut errors = Vec::new();
        let mut share = |key: &str, v: f64, min_exclusive: bool, max_inclusive: bool| {
            let low_ok = if min_exclusive { v > 0.0 } else { v >= 0.0 };
            let high_ok = if max_inclusive { v <= 1.0 } else { v < 1.0 };
            if !(v.is_finite() && low_ok && high_ok) {
                let range = match (min_exclusive, max_inclusive) {
                    (true, true) => "(0, 1]",
                    (true, false) => "(0, 1)",
                    (false, true) => "[0, 1]",
                    (false, false) => "[0, 1)",
                };
                errors.push(Invalid::new(
                    format!("release.{key}"),
                    format!("must be in {range}"),
                ));
            }
        };
        share("canary_max_share", self.canary_max_share, true, false);
        share(
            "canary_hold_tolerance",
            self.canary_hold_tolerance,
            false,
            false,
        );
        share("complete_share", self.complete_share, true, true);
        share("progress_step", self.progress_step, true, true);
        let positive = [
            ("baseline_windows", self.baseline_windows as usize),
            ("canary_min_windows", self.canary_min_windows as usize),
            (
                "rollback_confirm_windows",
                self.rollback_confirm_windows as usize,
            ),
            ("timeline_max_points", self.timeline_max_points),
            ("max_releases_per_service", self.max_releases_per_service),
            ("max_versions_per_service", self.max_versions_per_service),
            ("max_services", self.max_services),
            ("dedup_capacity", self.dedup_capacity),
        ];
        for (key, v) in positive {
            if v == 0 {
                errors.push(Invalid::new(format!("release.{key}"), "must be at least 1"));
            }
        }
        if self.timeline_max_points == 1 {
            errors.push(Invalid::new(
                "release.timeline_max_points",
                "must be at least 2",
            ));
        }
        if self.complete_share <= self.canary_max_share {
            errors.push(Invalid::new(
                "release.complete_share",
                "must be greater than release.canary_max_share",
            ));
        }
        if errors.is_empty() {
            Ok(Settings::from_config(self))
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let s = Config::default().validate().unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.merge_tolerance_nanos, 600 * Timestamp::SECOND);
    }

    #[test]
    fn all_errors_are_collected() {
        let c = Config {
            canary_max_share: 1.5,
            complete_share: 0.0,
            progress_step: f64::NAN,
            canary_min_windows: 0,
            dedup_capacity: 0,
            ..Config::default()
        };
        let errs = c.validate().unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "release.canary_max_share",
                "release.complete_share",
                "release.progress_step",
                "release.canary_min_windows",
                "release.dedup_capacity",
                "release.complete_share",
            ]
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = serde_json::from_str::<Config>(r#"{"merge_tolerance": 5}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let c: Config = serde_json::from_str(r#"{"merge_tolerance_secs": 5}"#).unwrap();
        assert_eq!(c.merge_tolerance_secs, 5);
        assert_eq!(c.canary_min_windows, 3);
    }
}
