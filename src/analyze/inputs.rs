//! Adapters: a [`Release`] from the release index plus the recent windows
//! become the plain [`CandidateInput`] attribution scores, and an anomaly's
//! series becomes its value timeline.
//!
//! Splits compare, in the same windows, the new version against every other
//! version of the same service (summed); edge splits do the same for the
//! released service's outgoing calls by its own version. Before/after rates
//! use the `lookback` before exposure.
//!
//! Never does: score or judge; it only gathers numbers.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::attribute::{
    Candidate, CandidateInput, EdgeSplitInput, SharePoint, SplitWindow, TrafficInput,
};
use crate::model::{Release, SeriesKey, SeriesStats, Signal, Timestamp};

use super::history::{History, Window, merge};
use super::topology::Topology;

/// The candidate part of a release.
pub(crate) fn candidate(release: &Release) -> Candidate {
    Candidate {
        key: release.key.clone(),
        deployment_id: release.deployment_id.clone(),
        previous_version: release.previous_version.clone(),
        started_at: release.started_at,
        exposure_start: release.exposure_start,
        finished_at: release.completed_at,
        rolled_back_at: release.rolled_back_at,
        timeline: release
            .timeline
            .iter()
            .map(|p| SharePoint {
                at: p.at,
                traffic_share: p.traffic_share,
                instance_share: p.instance_share,
            })
            .collect(),
    }
}

/// New vs other versions of the released service, per window in `[from, to)`.
pub(crate) fn version_split(
    history: &History,
    release: &Release,
    from: Timestamp,
    to: Timestamp,
) -> Vec<SplitWindow> {
    let key = &release.key;
    history
        .between(from, to)
        .filter_map(|w| {
            let slice = w.slice(&key.environment, &key.service)?;
            let mut split = SplitWindow {
                start: w.start,
                ..SplitWindow::default()
            };
            for (version, stats) in slice.versions() {
                if *version == key.version {
                    merge(&mut split.new, &stats);
                } else {
                    merge(&mut split.old, &stats);
                }
            }
            (split.new.requests + split.old.requests > 0).then_some(split)
        })
        .collect()
}

/// Everything attribution needs about one release, as of `now`.
pub(crate) fn candidate_input(
    history: &History,
    topology: &Topology,
    release: &Release,
    lookback_ns: u64,
    now: Timestamp,
) -> CandidateInput {
    let key = &release.key;
    let exposure = release.exposure_or_start();
    let before_from = exposure.minus_nanos(lookback_ns);
    let mut input = CandidateInput::new(candidate(release));
    input.version_split = version_split(history, release, exposure, now);

    // The service before exposure, on versions other than the new one.
    let mut baseline = SeriesStats::default();
    let mut inbound_before = (0u64, 0.0f64);
    let mut outbound_before: BTreeMap<Arc<str>, u64> = BTreeMap::new();
    for w in history.between(before_from, exposure) {
        inbound_before.1 += w.secs();
        let Some(slice) = w.slice(&key.environment, &key.service) else {
            continue;
        };
        for (version, stats) in slice.versions() {
            if *version != key.version {
                merge(&mut baseline, &stats);
            }
        }
        if let Some(s) = slice.service() {
            inbound_before.0 += s.requests;
        }
        for (server, _, stats) in slice.edges() {
            *outbound_before.entry(server.clone()).or_default() += stats.requests;
        }
    }
    input.baseline = (baseline.requests > 0).then_some(baseline);

    let mut inbound_after = (0u64, 0.0f64);
    let mut outbound_after: BTreeMap<Arc<str>, u64> = BTreeMap::new();
    let mut splits: BTreeMap<Arc<str>, Vec<SplitWindow>> = BTreeMap::new();
    for w in history.between(exposure, now) {
        inbound_after.1 += w.secs();
        let Some(slice) = w.slice(&key.environment, &key.service) else {
            continue;
        };
        if let Some(s) = slice.service() {
            inbound_after.0 += s.requests;
        }
        for (server, _, stats) in slice.edges() {
            *outbound_after.entry(server.clone()).or_default() += stats.requests;
        }
        let mut per_server: BTreeMap<&Arc<str>, SplitWindow> = BTreeMap::new();
        for (server, version, stats) in slice.edges_by_version() {
            let split = per_server.entry(server).or_insert_with(|| SplitWindow {
                start: w.start,
                ..SplitWindow::default()
            });
            if *version == key.version {
                merge(&mut split.new, &stats);
            } else {
                merge(&mut split.old, &stats);
            }
        }
        for (server, split) in per_server {
            splits.entry(server.clone()).or_default().push(split);
        }
    }
    input.edge_splits = splits
        .into_iter()
        .map(|(server, windows)| EdgeSplitInput { server, windows })
        .collect();

    let rate = |(n, secs): (u64, f64)| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    let mut servers: Vec<&Arc<str>> = outbound_before
        .keys()
        .chain(outbound_after.keys())
        .collect();
    servers.sort();
    servers.dedup();
    input.traffic = servers
        .into_iter()
        .map(|server| {
            let before = outbound_before.get(server).copied().unwrap_or(0);
            let after = outbound_after.get(server).copied().unwrap_or(0);
            TrafficInput {
                server: server.clone(),
                rate_before: rate((before, inbound_before.1)),
                rate_after: rate((after, inbound_after.1)),
                inbound_before: rate(inbound_before),
                inbound_after: rate(inbound_after),
                new_edge: topology
                    .first_seen(&key.environment, &key.service, server)
                    .is_some_and(|first| first >= exposure),
            }
        })
        .collect();
    input
}

/// The value of `signal` for `series` in one window, when the window has it.
/// Operation series fall back to their service, edge-by-server-version to
/// the edge (the history keeps neither).
pub(crate) fn series_value(window: &Window<'_>, series: &SeriesKey, signal: Signal) -> Option<f64> {
    let stats = match series {
        SeriesKey::Service {
            environment,
            service,
        }
        | SeriesKey::Operation {
            environment,
            service,
            ..
        } => window.slice(environment, service)?.service()?.clone(),
        SeriesKey::ServiceVersion {
            environment,
            service,
            version,
        } => window
            .slice(environment, service)?
            .versions()
            .find(|(v, _)| *v == version)?
            .1
            .clone(),
        SeriesKey::Edge {
            environment,
            client,
            server,
            ..
        }
        | SeriesKey::EdgeByServerVersion {
            environment,
            client,
            server,
            ..
        } => window
            .slice(environment, client)?
            .edges()
            .find(|(s, _, _)| *s == server)?
            .2
            .clone(),
        SeriesKey::EdgeByClientVersion {
            environment,
            client,
            client_version,
            server,
        } => window
            .slice(environment, client)?
            .edges_by_version()
            .find(|(s, v, _)| *s == server && *v == client_version)?
            .2
            .clone(),
    };
    if stats.requests == 0 {
        return None;
    }
    Some(match signal {
        Signal::ErrorRatio => stats.errors as f64 / stats.requests as f64,
        Signal::LatencyP50 => stats.latency.p50,
        Signal::LatencyP95 => stats.latency.p95,
        Signal::LatencyP99 => stats.latency.p99,
        Signal::Throughput => stats.requests as f64 / window.secs(),
    })
}

/// The anomalous series' value per window in `[from, to)`.
pub(crate) fn timeline(
    history: &History,
    series: &SeriesKey,
    signal: Signal,
    from: Timestamp,
    to: Timestamp,
) -> Vec<(Timestamp, f64)> {
    history
        .between(from, to)
        .filter_map(|w| Some((w.start, series_value(&w, series, signal)?)))
        .collect()
}
