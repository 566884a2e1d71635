//! The release watch: a detector that needs no baseline. For every release
//! exposed within the lookback, the new version's requests are compared with
//! the other versions' requests of the same service *in the same windows*,
//! cumulatively since exposure. When the new version is clearly worse, an
//! anomaly opens on its `(service, version)` series with its onset at the
//! exposure, and joins the incident machinery like any other anomaly.
//!
//! Statistics (cumulative over the concurrent windows since exposure):
//! * errors: pooled two-proportion z ≥ [`ERROR_Z`], with the new ratio at
//!   least twice the old and at least [`ERROR_MIN_INCREASE`] above it;
//! * latency: the mean latency (sum / count) of the new version at least
//!   [`LATENCY_MIN_RATIO`] × the old and [`LATENCY_MIN_SECS`] above it, and
//!   higher in at least [`LATENCY_WINDOW_SHARE`] of at least
//!   [`LATENCY_MIN_WINDOWS`] windows where both sides served
//!   [`LATENCY_MIN_REQUESTS`] requests (a sign test; means carry no variance).
//!
//! Both sides need [`MIN_REQUESTS`] requests. A canary or a gradual rollout is
//! therefore judged as soon as it has the volume, without waiting for the
//! service-wide series to move, and a fully rolled-out release (no old
//! version left) is left to the baseline detectors.
//!
//! How it fails: versions whose instances differ in more than the version
//! (another zone, a hot shard) look like a bad release; a release that only
//! hurts *other* services is invisible here (the edge split and the baseline
//! detectors see that). The anomaly recovers when the release is rolled
//! back, superseded or removed.
//!
//! Never does: blame; attribution still weighs all candidates.

use std::collections::BTreeSet;

use super::Analyzer;
use crate::analyze::inputs;
use crate::model::{Anomaly, Origin, Release, ReleaseState, SeriesKey, Signal, Timestamp};

/// Requests each side needs before the split is judged.
pub(crate) const MIN_REQUESTS: u64 = 30;
/// Two-proportion z the error split must reach.
pub(crate) const ERROR_Z: f64 = 4.5;
/// Smallest absolute error-ratio increase.
pub(crate) const ERROR_MIN_INCREASE: f64 = 0.02;
/// Smallest mean-latency ratio new / old.
pub(crate) const LATENCY_MIN_RATIO: f64 = 1.3;
/// Smallest mean-latency increase, seconds.
pub(crate) const LATENCY_MIN_SECS: f64 = 0.005;
/// Windows with both sides served, at least.
pub(crate) const LATENCY_MIN_WINDOWS: usize = 4;
/// Requests per side for a window to count in the sign test.
pub(crate) const LATENCY_MIN_REQUESTS: u64 = 3;
/// Share of those windows where the new version must be slower.
pub(crate) const LATENCY_WINDOW_SHARE: f64 = 0.8;

/// What the watch found for one release.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Split {
    signal: Signal,
    new: f64,
    old: f64,
    requests: u64,
    p_value: f64,
}

impl Analyzer {
    /// Opens watch anomalies for releases whose new version is worse, and
    /// recovers those whose release is gone.
    pub(super) fn watch_releases(&mut self, now: crate::model::Timestamp) {
        let since = now.minus_nanos(self.settings.attribute.lookback_ns);
        let releases: Vec<Release> = self
            .releases
            .releases_since(since)
            .into_iter()
            .filter(|r| r.exposure_start.is_some())
            .cloned()
            .collect();
        let mut recovered = Vec::new();
        for release in &releases {
            let series = SeriesKey::ServiceVersion {
                environment: release.key.environment.clone(),
                service: release.key.service.clone(),
                version: release.key.version.clone(),
            };
            let gone = matches!(
                release.state,
                ReleaseState::RolledBack | ReleaseState::Superseded | ReleaseState::Removed
            );
            for signal in [Signal::ErrorRatio, Signal::LatencyP50] {
                let id = watch_id(&series, signal, release.exposure_or_start());
                if self.watched.contains(&id) {
                    if gone && let Some(anomaly) = self.watch_open.remove(&id) {
                        let mut anomaly: Anomaly = anomaly;
                        anomaly.recovered_at = Some(release.rolled_back_at.unwrap_or(now));
                        recovered.push(anomaly);
                    }
                    continue;
                }
                if gone {
                    continue;
                }
                let Some(split) = judge(&inputs::version_split(
                    &self.history,
                    release,
                    release.exposure_or_start(),
                    now,
                ))
                .into_iter()
                .find(|s| s.signal == signal) else {
                    continue;
                };
                let anomaly = Anomaly {
                    id: id.clone(),
                    series: series.clone(),
                    signal,
                    onset: release.exposure_or_start(),
                    detected_at: now,
                    baseline: split.old,
                    observed: split.new,
                    significance: 1.0 - split.p_value,
                    requests: split.requests,
                    origins: vec![Origin {
                        node: release.key.service.to_string(),
                        score: 1.0,
                    }],
                    recovered_at: None,
                };
                self.watched.insert(id.clone());
                self.watch_open.insert(id, anomaly.clone());
                self.join_incident(anomaly);
            }
        }
        for anomaly in recovered {
            self.close_member(&anomaly);
        }
        // A release that left the lookback is no longer watched.
        let current: BTreeSet<&crate::model::ReleaseKey> =
            releases.iter().map(|r| &r.key).collect();
        let stale: Vec<String> = self
            .watch_open
            .iter()
            .filter(|(_, a)| !current.contains(&release_key(&a.series)))
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            if let Some(mut anomaly) = self.watch_open.remove(&id) {
                anomaly.recovered_at = Some(now);
                self.close_member(&anomaly);
            }
        }
        let live: BTreeSet<String> = self.watch_open.keys().cloned().collect();
        if self.watched.len() > 4 * live.len() + 1024 {
            self.watched = live;
        }
    }
}

fn release_key(series: &SeriesKey) -> crate::model::ReleaseKey {
    match series {
        SeriesKey::ServiceVersion {
            environment,
            service,
            version,
        } => crate::model::ReleaseKey {
            service: service.clone(),
            environment: environment.clone(),
            version: version.clone(),
        },
        _ => crate::model::ReleaseKey {
            service: "".into(),
            environment: "".into(),
            version: "".into(),
        },
    }
}

fn watch_id(series: &SeriesKey, signal: Signal, onset: Timestamp) -> String {
    format!(
        "watch-{}-{}-{}",
        crate::model::series_label(series),
        signal.as_str(),
        onset.nanos()
    )
}

/// Judges the cumulative split; every signal found outside.
fn judge(windows: &[crate::attribute::SplitWindow]) -> Vec<Split> {
    let (mut nn, mut ne, mut on, mut oe) = (0u64, 0u64, 0u64, 0u64);
    let (mut nsum, mut ncount, mut osum, mut ocount) = (0.0, 0u64, 0.0, 0u64);
    let (mut both, mut slower) = (0usize, 0usize);
    for w in windows {
        nn += w.new.requests;
        ne += w.new.errors;
        on += w.old.requests;
        oe += w.old.errors;
        nsum += w.new.latency.sum;
        ncount += w.new.latency.count;
        osum += w.old.latency.sum;
        ocount += w.old.latency.count;
        if w.new.latency.count >= LATENCY_MIN_REQUESTS
            && w.old.latency.count >= LATENCY_MIN_REQUESTS
        {
            both += 1;
            let mean = |s: &crate::model::SeriesStats| s.latency.sum / s.latency.count as f64;
            if mean(&w.new) > mean(&w.old) {
                slower += 1;
            }
        }
    }
    let mut out = Vec::new();
    if nn < MIN_REQUESTS || on < MIN_REQUESTS {
        return out;
    }
    let (pn, po) = (ne as f64 / nn as f64, oe as f64 / on as f64);
    let pooled = (ne + oe) as f64 / (nn + on) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / nn as f64 + 1.0 / on as f64)).sqrt();
    if se > 0.0 {
        let z = (pn - po) / se;
        if z >= ERROR_Z && pn - po >= ERROR_MIN_INCREASE.max(po) {
            out.push(Split {
                signal: Signal::ErrorRatio,
                new: pn,
                old: po,
                requests: nn,
                p_value: upper_tail(z),
            });
        }
    }
    if ncount > 0 && ocount > 0 && both >= LATENCY_MIN_WINDOWS {
        let (mn, mo) = (nsum / ncount as f64, osum / ocount as f64);
        let share = slower as f64 / both as f64;
        if mn >= LATENCY_MIN_RATIO * mo
            && mn - mo >= LATENCY_MIN_SECS
            && share >= LATENCY_WINDOW_SHARE
        {
            out.push(Split {
                signal: Signal::LatencyP50,
                new: mn,
                old: mo,
                requests: nn,
                // Sign test: P(at least `slower` of `both` by chance).
                p_value: 0.5f64.powi(slower as i32),
            });
        }
    }
    out
}

/// Standard normal upper tail (Abramowitz–Stegun 26.2.17; |error| < 7.5e-8).
fn upper_tail(z: f64) -> f64 {
    if z < 0.0 {
        return 1.0 - upper_tail(-z);
    }
    let t = 1.0 / (1.0 + 0.231_641_9 * z);
    let poly = t
        * (0.319_381_530
            + t * (-0.356_563_782
                + t * (1.781_477_937 + t * (-1.821_255_978 + t * 1.330_274_429))));
    (-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt() * poly
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute::SplitWindow;
    use crate::model::{LatencySummary, SeriesStats};

    fn side(requests: u64, errors: u64, mean: f64) -> SeriesStats {
        SeriesStats {
            requests,
            errors,
            latency: LatencySummary {
                count: requests,
                sum: mean * requests as f64,
                ..LatencySummary::default()
            },
            instances: 1,
        }
    }

    fn windows(new: (u64, u64, f64), old: (u64, u64, f64), n: u64) -> Vec<SplitWindow> {
        (0..n)
            .map(|i| SplitWindow {
                start: Timestamp::from_secs(i * 10),
                new: side(new.0, new.1, new.2),
                old: side(old.0, old.1, old.2),
            })
            .collect()
    }

    #[test]
    fn a_failing_new_version_is_found_once_both_sides_have_volume() {
        assert!(
            judge(&windows((5, 2, 0.1), (10, 0, 0.1), 5)).is_empty(),
            "too few requests"
        );
        let found = judge(&windows((5, 2, 0.1), (10, 0, 0.1), 8));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].signal, Signal::ErrorRatio);
        assert!((found[0].new - 0.4).abs() < 1e-9);
    }

    #[test]
    fn equal_versions_and_small_differences_are_not_findings() {
        assert!(judge(&windows((20, 1, 0.1), (20, 1, 0.1), 20)).is_empty());
        // 3 % against 1 %: significant with this volume, but below 2x + 2 points.
        assert!(judge(&windows((100, 3, 0.1), (100, 1, 0.1), 20)).is_empty());
    }

    #[test]
    fn a_slower_new_version_is_found_by_mean_and_sign() {
        let found = judge(&windows((10, 0, 0.2), (10, 0, 0.1), 6));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].signal, Signal::LatencyP50);
        assert!(judge(&windows((10, 0, 0.11), (10, 0, 0.1), 6)).is_empty());
    }

    #[test]
    fn the_normal_tail_matches_known_values() {
        assert!((upper_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((upper_tail(1.959_964) - 0.025).abs() < 1e-6);
        assert!((upper_tail(4.5) - 3.397_673e-6).abs() < 1e-8);
    }
}
