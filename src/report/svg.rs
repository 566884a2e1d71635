//! A hand-written SVG line chart: time on x (UTC ticks), a value on y,
//! one polyline per line (split where there is no data), dashed vertical
//! release markers with labels, an optional shaded anomaly band, a legend
//! and a title. No charting crate; the output is byte-identical for the
//! same chart.
//!
//! Structure the tests rely on (and that stays stable): every data line is
//! a `<polyline class="series" data-service=… data-signal=…>`, every marker
//! a `<g class="release-marker" data-at=RFC3339>` holding a `<line>` and a
//! `<text>`, the band a `<rect class="anomaly-band">`, and an empty chart a
//! `<text class="no-data">`.

use std::fmt::Write as _;

use crate::model::Timestamp;

use super::input::ReleaseMarker;
use super::text::{date, hhmm, secs_between, xml};

/// Canvas width, px.
pub(crate) const WIDTH: f64 = 880.0;
/// Canvas height, px.
pub(crate) const HEIGHT: f64 = 460.0;
/// Plot area: left, right, top, bottom edges, px.
pub(crate) const PLOT_LEFT: f64 = 72.0;
pub(crate) const PLOT_RIGHT: f64 = 860.0;
pub(crate) const PLOT_TOP: f64 = 48.0;
pub(crate) const PLOT_BOTTOM: f64 = 380.0;

/// Distinct line colours, by service position.
pub(crate) const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

/// One data line.
pub(crate) struct Line {
    /// Service (legend, `data-service`).
    pub service: String,
    /// Statistic (`data-signal`).
    pub signal: &'static str,
    /// Palette index.
    pub color: usize,
    /// Dashed stroke (a secondary statistic of the same service).
    pub dashed: bool,
    /// Points; `None` is a gap.
    pub values: Vec<Option<(Timestamp, f64)>>,
}

/// One legend entry.
pub(crate) struct LegendEntry {
    /// Text.
    pub label: String,
    /// Palette index, or `None` for a grey entry.
    pub color: Option<usize>,
    /// Dashed swatch.
    pub dashed: bool,
}

/// A chart to draw.
pub(crate) struct Chart<'a> {
    /// Title at the top.
    pub title: String,
    /// Y axis caption.
    pub y_caption: &'static str,
    /// Period on x.
    pub from: Timestamp,
    /// End of the period on x.
    pub to: Timestamp,
    /// Smallest y maximum (so a flat zero line is not magnified).
    pub y_min_top: f64,
    /// Y tick labels.
    pub y_format: fn(f64) -> String,
    /// The data.
    pub lines: Vec<Line>,
    /// Legend entries, left to right.
    pub legend: Vec<LegendEntry>,
    /// Release markers.
    pub markers: &'a [ReleaseMarker],
    /// Shaded anomaly band (start, end).
    pub band: Option<(Timestamp, Timestamp)>,
}

impl Chart<'_> {
    fn span_secs(&self) -> f64 {
        secs_between(self.from, self.to).max(60.0)
    }

    /// X pixel of `t` (may lie outside the plot when `t` is outside the period).
    pub(crate) fn x(&self, t: Timestamp) -> f64 {
        PLOT_LEFT + secs_between(self.from, t) / self.span_secs() * (PLOT_RIGHT - PLOT_LEFT)
    }

    fn in_period(&self, t: Timestamp) -> bool {
        self.from <= t && t <= self.to
    }
}

/// 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * magnitude >= raw {
            return m * magnitude;
        }
    }
    10.0 * magnitude
}

/// Y axis top and tick step for data up to `max`.
fn y_scale(max: f64, min_top: f64) -> (f64, f64) {
    let max = if max.is_finite() {
        max.max(min_top)
    } else {
        min_top
    };
    let step = nice_step(max / 5.0);
    // The epsilon keeps 0.01 / 0.002 = 5.000…1 from adding a sixth tick.
    let top = (max / step - 1e-9).ceil().max(1.0) * step;
    (top, step)
}

/// Tick step in seconds so that the period gets at most 8 ticks, aligned to UTC.
fn x_step_secs(span_secs: f64) -> u64 {
    const STEPS_MIN: [u64; 13] = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 10_080];
    for m in STEPS_MIN {
        if span_secs / (m as f64 * 60.0) <= 8.0 {
            return m * 60;
        }
    }
    10_080 * 60
}

fn point(x: f64, y: f64) -> String {
    format!("{x:.1},{y:.1}")
}

/// Renders the chart as a standalone SVG document.
pub(crate) fn render(chart: &Chart<'_>) -> String {
    let mut max = f64::NEG_INFINITY;
    let mut drawable = 0usize;
    for line in &chart.lines {
        for (t, v) in line.values.iter().flatten() {
            if chart.in_period(*t) && v.is_finite() {
                max = max.max(*v);
                drawable += 1;
            }
        }
    }
    let (top, step) = y_scale(max, chart.y_min_top);
    let y = |v: f64| PLOT_BOTTOM - (v / top).clamp(0.0, 1.0) * (PLOT_BOTTOM - PLOT_TOP);

    let mut s = String::with_capacity(8192);
    let _ignored = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ignored = writeln!(s, "<title>{}</title>", xml(&chart.title));
    let _ignored = writeln!(
        s,
        "<rect class=\"background\" x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#ffffff\"/>"
    );
    let _ignored = writeln!(
        s,
        "<text class=\"title\" x=\"{:.1}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\" fill=\"#222222\">{}</text>",
        WIDTH / 2.0,
        xml(&chart.title)
    );
    if let Some((start, end)) = chart.band {
        let x0 = chart.x(start).clamp(PLOT_LEFT, PLOT_RIGHT);
        let x1 = chart.x(end).clamp(PLOT_LEFT, PLOT_RIGHT);
        if x1 > x0 {
            let _ignored = writeln!(
                s,
                "<rect class=\"anomaly-band\" x=\"{x0:.1}\" y=\"{PLOT_TOP:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#f2b134\" fill-opacity=\"0.18\"/>",
                x1 - x0,
                PLOT_BOTTOM - PLOT_TOP
            );
        }
    }
    axes(&mut s, chart, top, step);
    for line in &chart.lines {
        polylines(&mut s, chart, line, &y);
    }
    markers(&mut s, chart);
    if drawable == 0 {
        let _ignored = writeln!(
            s,
            "<text class=\"no-data\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"16\" fill=\"#888888\">no data in this period</text>",
            (PLOT_LEFT + PLOT_RIGHT) / 2.0,
            (PLOT_TOP + PLOT_BOTTOM) / 2.0
        );
    }
    legend(&mut s, chart);
    s.push_str("</svg>\n");
    s
}

fn axes(s: &mut String, chart: &Chart<'_>, top: f64, step: f64) {
    s.push_str("<g class=\"y-axis\" fill=\"#444444\">\n");
    let ticks = (top / step).round() as u64;
    for i in 0..=ticks {
        let v = step * i as f64;
        let py = PLOT_BOTTOM - v / top * (PLOT_BOTTOM - PLOT_TOP);
        let _ignored = writeln!(
            s,
            "<line x1=\"{PLOT_LEFT:.1}\" y1=\"{py:.1}\" x2=\"{PLOT_RIGHT:.1}\" y2=\"{py:.1}\" stroke=\"#e5e5e5\"/>"
        );
        let _ignored = writeln!(
            s,
            "<text class=\"y-tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            PLOT_LEFT - 6.0,
            py + 4.0,
            xml(&(chart.y_format)(v))
        );
    }
    let _ignored = writeln!(
        s,
        "<text class=\"y-caption\" transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        (PLOT_TOP + PLOT_BOTTOM) / 2.0,
        xml(chart.y_caption)
    );
    s.push_str("</g>\n<g class=\"x-axis\" fill=\"#444444\">\n");
    let step = x_step_secs(chart.span_secs());
    let first = chart.from.secs().div_ceil(step) * step;
    let mut t = first;
    while Timestamp::from_secs(t) <= chart.to {
        let px = chart.x(Timestamp::from_secs(t));
        let _ignored = writeln!(
            s,
            "<line x1=\"{px:.1}\" y1=\"{PLOT_BOTTOM:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#444444\"/>",
            PLOT_BOTTOM + 5.0
        );
        let _ignored = writeln!(
            s,
            "<text class=\"x-tick\" x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            PLOT_BOTTOM + 18.0,
            hhmm(Timestamp::from_secs(t))
        );
        t += step;
    }
    let _ignored = writeln!(
        s,
        "<text class=\"x-caption\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">time (UTC, {})</text>",
        (PLOT_LEFT + PLOT_RIGHT) / 2.0,
        PLOT_BOTTOM + 36.0,
        date(chart.from)
    );
    let _ignored = writeln!(
        s,
        "<rect class=\"plot-frame\" x=\"{PLOT_LEFT:.1}\" y=\"{PLOT_TOP:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#444444\"/>",
        PLOT_RIGHT - PLOT_LEFT,
        PLOT_BOTTOM - PLOT_TOP
    );
    s.push_str("</g>\n");
}

fn polylines(s: &mut String, chart: &Chart<'_>, line: &Line, y: &dyn Fn(f64) -> f64) {
    let mut runs: Vec<Vec<String>> = vec![Vec::new()];
    for value in &line.values {
        match value {
            Some((t, v)) if chart.in_period(*t) && v.is_finite() => {
                if let Some(run) = runs.last_mut() {
                    run.push(point(chart.x(*t), y(*v)));
                }
            }
            _ => {
                if runs.last().is_some_and(|r| !r.is_empty()) {
                    runs.push(Vec::new());
                }
            }
        }
    }
    let color = PALETTE[line.color % PALETTE.len()];
    let dash = if line.dashed {
        " stroke-dasharray=\"5 3\""
    } else {
        ""
    };
    for run in runs.iter().filter(|r| !r.is_empty()) {
        let _ignored = writeln!(
            s,
            "<polyline class=\"series\" data-service=\"{}\" data-signal=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} stroke-linejoin=\"round\" points=\"{}\"/>",
            xml(&line.service),
            line.signal,
            run.join(" ")
        );
        // A lone point is invisible as a polyline: mark it.
        if run.len() == 1
            && let Some((px, py)) = run[0].split_once(',')
        {
            let _ignored = writeln!(
                s,
                "<circle class=\"lone-point\" cx=\"{px}\" cy=\"{py}\" r=\"2.5\" fill=\"{color}\"/>"
            );
        }
    }
}

fn markers(s: &mut String, chart: &Chart<'_>) {
    let mut shown = 0usize;
    for marker in chart.markers {
        if !chart.in_period(marker.at) {
            continue;
        }
        let px = chart.x(marker.at);
        // Stagger labels over three rows so close markers stay readable.
        let ty = PLOT_TOP + 14.0 + 14.0 * (shown % 3) as f64;
        let (anchor, tx) = if px > PLOT_RIGHT - 160.0 {
            ("end", px - 4.0)
        } else {
            ("start", px + 4.0)
        };
        let _ignored = writeln!(
            s,
            "<g class=\"release-marker\" data-at=\"{}\">\n<line x1=\"{px:.1}\" y1=\"{PLOT_TOP:.1}\" x2=\"{px:.1}\" y2=\"{PLOT_BOTTOM:.1}\" stroke=\"#555555\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n<text x=\"{tx:.1}\" y=\"{ty:.1}\" text-anchor=\"{anchor}\" fill=\"#333333\">{}</text>\n</g>",
            marker.at.to_rfc3339(),
            xml(&marker.label)
        );
        shown += 1;
    }
}

fn legend(s: &mut String, chart: &Chart<'_>) {
    s.push_str("<g class=\"legend\">\n");
    let mut x = PLOT_LEFT;
    let y = HEIGHT - 14.0;
    for entry in &chart.legend {
        let color = entry
            .color
            .map_or("#555555", |c| PALETTE[c % PALETTE.len()]);
        let dash = if entry.dashed {
            " stroke-dasharray=\"5 3\""
        } else {
            ""
        };
        let _ignored = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"3\"{dash}/>",
            y - 4.0,
            x + 22.0,
            y - 4.0
        );
        let _ignored = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{y:.1}\" fill=\"#222222\">{}</text>",
            x + 28.0,
            xml(&entry.label)
        );
        // Approximate text width: 7 px per character at 12 px sans-serif.
        x += 28.0 + 7.0 * entry.label.chars().count() as f64 + 18.0;
    }
    s.push_str("</g>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_nice() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(nice_step(0.021), 0.025));
        assert!(close(nice_step(3.0), 5.0));
        assert!(close(nice_step(0.0), 1.0));
        let (top, step) = y_scale(0.24, 0.01);
        assert!(close(top, 0.25) && close(step, 0.05), "{top} {step}");
        let (top, step) = y_scale(f64::NEG_INFINITY, 0.01);
        assert!(close(top, 0.01) && close(step, 0.002), "{top} {step}");
        assert_eq!(x_step_secs(3600.0), 600);
        assert_eq!(x_step_secs(40.0 * 60.0), 300);
    }
}
