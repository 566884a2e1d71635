//! Formatting and escaping shared by the Markdown and SVG renderers: UTC
//! clock times, durations, percentages, latencies, counts, XML and Markdown
//! escaping. Every function is pure and locale-free, so output is
//! byte-identical for the same input.

use crate::model::Timestamp;

/// `2026-03-02`.
pub(crate) fn date(t: Timestamp) -> String {
    t.to_rfc3339()[..10].to_string()
}

/// `09:22` (UTC).
pub(crate) fn hhmm(t: Timestamp) -> String {
    t.to_rfc3339()[11..16].to_string()
}

/// `09:22:10` (UTC).
pub(crate) fn hhmmss(t: Timestamp) -> String {
    t.to_rfc3339()[11..19].to_string()
}

/// Seconds from `a` to `b` (negative when `b` is earlier).
pub(crate) fn secs_between(a: Timestamp, b: Timestamp) -> f64 {
    (b.nanos() as f64 - a.nanos() as f64) / Timestamp::SECOND as f64
}

/// `45s`, `2m 10s`, `1h 05m`, `2d 3h`; negative durations get a minus sign.
pub(crate) fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "unknown".to_string();
    }
    let sign = if secs < 0.0 { "-" } else { "" };
    let total = secs.abs().round() as u64;
    let (d, h, m, s) = (
        total / 86_400,
        (total % 86_400) / 3600,
        (total % 3600) / 60,
        total % 60,
    );
    let body = if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    };
    format!("{sign}{body}")
}

/// A ratio as a percentage: `23.4%`, `0.52%`, `0%`.
pub(crate) fn percent(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "n/a".to_string();
    }
    let p = ratio * 100.0;
    if p == 0.0 {
        "0%".to_string()
    } else if p.abs() < 1.0 {
        format!("{p:.2}%")
    } else if p.abs() < 10.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

/// Seconds as `850 µs`, `120 ms` or `1.25 s`.
pub(crate) fn latency(secs: f64) -> String {
    if !secs.is_finite() {
        return "n/a".to_string();
    }
    let a = secs.abs();
    if a == 0.0 {
        "0 ms".to_string()
    } else if a < 0.001 {
        format!("{:.0} µs", secs * 1e6)
    } else if a < 0.01 {
        format!("{:.1} ms", secs * 1e3)
    } else if a < 1.0 {
        format!("{:.0} ms", secs * 1e3)
    } else {
        format!("{secs:.2} s")
    }
}

/// The value of an alert signal in its unit: ratios as percentages,
/// latencies in ms/s, throughput in requests per second.
pub(crate) fn signal_value(signal: &str, value: f64) -> String {
    if signal == "error_ratio" {
        percent(value)
    } else if signal.starts_with("latency") {
        latency(value)
    } else if signal == "throughput" {
        format!("{value:.1} req/s")
    } else {
        format!("{value:.3}")
    }
}

/// `1,234,567`.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Escapes text for XML character data and attribute values.
pub(crate) fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab/newline are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for Markdown (inline text and table cells): Markdown
/// punctuation gets a backslash, line breaks become spaces.
pub(crate) fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A file stem safe on every platform: letters, digits, `.`, `-`, `_`;
/// anything else becomes `-`; never empty, never starts with a dot.
pub(crate) fn file_stem(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = cleaned.trim_start_matches('.');
    if trimmed.is_empty() {
        "report".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_and_durations() {
        let t = Timestamp::parse_rfc3339("2026-03-02T09:22:10.500Z").unwrap();
        assert_eq!(date(t), "2026-03-02");
        assert_eq!(hhmm(t), "09:22");
        assert_eq!(hhmmss(t), "09:22:10");
        assert_eq!(duration(45.0), "45s");
        assert_eq!(duration(130.0), "2m 10s");
        assert_eq!(duration(3900.0), "1h 05m");
        assert_eq!(duration(-61.0), "-1m 01s");
        assert_eq!(duration(f64::NAN), "unknown");
    }

    #[test]
    fn numbers() {
        assert_eq!(percent(0.234), "23%");
        assert_eq!(percent(0.0523), "5.2%");
        assert_eq!(percent(0.0052), "0.52%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(latency(0.12), "120 ms");
        assert_eq!(latency(1.25), "1.25 s");
        assert_eq!(latency(0.0042), "4.2 ms");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(signal_value("latency_p99", 0.5), "500 ms");
        assert_eq!(signal_value("error_ratio", 0.5), "50%");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            xml("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(xml("x\u{1}y"), "x y");
        assert_eq!(md("a|b_c*d\ne"), "a\\|b\\_c\\*d e");
        assert_eq!(file_stem("../etc/passwd"), "-etc-passwd");
        assert_eq!(file_stem(""), "report");
        assert_eq!(file_stem("pm-payment 09:22"), "pm-payment-09-22");
    }
}
