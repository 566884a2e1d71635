//! `attribute:` configuration: the raw serde form, its validation, and the
//! validated [`Settings`] the scoring core takes.
//!
//! Never does: read files or the environment, or hold runtime state.

use serde::{Deserialize, Serialize};

use crate::model::{Invalid, Timestamp};

/// `attribute:` section. Durations are event time.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Releases whose exposure began at most this long before an anomaly's
    /// onset are candidates (plus releases still rolling out), seconds.
    pub lookback_secs: u64,
    /// A release becomes a suspect only at or above this confidence (0..1).
    /// High on purpose: blaming an innocent release is worse than silence.
    pub min_confidence: f64,
    /// Prior probability that one candidate release caused one anomaly,
    /// before any evidence (0..1). See the scoring model in `score.rs`.
    pub prior_probability: f64,
    /// Onset estimates are uncertain by about one or two windows: an onset
    /// this much before exposure still counts as "after", seconds.
    pub onset_tolerance_secs: u64,
    /// A release is judged this long after its exposure began, seconds.
    pub soak_secs: u64,
    /// A verdict needs at least this many requests on the new version;
    /// fewer gives `inconclusive`.
    pub min_verdict_requests: u64,
    /// Fewer requests than this on either side of a split is no evidence.
    pub min_split_requests: u64,
    /// Onsets inside one such window share an alert id, seconds.
    pub id_window_secs: u64,
    /// Longest dependency path searched between the released and the
    /// anomalous service, in edges.
    pub max_path_hops: u32,
    /// A recovery within this long after a rollback is credited to it, seconds.
    pub rollback_recovery_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            lookback_secs: 1800,
            min_confidence: 0.75,
            prior_probability: 0.12,
            onset_tolerance_secs: 60,
            soak_secs: 600,
            min_verdict_requests: 100,
            min_split_requests: 30,
            id_window_secs: 60,
            max_path_hops: 6,
            rollback_recovery_secs: 600,
        }
    }
}

/// The validated form of [`Config`]; the only form the core accepts.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub(crate) lookback_ns: u64,
    pub(crate) min_confidence: f64,
    /// ln(p / (1 - p)) of `prior_probability`.
    pub(crate) prior_log_odds: f64,
    pub(crate) tolerance_ns: u64,
    pub(crate) soak_ns: u64,
    pub(crate) min_verdict_requests: u64,
    pub(crate) min_split_requests: u64,
    pub(crate) id_window_ns: u64,
    pub(crate) max_path_hops: u32,
    pub(crate) rollback_recovery_ns: u64,
}

impl Default for Settings {
    fn default() -> Self {
        let c = Config::default();
        Self {
            lookback_ns: c.lookback_secs * Timestamp::SECOND,
            min_confidence: c.min_confidence,
            prior_log_odds: log_odds(c.prior_probability),
            tolerance_ns: c.onset_tolerance_secs * Timestamp::SECOND,
            soak_ns: c.soak_secs * Timestamp::SECOND,
            min_verdict_requests: c.min_verdict_requests,
            min_split_requests: c.min_split_requests,
            id_window_ns: c.id_window_secs * Timestamp::SECOND,
            max_path_hops: c.max_path_hops,
            rollback_recovery_ns: c.rollback_recovery_secs * Timestamp::SECOND,
        }
    }
}

impl Settings {
    /// The minimum confidence for a suspect.
    pub fn min_confidence(&self) -> f64 {
        self.min_confidence
    }

    /// The soak window, nanoseconds.
    pub fn soak_ns(&self) -> u64 {
        self.soak_ns
    }
}

fn log_odds(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// Largest duration accepted, so that `secs * 1e9` cannot overflow (about 30 years).
const MAX_SECS: u64 = 1_000_000_000;

impl Config {
    /// Checks every constraint, collecting all errors.
    ///
    /// # Errors
    /// Every invalid value, keyed `attribute.<field>`.
    pub fn validate(&self) -> Result<Settings, Vec<Invalid>> {
        let mut errors = Vec::new();
        let mut secs = |key: &str, value: u64, min: u64| {
            if value < min || value > MAX_SECS {
                errors.push(Invalid::new(
                    format!("attribute.{key}"),
                    format!("must be between {min} and {MAX_SECS}"),
                ));
            }
            value.min(MAX_SECS) * Timestamp::SECOND
        };
        let lookback_ns = secs("lookback_secs", self.lookback_secs, 1);
        let tolerance_ns = secs("onset_tolerance_secs", self.onset_tolerance_secs, 0);
        let soak_ns = secs("soak_secs", self.soak_secs, 1);
        let id_window_ns = secs("id_window_secs", self.id_window_secs, 1);
        let rollback_recovery_ns = secs("rollback_recovery_secs", self.rollback_recovery_secs, 1);
        let mut probability = |key: &str, value: f64| {
            if !(value > 0.0 && value < 1.0) {
                errors.push(Invalid::new(
                    format!("attribute.{key}"),
                    "must be strictly between 0 and 1",
                ));
            }
        };
        probability("min_confidence", self.min_confidence);
        probability("prior_probability", self.prior_probability);
        if self.min_verdict_requests == 0 {
            errors.push(Invalid::new(
                "attribute.min_verdict_requests",
                "must be positive",
            ));
        }
        if self.min_split_requests == 0 {
            errors.push(Invalid::new(
                "attribute.min_split_requests",
                "must be positive",
            ));
        }
        if self.max_path_hops == 0 || self.max_path_hops > 64 {
            errors.push(Invalid::new(
                "attribute.max_path_hops",
                "must be between 1 and 64",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Settings {
            lookback_ns,
            min_confidence: self.min_confidence,
            prior_log_odds: log_odds(self.prior_probability),
            tolerance_ns,
            soak_ns,
            min_verdict_requests: self.min_verdict_requests,
            min_split_requests: self.min_split_requests,
            id_window_ns,
            max_path_hops: self.max_path_hops,
            rollback_recovery_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_match_settings_default() {
        assert_eq!(Config::default().validate().unwrap(), Settings::default());
    }

    #[test]
    fn every_invalid_value_is_reported_at_once() {
        let config = Config {
            lookback_secs: 0,
            min_confidence: 1.0,
            prior_probability: 0.0,
            min_verdict_requests: 0,
            min_split_requests: 0,
            max_path_hops: 0,
            ..Config::default()
        };
        let keys: Vec<String> = config
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(
            keys,
            [
                "attribute.lookback_secs",
                "attribute.min_confidence",
                "attribute.prior_probability",
                "attribute.min_verdict_requests",
                "attribute.min_split_requests",
                "attribute.max_path_hops",
            ]
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let parsed: Result<Config, _> = serde_json::from_str(r#"{"lookback": 5}"#);
        assert!(parsed.is_err());
    }
}
