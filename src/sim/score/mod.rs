//! Scoring a release scenario: did the alerts blame the right release, in
//! time, and never an innocent one?
//!
//! Input: an [`AnswerKey`] (bad and innocent releases with the event time
//! their version first served traffic, built from a [`Preset`]'s timeline by
//! [`AnswerKey::from_preset`]) and the alerts a replay wrote
//! ([`parse_alerts`]). Output: a [`ScenarioScore`] per scenario; [`check`]
//! applies the criteria ([`Criteria`]) to a whole suite and
//! [`render_table`] prints what was found.
//!
//! Rules:
//! * a bad release is *found* when it is the first suspect of an
//!   `attribution` alert; its delay is that alert's `detected_at` minus the
//!   release's exposure (the earliest such alert counts);
//! * any other release that is ever the first suspect is a *false blame*,
//!   whether the answer key lists it as innocent or not at all (a rollback
//!   target, a staging notice): blaming it is wrong either way;
//! * releases match on (service, version, environment) exactly;
//! * the median delay is taken over every bad release of the suite, a miss
//!   counting as infinitely late.
//!
//! Never does: I/O, clock. The caller supplies run details ([`RunInfo`]).

mod table;

use std::fmt;

use crate::model::{Alert, AlertType, Timestamp, Verdict};

use super::presets::Preset;
use super::scenario::{Scenario, ScenarioEvent};

pub use table::render_table;

/// A release, as the answer key and the alerts name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReleaseId {
    /// Service released.
    pub service: String,
    /// Version released.
    pub version: String,
    /// Environment released into.
    pub environment: String,
}

impl ReleaseId {
    /// From a preset's (service, version, environment) tuple.
    pub fn from_tuple((service, version, environment): &(String, String, String)) -> Self {
        Self {
            service: service.clone(),
            version: version.clone(),
            environment: environment.clone(),
        }
    }
}

impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({})",
            self.service, self.version, self.environment
        )
    }
}

/// A release of the answer key and when its version first served traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyedRelease {
    /// The release.
    pub release: ReleaseId,
    /// Event time of the first rollout step that put the version on an
    /// instance; `None` when the timeline never runs it (a notice only).
    pub exposure: Option<Timestamp>,
}

/// What a scenario should produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerKey {
    /// Scenario name.
    pub scenario: String,
    /// Releases that cause an anomaly; each must be found.
    pub bad: Vec<KeyedRelease>,
    /// Releases that must never be the first suspect.
    pub innocent: Vec<KeyedRelease>,
}

impl AnswerKey {
    /// The key of `preset` simulated from `start`.
    pub fn from_preset(preset: &Preset, start: Timestamp) -> Self {
        let keyed = |list: &[(String, String, String)]| {
            list.iter()
                .map(|t| {
                    let release = ReleaseId::from_tuple(t);
                    let exposure = exposure_offset_secs(&preset.scenario, &release)
                        .map(|secs| start.plus_nanos((secs * 1e9).round() as u64));
                    KeyedRelease { release, exposure }
                })
                .collect()
        };
        Self {
            scenario: preset.name.to_owned(),
            bad: keyed(&preset.bad_releases),
            innocent: keyed(&preset.innocent_releases),
        }
    }
}

/// Seconds from the simulation start until `release`'s version first runs on
/// an instance of its environment: the earliest rollout to that version,
/// plus the offset of its first step with a share above zero.
pub fn exposure_offset_secs(scenario: &Scenario, release: &ReleaseId) -> Option<f64> {
    scenario
        .events
        .iter()
        .filter_map(|e| match &e.event {
            ScenarioEvent::Rollout(r)
                if r.service == release.service
                    && r.version == release.version
                    && r.environment == release.environment =>
            {
                r.steps
                    .iter()
                    .filter(|s| s.share > 0.0)
                    .map(|s| s.after_secs)
                    .reduce(f64::min)
                    .map(|after| e.at_secs + after.max(0.0))
            }
            _ => None,
        })
        .reduce(f64::min)
}

/// A line of the alerts file that is not an [`Alert`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alerts line {line}: {message}")]
pub struct AlertParseError {
    /// 1-based line number.
    pub line: usize,
    /// The JSON error.
    pub message: String,
}

/// Parses JSON-lines alerts (blank lines skipped).
///
/// # Errors
/// The first line that is not a valid alert.
pub fn parse_alerts(text: &str) -> Result<Vec<Alert>, AlertParseError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str::<Alert>(l).map_err(|e| AlertParseError {
                line: n + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// How a bad release fared.
#[derive(Clone, Debug, PartialEq)]
pub struct BadOutcome {
    /// The release.
    pub release: ReleaseId,
    /// When it was exposed.
    pub exposure: Option<Timestamp>,
    /// `detected_at` of the earliest attribution naming it first.
    pub first_blamed_at: Option<Timestamp>,
    /// `first_blamed_at - exposure`, seconds.
    pub delay_secs: Option<f64>,
    /// Id of that alert.
    pub alert_id: Option<String>,
    /// Its best rank (1 = first) among any attribution's suspects.
    pub best_rank: Option<usize>,
}

impl BadOutcome {
    /// Found as first suspect within `max_delay_secs` of exposure.
    pub fn found_within(&self, max_delay_secs: f64) -> bool {
        self.delay_secs.is_some_and(|d| d <= max_delay_secs)
    }
}

/// A release other than a bad one named first suspect.
#[derive(Clone, Debug, PartialEq)]
pub struct FalseBlame {
    /// The release blamed.
    pub release: ReleaseId,
    /// The answer key lists it as innocent (otherwise it is not in the key).
    pub listed_innocent: bool,
    /// The alert's `detected_at`.
    pub detected_at: Timestamp,
    /// The alert's id.
    pub alert_id: String,
    /// The anomalous service of that alert.
    pub anomaly_service: String,
}

/// Details of a run the scorer cannot know, for the table.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RunInfo {
    /// Simulator seed.
    pub seed: u64,
    /// Deployment records given to the replay (`none`, `plain`, `cdevents-0.4`, …).
    pub deployments: String,
    /// Spans replayed.
    pub spans: u64,
    /// Wall time of the replay, seconds.
    pub replay_secs: f64,
}

/// Everything the scorer found in one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioScore {
    /// Scenario name.
    pub scenario: String,
    /// One per bad release of the key, in key order.
    pub bad: Vec<BadOutcome>,
    /// Every (release, alert) where a non-bad release was first suspect.
    pub false_blames: Vec<FalseBlame>,
    /// `anomaly` alerts.
    pub anomalies: usize,
    /// `attribution` alerts.
    pub attributions: usize,
    /// `resolved` alerts.
    pub resolved: usize,
    /// `topology_change` alerts.
    pub topology_changes: usize,
    /// Release verdicts, in alert order.
    pub verdicts: Vec<(ReleaseId, Verdict)>,
    /// Run details, when the caller sets them.
    pub run: Option<RunInfo>,
}

fn release_of(r: &crate::model::ReleaseRef) -> ReleaseId {
    ReleaseId {
        service: r.service.clone(),
        version: r.version.clone(),
        environment: r.environment.clone(),
    }
}

/// Scores one scenario's alerts against its key.
pub fn score(key: &AnswerKey, alerts: &[Alert]) -> ScenarioScore {
    let mut out = ScenarioScore {
        scenario: key.scenario.clone(),
        bad: key
            .bad
            .iter()
            .map(|k| BadOutcome {
                release: k.release.clone(),
                exposure: k.exposure,
                first_blamed_at: None,
                delay_secs: None,
                alert_id: None,
                best_rank: None,
            })
            .collect(),
        false_blames: Vec::new(),
        anomalies: 0,
        attributions: 0,
        resolved: 0,
        topology_changes: 0,
        verdicts: Vec::new(),
        run: None,
    };
    let mut ordered: Vec<&Alert> = alerts.iter().collect();
    ordered.sort_by_key(|a| a.detected_at);
    for alert in ordered {
        match alert.kind {
            AlertType::Anomaly => out.anomalies += 1,
            AlertType::Resolved => out.resolved += 1,
            AlertType::TopologyChange => out.topology_changes += 1,
            AlertType::ReleaseVerdict => {
                if let Some(v) = &alert.verdict {
                    out.verdicts.push((release_of(&v.release), v.verdict));
                }
            }
            AlertType::Attribution => {
                out.attributions += 1;
                attribution(key, alert, &mut out);
            }
        }
    }
    out
}

fn attribution(key: &AnswerKey, alert: &Alert, out: &mut ScenarioScore) {
    for (rank, suspect) in alert.suspects.iter().enumerate() {
        let id = release_of(&suspect.release);
        if let Some(b) = out.bad.iter_mut().find(|b| b.release == id) {
            b.best_rank = Some(b.best_rank.map_or(rank + 1, |r| r.min(rank + 1)));
        }
    }
    let Some(top) = alert.top_release() else {
        return;
    };
    let id = release_of(top);
    if let Some(b) = out.bad.iter_mut().find(|b| b.release == id) {
        if b.first_blamed_at.is_none() {
            b.first_blamed_at = Some(alert.detected_at);
            b.alert_id = Some(alert.id.clone());
            b.delay_secs = b.exposure.map(|e| {
                (alert.detected_at.nanos() as f64 - e.nanos() as f64) / Timestamp::SECOND as f64
            });
        }
        return;
    }
    out.false_blames.push(FalseBlame {
        listed_innocent: key.innocent.iter().any(|k| k.release == id),
        release: id,
        detected_at: alert.detected_at,
        alert_id: alert.id.clone(),
        anomaly_service: alert.service().to_owned(),
    });
}

/// The pass criteria.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Criteria {
    /// Every bad release is first suspect within this many seconds of exposure.
    pub max_delay_secs: f64,
    /// The median delay over the suite stays under this.
    pub max_median_secs: f64,
}

impl Default for Criteria {
    /// 5 minutes and 2 minutes.
    fn default() -> Self {
        Self {
            max_delay_secs: 300.0,
            max_median_secs: 120.0,
        }
    }
}

/// Median delay over every bad release of `scores`; a miss counts as
/// infinitely late. `None` when the suite has no bad release.
pub fn median_delay_secs(scores: &[ScenarioScore]) -> Option<f64> {
    let mut delays: Vec<f64> = scores
        .iter()
        .flat_map(|s| &s.bad)
        .map(|b| b.delay_secs.unwrap_or(f64::INFINITY))
        .collect();
    if delays.is_empty() {
        return None;
    }
    delays.sort_by(f64::total_cmp);
    let n = delays.len();
    Some(if n % 2 == 1 {
        delays[n / 2]
    } else {
        (delays[n / 2 - 1] + delays[n / 2]) / 2.0
    })
}

/// Every way the suite misses `criteria`, one sentence each; empty = pass.
pub fn check(scores: &[ScenarioScore], criteria: &Criteria) -> Vec<String> {
    let mut failures = Vec::new();
    for s in scores {
        for b in &s.bad {
            match b.delay_secs {
                None => failures.push(format!(
                    "{}: bad release {} was never the first suspect of an attribution{}",
                    s.scenario,
                    b.release,
                    b.best_rank
                        .map(|r| format!(" (best rank {r})"))
                        .unwrap_or_default()
                )),
                Some(d) if d > criteria.max_delay_secs => failures.push(format!(
                    "{}: bad release {} first suspect after {d:.0} s (limit {:.0} s)",
                    s.scenario, b.release, criteria.max_delay_secs
                )),
                Some(_) => {}
            }
        }
        for f in &s.false_blames {
            failures.push(format!(
                "{}: {} release {} blamed first for {} at {} (alert {})",
                s.scenario,
                if f.listed_innocent {
                    "innocent"
                } else {
                    "unlisted"
                },
                f.release,
                f.anomaly_service,
                f.detected_at,
                f.alert_id
            ));
        }
    }
    if let Some(m) = median_delay_secs(scores)
        && m >= criteria.max_median_secs
    {
        failures.push(format!(
            "median delay {} (limit {:.0} s)",
            if m.is_finite() {
                format!("{m:.0} s")
            } else {
                "infinite: more than half missed".to_owned()
            },
            criteria.max_median_secs
        ));
    }
    failures
}

#[cfg(test)]
mod tests;
