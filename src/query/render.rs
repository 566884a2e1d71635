//! Text tables for `epicenter query` (the default output; `--json` prints
//! the structs as the API serves them).
//!
//! Never does: I/O; every function returns the text.

use std::fmt::Write as _;

use super::{Impact, ReleaseReport, WhichRelease};
use crate::history::{AnomalyRecord, ReleaseRecord};
use crate::model::Timestamp;

fn t(at: Option<Timestamp>) -> String {
    at.map_or_else(|| "-".to_owned(), Timestamp::to_rfc3339)
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn ms(x: f64) -> String {
    format!("{:.1}ms", x * 1000.0)
}

/// Aligns rows into columns separated by two spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let parts: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut out, &mut header.iter().copied());
    for row in rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}

/// `which-release`.
pub fn which_release(w: &WhichRelease) -> String {
    let mut out = format!(
        "{} ({}) at {}, examined {} .. {}\n",
        w.service,
        w.environment,
        w.at.to_rfc3339(),
        w.from.to_rfc3339(),
        w.to.to_rfc3339()
    );
    if let Some(a) = &w.anomaly {
        let _ignored = writeln!(
            out,
            "{}: {} from {:.4} to {:.4} since {} ({} requests); origins: {}",
            a.series,
            a.signal,
            a.baseline,
            a.observed,
            a.onset.to_rfc3339(),
            a.requests,
            a.origins.join(", ")
        );
    }
    if w.suspects.is_empty() {
        out.push_str("no release explains it\n");
    }
    let rows: Vec<Vec<String>> = w
        .suspects
        .iter()
        .enumerate()
        .map(|(i, s)| {
            vec![
                (i + 1).to_string(),
                format!("{}@{}", s.release.service, s.release.version),
                format!("{:.2}", s.confidence),
                s.evidence
                    .iter()
                    .filter(|e| e.llr > 0.0)
                    .map(|e| e.kind())
                    .collect::<Vec<_>>()
                    .join(","),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(&["#", "RELEASE", "CONFIDENCE", "EVIDENCE"], &rows));
    }
    if !w.rejected.is_empty() {
        let names: Vec<String> = w
            .rejected
            .iter()
            .map(|s| {
                format!(
                    "{}@{} ({:.2})",
                    s.release.service, s.release.version, s.confidence
                )
            })
            .collect();
        let _ignored = writeln!(out, "considered, not blamed: {}", names.join(", "));
    }
    out
}

/// `releases`.
pub fn releases(list: &[ReleaseRecord]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            vec![
                r.started_at.to_rfc3339(),
                r.environment.clone(),
                format!("{}@{}", r.service, r.version),
                r.previous_version.clone().unwrap_or_else(|| "-".into()),
                r.state.clone(),
                r.verdict.map_or("-", |v| v.as_str()).to_owned(),
                r.origin.clone(),
            ]
        })
        .collect();
    table(
        &[
            "STARTED", "ENV", "RELEASE", "PREVIOUS", "STATE", "VERDICT", "ORIGIN",
        ],
        &rows,
    )
}

/// `anomalies`.
pub fn anomalies(list: &[AnomalyRecord]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|a| {
            vec![
                a.onset.to_rfc3339(),
                a.series.clone(),
                a.signal.clone(),
                format!("{:.4}", a.baseline),
                format!("{:.4}", a.observed),
                t(a.recovered_at),
            ]
        })
        .collect();
    table(
        &[
            "ONSET",
            "SERIES",
            "SIGNAL",
            "BASELINE",
            "OBSERVED",
            "RECOVERED",
        ],
        &rows,
    )
}

/// `release`.
pub fn release_report(r: &ReleaseReport) -> String {
    let rel = &r.release;
    let mut out = format!(
        "{}@{} ({}) replacing {}: {}, verdict {}\nstarted {}, exposed {}, completed {}, rolled back {}\n",
        rel.service,
        rel.version,
        rel.environment,
        rel.previous_version.as_deref().unwrap_or("-"),
        rel.state,
        r.verdict.map_or("-", |v| v.as_str()),
        rel.started_at.to_rfc3339(),
        t(rel.exposure_start),
        t(rel.completed_at),
        t(rel.rolled_back_at),
    );
    let rows = vec![
        vec![
            "before".to_owned(),
            r.before.requests.to_string(),
            pct(r.before.error_ratio),
            ms(r.before.p50),
            ms(r.before.p99),
        ],
        vec![
            "after".to_owned(),
            r.after.requests.to_string(),
            pct(r.after.error_ratio),
            ms(r.after.p50),
            ms(r.after.p99),
        ],
    ];
    out.push_str(&table(
        &["PERIOD", "REQUESTS", "ERRORS", "P50", "P99"],
        &rows,
    ));
    let rows: Vec<Vec<String>> = r
        .versions
        .iter()
        .map(|v| {
            vec![
                v.version.clone(),
                pct(v.share),
                pct(v.rates.error_ratio),
                ms(v.rates.p99),
            ]
        })
        .collect();
    out.push_str("versions after exposure:\n");
    out.push_str(&table(&["VERSION", "SHARE", "ERRORS", "P99"], &rows));
    let mut affected: Vec<String> = r.affected.iter().map(|a| a.service.clone()).collect();
    affected.extend(r.alerted_affected.iter().cloned());
    affected.sort();
    affected.dedup();
    let _ignored = writeln!(
        out,
        "affected: {}",
        if affected.is_empty() {
            "-".to_owned()
        } else {
            affected.join(", ")
        }
    );
    let _ignored = writeln!(
        out,
        "blamed by: {}; onset {}, recovered {}, time to recovery {}",
        if r.blamed_by.is_empty() {
            "-".to_owned()
        } else {
            r.blamed_by.join(", ")
        },
        t(r.onset),
        t(r.recovered_at),
        r.time_to_recovery_secs
            .map_or_else(|| "-".to_owned(), |s| format!("{s:.0}s"))
    );
    out
}

/// `impact`.
pub fn impact(i: &Impact) -> String {
    let mut out = format!(
        "{} ({}): risk {} ({})\ntraffic {} .. {}\n",
        i.service,
        i.environment,
        i.risk.as_str(),
        i.reasons.join("; "),
        i.from.to_rfc3339(),
        i.to.to_rfc3339()
    );
    for (title, list) in [
        ("dependents", &i.dependents),
        ("dependencies", &i.dependencies),
    ] {
        let _ignored = writeln!(out, "{title}:");
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|r| {
                vec![
                    r.service.clone(),
                    r.depth.to_string(),
                    pct(r.share),
                    format!("{:.1}", r.requests_per_sec),
                    r.tier.map_or_else(|| "-".to_owned(), |t| t.to_string()),
                    r.team.clone().unwrap_or_else(|| "-".to_owned()),
                ]
            })
            .collect();
        out.push_str(&table(
            &["SERVICE", "DEPTH", "SHARE", "REQ/S", "TIER", "TEAM"],
            &rows,
        ));
    }
    out
}

/// Stored alerts.
pub fn alerts(list: &[crate::model::Alert]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|a| {
            vec![
                a.detected_at.to_rfc3339(),
                a.kind.as_str().to_owned(),
                a.service().to_owned(),
                a.top_release().map_or_else(
                    || "-".to_owned(),
                    |r| format!("{}@{}", r.service, r.version),
                ),
                a.id.clone(),
            ]
        })
        .collect();
    table(&["DETECTED", "TYPE", "SERVICE", "SUSPECT", "ID"], &rows)
}

/// A service's per-window series.
pub fn series(points: &[super::SeriesPoint]) -> String {
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            vec![
                p.start.to_rfc3339(),
                p.requests.to_string(),
                pct(p.error_ratio),
                ms(p.p50),
                ms(p.p99),
            ]
        })
        .collect();
    table(&["WINDOW", "REQUESTS", "ERRORS", "P50", "P99"], &rows)
}
