//! `history:` configuration: whether the daemon keeps the durable history,
//! how long it keeps records and windows, how often it prunes, the
//! writer's queue and the file's page cache.
//!
//! Never does: touch files.

use serde::{Deserialize, Serialize};

use crate::model::{Invalid, Timestamp};

/// `history:` section, as written.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Keep the durable history in `DATA_DIR/history.redb` (releases,
    /// anomalies, alerts, incidents, topology and per-window series).
    pub enabled: bool,
    /// Releases, anomalies, alerts, incidents and edges older than this (in
    /// event time, behind the newest window written) are pruned, days.
    pub retention_days: u64,
    /// Per-window series (the bulk of the store) older than this are
    /// pruned, days. At most `retention_days`.
    pub window_retention_days: u64,
    /// Pruning runs once per this much event time, seconds.
    pub prune_every_secs: u64,
    /// Batches (one per closed window) waiting for the writer thread; when
    /// full, the newest batch is dropped and counted.
    pub queue_batches: usize,
    /// Memory redb may use to cache the file's pages, MiB (redb's own
    /// default is 1 GiB, which a busy fleet's history fills: resident
    /// memory, not the OS page cache).
    pub cache_mb: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_days: 90,
            window_retention_days: 30,
            prune_every_secs: 3600,
            queue_batches: 256,
            cache_mb: 16,
        }
    }
}

/// Validated `history:` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Whether the daemon writes the history.
    pub enabled: bool,
    /// Record retention, nanoseconds of event time.
    pub retention_ns: u64,
    /// Window retention, nanoseconds of event time.
    pub window_retention_ns: u64,
    /// Event time between prunes, nanoseconds.
    pub prune_every_ns: u64,
    /// Writer queue capacity, batches.
    pub queue_batches: usize,
    /// redb page cache, bytes.
    pub cache_bytes: usize,
}

const DAY_NS: u64 = 86_400 * Timestamp::SECOND;

impl Config {
    /// Checks every field and reports all errors.
    ///
    /// # Errors
    /// Each field out of range.
    pub fn validate(&self) -> Result<Settings, Vec<Invalid>> {
        let mut errors = Vec::new();
        if self.retention_days == 0 {
            errors.push(Invalid::new("history.retention_days", "must be at least 1"));
        }
        if self.window_retention_days == 0 {
            errors.push(Invalid::new(
                "history.window_retention_days",
                "must be at least 1",
            ));
        }
        if self.window_retention_days > self.retention_days {
            errors.push(Invalid::new(
                "history.window_retention_days",
                "must not exceed history.retention_days",
            ));
        }
        if self.prune_every_secs == 0 {
            errors.push(Invalid::new(
                "history.prune_every_secs",
                "must be at least 1",
            ));
        }
        if self.queue_batches == 0 {
            errors.push(Invalid::new("history.queue_batches", "must be at least 1"));
        }
        if !(1..=65_536).contains(&self.cache_mb) {
            errors.push(Invalid::new(
                "history.cache_mb",
                "must be between 1 and 65536",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Settings {
            enabled: self.enabled,
            retention_ns: self.retention_days.saturating_mul(DAY_NS),
            window_retention_ns: self.window_retention_days.saturating_mul(DAY_NS),
            prune_every_ns: self.prune_every_secs.saturating_mul(Timestamp::SECOND),
            queue_batches: self.queue_batches,
            cache_bytes: self.cache_mb << 20,
        })
    }
}

impl Default for Settings {
    fn default() -> Self {
        // The defaults validate; this mirrors them.
        Self {
            enabled: true,
            retention_ns: 90 * DAY_NS,
            window_retention_ns: 30 * DAY_NS,
            prune_every_ns: 3600 * Timestamp::SECOND,
            queue_batches: 256,
            cache_bytes: 16 << 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_to_the_default_settings_and_bad_values_are_all_reported() {
        assert_eq!(Config::default().validate().unwrap(), Settings::default());
        let bad = Config {
            retention_days: 0,
            window_retention_days: 5,
            prune_every_secs: 0,
            queue_batches: 0,
            cache_mb: 0,
            ..Config::default()
        };
        let errors = bad.validate().unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:?}");
        let small = Config {
            cache_mb: 8,
            ..Config::default()
        };
        assert_eq!(small.validate().unwrap().cache_bytes, 8 << 20);
    }
}
