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
//! Pure: no I/O, no clock.

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

/// Appends the service-graph series of `snapshot` to `out`, every metric
/// name starting with `prefix` (`traces_service_graph`).
pub(crate) fn write_graph_series(
    out: &mut String,
    snapshot: &GraphSnapshot,
    prefix: &str,
    format: Format,
) {
    let edges = &snapshot.edges;
    counter(
        out,
        format,
        &format!("{prefix}_request"),
        "Total count of requests between two nodes",
        edges.iter().map(|e| (Some(e), e.requests)),
    );
    counter(
        out,
        format,
        &format!("{prefix}_request_failed"),
        "Total count of failed requests between two nodes",
        edges.iter().map(|e| (Some(e), e.failed)),
    );
    histogram(
        out,
        format,
        &format!("{prefix}_request_server_seconds"),
        "Time for a request between two nodes as seen from the server",
        edges.iter().map(|e| (e, &e.server_latency)),
    );
    histogram(
        out,
        format,
        &format!("{prefix}_request_client_seconds"),
        "Time for a request between two nodes as seen from the client",
        edges.iter().map(|e| (e, &e.client_latency)),
    );
    counter(
        out,
        format,
        &format!("{prefix}_unpaired_spans"),
        "Total count of unpaired spans",
        std::iter::once((None, snapshot.pairing.unpaired)),
    );
    counter(
        out,
        format,
        &format!("{prefix}_dropped_spans"),
        "Total count of dropped spans",
        std::iter::once((None, snapshot.pairing.dropped)),
    );
}

fn counter<'a>(
    out: &mut String,
    format: Format,
    family: &str,
    help: &str,
    samples: impl Iterator<Item = (Option<&'a EdgeSnapshot>, u64)>,
) {
    // OpenMetrics names the family; the classic format names the sample.
    let described = match format {
        Format::OpenMetrics => family.to_owned(),
        Format::PrometheusText => format!("{family}_total"),
    };
    out.push_str(&format!(
        "# HELP {described} {help}\n# TYPE {described} counter\n"
    ));
    for (edge, value) in samples {
        out.push_str(family);
        out.push_str("_total");
        if let Some(edge) = edge {
            write_labels(out, edge, None);
        }
        out.push_str(&format!(" {value}\n"));
    }
}

fn histogram<'a>(
    out: &mut String,
    format: Format,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (&'a EdgeSnapshot, &'a BucketCounts)>,
) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
    for (edge, buckets) in series {
        let mut cumulative = 0u64;
        for (i, bound) in buckets.bounds.iter().enumerate() {
            cumulative += buckets.counts.get(i).copied().unwrap_or(0);
            let exemplar = buckets.exemplars.get(i).and_then(Option::as_ref);
            bucket_line(
                out,
                format,
                name,
                edge,
                &number(*bound),
                cumulative,
                exemplar,
            );
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
        bucket_line(out, format, name, edge, "+Inf", total, exemplar);
        out.push_str(name);
        out.push_str("_sum");
        write_labels(out, edge, None);
        out.push_str(&format!(" {}\n", number(buckets.sum)));
        out.push_str(name);
        out.push_str("_count");
        write_labels(out, edge, None);
        out.push_str(&format!(" {total}\n"));
    }
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
    out.push_str(&format!(" {value}"));
    if format == Format::OpenMetrics
        && let Some((trace_id, sample)) = exemplar
    {
        // 32 hex digits: well under the 128-character exemplar label limit.
        out.push_str(&format!(
            " # {{trace_id=\"{trace_id}\"}} {}",
            number(*sample)
        ));
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
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_openmetrics_only_when_asked() {
        let prometheus3 = "application/openmetrics-text;version=1.0.0;q=0.5,\
            application/openmetrics-text;version=0.0.1;q=0.4,\
            text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,\
            text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus3)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; version=1.0.0")),
            Format::OpenMetrics
        );
        assert_eq!(Format::negotiate(None), Format::PrometheusText);
        assert_eq!(Format::negotiate(Some("*/*")), Format::PrometheusText);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::PrometheusText
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0,text/plain")),
            Format::PrometheusText
        );
        assert_eq!(
            Format::negotiate(Some("text/plain;q=0.9,application/openmetrics-text;q=0.5")),
            Format::PrometheusText
        );
    }

    #[test]
    fn numbers_are_valid_in_both_formats() {
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(1.0), "1.0");
        assert_eq!(number(12.8), "12.8");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escape_into(&mut out, "a\"b\\c\nd");
        assert_eq!(out, "a\\\"b\\\\c\\nd");
    }
}
