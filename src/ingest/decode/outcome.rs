//! What a decode returns: the batch, the spans it rejected and why, and the
//! errors that fail a whole payload.
//!
//! Never does: decoding itself; this is plain data.

use std::fmt;

use crate::model::SpanBatch;

/// The result of decoding one payload: the spans we kept and those we dropped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decoded {
    /// Normalized, valid spans with their resources.
    pub batch: SpanBatch,
    /// Spans dropped one by one (the rest of the payload was fine).
    pub rejected: Rejected,
}

/// Why one span was dropped. Bounded: safe as a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The trace id is not 16 bytes, or is all zero.
    InvalidTraceId,
    /// The span id is not 8 bytes, or is all zero.
    InvalidSpanId,
    /// The parent span id is neither empty nor 8 bytes.
    InvalidParentSpanId,
    /// The start or end time is missing (zero).
    MissingTimestamp,
    /// The span ends before it starts.
    EndBeforeStart,
    /// The span's resource has no (or an empty) `service.name`.
    MissingServiceName,
    /// The span name, its `http.route` or method, or the resource's
    /// `service.name` is not UTF-8 (other kept strings are repaired with U+FFFD).
    InvalidUtf8,
}

impl RejectReason {
    /// Every reason, in a stable order.
    pub const ALL: [RejectReason; 7] = [
        Self::InvalidTraceId,
        Self::InvalidSpanId,
        Self::InvalidParentSpanId,
        Self::MissingTimestamp,
        Self::EndBeforeStart,
        Self::MissingServiceName,
        Self::InvalidUtf8,
    ];

    /// Stable snake_case name for labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidTraceId => "invalid_trace_id",
            Self::InvalidSpanId => "invalid_span_id",
            Self::InvalidParentSpanId => "invalid_parent_span_id",
            Self::MissingTimestamp => "missing_timestamp",
            Self::EndBeforeStart => "end_before_start",
            Self::MissingServiceName => "missing_service_name",
            Self::InvalidUtf8 => "invalid_utf8",
        }
    }

    /// A short lowercase description, for messages sent back to clients.
    pub fn describe(self) -> &'static str {
        match self {
            Self::InvalidTraceId => "invalid trace id (must be 16 bytes, not all zero)",
            Self::InvalidSpanId => "invalid span id (must be 8 bytes, not all zero)",
            Self::InvalidParentSpanId => "invalid parent span id (must be empty or 8 bytes)",
            Self::MissingTimestamp => "missing start or end time",
            Self::EndBeforeStart => "end time before start time",
            Self::MissingServiceName => "resource without service.name",
            Self::InvalidUtf8 => "invalid utf-8 in the span name, route or service.name",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts of rejected spans per reason, plus the first error's message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejected {
    counts: [u64; RejectReason::ALL.len()],
    first_error: Option<String>,
}

impl Rejected {
    /// Records `n` spans rejected for `reason`. `detail` is called only for the
    /// first rejection of the payload (so only one message is ever formatted).
    pub fn record(&mut self, reason: RejectReason, n: u64, detail: impl FnOnce() -> String) {
        if n == 0 {
            return;
        }
        self.counts[reason.index()] += n;
        if self.first_error.is_none() {
            self.first_error = Some(detail());
        }
    }

    /// Adds another payload's rejections (keeps our first error if we have one).
    pub fn merge(&mut self, other: &Rejected) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine += theirs;
        }
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    /// Spans rejected for `reason`.
    pub fn count(&self, reason: RejectReason) -> u64 {
        self.counts[reason.index()]
    }

    /// All rejected spans.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// True when nothing was rejected.
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// Reasons with a non-zero count, in [`RejectReason::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (RejectReason, u64)> + '_ {
        RejectReason::ALL
            .into_iter()
            .map(|r| (r, self.count(r)))
            .filter(|&(_, n)| n > 0)
    }

    /// The first rejection's message, e.g. for OTLP `partial_success.error_message`.
    pub fn first_error(&self) -> Option<&str> {
        self.first_error.as_deref()
    }
}

/// A payload that could not be decoded at all (nothing of it is kept).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Malformed protobuf (truncated, bad varint, wrong wire type, …).
    #[error("invalid protobuf at byte {offset}: {reason}")]
    Protobuf {
        /// Byte offset in the payload where decoding failed.
        offset: usize,
        /// What is wrong there.
        reason: &'static str,
    },
    /// Not valid JSON (syntax error or unexpected end).
    #[error("invalid json at line {line} column {column}: {message}")]
    JsonSyntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's message, without the position.
        message: String,
    },
    /// Valid JSON that is not OTLP (a value of the wrong type).
    #[error("unexpected otlp json at line {line} column {column}: {message}")]
    JsonShape {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's message, without the position.
        message: String,
    },
}

impl DecodeError {
    /// A bounded label for metrics: `protobuf`, `json_syntax` or `json_shape`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Protobuf { .. } => "protobuf",
            Self::JsonSyntax { .. } => "json_syntax",
            Self::JsonShape { .. } => "json_shape",
        }
    }

    pub(super) fn from_json(error: &serde_json::Error) -> Self {
        let (line, column) = (error.line(), error.column());
        let full = error.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        match error.classify() {
            serde_json::error::Category::Data => Self::JsonShape {
                line,
                column,
                message,
            },
            _ => Self::JsonSyntax {
                line,
                column,
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_have_distinct_snake_case_names_in_index_order() {
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(
                r.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
            );
        }
        let mut names: Vec<_> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        names.dedup();
        assert_eq!(names.len(), RejectReason::ALL.len());
    }

    #[test]
    fn rejected_counts_merge_and_keep_the_first_message() {
        let mut a = Rejected::default();
        a.record(RejectReason::EndBeforeStart, 2, || "first".into());
        a.record(RejectReason::InvalidUtf8, 1, || "second".into());
        let mut b = Rejected::default();
        b.record(RejectReason::InvalidUtf8, 3, || "other".into());
        a.merge(&b);
        assert_eq!(a.total(), 6);
        assert_eq!(a.count(RejectReason::InvalidUtf8), 4);
        assert_eq!(a.first_error(), Some("first"));
        let listed: Vec<_> = a.iter().collect();
        assert_eq!(
            listed,
            vec![
                (RejectReason::EndBeforeStart, 2),
                (RejectReason::InvalidUtf8, 4)
            ]
        );
    }
}
