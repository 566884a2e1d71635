//! The Markdown draft: sections, summary, evidence, timeline, unknowns;
//! writing the files.

use super::tests::sample;
use super::*;
use crate::model::Timestamp;

fn t(secs: u64) -> Timestamp {
    Timestamp::from_secs(1_772_442_000 + secs)
}

#[test]
fn markdown_is_a_post_mortem_draft() {
    let report = render(&sample(), "pm");
    let md = &report.markdown;
    for section in [
        "# Post-mortem draft: Error ratio of payment rose after payment 1.5.0",
        "## Summary",
        "## Timeline",
        "## Suspects",
        "## Blast radius",
        "## Owners",
        "## Charts",
        "## What we do not know",
        "## Root cause",
        "## Action items",
    ] {
        assert!(md.contains(section), "missing {section}:\n{md}");
    }
    assert!(
        md.contains("| What | error ratio of payment rose from 0.50% to 24% (1,200 requests"),
        "{md}"
    );
    assert!(md.contains("| Suspected release | payment 1.5.0 (from 1.4.0), started 09:11:00 UTC, no deployment event"), "{md}");
    assert!(md.contains("| Confidence | 93% |"), "{md}");
    assert!(
        md.contains("| Recommendation | roll back payment to 1.4.0 |"),
        "{md}"
    );
    assert!(md.contains("### 1. payment 1.5.0 (93% confidence)"), "{md}");
    assert!(md.contains("### 2. cart 2.0.0 (4.0% confidence)"), "{md}");
    // Every evidence kind, with its key numbers.
    for needle in [
        "| Version split | error\\_ratio: new version 24% over 1,200 requests vs old version 0.50% over 5,400 (z = 21.3) | +4.20 (for) |",
        "| Edge split | calls payment → payments-db: from the new version 20% failed of 800, from the old 1.0% of 3,000 (z = 9.0) |",
        "| Timing | onset at 09:11:30 UTC, 30s after the new version first served traffic (09:11:00 UTC) |",
        "| Dose response | the anomaly's size follows the rollout's traffic share: correlation 0.93 over 6 windows |",
        "| Rollback recovery | rolled back at 09:25:00 UTC, recovered at 09:26:00 UTC (1m 00s later) |",
        "| Topology | same service: path payment; 1 anomalous edge(s) on it; origin score 0.90 |",
        "| Traffic change | calls to fraud: 0.0/s before, 12.0/s after (a new dependency) |",
        "| Against | the anomaly went on after the release was rolled back | -0.40 (against) |",
    ] {
        assert!(md.contains(needle), "missing {needle}:\n{md}");
    }
    // Timeline sorted, with the offset from onset.
    let started = md.find("| 09:11:00 | -30s | release started |").unwrap();
    let onset = md.find("| 09:11:30 | +0s | onset |").unwrap();
    let recovery = md.find("| 09:26:00 | +14m 30s | recovery |").unwrap();
    assert!(started < onset && onset < recovery, "{md}");
    assert!(md.contains("| checkout | 1 | 80% |"), "{md}");
    assert!(
        md.contains("| payment | payments | \\#payments-oncall | 1 |"),
        "{md}"
    );
    assert!(
        md.contains("![Error ratio of payment, checkout](pm-error-ratio.svg)"),
        "{md}"
    );
    assert!(
        md.contains("![Latency of payment, checkout](pm-latency.svg)"),
        "{md}"
    );
    // Unknowns the renderer sees itself.
    assert!(
        md.contains("No deployment event announced payment 1.5.0"),
        "{md}"
    );
    assert!(
        md.contains(
            "Evidence against payment 1.5.0: the anomaly went on after the release was rolled back."
        ),
        "{md}"
    );
    assert!(!md.contains("Low traffic"), "{md}");
}

#[test]
fn low_traffic_and_open_anomalies_are_named_as_unknowns() {
    let mut input = sample();
    for p in &mut input.series[0].points {
        p.requests = 5;
    }
    if let Some(a) = &mut input.anomaly {
        a.recovered_at = None;
    }
    input.owners.clear();
    let md = render(&input, "pm").markdown;
    assert!(
        md.contains("Low traffic: 80 of 80 windows of payment had fewer than 20 requests"),
        "{md}"
    );
    assert!(
        md.contains("had not recovered by the end of the data (09:40:00 UTC)"),
        "{md}"
    );
    assert!(
        md.contains("not recovered by the end of the data (09:40 UTC)"),
        "{md}"
    );
    assert!(md.contains("No owner is recorded for payment."), "{md}");
}

#[test]
fn write_puts_the_markdown_and_charts_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let report = render(&sample(), "pm");
    let written = report.write(&out).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["pm.md", "pm-error-ratio.svg", "pm-latency.svg"]);
    let md = std::fs::read_to_string(out.join("pm.md")).unwrap();
    assert_eq!(md, report.markdown);
    // Every image the Markdown links is a file next to it.
    for line in md.lines().filter(|l| l.starts_with("![")) {
        let file = line.rsplit_once('(').unwrap().1.trim_end_matches(')');
        assert!(out.join(file).is_file(), "{file}");
    }
    let svg = std::fs::read_to_string(out.join("pm-latency.svg")).unwrap();
    assert_eq!(svg, report.charts[1].1);
}

#[test]
fn default_stem_names_service_and_minute() {
    assert_eq!(
        default_stem("payment", t(690)),
        "postmortem-payment-20260302T0911"
    );
    assert_eq!(default_stem("a/b", t(0)), "postmortem-a-b-20260302T0900");
}
