//! Prometheus exposition of the service graph, rendered from one
//! [`GraphSnapshot`] at scrape time (no per-series state, no stale series).
//!
//! Names, labels, help texts and bucket layout are Tempo's metrics-generator
//! ones (`modules/generator/processor/servicegraphs`), so Grafana's service
//! graph works unchanged. Two formats:
//!
//! * OpenMetrics 1.0.0: counter families are named without `_total` (their
//!   samples carry it) and bucket samples carry exemplars
//!   (`# {trace_id="…"} value`). The caller appends `# EOF`.
//! * Prometheus text 0.0.4: counter `TYPE`/`HELP` lines name the `_total`
//!   sample itself, and there are no exemplars.
//!
//! Pure: no I/O, no clock. Never holds the whole text: a scrape streams
//! [`GraphSeries`] chunk by chunk (the tests join the chunks).

use std::fmt::Write as _;
use std::sync::Arc;

use crate::model::{BucketCounts, EdgeSnapshot, GraphSnapshot, TraceId};

/// Exposition format negotiated with the scraper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text; version=1.0.0` (exemplars, `# EOF`).
    OpenMetrics,
    /// `text/plain; version=0.0.4` (the classic format).
    PrometheusText,
}

impl Format {
    /// The exact `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// Picks the format from an `Accept` header: OpenMetrics when it is
    /// accepted with a quality at least that of `text/plain` (and of `*/*`),
    /// the classic text format otherwise.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::PrometheusText;
        };
        let mut openmetrics = 0.0f32;
        let mut text = 0.0f32;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Self::OpenMetrics
        } else {
            Self::PrometheusText
        }
    }
}

/// Bytes of text a chunk of [`GraphSeries`] holds at least (all but the
/// last): large enough that a chunk costs one write, small enough that a
/// scrape never holds much.
const CHUNK_BYTES: usize = 64 * 1024;

/// The service-graph families, in the order they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Requests,
    Failed,
    Server,
    Client,
    Unpaired,
    Dropped,
}

const FAMILIES: [Family; 6] = [
    Family::Requests,
    Family::Failed,
    Family::Server,
    Family::Client,
    Family::Unpaired,
    Family::Dropped,
];

impl Family {
    fn suffix(self) -> &'static str {
        match self {
            Self::Requests => "_request",
            Self::Failed => "_request_failed",
            Self::Server => "_request_server_seconds",
            Self::Client => "_request_client_seconds",
            Self::Unpaired => "_unpaired_spans",
            Self::Dropped => "_dropped_spans",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Self::Requests => "Total count of requests between two nodes",
            Self::Failed => "Total count of failed requests between two nodes",
            Self::Server => "Time for a request between two nodes as seen from the server",
            Self::Client => "Time for a request between two nodes as seen from the client",
            Self::Unpaired => "Total count of unpaired spans",
            Self::Dropped => "Total count of dropped spans",
        }
    }

    /// Samples of the family: one per edge, or one for the whole graph.
    fn len(self, snapshot: &GraphSnapshot) -> usize {
        match self {
            Self::Unpaired | Self::Dropped => 1,
            _ => snapshot.edges.len(),
        }
    }
}

/// The service-graph series of one snapshot, every metric name starting
/// with a prefix (`traces_service_graph`), rendered a chunk of about
/// [`CHUNK_BYTES`] at a time: a scrape streams them and never holds the
/// whole text (41 MB in 377,000 lines for the 15,700 edges of a
/// 5,000-service fleet; built whole, its buffer was the largest single
/// allocation of the daemon, 67 MB at the scrape).
pub(crate) struct GraphSeries {
    snapshot: Arc<GraphSnapshot>,
    prefix: String,
    format: Format,
    /// Index into [`FAMILIES`] of the family being written.
    family: usize,
    /// Next sample of that family; 0 also means its header is due.
    next: usize,
    /// The `le` labels of the last bucket layout seen, by its bounds.
    le: (Arc<[f64]>, Vec<String>),
}

impl GraphSeries {
    pub(crate) fn new(snapshot: Arc<GraphSnapshot>, prefix: &str, format: Format) -> Self {
        Self {
            snapshot,
            prefix: prefix.to_owned(),
            format,
            family: 0,
            next: 0,
            le: (Arc::from([]), Vec::new()),
        }
    }

    /// Writes samples into `out` until it holds `at_least` bytes or the
    /// series end; false when there was nothing left to write.
    fn write(&mut self, out: &mut String, at_least: usize) -> bool {
        let written = out.len();
        while out.len() < at_least {
            let Some(&family) = FAMILIES.get(self.family) else {
                break;
            };
            let snapshot = Arc::clone(&self.snapshot);
            let name = format!("{}{}", self.prefix, family.suffix());
            if self.next == 0 {
                match family {
                    Family::Server | Family::Client => histogram_header(out, &name, family.help()),
                    _ => counter_header(out, self.format, &name, family.help()),
                }
            }
            let end = family.len(&snapshot);
            while self.next < end && out.len() < at_least {
                let i = self.next;
                self.next += 1;
                match family {
                    Family::Requests => {
                        let edge = &snapshot.edges[i];
                        counter_sample(out, &name, Some(edge), edge.requests);
                    }
                    Family::Failed => {
                        let edge = &snapshot.edges[i];
                        counter_sample(out, &name, Some(edge), edge.failed);
                    }
                    Family::Server => {
                        let edge = &snapshot.edges[i];
                        self.histogram(out, &name, edge, &edge.server_latency);
                    }
                    Family::Client => {
                        let edge = &snapshot.edges[i];
                        self.histogram(out, &name, edge, &edge.client_latency);
                    }
                    Family::Unpaired => counter_sample(out, &name, None, snapshot.pairing.unpaired),
                    Family::Dropped => counter_sample(out, &name, None, snapshot.pairing.dropped),
                }
            }
            if self.next >= end {
                self.family += 1;
                self.next = 0;
            }
        }
        out.len() > written
    }

    fn histogram(
        &mut self,
        out: &mut String,
        name: &str,
        edge: &EdgeSnapshot,
        buckets: &BucketCounts,
    ) {
        if !Arc::ptr_eq(&self.le.0, &buckets.bounds) && self.le.0 != buckets.bounds {
            self.le = (
                Arc::clone(&buckets.bounds),
                buckets.bounds.iter().map(|b| number(*b)).collect(),
            );
        }
        let mut cumulative = 0u64;
        for (i, le) in self.le.1.iter().enumerate() {
            cumulative += buckets.counts.get(i).copied().unwrap_or(0);
            let exemplar = buckets.exemplars.get(i).and_then(Option::as_ref);
            bucket_line(out, self.format, name, edge, le, cumulative, exemplar);
        }
        // The `+Inf` bucket is the total; fall back to `count` if the
        // snapshot carries no per-bucket counts at all.
        let total = if buckets.counts.is_empty() {
            buckets.count
        } else {
            buckets.counts.iter().sum()
        };
        let exemplar = buckets
            .exemplars
            .get(buckets.bounds.len())
            .and_then(Option::as_ref);
        bucket_line(out, self.format, name, edge, "+Inf", total, exemplar);
        out.push_str(name);
        out.push_str("_sum");
        write_labels(out, edge, None);
        out.push(' ');
        out.push_str(&number(buckets.sum));
        out.push('\n');
        out.push_str(name);
        out.push_str("_count");
        write_labels(out, edge, None);
        let _infallible = writeln!(out, " {total}");
    }
}

/// Chunks of at least [`CHUNK_BYTES`] (the last may be shorter).
impl Iterator for GraphSeries {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut chunk = String::with_capacity(CHUNK_BYTES + 4096);
        self.write(&mut chunk, CHUNK_BYTES).then_some(chunk)
    }
}

/// Appends the service-graph series of `snapshot` to `out`, whole (the
/// chunks of [`GraphSeries`] joined).
#[cfg(test)]
pub(crate) fn write_graph_series(
    out: &mut String,
    snapshot: &Arc<GraphSnapshot>,
    prefix: &str,
    format: Format,
) {
    let mut series = GraphSeries::new(Arc::clone(snapshot), prefix, format);
    series.write(out, usize::MAX);
}

fn counter_header(out: &mut String, format: Format, family: &str, help: &str) {
    // OpenMetrics names the family; the classic format names the sample.
    let total = match format {
        Format::OpenMetrics => "",
        Format::PrometheusText => "_total",
    };
    let _infallible = write!(
        out,
        "# HELP {family}{total} {help}\n# TYPE {family}{total} counter\n"
    );
}

fn counter_sample(out: &mut String, family: &str, edge: Option<&EdgeSnapshot>, value: u64) {
    out.push_str(family);
    out.push_str("_total");
    if let Some(edge) = edge {
        write_labels(out, edge, None);
    }
    let _infallible = writeln!(out, " {value}");
}

fn histogram_header(out: &mut String, name: &str, help: &str) {
    let _infallible = write!(out, "# HELP {name} {help}\n# TYPE {name} histogram\n");
}

fn bucket_line(
    out: &mut String,
    format: Format,
    name: &str,
    edge: &EdgeSnapshot,
    le: &str,
    value: u64,
    exemplar: Option<&(TraceId, f64)>,
) {
    out.push_str(name);
    out.push_str("_bucket");
    write_labels(out, edge, Some(le));
    let _infallible = write!(out, " {value}");
    if format == Format::OpenMetrics
        && let Some((trace_id, sample)) = exemplar
    {
        // 32 hex digits: well under the 128-character exemplar label limit.
        let _infallible = write!(out, " # {{trace_id=\"{trace_id}\"}} {}", number(*sample));
    }
    out.push('\n');
}

/// `{client="…",server="…"[,connection_type="…"][,le="…"]}`; an empty
/// `connection_type` is omitted, as Tempo does.
fn write_labels(out: &mut String, edge: &EdgeSnapshot, le: Option<&str>) {
    out.push_str("{client=\"");
    escape_into(out, &edge.client);
    out.push_str("\",server=\"");
    escape_into(out, &edge.server);
    out.push('"');
    let connection_type = edge.connection_type.as_str();
    if !connection_type.is_empty() {
        out.push_str(",connection_type=\"");
        out.push_str(connection_type);
        out.push('"');
    }
    if let Some(le) = le {
        out.push_str(",le=\"");
        out.push_str(le);
        out.push('"');
    }
    out.push('}');
}

/// Label-value escaping shared by both formats: `\`, `"` and newline.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A float both formats parse: `+Inf`, `-Inf`, `NaN`, or a decimal that
/// always has a fraction or exponent (`1.0`, `0.1`).
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 {
            "+Inf".to_owned()
        } else {
            "-Inf".to_owned()
        }
    } else {
        let text = format!("{value}");
        if text.contains(['.', 'e', 'E']) {
            text
        } else {
            text + ".0"
        }
    }
}

#[cfg(test)]
#[path = "exposition_tests.rs"]
mod tests;
