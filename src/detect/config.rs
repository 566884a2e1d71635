//! `detect:` configuration: raw serde form, and the validated [`Settings`].
//!
//! Every parameter is independent of the window length (seconds, ratios,
//! request counts, or counts of windows), so changing `graph.window_secs`
//! does not silently change what counts as an anomaly.

use serde::Deserialize;

use crate::baseline::BaselineParams;
use crate::model::Invalid;

/// How eagerly anomalies are reported. Maps to a per-window false-alarm rate
/// and the minimum effect sizes (see [`Settings`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    /// Large effects only: rate 0.001, errors +5 points and 3×, latency +50 %, traffic −70 %.
    Low,
    /// The default: rate 0.01, errors +2 points and 2×, latency +25 %, traffic −50 %.
    #[default]
    Medium,
    /// Small effects: rate 0.05, errors +1 point and 1.5×, latency +10 %, traffic −30 %.
    High,
}

/// `detect:` section. Every option has a default.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Preset for the false-alarm rate and minimum effects; the `*_override`
    /// fields below replace single values of the preset.
    pub sensitivity: Sensitivity,
    /// Event time a series needs before it is judged, seconds (default 600).
    pub min_history_secs: u64,
    /// Trailing event time a baseline remembers, seconds (default 1800).
    pub history_secs: u64,
    /// Hard cap on windows remembered per series (memory: 32 bytes each).
    pub max_windows_per_series: usize,
    /// Fewest requests in a window for error and latency verdicts, and fewest
    /// expected requests for a throughput verdict (default 20).
    pub min_requests: u64,
    /// Fewest failed requests in a window for an error-ratio finding (default 5).
    pub min_errors: u64,
    /// Hits needed among the last `confirm_of_windows` windows to open an anomaly (default 2).
    pub confirm_windows: u32,
    /// Length of the confirmation lookback, windows (default 3).
    pub confirm_of_windows: u32,
    /// Judged windows back inside the band before an anomaly recovers (default 3).
    pub recovery_windows: u32,
    /// Upper bound on series tracked; new series beyond it are refused and counted.
    pub max_series: usize,
    /// A series with no traffic for this long is forgotten, seconds (default 3600).
    pub series_idle_secs: u64,
    /// After an anomaly has been open this long its windows teach the baseline
    /// again, so a lasting shift becomes the new normal, seconds (default 3600).
    pub rebaseline_after_secs: u64,
    /// How far back the onset search may walk from the confirming window, seconds.
    pub onset_lookback_secs: u64,
    /// Smallest latency increase reported, milliseconds (default 5).
    pub latency_min_increase_ms: f64,
    /// Whether throughput drops are judged on per-version series too (by
    /// default not: rollouts move traffic between versions on purpose).
    pub throughput_on_version_series: bool,
    /// Overrides the preset's per-window false-alarm rate (BH level).
    pub false_alarm_rate_override: Option<f64>,
    /// Overrides the preset's minimum absolute error-ratio increase (0..1).
    pub error_ratio_min_increase_override: Option<f64>,
    /// Overrides the preset's minimum relative latency increase (0.25 = +25 %).
    pub latency_min_increase_ratio_override: Option<f64>,
    /// Overrides the preset's minimum relative throughput drop (0.5 = −50 %).
    pub throughput_min_drop_ratio_override: Option<f64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sensitivity: Sensitivity::Medium,
            min_history_secs: 600,
            history_secs: 1800,
            max_windows_per_series: 120,
            min_requests: 20,
            min_errors: 5,
            confirm_windows: 2,
            confirm_of_windows: 3,
            recovery_windows: 3,
            max_series: 20_000,
            series_idle_secs: 3600,
            rebaseline_after_secs: 3600,
            onset_lookback_secs: 900,
            latency_min_increase_ms: 5.0,
            throughput_on_version_series: false,
            false_alarm_rate_override: None,
            error_ratio_min_increase_override: None,
            latency_min_increase_ratio_override: None,
            throughput_min_drop_ratio_override: None,
        }
    }
}

/// Validated detection settings: the only form [`super::Detect`] accepts.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Baseline parameters.
    pub baseline: BaselineParams,
    /// Benjamini–Hochberg level per window, across all judged (series, signal) pairs.
    pub false_alarm_rate: f64,
    /// Per-window p-value below which a window is "outside the band" (onset, recovery).
    pub band_p: f64,
    /// Fewest requests for error and latency verdicts; fewest expected for throughput.
    pub min_requests: u64,
    /// Fewest errors for an error-ratio finding.
    pub min_errors: u64,
    /// Smallest absolute error-ratio increase.
    pub error_min_increase: f64,
    /// Smallest error-ratio multiple of the baseline.
    pub error_min_factor: f64,
    /// Smallest relative latency increase.
    pub latency_min_increase_ratio: f64,
    /// Smallest absolute latency increase, seconds.
    pub latency_min_increase_secs: f64,
    /// Smallest relative throughput drop.
    pub throughput_min_drop_ratio: f64,
    /// Hits needed among the last `confirm_of_windows` windows.
    pub confirm_windows: u32,
    /// Confirmation lookback, windows (at most 32).
    pub confirm_of_windows: u32,
    /// Calm windows before recovery.
    pub recovery_windows: u32,
    /// Series cap.
    pub max_series: usize,
    /// Idle time before a series is forgotten, seconds.
    pub series_idle_secs: u64,
    /// Open time after which an anomaly's windows teach the baseline, seconds.
    pub rebaseline_after_secs: u64,
    /// Onset search limit, seconds.
    pub onset_lookback_secs: u64,
    /// Judge throughput on per-version series.
    pub throughput_on_version_series: bool,
}

impl Default for Settings {
    fn default() -> Self {
        match Config::default().validate() {
            Ok(settings) => settings,
            Err(_) => unreachable!("the default configuration is valid (tested)"),
        }
    }
}

impl Config {
    /// Checks every constraint, reporting all violations at once.
    pub fn validate(&self) -> Result<Settings, Vec<Invalid>> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, key: &str, reason: &str| {
            if !ok {
                errors.push(Invalid::new(format!("detect.{key}"), reason));
            }
        };
        let (rate, error_inc, error_factor, latency_inc, drop) = match self.sensitivity {
            Sensitivity::Low => (0.001, 0.05, 3.0, 0.5, 0.7),
            Sensitivity::Medium => (0.01, 0.02, 2.0, 0.25, 0.5),
            Sensitivity::High => (0.05, 0.01, 1.5, 0.1, 0.3),
        };
        let rate = self.false_alarm_rate_override.unwrap_or(rate);
        let error_inc = self.error_ratio_min_increase_override.unwrap_or(error_inc);
        let latency_inc = self
            .latency_min_increase_ratio_override
            .unwrap_or(latency_inc);
        let drop = self.throughput_min_drop_ratio_override.unwrap_or(drop);
        let open = |v: f64| v > 0.0 && v < 1.0;
        check(
            open(rate),
            "false_alarm_rate_override",
            "must be between 0 and 1, exclusive",
        );
        check(
            open(error_inc),
            "error_ratio_min_increase_override",
            "must be between 0 and 1",
        );
        check(
            latency_inc.is_finite() && latency_inc > 0.0,
            "latency_min_increase_ratio_override",
            "must be positive",
        );
        check(
            open(drop),
            "throughput_min_drop_ratio_override",
            "must be between 0 and 1",
        );
        check(self.history_secs > 0, "history_secs", "must be positive");
        check(
            self.min_history_secs <= self.history_secs,
            "min_history_secs",
            "must not exceed detect.history_secs",
        );
        check(
            self.max_windows_per_series >= 10,
            "max_windows_per_series",
            "must be at least 10",
        );
        check(self.min_requests > 0, "min_requests", "must be positive");
        check(self.min_errors > 0, "min_errors", "must be positive");
        check(
            (1..=32).contains(&self.confirm_of_windows),
            "confirm_of_windows",
            "must be between 1 and 32",
        );
        check(
            self.confirm_windows >= 1 && self.confirm_windows <= self.confirm_of_windows,
            "confirm_windows",
            "must be between 1 and detect.confirm_of_windows",
        );
        check(
            self.recovery_windows >= 1,
            "recovery_windows",
            "must be positive",
        );
        check(self.max_series > 0, "max_series", "must be positive");
        check(
            self.series_idle_secs > 0,
            "series_idle_secs",
            "must be positive",
        );
        check(
            self.latency_min_increase_ms.is_finite() && self.latency_min_increase_ms >= 0.0,
            "latency_min_increase_ms",
            "must be zero or positive",
        );
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Settings {
            baseline: BaselineParams {
                history_secs: self.history_secs,
                min_history_secs: self.min_history_secs,
                max_points: self.max_windows_per_series,
                min_points: 5,
                min_requests: self.min_requests,
            },
            false_alarm_rate: rate,
            band_p: rate.max(0.01),
            min_requests: self.min_requests,
            min_errors: self.min_errors,
            error_min_increase: error_inc,
            error_min_factor: error_factor,
            latency_min_increase_ratio: latency_inc,
            latency_min_increase_secs: self.latency_min_increase_ms / 1000.0,
            throughput_min_drop_ratio: drop,
            confirm_windows: self.confirm_windows,
            confirm_of_windows: self.confirm_of_windows,
            recovery_windows: self.recovery_windows,
            max_series: self.max_series,
            series_idle_secs: self.series_idle_secs,
            rebaseline_after_secs: self.rebaseline_after_secs,
            onset_lookback_secs: self.onset_lookback_secs,
            throughput_on_version_series: self.throughput_on_version_series,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_sensitivity_orders_thresholds() {
        let medium = Config::default().validate().unwrap();
        assert_eq!(medium, Settings::default());
        let low = Config {
            sensitivity: Sensitivity::Low,
            ..Config::default()
        }
        .validate()
        .unwrap();
        let high = Config {
            sensitivity: Sensitivity::High,
            ..Config::default()
        }
        .validate()
        .unwrap();
        assert!(low.false_alarm_rate < medium.false_alarm_rate);
        assert!(medium.false_alarm_rate < high.false_alarm_rate);
        assert!(low.latency_min_increase_ratio > high.latency_min_increase_ratio);
        assert!(low.band_p >= low.false_alarm_rate && high.band_p >= high.false_alarm_rate);
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let config = Config {
            min_history_secs: 4000,
            confirm_windows: 4,
            min_requests: 0,
            false_alarm_rate_override: Some(1.5),
            ..Config::default()
        };
        let errors = config.validate().unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "detect.false_alarm_rate_override",
                "detect.min_history_secs",
                "detect.min_requests",
                "detect.confirm_windows",
            ]
        );
    }

    #[test]
    fn parses_yaml_and_rejects_unknown_keys() {
        let config: Config =
            serde_norway::from_str("sensitivity: high\nmin_history_secs: 300\n").unwrap();
        assert_eq!(config.sensitivity, Sensitivity::High);
        assert_eq!(config.min_history_secs, 300);
        assert!(serde_norway::from_str::<Config>("sensitivity: medium\nbogus: 1\n").is_err());
    }
}
