//! Plain reads of a period: releases, anomalies, alerts, and one service's
//! per-window series (requests, error ratio, latency) for charts.
//!
//! Never does: interpret; these are the history's records as stored.

use serde::{Deserialize, Serialize};

use super::{Context, QueryError};
use crate::history::{AnomalyRecord, ReleaseRecord};
use crate::model::alert::rfc3339;
use crate::model::{Alert, SeriesKey, SeriesStats, Timestamp};

/// Releases started in `[since, until)`, oldest first.
///
/// # Errors
/// When the history cannot be read.
pub fn releases(
    ctx: &Context,
    since: Timestamp,
    until: Timestamp,
) -> Result<Vec<ReleaseRecord>, QueryError> {
    Ok(ctx.reader.releases(since, until)?)
}

/// Anomalies with an onset in `[since, until)`, oldest first.
///
/// # Errors
/// When the history cannot be read.
pub fn anomalies(
    ctx: &Context,
    since: Timestamp,
    until: Timestamp,
) -> Result<Vec<AnomalyRecord>, QueryError> {
    Ok(ctx.reader.anomalies(since, until)?)
}

/// Alerts detected in `[since, until)`, oldest first.
///
/// # Errors
/// When the history cannot be read.
pub fn alerts(ctx: &Context, since: Timestamp, until: Timestamp) -> Result<Vec<Alert>, QueryError> {
    Ok(ctx.reader.alerts(since, until)?)
}

/// One detection window of one service (or one version of it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Window start.
    #[serde(with = "rfc3339")]
    pub start: Timestamp,
    /// Window end.
    #[serde(with = "rfc3339")]
    pub end: Timestamp,
    /// Requests served.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// errors / requests.
    pub error_ratio: f64,
    /// Median latency, seconds.
    pub p50: f64,
    /// 95th percentile latency, seconds.
    pub p95: f64,
    /// 99th percentile latency, seconds.
    pub p99: f64,
}

impl SeriesPoint {
    fn new(start: Timestamp, end: Timestamp, s: &SeriesStats) -> Self {
        Self {
            start,
            end,
            requests: s.requests,
            errors: s.errors,
            error_ratio: if s.requests == 0 {
                0.0
            } else {
                s.errors as f64 / s.requests as f64
            },
            p50: s.latency.p50,
            p95: s.latency.p95,
            p99: s.latency.p99,
        }
    }
}

/// `service`'s server-side series per stored window starting in
/// `[from, to)`, in `environment` (any when `None`), or only its `version`.
/// Windows without traffic are left out.
///
/// # Errors
/// When the history cannot be read.
pub fn series(
    ctx: &Context,
    service: &str,
    environment: Option<&str>,
    version: Option<&str>,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<SeriesPoint>, QueryError> {
    let mut out = Vec::new();
    for w in ctx.reader.windows(from, to)? {
        let mut total = SeriesStats::default();
        for (key, stats) in &w.series {
            let matches = match (key, version) {
                (
                    SeriesKey::Service {
                        environment: e,
                        service: s,
                    },
                    None,
                ) => &**s == service && environment.is_none_or(|x| x == &**e),
                (
                    SeriesKey::ServiceVersion {
                        environment: e,
                        service: s,
                        version: v,
                    },
                    Some(version),
                ) => &**s == service && &**v == version && environment.is_none_or(|x| x == &**e),
                _ => false,
            };
            if matches {
                add(&mut total, stats);
            }
        }
        if total.requests > 0 {
            out.push(SeriesPoint::new(w.start, w.end, &total));
        }
    }
    Ok(out)
}

/// Adds `b` into `a`: counts add, quantiles are weighted by samples.
pub(crate) fn add(a: &mut SeriesStats, b: &SeriesStats) {
    let total = a.latency.count + b.latency.count;
    let w = |x: f64, y: f64| {
        if total == 0 {
            0.0
        } else {
            (x * a.latency.count as f64 + y * b.latency.count as f64) / total as f64
        }
    };
    a.latency.p50 = w(a.latency.p50, b.latency.p50);
    a.latency.p95 = w(a.latency.p95, b.latency.p95);
    a.latency.p99 = w(a.latency.p99, b.latency.p99);
    a.latency.max = a.latency.max.max(b.latency.max);
    a.latency.sum += b.latency.sum;
    a.latency.count = total;
    a.requests += b.requests;
    a.errors += b.errors;
    a.instances = a.instances.max(b.instances);
}
