//! Re-examining a past period: "which release explains what happened to
//! this service between `from` and `to`?", answered from stored windows and
//! releases by the same attribution core and adapters the live analyzer
//! uses, whether or not an alert fired at the time.
//!
//! The period is judged against the `lookback` before it: the signal of the
//! service's own series (error ratio, p99 or p50 latency) that rose the most
//! becomes the subject; its onset is the start of the run of windows above
//! halfway between baseline and observed that reaches the end of the
//! period (found anew when it began before `from`). Other services of the
//! environment that rose as much are the anomalous nodes origins are ranked
//! over. Releases are seen as they stood at `to` (a rollback or completion
//! after `to` is not known yet). When nothing rose, the anomaly is examined
//! anyway with its onset at `from`: attribution then finds no direct
//! evidence and names no suspect.
//!
//! Never does: I/O, clock reads, or change the live analyzer's state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::attribute::{self, AnomalyContext, Attribution};
use crate::detect::origins;
use crate::model::{
    Anomaly, Release, ReleaseState, SeriesKey, SeriesStats, Signal, Timestamp, WindowStats,
};

use super::config::Settings;
use super::history::{History, merge};
use super::inputs;
use super::topology::Topology;

/// What re-examining a period found.
#[derive(Clone, Debug, Default)]
pub struct Reexamination {
    /// The environment examined (empty when the service had no traffic).
    pub environment: String,
    /// The anomaly examined: the service's series, the signal that rose
    /// most, its onset, baseline and observed value; `None` without traffic.
    pub anomaly: Option<Anomaly>,
    /// Ranked suspects (empty: no release explains it) and rejected candidates.
    pub attribution: Attribution,
    /// Windows in the period with traffic on the service.
    pub windows: usize,
}

/// The stored windows [`reexamine`] needs for a period `[from, to)`.
pub fn reexamine_range(
    settings: &Settings,
    from: Timestamp,
    to: Timestamp,
) -> (Timestamp, Timestamp) {
    (from.minus_nanos(2 * settings.attribute.lookback_ns), to)
}

/// Relative rise of `signal` from `before` to `after` (0 when it fell), with
/// floors so a rise from nothing is not infinite.
fn rise(signal: Signal, before: &SeriesStats, after: &SeriesStats) -> f64 {
    let (b, a, floor) = match signal {
        Signal::ErrorRatio => (ratio(before), ratio(after), 0.01),
        Signal::LatencyP99 => (before.latency.p99, after.latency.p99, 0.001),
        _ => (before.latency.p50, after.latency.p50, 0.001),
    };
    ((a - b) / b.max(floor)).max(0.0)
}

fn ratio(s: &SeriesStats) -> f64 {
    if s.requests == 0 {
        0.0
    } else {
        s.errors as f64 / s.requests as f64
    }
}

fn value(signal: Signal, s: &SeriesStats) -> f64 {
    match signal {
        Signal::ErrorRatio => ratio(s),
        Signal::LatencyP99 => s.latency.p99,
        Signal::LatencyP95 => s.latency.p95,
        Signal::LatencyP50 => s.latency.p50,
        Signal::Throughput => s.requests as f64,
    }
}

/// Every service's own stats summed over windows starting in `[from, to)`.
fn totals(
    history: &History,
    environment: &str,
    from: Timestamp,
    to: Timestamp,
) -> BTreeMap<Arc<str>, SeriesStats> {
    let mut out: BTreeMap<Arc<str>, SeriesStats> = BTreeMap::new();
    for w in history.between(from, to) {
        for ((env, service), slice) in w.slices() {
            if &**env == environment
                && let Some(s) = slice.service()
            {
                merge(out.entry(service.clone()).or_default(), &s);
            }
        }
    }
    out
}

/// The release as it stood at `at`.
fn as_of(release: &Release, at: Timestamp) -> Release {
    let mut r = release.clone();
    r.timeline.retain(|p| p.at <= at);
    if r.completed_at.is_some_and(|t| t > at) {
        r.completed_at = None;
    }
    if r.rolled_back_at.is_some_and(|t| t > at) {
        r.rolled_back_at = None;
        r.rolled_back_to = None;
    }
    if r.exposure_start.is_some_and(|t| t > at) {
        r.exposure_start = None;
    }
    r.state = if r.rolled_back_at.is_some() {
        ReleaseState::RolledBack
    } else if r.completed_at.is_some() {
        ReleaseState::Complete
    } else if r.state == ReleaseState::Canary {
        ReleaseState::Canary
    } else {
        ReleaseState::Rolling
    };
    r
}

/// Re-examines `service` over `[from, to)` (see the module doc). `windows`
/// should cover [`reexamine_range`]; `releases` may hold any releases (other
/// environments and later ones are ignored).
pub fn reexamine(
    settings: &Settings,
    windows: &[WindowStats],
    releases: &[Release],
    service: &str,
    environment: Option<&str>,
    from: Timestamp,
    to: Timestamp,
) -> Reexamination {
    let lookback = settings.attribute.lookback_ns;
    let mut history = History::new(u64::MAX / 4);
    let mut topology = Topology::new(
        settings.topology_settle_ns,
        settings.topology_vanish_ns,
        settings.topology_ttl_ns,
        settings.topology_min_windows,
    );
    let mut keys = super::kept::Keys::default();
    for w in windows.iter().filter(|w| w.start < to) {
        history.push(&keys.window(w));
        let _changes = topology.observe(w);
    }
    let graph = topology.snapshot();
    // The environment where the service served the most in the period.
    let environment = match environment {
        Some(e) => e.to_owned(),
        None => {
            let mut by_env: BTreeMap<&str, u64> = BTreeMap::new();
            for w in history.between(from, to) {
                for ((env, s), slice) in w.slices() {
                    if &**s == service
                        && let Some(stats) = slice.service()
                    {
                        *by_env.entry(env).or_default() += stats.requests;
                    }
                }
            }
            match by_env.into_iter().max_by_key(|(_, n)| *n) {
                Some((env, _)) => env.to_owned(),
                None => return Reexamination::default(),
            }
        }
    };
    let series = SeriesKey::Service {
        environment: environment.as_str().into(),
        service: service.into(),
    };
    let first_pass = (
        totals(&history, &environment, from.minus_nanos(lookback), from),
        totals(&history, &environment, from, to),
    );
    let (Some(base), Some(observed)) = (first_pass.0.get(service), first_pass.1.get(service))
    else {
        return Reexamination {
            environment,
            ..Reexamination::default()
        };
    };
    let signal = [Signal::ErrorRatio, Signal::LatencyP99, Signal::LatencyP50]
        .into_iter()
        .map(|s| (s, rise(s, base, observed)))
        .fold((Signal::ErrorRatio, 0.0), |best, (s, r)| {
            if r > best.1 { (s, r) } else { best }
        });
    let onset = if signal.1 > 0.0 {
        let threshold = (value(signal.0, base) + value(signal.0, observed)) / 2.0;
        onset_of(
            &history,
            &series,
            signal.0,
            threshold,
            from.minus_nanos(lookback),
            from,
            to,
        )
    } else {
        from
    };
    let signal = signal.0;
    let before = totals(&history, &environment, onset.minus_nanos(lookback), onset);
    let after = totals(&history, &environment, onset, to);
    let base = before.get(service).cloned().unwrap_or_default();
    let seen = after.get(service).cloned().unwrap_or_default();
    let anomalous: BTreeSet<Arc<str>> = after
        .iter()
        .filter(|(name, stats)| {
            let before = before.get(*name).cloned().unwrap_or_default();
            let r = [Signal::ErrorRatio, Signal::LatencyP99]
                .into_iter()
                .map(|s| rise(s, &before, stats))
                .fold(0.0, f64::max);
            &***name == service && r > 0.0 || r >= 1.0
        })
        .map(|(name, _)| name.clone())
        .collect();
    let mut anomaly = Anomaly {
        id: format!("reexamine:{}", crate::model::series_label(&series)),
        series: series.clone(),
        signal,
        onset,
        detected_at: to,
        baseline: value(signal, &base),
        observed: value(signal, &seen),
        significance: 0.0,
        requests: seen.requests,
        origins: Vec::new(),
        recovered_at: None,
    };
    let mut refs: BTreeSet<&str> = anomalous.iter().map(|n| &**n).collect();
    refs.insert(service);
    anomaly.origins = origins::rank(service, &refs, &graph);
    let from_candidates = onset.minus_nanos(lookback + settings.attribute.soak_ns());
    let candidates: Vec<_> = releases
        .iter()
        .filter(|r| *r.key.environment == *environment && r.started_at < to)
        .filter(|r| {
            r.started_at >= from_candidates
                || r.exposure_or_start() >= from_candidates
                || r.state.in_progress()
        })
        .map(|r| as_of(r, to))
        .map(|r| inputs::candidate_input(&history, &topology, &r, lookback, to))
        .collect();
    let mut ctx = AnomalyContext::new(&anomaly, &graph, to);
    ctx.anomalous_nodes = anomalous;
    ctx.timeline = inputs::timeline(&history, &series, signal, onset.minus_nanos(lookback), to);
    let attribution = attribute::attribute(&settings.attribute, &ctx, &candidates);
    let windows = history
        .between(from, to)
        .filter(|w| {
            w.slice(&environment, service)
                .is_some_and(|s| s.service().is_some())
        })
        .count();
    Reexamination {
        environment,
        anomaly: Some(anomaly),
        attribution,
        windows,
    }
}

/// Start of the run of windows above `threshold` that reaches the last
/// window with traffic before `to` (one dip below is tolerated), searched
/// back to `earliest`; `from` when the last window is not above.
fn onset_of(
    history: &History,
    series: &SeriesKey,
    signal: Signal,
    threshold: f64,
    earliest: Timestamp,
    from: Timestamp,
    to: Timestamp,
) -> Timestamp {
    let values = inputs::timeline(history, series, signal, earliest, to);
    // The latest window of the period above the threshold ends the run.
    let Some(last) = values
        .iter()
        .rposition(|(at, v)| *at >= from && *v > threshold)
    else {
        return from;
    };
    let mut onset = values[last].0;
    let mut dips = 0;
    for (at, v) in values[..last].iter().rev() {
        if *v > threshold {
            onset = *at;
            dips = 0;
        } else {
            dips += 1;
            if dips > 1 {
                break;
            }
        }
    }
    onset
}
