//! `release SERVICE@VERSION`: what a release changed. Error ratio and
//! latency of the service over the `lookback` before exposure and from
//! exposure to the end of the soak window (or the rollback, or the newest
//! window held); the version split after exposure; the services whose
//! error ratio or p99 at least doubled over the same periods (plus those
//! the alerts blaming it named); the verdict; and time to recovery of the
//! anomalies attributed to it (onset to recovery, from the stored alerts).
//!
//! Never does: re-judge the release; the verdict is the one reached live.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::lists::add;
use super::{Context, QueryError};
use crate::history::ReleaseRecord;
use crate::model::alert::{rfc3339, rfc3339_opt};
use crate::model::{AlertType, SeriesKey, SeriesStats, Timestamp, Verdict};

/// Rates of one service over one period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// Period start.
    #[serde(with = "rfc3339")]
    pub from: Timestamp,
    /// Period end.
    #[serde(with = "rfc3339")]
    pub to: Timestamp,
    /// Requests.
    pub requests: u64,
    /// errors / requests.
    pub error_ratio: f64,
    /// Median latency, seconds (sample-weighted mean of window medians).
    pub p50: f64,
    /// 99th percentile latency, seconds (sample-weighted mean of window p99s).
    pub p99: f64,
}

impl Rates {
    fn of(from: Timestamp, to: Timestamp, s: &SeriesStats) -> Self {
        Self {
            from,
            to,
            requests: s.requests,
            error_ratio: if s.requests == 0 {
                0.0
            } else {
                s.errors as f64 / s.requests as f64
            },
            p50: s.latency.p50,
            p99: s.latency.p99,
        }
    }
}

/// One version of the service after exposure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionShare {
    /// The version.
    pub version: String,
    /// Its share of the service's requests, 0..=1.
    pub share: f64,
    /// Its rates.
    pub rates: Rates,
}

/// A service whose error ratio or p99 at least doubled after exposure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The service.
    pub service: String,
    /// Before exposure.
    pub before: Rates,
    /// After exposure.
    pub after: Rates,
}

/// What a release changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseReport {
    /// The release as last stored (state, timeline, verdict).
    pub release: ReleaseRecord,
    /// The service over the lookback before exposure.
    pub before: Rates,
    /// The service from exposure to the soak's end (or rollback).
    pub after: Rates,
    /// Versions after exposure, by requests.
    pub versions: Vec<VersionShare>,
    /// Other services hit, by name.
    pub affected: Vec<Affected>,
    /// Services the alerts blaming this release named as affected.
    pub alerted_affected: Vec<String>,
    /// Ids of the `attribution` alerts naming it first.
    pub blamed_by: Vec<String>,
    /// The verdict reached live, if any.
    pub verdict: Option<Verdict>,
    /// Onset of the first anomaly attributed to it.
    #[serde(default, with = "rfc3339_opt")]
    pub onset: Option<Timestamp>,
    /// When the last of those anomalies recovered.
    #[serde(default, with = "rfc3339_opt")]
    pub recovered_at: Option<Timestamp>,
    /// `recovered_at - onset`, seconds.
    pub time_to_recovery_secs: Option<f64>,
}

/// Parses `SERVICE@VERSION`.
///
/// # Errors
/// [`QueryError::BadArgument`] without an `@`.
pub fn parse_release(text: &str) -> Result<(String, String), QueryError> {
    match text.rsplit_once('@') {
        Some((s, v)) if !s.is_empty() && !v.is_empty() => Ok((s.to_owned(), v.to_owned())),
        _ => Err(QueryError::BadArgument(format!(
            "`{text}` is not SERVICE@VERSION"
        ))),
    }
}

/// The report of `service`@`version` (the latest such release when several
/// environments have it and `environment` is `None`).
///
/// # Errors
/// [`QueryError::NotFound`] when the history holds no such release.
pub fn release_report(
    ctx: &Context,
    service: &str,
    version: &str,
    environment: Option<&str>,
) -> Result<ReleaseReport, QueryError> {
    let release = ctx
        .reader
        .releases(Timestamp(0), Timestamp(u64::MAX))?
        .into_iter()
        .filter(|r| r.service == service && r.version == version)
        .filter(|r| environment.is_none_or(|e| e == r.environment))
        .max_by_key(|r| r.started_at)
        .ok_or_else(|| {
            QueryError::NotFound(format!("the history holds no release {service}@{version}"))
        })?;
    let settings = &ctx.settings;
    let exposure = release.exposure_or_start();
    let watermark = ctx.reader.watermark()?;
    let before_from = exposure.minus_nanos(settings.attribute.lookback_ns);
    let mut after_to = exposure
        .plus_nanos(settings.attribute.soak_ns())
        .min(watermark);
    if let Some(rollback) = release.rolled_back_at {
        after_to = after_to.min(rollback).max(exposure.plus_nanos(1));
    }
    let env = release.environment.as_str();
    let sum = |from: Timestamp, to: Timestamp| -> Result<_, QueryError> {
        let mut services: BTreeMap<String, SeriesStats> = BTreeMap::new();
        let mut versions: BTreeMap<String, SeriesStats> = BTreeMap::new();
        for w in ctx.reader.windows(from, to)? {
            for (key, stats) in &w.series {
                match key {
                    SeriesKey::Service {
                        environment: e,
                        service: s,
                    } if &**e == env => add(services.entry(s.to_string()).or_default(), stats),
                    SeriesKey::ServiceVersion {
                        environment: e,
                        service: s,
                        version: v,
                    } if &**e == env && &**s == service => {
                        add(versions.entry(v.to_string()).or_default(), stats);
                    }
                    _ => {}
                }
            }
        }
        Ok((services, versions))
    };
    let (before_services, _) = sum(before_from, exposure)?;
    let (after_services, after_versions) = sum(exposure, after_to)?;
    let zero = SeriesStats::default();
    let before = Rates::of(
        before_from,
        exposure,
        before_services.get(service).unwrap_or(&zero),
    );
    let after = Rates::of(
        exposure,
        after_to,
        after_services.get(service).unwrap_or(&zero),
    );
    let total: u64 = after_versions.values().map(|s| s.requests).sum();
    let mut versions: Vec<VersionShare> = after_versions
        .iter()
        .map(|(v, s)| VersionShare {
            version: v.clone(),
            share: if total == 0 {
                0.0
            } else {
                s.requests as f64 / total as f64
            },
            rates: Rates::of(exposure, after_to, s),
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.rates.requests));
    let affected = after_services
        .iter()
        .filter(|(name, _)| name.as_str() != service)
        .filter_map(|(name, s)| {
            let b = before_services.get(name)?;
            let (rb, ra) = (
                Rates::of(before_from, exposure, b),
                Rates::of(exposure, after_to, s),
            );
            let doubled = (ra.error_ratio >= 2.0 * rb.error_ratio.max(0.005))
                || (ra.p99 >= 2.0 * rb.p99.max(0.001));
            (doubled && s.requests >= MIN_REQUESTS && b.requests >= MIN_REQUESTS).then(|| {
                Affected {
                    service: name.clone(),
                    before: rb,
                    after: ra,
                }
            })
        })
        .collect();
    // Alerts blaming it, and their recovery.
    let alerts = ctx.reader.alerts(before_from, Timestamp(u64::MAX))?;
    let blaming: Vec<_> = alerts
        .iter()
        .filter(|a| a.kind == AlertType::Attribution)
        .filter(|a| {
            a.top_release().is_some_and(|r| {
                r.service == release.service
                    && r.version == release.version
                    && r.environment == release.environment
            })
        })
        .collect();
    let ids: BTreeSet<&str> = blaming.iter().map(|a| a.id.as_str()).collect();
    let onset = blaming
        .iter()
        .filter_map(|a| a.anomaly.as_ref().map(|x| x.onset))
        .min();
    let recovered_at = alerts
        .iter()
        .filter(|a| a.kind == AlertType::Resolved)
        .filter(|a| a.resolves.as_deref().is_some_and(|id| ids.contains(id)))
        .filter_map(|a| {
            a.anomaly
                .as_ref()
                .and_then(|x| x.recovered_at)
                .or(Some(a.detected_at))
        })
        .max();
    let mut alerted_affected: Vec<String> = blaming
        .iter()
        .flat_map(|a| a.affected.iter().cloned())
        .collect();
    alerted_affected.sort();
    alerted_affected.dedup();
    let time_to_recovery_secs = onset
        .zip(recovered_at)
        .map(|(o, r)| r.nanos().saturating_sub(o.nanos()) as f64 / Timestamp::SECOND as f64);
    Ok(ReleaseReport {
        verdict: release.verdict,
        release,
        before,
        after,
        versions,
        affected,
        alerted_affected,
        blamed_by: blaming.iter().map(|a| a.id.clone()).collect(),
        onset,
        recovered_at,
        time_to_recovery_secs,
    })
}

/// Requests a service needs in both periods to count as affected.
const MIN_REQUESTS: u64 = 20;
