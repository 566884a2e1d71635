//! A strict parser of the two Prometheus exposition formats, for tests.
//!
//! It checks the line grammar, that every sample belongs to the family its
//! `TYPE` line declared (with the naming each format requires), that
//! exemplars appear only where OpenMetrics allows them, and that histograms
//! are cumulative with `+Inf == _count`. It is not a full implementation of
//! either spec, but it rejects everything our exposition must never emit.

use std::collections::{BTreeMap, BTreeSet};

/// Which grammar to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0.0.
    OpenMetrics,
    /// Prometheus text 0.0.4.
    Text,
}

/// Label pairs in order of appearance.
pub type Labels = Vec<(String, String)>;

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
    pub exemplar: Option<(Labels, f64)>,
}

/// A `TYPE`d family and its samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: Option<String>,
    pub samples: Vec<Sample>,
}

/// A parsed exposition.
#[derive(Clone, Debug, Default)]
pub struct Exposition {
    pub families: Vec<Family>,
}

impl Exposition {
    /// The family named `name` (as its `TYPE` line names it).
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The sample `name` with exactly `labels` (any order).
    pub fn sample(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
        let want: BTreeSet<(&str, &str)> = labels.iter().copied().collect();
        self.families.iter().flat_map(|f| &f.samples).find(|s| {
            s.name == name
                && s.labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect::<BTreeSet<_>>()
                    == want
        })
    }
}

/// Parses `text` strictly as `format`.
pub fn parse(text: &str, format: Format) -> Result<Exposition, String> {
    if !text.ends_with('\n') {
        return Err("exposition must end with a newline".into());
    }
    let mut out = Exposition::default();
    let mut help: BTreeMap<String, String> = BTreeMap::new();
    let mut seen_eof = false;
    for (n, line) in text.lines().enumerate() {
        let at = |msg: String| format!("line {}: {msg}: {line:?}", n + 1);
        if seen_eof {
            return Err(at("content after # EOF".into()));
        }
        if line.is_empty() {
            return Err(at("empty line".into()));
        }
        if let Some(rest) = line.strip_prefix('#') {
            if rest == " EOF" {
                if format == Format::Text {
                    return Err(at("# EOF in the text format".into()));
                }
                seen_eof = true;
                continue;
            }
            let rest = rest
                .strip_prefix(' ')
                .ok_or_else(|| at("bad comment".into()))?;
            let (keyword, rest) = rest
                .split_once(' ')
                .ok_or_else(|| at("bad comment".into()))?;
            match keyword {
                "HELP" => {
                    let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
                    check_metric_name(name).map_err(at)?;
                    if help.insert(name.to_owned(), text.to_owned()).is_some() {
                        return Err(at("second HELP".into()));
                    }
                }
                "TYPE" => {
                    let (name, kind) = rest.split_once(' ').ok_or_else(|| at("bad TYPE".into()))?;
                    check_metric_name(name).map_err(at)?;
                    let allowed: &[&str] = match format {
                        Format::OpenMetrics => &[
                            "counter",
                            "gauge",
                            "histogram",
                            "gaugehistogram",
                            "stateset",
                            "info",
                            "summary",
                            "unknown",
                        ],
                        Format::Text => &["counter", "gauge", "histogram", "summary", "untyped"],
                    };
                    if !allowed.contains(&kind) {
                        return Err(at(format!("type {kind:?} not allowed")));
                    }
                    if out.families.iter().any(|f| f.name == name) {
                        return Err(at("family declared twice".into()));
                    }
                    out.families.push(Family {
                        name: name.to_owned(),
                        kind: kind.to_owned(),
                        help: help.get(name).cloned(),
                        samples: Vec::new(),
                    });
                }
                "UNIT" if format == Format::OpenMetrics => {}
                other => return Err(at(format!("unexpected comment {other:?}"))),
            }
            continue;
        }
        let sample = parse_sample(line, format).map_err(at)?;
        let family = out
            .families
            .last_mut()
            .ok_or_else(|| at("sample before any TYPE".into()))?;
        let suffix = sample
            .name
            .strip_prefix(family.name.as_str())
            .ok_or_else(|| at(format!("sample outside family {}", family.name)))?;
        let suffixes: &[&str] = match (format, family.kind.as_str()) {
            (Format::OpenMetrics, "counter") => &["_total", "_created"],
            (Format::OpenMetrics, "histogram") => &["_bucket", "_sum", "_count", "_created"],
            (Format::OpenMetrics, "info") => &["_info"],
            (Format::Text, "histogram") => &["_bucket", "_sum", "_count"],
            (Format::Text, "counter") => {
                if !family.name.ends_with("_total") {
                    return Err(at("text-format counter family must be named _total".into()));
                }
                &[""]
            }
            _ => &[""],
        };
        if !suffixes.contains(&suffix) {
            return Err(at(format!(
                "suffix {suffix:?} not allowed for a {}",
                family.kind
            )));
        }
        if sample.exemplar.is_some() {
            let allowed = format == Format::OpenMetrics
                && matches!(
                    (family.kind.as_str(), suffix),
                    ("counter", "_total") | ("histogram", "_bucket")
                );
            if !allowed {
                return Err(at("exemplar not allowed here".into()));
            }
        }
        family.samples.push(sample);
    }
    if format == Format::OpenMetrics && !seen_eof {
        return Err("missing # EOF".into());
    }
    for family in &out.families {
        if family.kind == "histogram" {
            check_histogram(family)?;
        }
    }
    Ok(out)
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn parse_sample(line: &str, format: Format) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_metric_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if rest.starts_with('{') {
        let (parsed, after) = parse_labels(rest)?;
        labels = parsed;
        rest = after;
    }
    let rest = rest.strip_prefix(' ').ok_or("missing space before value")?;
    let (main, exemplar) = match rest.split_once(" # ") {
        Some((main, exemplar)) => (main, Some(exemplar)),
        None => (rest, None),
    };
    let mut fields = main.split(' ');
    let value = parse_number(fields.next().ok_or("no value")?)?;
    if let Some(timestamp) = fields.next() {
        parse_number(timestamp)?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    let exemplar = match exemplar {
        None => None,
        Some(_) if format == Format::Text => return Err("exemplar in the text format".into()),
        Some(text) => {
            let (labels, after) = parse_labels(text)?;
            let length: usize = labels
                .iter()
                .map(|(k, v)| k.chars().count() + v.chars().count())
                .sum();
            if length > 128 {
                return Err("exemplar labels over 128 characters".into());
            }
            let after = after.strip_prefix(' ').ok_or("exemplar without value")?;
            let mut fields = after.split(' ');
            let value = parse_number(fields.next().ok_or("exemplar without value")?)?;
            if let Some(ts) = fields.next() {
                parse_number(ts)?;
            }
            Some((labels, value))
        }
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        exemplar,
    })
}

/// Parses `{a="x",b="y"}` at the start of `text`; returns the rest.
fn parse_labels(text: &str) -> Result<(Labels, &str), String> {
    let mut chars = text.char_indices().peekable();
    if chars.next().map(|(_, c)| c) != Some('{') {
        return Err("expected {".into());
    }
    let mut labels = Vec::new();
    loop {
        match chars.peek() {
            Some((i, '}')) => {
                let end = *i + 1;
                return Ok((labels, &text[end..]));
            }
            Some(_) => {}
            None => return Err("unterminated labels".into()),
        }
        let mut key = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        let mut key_chars = key.chars();
        let key_ok = matches!(key_chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && key_chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !key_ok {
            return Err(format!("bad label name {key:?}"));
        }
        if chars.next().map(|(_, c)| c) != Some('=') || chars.next().map(|(_, c)| c) != Some('"') {
            return Err("expected =\"".into());
        }
        let mut value = String::new();
        loop {
            match chars.next().map(|(_, c)| c) {
                Some('"') => break,
                Some('\\') => match chars.next().map(|(_, c)| c) {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some('\n') | None => return Err("unterminated label value".into()),
                Some(c) => value.push(c),
            }
        }
        if labels.iter().any(|(k, _)| *k == key) {
            return Err(format!("duplicate label {key:?}"));
        }
        labels.push((key, value));
        match chars.peek() {
            Some((_, ',')) => {
                chars.next();
            }
            Some((_, '}')) => {}
            _ => return Err("expected , or }".into()),
        }
    }
}

fn parse_number(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text
            .parse::<f64>()
            .map_err(|_| format!("bad number {text:?}")),
    }
}

/// Buckets ascending by `le`, cumulative, ending with `+Inf == _count`.
fn check_histogram(family: &Family) -> Result<(), String> {
    /// Buckets `(le, value)` and `_count` of one series.
    type Series = (Vec<(f64, f64)>, Option<f64>);
    let mut series: BTreeMap<Labels, Series> = BTreeMap::new();
    for sample in &family.samples {
        let mut key: Vec<(String, String)> = sample
            .labels
            .iter()
            .filter(|(k, _)| k != "le")
            .cloned()
            .collect();
        key.sort();
        let entry = series.entry(key).or_default();
        if sample.name.ends_with("_bucket") {
            let le = sample
                .labels
                .iter()
                .find(|(k, _)| k == "le")
                .ok_or_else(|| format!("{}: bucket without le", family.name))?;
            entry.0.push((parse_number(&le.1)?, sample.value));
        } else if sample.name.ends_with("_count") {
            entry.1 = Some(sample.value);
        }
    }
    for (labels, (buckets, count)) in series {
        let what = format!("{} {labels:?}", family.name);
        if buckets
            .windows(2)
            .any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1)
        {
            return Err(format!("{what}: buckets not ascending and cumulative"));
        }
        match buckets.last() {
            Some((le, value)) if le.is_infinite() && Some(*value) == count => {}
            _ => {
                return Err(format!(
                    "{what}: +Inf bucket missing or not equal to _count"
                ));
            }
        }
    }
    Ok(())
}
