//! Finding the alerts a report is about: the lead anomaly or attribution
//! alert for a service and time, the other alerts of its incident, and when
//! it recovered.

use std::collections::BTreeSet;

use crate::model::{Alert, AlertType, ReleaseRef, Timestamp};

/// An anomaly whose onset lies this close to the time asked for matches it.
const MATCH_WINDOW: u64 = 30 * 60 * Timestamp::SECOND;

pub(super) fn about(alert: &Alert, service: &str) -> bool {
    alert.anomaly.as_ref().is_some_and(|a| a.service == service)
}

pub(super) fn anomaly_kind(alert: &Alert) -> bool {
    matches!(alert.kind, AlertType::Anomaly | AlertType::Attribution) && alert.anomaly.is_some()
}

/// The anomaly or attribution alert the report is about.
pub(super) fn lead<'a>(
    alerts: &'a [Alert],
    service: &str,
    env: Option<&str>,
    at: Timestamp,
) -> Option<&'a Alert> {
    let candidates = alerts
        .iter()
        .filter(|a| anomaly_kind(a) && about(a, service) && env.is_none_or(|e| a.environment == e));
    let mut best: Option<(u64, &Alert)> = None;
    for alert in candidates {
        let Some(anomaly) = &alert.anomaly else {
            continue;
        };
        let end = recovery(alerts, alert).unwrap_or(Timestamp(u64::MAX));
        let distance = if anomaly.onset <= at && at <= end {
            0
        } else {
            anomaly.onset.nanos().abs_diff(at.nanos())
        };
        if distance <= MATCH_WINDOW && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, alert));
        }
    }
    best.map(|(_, a)| a)
}

/// When the alert's anomaly recovered: its own `recovered_at`, or that of
/// (or the detection time of) a `resolved` alert of the same incident.
pub(super) fn recovery(alerts: &[Alert], alert: &Alert) -> Option<Timestamp> {
    let chain = related(alerts, alert);
    let recovered = chain
        .iter()
        .filter_map(|a| a.anomaly.as_ref().and_then(|x| x.recovered_at))
        .min();
    recovered.or_else(|| {
        chain
            .iter()
            .filter(|a| a.kind == AlertType::Resolved)
            .map(|a| a.detected_at)
            .min()
    })
}

/// Every alert of the lead's incident: linked by `resolves`, or the same
/// series with the same onset.
pub(super) fn related<'a>(alerts: &'a [Alert], lead: &Alert) -> Vec<&'a Alert> {
    let key = lead.anomaly.as_ref().map(|a| (a.series.clone(), a.onset));
    let mut ids: BTreeSet<String> = BTreeSet::from([lead.id.clone()]);
    loop {
        let before = ids.len();
        for a in alerts {
            let linked = a.resolves.as_ref().is_some_and(|r| ids.contains(r))
                || (ids.contains(&a.id) && a.resolves.is_some());
            let same = a.anomaly.as_ref().map(|x| (x.series.clone(), x.onset)) == key
                && key.is_some()
                && a.environment == lead.environment;
            if linked || same {
                ids.insert(a.id.clone());
                if let Some(r) = &a.resolves {
                    ids.insert(r.clone());
                }
            }
        }
        if ids.len() == before {
            break;
        }
    }
    let mut out: Vec<&Alert> = alerts.iter().filter(|a| ids.contains(&a.id)).collect();
    out.sort_by(|a, b| a.detected_at.cmp(&b.detected_at).then(a.id.cmp(&b.id)));
    out.dedup_by(|a, b| a.id == b.id);
    out
}

pub(super) fn same_release(r: &ReleaseRef, release: &ReleaseRef) -> bool {
    r.service == release.service
        && r.version == release.version
        && r.environment == release.environment
}
