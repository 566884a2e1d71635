//! The SVG charts (parsed back with an XML parser) and determinism, over a
//! hand-built input that [`super::markdown_tests`] shares.

use super::svg::{PLOT_LEFT, PLOT_RIGHT};
use super::*;
use crate::model::{
    AlertAnomaly, AlertOrigin, CounterReason, Evidence, EvidenceDetail, OwnerRef, ReleaseRef,
    Severity, Suspect, Timestamp,
};

const T0: u64 = 1_772_442_000; // 2026-03-02T09:00:00Z
const WINDOW: u64 = 30;
const POINTS: u64 = 80; // 40 minutes

fn t(secs: u64) -> Timestamp {
    Timestamp::from_secs(T0 + secs)
}

fn evidence(detail: EvidenceDetail, llr: f64) -> Evidence {
    Evidence {
        summary: format!("{} summary", detail.kind()),
        detail,
        llr,
    }
}

fn points(
    bad_from: u64,
    bad_to: u64,
    base: f64,
    bad: f64,
    gap_at: Option<u64>,
) -> Vec<SeriesPoint> {
    (0..POINTS)
        .map(|i| {
            let at = i * WINDOW;
            let hot = (bad_from..bad_to).contains(&at);
            SeriesPoint {
                at: t(at),
                requests: if gap_at == Some(i) { 0 } else { 400 },
                error_ratio: if hot { bad } else { base },
                latency_p50_secs: if hot { 0.09 } else { 0.04 },
                latency_p99_secs: if hot { 0.6 } else { 0.2 },
            }
        })
        .collect()
}

pub(super) fn sample() -> ReportInput {
    let release = ReleaseRef {
        service: "payment".into(),
        version: "1.5.0".into(),
        environment: "production".into(),
        deployment_id: None,
        previous_version: Some("1.4.0".into()),
        started_at: Some(t(660)),
    };
    let all_kinds = vec![
        evidence(
            EvidenceDetail::VersionSplit {
                signal: "error_ratio".into(),
                new_requests: 1200,
                new_value: 0.24,
                old_requests: 5400,
                old_value: 0.005,
                z: 21.3,
                before_after: false,
            },
            4.2,
        ),
        evidence(
            EvidenceDetail::EdgeSplit {
                client: "payment".into(),
                server: "payments-db".into(),
                new_requests: 800,
                new_value: 0.2,
                old_requests: 3000,
                old_value: 0.01,
                z: 9.0,
            },
            1.5,
        ),
        evidence(
            EvidenceDetail::TemporalFit {
                exposure_start: t(660),
                onset: t(690),
                lag_secs: 30.0,
            },
            1.1,
        ),
        evidence(
            EvidenceDetail::DoseResponse {
                correlation: 0.93,
                windows: 6,
            },
            0.8,
        ),
        evidence(
            EvidenceDetail::RollbackRecovery {
                rolled_back_at: t(1500),
                recovered_at: t(1560),
            },
            1.0,
        ),
        evidence(
            EvidenceDetail::TopologicalFit {
                path: vec!["payment".into()],
                relation: "same_service".into(),
                anomalous_edges: 1,
                origin_score: 0.9,
            },
            0.7,
        ),
        evidence(
            EvidenceDetail::TrafficChange {
                server: "fraud".into(),
                rate_before: 0.0,
                rate_after: 12.0,
                new_edge: true,
            },
            0.2,
        ),
        evidence(
            EvidenceDetail::CounterEvidence {
                reason: CounterReason::PersistsAfterRollback,
            },
            -0.4,
        ),
    ];
    ReportInput {
        title: "Error ratio of payment rose after payment 1.5.0".into(),
        service: "payment".into(),
        environment: "production".into(),
        at: t(900),
        from: t(0),
        to: t(POINTS * WINDOW),
        anomaly: Some(AlertAnomaly {
            service: "payment".into(),
            signal: "error_ratio".into(),
            onset: t(690),
            baseline: 0.005,
            observed: 0.24,
            origins: vec![AlertOrigin {
                service: "payment".into(),
                score: 0.9,
            }],
            series: "service:production/payment".into(),
            significance: 12.0,
            requests: 1200,
            recovered_at: Some(t(1560)),
        }),
        severity: Some(Severity::Critical),
        alert_ids: vec!["a-1".into(), "a-2".into()],
        recommendation: Some("roll back payment to 1.4.0".into()),
        suspects: vec![
            Suspect {
                release: release.clone(),
                confidence: 0.93,
                evidence: all_kinds,
            },
            Suspect {
                release: ReleaseRef {
                    service: "cart".into(),
                    version: "2.0.0".into(),
                    deployment_id: Some("d-7".into()),
                    ..release
                },
                confidence: 0.04,
                evidence: vec![],
            },
        ],
        verdict: None,
        timeline: vec![
            TimelineEvent {
                at: t(690),
                kind: EventKind::Onset,
                text: "error ratio of payment left its baseline".into(),
            },
            TimelineEvent {
                at: t(660),
                kind: EventKind::ReleaseStarted,
                text: "payment 1.4.0 → 1.5.0".into(),
            },
            TimelineEvent {
                at: t(780),
                kind: EventKind::Detection,
                text: "anomaly alert a-1".into(),
            },
            TimelineEvent {
                at: t(1500),
                kind: EventKind::Rollback,
                text: "payment 1.5.0 rolled back to 1.4.0".into(),
            },
            TimelineEvent {
                at: t(1560),
                kind: EventKind::Recovery,
                text: "back to baseline".into(),
            },
        ],
        blast_radius: BlastRadius {
            affected: vec!["payment".into(), "checkout".into()],
            dependents: vec![Dependent {
                service: "checkout".into(),
                depth: 1,
                traffic_share: Some(0.8),
            }],
        },
        owners: vec![OwnerRef {
            service: "payment".into(),
            team: "payments".into(),
            channel: "#payments-oncall".into(),
            tier: Some(1),
        }],
        series: vec![
            ServiceSeries {
                service: "payment".into(),
                points: points(690, 1560, 0.005, 0.24, Some(40)),
            },
            ServiceSeries {
                service: "checkout".into(),
                points: points(690, 1560, 0.002, 0.18, None),
            },
        ],
        markers: vec![
            ReleaseMarker {
                at: t(660),
                label: "payment 1.5.0".into(),
            },
            ReleaseMarker {
                at: t(1500),
                label: "rollback payment → 1.4.0".into(),
            },
            ReleaseMarker {
                at: Timestamp::from_secs(T0 - 7200),
                label: "outside the period".into(),
            },
        ],
        unknowns: vec![],
        source: "a unit test".into(),
    }
}

fn chart<'a>(report: &'a Report, suffix: &str) -> &'a str {
    &report
        .charts
        .iter()
        .find(|(name, _)| name.ends_with(suffix))
        .unwrap()
        .1
}

fn polylines<'a>(
    doc: &'a roxmltree::Document<'a>,
    service: &str,
    signal: &str,
) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| {
            n.has_tag_name("polyline")
                && n.attribute("data-service") == Some(service)
                && n.attribute("data-signal") == Some(signal)
        })
        .collect()
}

fn point_count(nodes: &[roxmltree::Node<'_, '_>]) -> usize {
    nodes
        .iter()
        .map(|n| n.attribute("points").unwrap().split_whitespace().count())
        .sum()
}

#[test]
fn rendering_is_deterministic() {
    let a = render(&sample(), "pm");
    let b = render(&sample(), "pm");
    assert_eq!(a, b);
    assert_eq!(a.stem, "pm");
    assert_eq!(
        a.charts.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["pm-error-ratio.svg", "pm-latency.svg"]
    );
}

#[test]
fn svg_polylines_match_the_data_and_markers_sit_at_their_times() {
    let input = sample();
    let report = render(&input, "pm");
    let svg = chart(&report, ERROR_RATIO_SUFFIX);
    let doc = roxmltree::Document::parse(svg).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("width"), Some("880"));

    // payment has one window without requests: two runs, 79 points.
    let payment = polylines(&doc, "payment", "error_ratio");
    assert_eq!(payment.len(), 2);
    let drawable = input.series[0]
        .points
        .iter()
        .filter(|p| p.drawable())
        .count();
    assert_eq!(point_count(&payment), drawable);
    assert_eq!(drawable, POINTS as usize - 1);
    let checkout = polylines(&doc, "checkout", "error_ratio");
    assert_eq!(checkout.len(), 1);
    assert_eq!(point_count(&checkout), POINTS as usize);

    // The first point is at the left edge, the bad ones higher up (smaller y).
    let first: Vec<f64> = payment[0]
        .attribute("points")
        .unwrap()
        .split_whitespace()
        .map(|p| p.split_once(',').unwrap())
        .map(|(x, y)| {
            assert!(x.parse::<f64>().unwrap() >= PLOT_LEFT);
            y.parse::<f64>().unwrap()
        })
        .collect();
    assert!(
        first[30] < first[0] - 100.0,
        "{} vs {}",
        first[30],
        first[0]
    );

    let markers: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("release-marker"))
        .collect();
    assert_eq!(
        markers.len(),
        2,
        "the marker outside the period is left out"
    );
    let span = (POINTS * WINDOW) as f64;
    for (marker, (secs, label)) in markers.iter().zip([
        (660.0, "payment 1.5.0"),
        (1500.0, "rollback payment → 1.4.0"),
    ]) {
        let line = marker.children().find(|n| n.has_tag_name("line")).unwrap();
        let x: f64 = line.attribute("x1").unwrap().parse().unwrap();
        let want = PLOT_LEFT + secs / span * (PLOT_RIGHT - PLOT_LEFT);
        assert!((x - want).abs() < 0.06, "marker at {x}, want {want}");
        assert!(line.attribute("stroke-dasharray").is_some());
        let text = marker.children().find(|n| n.has_tag_name("text")).unwrap();
        assert_eq!(text.text(), Some(label));
    }
    assert_eq!(
        markers[0].attribute("data-at"),
        Some("2026-03-02T09:11:00Z")
    );

    let ticks: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("x-tick"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(
        ticks,
        [
            "09:00", "09:05", "09:10", "09:15", "09:20", "09:25", "09:30", "09:35", "09:40"
        ]
    );
    let y_ticks = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("y-tick"))
        .count();
    assert!(y_ticks >= 3, "{y_ticks} y ticks");
    assert_eq!(
        doc.descendants()
            .filter(|n| n.attribute("class") == Some("anomaly-band"))
            .count(),
        1
    );
    let legend = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("legend"))
        .unwrap();
    let labels: Vec<&str> = legend
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(labels, ["payment", "checkout"]);
}

#[test]
fn latency_chart_draws_p99_and_p50_per_service() {
    let report = render(&sample(), "pm");
    let doc = roxmltree::Document::parse(chart(&report, LATENCY_SUFFIX)).unwrap();
    for service in ["payment", "checkout"] {
        for signal in ["latency_p99", "latency_p50"] {
            assert!(
                !polylines(&doc, service, signal).is_empty(),
                "{service} {signal}"
            );
        }
        let p50 = polylines(&doc, service, "latency_p50");
        assert!(
            p50.iter()
                .all(|n| n.attribute("stroke-dasharray").is_some())
        );
    }
    let title = doc.descendants().find(|n| n.has_tag_name("title")).unwrap();
    assert_eq!(title.text(), Some("Latency p99 and p50 (production)"));
}

#[test]
fn hostile_names_are_escaped_in_svg_and_markdown() {
    let mut input = sample();
    let name = "pay<ment> & \"co\" | 'x'";
    input.series[0].service = name.into();
    input.markers[0].label = format!("{name} 1.5.0");
    input.service = name.into();
    let report = render(&input, "../../etc/x");
    assert_eq!(report.stem, "-..-etc-x");
    for (_, svg) in &report.charts {
        let doc = roxmltree::Document::parse(svg).unwrap();
        assert!(
            !polylines(&doc, name, "error_ratio").is_empty()
                || !polylines(&doc, name, "latency_p99").is_empty()
        );
        assert!(
            doc.descendants()
                .any(|n| n.text() == Some(&format!("{name} 1.5.0")))
        );
    }
    assert!(report.markdown.contains("pay\\<ment\\> & \"co\" \\| 'x'"));
    assert!(!report.markdown.contains("pay<ment>"));
}

#[test]
fn no_data_still_gives_valid_charts_and_says_so() {
    let mut input = sample();
    input.series.clear();
    input.markers.clear();
    input.anomaly = None;
    input.suspects.clear();
    input.timeline.clear();
    let report = render(&input, "empty");
    for (_, svg) in &report.charts {
        let doc = roxmltree::Document::parse(svg).unwrap();
        assert_eq!(
            doc.descendants()
                .filter(|n| n.has_tag_name("polyline"))
                .count(),
            0
        );
        let no_data = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("no-data"))
            .unwrap();
        assert_eq!(no_data.text(), Some("no data in this period"));
        assert!(
            doc.descendants()
                .any(|n| n.attribute("class") == Some("x-tick"))
        );
    }
    let md = &report.markdown;
    assert!(
        md.contains("There is no per-window data for this period."),
        "{md}"
    );
    assert!(md.contains("No release explains the anomaly"), "{md}");
    assert!(md.contains("Nothing recorded in this period."), "{md}");
    // Points without traffic are not data either.
    let mut input = sample();
    for p in &mut input.series[0].points {
        p.requests = 0;
    }
    input.series.truncate(1);
    let report = render(&input, "quiet");
    let doc = roxmltree::Document::parse(chart(&report, ERROR_RATIO_SUFFIX)).unwrap();
    assert!(
        doc.descendants()
            .any(|n| n.attribute("class") == Some("no-data"))
    );
}
