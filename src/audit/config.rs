//! `audit:` configuration: segment size, how many segments stay live before
//! the oldest are archived, and the writer's queue.
//!
//! Never does: touch files.

use serde::{Deserialize, Serialize};

use crate::model::Invalid;

/// `audit:` section, as written.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Record configuration loads, deployment events and alerts.
    pub enabled: bool,
    /// A segment is closed (fsynced) and a new one started once the next
    /// record would take it past this size, bytes.
    pub segment_bytes: u64,
    /// Closed segments kept in `audit/`; older ones are moved (never
    /// deleted) to `audit/archive/`. 0 keeps every segment live.
    pub retain_segments: usize,
    /// Records waiting for the writer thread; when full, new records are
    /// dropped, counted, and a `dropped` record says how many.
    pub queue_records: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            segment_bytes: 64 * 1024 * 1024,
            retain_segments: 16,
            queue_records: 4096,
        }
    }
}

/// Validated `audit:` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Whether the daemon writes the log.
    pub enabled: bool,
    /// Segment roll size, bytes.
    pub segment_bytes: u64,
    /// Live segments kept before archiving (0: never archive).
    pub retain_segments: usize,
    /// Writer queue capacity, records.
    pub queue_records: usize,
}

impl Config {
    /// Checks every field and reports all errors.
    ///
    /// # Errors
    /// Each field out of range.
    pub fn validate(&self) -> Result<Settings, Vec<Invalid>> {
        let mut errors = Vec::new();
        if self.segment_bytes < 4096 {
            errors.push(Invalid::new("audit.segment_bytes", "must be at least 4096"));
        }
        if self.queue_records == 0 {
            errors.push(Invalid::new("audit.queue_records", "must be at least 1"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Settings {
            enabled: self.enabled,
            segment_bytes: self.segment_bytes,
            retain_segments: self.retain_segments,
            queue_records: self.queue_records,
        })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            enabled: true,
            segment_bytes: 64 * 1024 * 1024,
            retain_segments: 16,
            queue_records: 4096,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_all_reported() {
        assert!(Config::default().validate().is_ok());
        let bad = Config {
            segment_bytes: 10,
            queue_records: 0,
            ..Config::default()
        };
        let errors = bad.validate().unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
