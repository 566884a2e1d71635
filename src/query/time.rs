//! Time arguments: RFC 3339 (`2026-03-02T09:15:00Z`), `now`, or relative
//! forms counted back from a reference (`-2h`, `-30m`, `-45s`, `-1d`,
//! optionally `now-2h`).
//!
//! Never does: read the clock; the caller passes the reference.

use super::QueryError;
use crate::model::Timestamp;

/// Parses `text`; relative forms count back from `now`.
///
/// # Errors
/// [`QueryError::BadTime`] for anything else.
pub fn parse_time(text: &str, now: Timestamp) -> Result<Timestamp, QueryError> {
    let t = text.trim();
    if let Some(at) = Timestamp::parse_rfc3339(t) {
        return Ok(at);
    }
    if t == "now" {
        return Ok(now);
    }
    let rel = t.strip_prefix("now").unwrap_or(t);
    let bad = || QueryError::BadTime(text.to_owned());
    let (sign, rest) = match rel.as_bytes().first() {
        Some(b'-') => (-1i8, &rel[1..]),
        Some(b'+') => (1, &rel[1..]),
        _ => return Err(bad()),
    };
    let unit = rest.chars().last().ok_or_else(bad)?;
    let n: u64 = rest[..rest.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| bad())?;
    let secs = match unit {
        's' => n,
        'm' => n * 60,
        'h' => n * 3600,
        'd' => n * 86_400,
        _ => return Err(bad()),
    };
    let nanos = secs.saturating_mul(Timestamp::SECOND);
    Ok(if sign < 0 {
        now.minus_nanos(nanos)
    } else {
        now.plus_nanos(nanos)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_now_and_relative_forms_parse() {
        let now = Timestamp::from_secs(10_000);
        assert_eq!(
            parse_time("2026-03-02T09:00:00Z", now).unwrap(),
            Timestamp::from_secs(1_772_442_000)
        );
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(parse_time("-2h", now).unwrap(), Timestamp::from_secs(2_800));
        assert_eq!(
            parse_time("now-30m", now).unwrap(),
            Timestamp::from_secs(8_200)
        );
        assert_eq!(
            parse_time("-45s", now).unwrap(),
            Timestamp::from_secs(9_955)
        );
        assert_eq!(
            parse_time("+1d", now).unwrap(),
            Timestamp::from_secs(96_400)
        );
        for bad in ["yesterday", "-2", "-h", "2h", "-2w", ""] {
            assert!(parse_time(bad, now).is_err(), "{bad}");
        }
    }
}
