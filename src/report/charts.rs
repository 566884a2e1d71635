//! The report's two charts, built from a [`ReportInput`]: error ratio (one
//! line per service) and latency (p99 solid, p50 dashed, per service), both
//! with the release markers and the anomaly shaded.

use crate::model::Timestamp;

use super::input::{ReportInput, SeriesPoint};
use super::svg::{Chart, LegendEntry, Line, render};
use super::text::{latency, percent};

/// File-name suffix of the error-ratio chart (`STEM-error-ratio.svg`).
pub const ERROR_RATIO_SUFFIX: &str = "error-ratio.svg";
/// File-name suffix of the latency chart (`STEM-latency.svg`).
pub const LATENCY_SUFFIX: &str = "latency.svg";

fn values(points: &[SeriesPoint], value: fn(&SeriesPoint) -> f64) -> Vec<Option<(Timestamp, f64)>> {
    points
        .iter()
        .map(|p| p.drawable().then(|| (p.at, value(p))))
        .collect()
}

/// The shaded anomaly: onset to recovery, or to the end of the period.
fn band(input: &ReportInput) -> Option<(Timestamp, Timestamp)> {
    let anomaly = input.anomaly.as_ref()?;
    Some((anomaly.onset, anomaly.recovered_at.unwrap_or(input.to)))
}

fn scope(input: &ReportInput) -> String {
    if input.environment.is_empty() {
        String::new()
    } else {
        format!(" ({})", input.environment)
    }
}

/// The error-ratio chart, as SVG.
pub(crate) fn error_ratio(input: &ReportInput) -> String {
    let lines = input
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| Line {
            service: s.service.clone(),
            signal: "error_ratio",
            color: i,
            dashed: false,
            values: values(&s.points, |p| p.error_ratio),
        })
        .collect();
    let legend = input
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| LegendEntry {
            label: s.service.clone(),
            color: Some(i),
            dashed: false,
        })
        .collect();
    render(&Chart {
        title: format!("Error ratio{}", scope(input)),
        y_caption: "error ratio",
        from: input.from,
        to: input.to,
        y_min_top: 0.01,
        y_format: percent,
        lines,
        legend,
        markers: &input.markers,
        band: band(input),
    })
}

/// The latency chart, as SVG.
pub(crate) fn latency_chart(input: &ReportInput) -> String {
    let mut lines = Vec::new();
    let mut legend = Vec::new();
    for (i, s) in input.series.iter().enumerate() {
        lines.push(Line {
            service: s.service.clone(),
            signal: "latency_p99",
            color: i,
            dashed: false,
            values: values(&s.points, |p| p.latency_p99_secs),
        });
        lines.push(Line {
            service: s.service.clone(),
            signal: "latency_p50",
            color: i,
            dashed: true,
            values: values(&s.points, |p| p.latency_p50_secs),
        });
        legend.push(LegendEntry {
            label: s.service.clone(),
            color: Some(i),
            dashed: false,
        });
    }
    if !input.series.is_empty() {
        legend.push(LegendEntry {
            label: "p99".to_string(),
            color: None,
            dashed: false,
        });
        legend.push(LegendEntry {
            label: "p50".to_string(),
            color: None,
            dashed: true,
        });
    }
    render(&Chart {
        title: format!("Latency p99 and p50{}", scope(input)),
        y_caption: "latency",
        from: input.from,
        to: input.to,
        y_min_top: 0.01,
        y_format: latency,
        lines,
        legend,
        markers: &input.markers,
        band: band(input),
    })
}
