//! The demo's terminal live view: a compact table of services and edges
//! computed from two consecutive [`GraphSnapshot`]s.
//!
//! Rates are the counter deltas between the two snapshots divided by the
//! interval. Without a previous snapshot they are the cumulative counts over
//! each edge's lifetime (at least one second). A service's request rate and
//! error ratio are those of the edges into it. Latency quantiles are the
//! snapshot's lifetime p50/p99 (`client_p`, `server_p`).
//!
//! Never does: I/O, clock, terminal control (the caller clears the screen).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::{EdgeSnapshot, GraphSnapshot, Timestamp};

/// Most rows per table; the busiest are shown first beyond this.
const MAX_ROWS: usize = 40;
const NAME_WIDTH: usize = 22;

/// Requests and failures per second over the interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Rate {
    requests: f64,
    failed: f64,
}

impl Rate {
    fn err_pct(self) -> Option<f64> {
        (self.requests > 0.0).then(|| 100.0 * self.failed / self.requests)
    }
}

fn edge_rate(
    edge: &EdgeSnapshot,
    previous: Option<&EdgeSnapshot>,
    had_previous: bool,
    interval_secs: f64,
) -> Rate {
    let (requests, failed, secs) = match previous {
        Some(p) if p.requests <= edge.requests => (
            (edge.requests - p.requests) as f64,
            edge.failed.saturating_sub(p.failed) as f64,
            interval_secs,
        ),
        // A new edge (or a reset counter) within the interval.
        _ if had_previous => (edge.requests as f64, edge.failed as f64, interval_secs),
        _ => {
            let life = edge
                .last_seen
                .nanos()
                .saturating_sub(edge.first_seen.nanos());
            (
                edge.requests as f64,
                edge.failed as f64,
                (life as f64 / 1e9).max(1.0),
            )
        }
    };
    let secs = if secs > 0.0 && secs.is_finite() {
        secs
    } else {
        1.0
    };
    Rate {
        requests: requests / secs,
        failed: failed / secs,
    }
}

fn clip(name: &str, width: usize) -> String {
    if name.chars().count() <= width {
        name.to_owned()
    } else {
        let mut out: String = name.chars().take(width.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

fn fmt_rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

fn fmt_pct(p: Option<f64>) -> String {
    p.map_or_else(|| "-".to_owned(), |p| format!("{p:.2}"))
}

fn fmt_ms(seconds: f64) -> String {
    if !(seconds > 0.0 && seconds.is_finite()) {
        return "-".to_owned();
    }
    let ms = seconds * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms:.1}")
    }
}

fn type_label(edge: &EdgeSnapshot) -> &'static str {
    match edge.connection_type.as_str() {
        "" => "direct",
        "virtual_node" => "virtual",
        "messaging_system" => "messaging",
        _ => "database",
    }
}

/// Appends one line; writing to a `String` cannot fail.
fn line(out: &mut String, args: std::fmt::Arguments<'_>) {
    let result: std::fmt::Result = out.write_fmt(args);
    debug_assert!(result.is_ok());
    out.push('\n');
}

/// Renders the live view (see the module docs). `interval_secs` is the time
/// between `previous` and `current`.
pub fn render_live_view(
    current: &GraphSnapshot,
    previous: Option<&GraphSnapshot>,
    interval_secs: f64,
) -> String {
    let prev_edges: BTreeMap<(&str, &str, &str), &EdgeSnapshot> = previous
        .map(|p| {
            p.edges
                .iter()
                .map(|e| ((&*e.client, &*e.server, e.connection_type.as_str()), e))
                .collect()
        })
        .unwrap_or_default();
    let rates: Vec<(&EdgeSnapshot, Rate)> = current
        .edges
        .iter()
        .map(|e| {
            let p = prev_edges
                .get(&(&*e.client, &*e.server, e.connection_type.as_str()))
                .copied();
            (e, edge_rate(e, p, previous.is_some(), interval_secs))
        })
        .collect();
    let mut into: BTreeMap<&str, Rate> = BTreeMap::new();
    for (e, r) in &rates {
        let slot = into.entry(&*e.server).or_default();
        slot.requests += r.requests;
        slot.failed += r.failed;
    }

    let mut out = String::new();
    line(
        &mut out,
        format_args!(
            "epicenter live graph · watermark {} · {} nodes · {} edges",
            if current.watermark == Timestamp(0) {
                "-".to_owned()
            } else {
                current.watermark.to_rfc3339()
            },
            current.nodes.len(),
            current.edges.len()
        ),
    );
    line(&mut out, format_args!(""));
    line(
        &mut out,
        format_args!(
            "{:<NAME_WIDTH$} {:<9} {:<28} {:>8} {:>7}",
            "SERVICE", "KIND", "VERSIONS (instances)", "REQ/S", "ERR%"
        ),
    );
    let mut nodes: Vec<_> = current.nodes.iter().collect();
    if nodes.len() > MAX_ROWS {
        nodes.sort_by(|a, b| {
            let ra = into.get(&*a.name).map_or(0.0, |r| r.requests);
            let rb = into.get(&*b.name).map_or(0.0, |r| r.requests);
            rb.total_cmp(&ra).then_with(|| a.name.cmp(&b.name))
        });
    }
    for node in nodes.iter().take(MAX_ROWS) {
        let versions = node
            .versions
            .iter()
            .map(|(v, n)| format!("{v}×{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        let rate = into.get(&*node.name).copied().unwrap_or_default();
        line(
            &mut out,
            format_args!(
                "{:<NAME_WIDTH$} {:<9} {:<28} {:>8} {:>7}",
                clip(&node.name, NAME_WIDTH),
                node.kind.as_str(),
                clip(if versions.is_empty() { "-" } else { &versions }, 28),
                fmt_rate(rate.requests),
                fmt_pct(rate.err_pct()),
            ),
        );
    }
    if nodes.len() > MAX_ROWS {
        line(
            &mut out,
            format_args!("… and {} more services", nodes.len() - MAX_ROWS),
        );
    }
    line(&mut out, format_args!(""));
    line(
        &mut out,
        format_args!(
            "{:<w$} {:<9} {:>8} {:>7} {:>15} {:>15}",
            "EDGE (client → server)",
            "TYPE",
            "REQ/S",
            "ERR%",
            "CLIENT p50/p99",
            "SERVER p50/p99",
            w = 2 * NAME_WIDTH + 3
        ),
    );
    let mut edges = rates;
    if edges.len() > MAX_ROWS {
        edges.sort_by(|a, b| b.1.requests.total_cmp(&a.1.requests));
    }
    for (e, r) in edges.iter().take(MAX_ROWS) {
        let name = format!(
            "{} → {}",
            clip(&e.client, NAME_WIDTH),
            clip(&e.server, NAME_WIDTH)
        );
        line(
            &mut out,
            format_args!(
                "{:<w$} {:<9} {:>8} {:>7} {:>15} {:>15}",
                name,
                type_label(e),
                fmt_rate(r.requests),
                fmt_pct(r.err_pct()),
                format!("{}/{} ms", fmt_ms(e.client_p[0]), fmt_ms(e.client_p[2])),
                format!("{}/{} ms", fmt_ms(e.server_p[0]), fmt_ms(e.server_p[2])),
                w = 2 * NAME_WIDTH + 3
            ),
        );
    }
    if edges.len() > MAX_ROWS {
        line(
            &mut out,
            format_args!("… and {} more edges", edges.len() - MAX_ROWS),
        );
    }
    line(&mut out, format_args!(""));
    let p = &current.pairing;
    line(
        &mut out,
        format_args!(
            "pairing: {} pending · {} unpaired · {} dropped",
            p.pending, p.unpaired, p.dropped
        ),
    );
    out
}

/// The footer line: where to look next.
pub fn live_view_footer(api_base_url: &str) -> String {
    let base = api_base_url.trim_end_matches('/');
    format!("curl {base}/api/v1/graph · {base}/api/v1/services · {base}/metrics · Ctrl-C to stop")
}

#[cfg(test)]
mod tests;
