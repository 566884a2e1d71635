//! Event time. Analysis never reads the wall clock; it reads these.

use std::fmt;

/// Nanoseconds since the Unix epoch, in event time (span or event timestamps).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Debug,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// One second in nanoseconds.
    pub const SECOND: u64 = 1_000_000_000;

    /// From whole seconds since the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs * Self::SECOND)
    }

    /// From milliseconds since the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis * 1_000_000)
    }

    /// Nanoseconds since the epoch.
    pub const fn nanos(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch (floor).
    pub const fn secs(self) -> u64 {
        self.0 / Self::SECOND
    }

    /// `self + nanos`, saturating.
    pub const fn plus_nanos(self, nanos: u64) -> Self {
        Self(self.0.saturating_add(nanos))
    }

    /// `self - nanos`, saturating at the epoch.
    pub const fn minus_nanos(self, nanos: u64) -> Self {
        Self(self.0.saturating_sub(nanos))
    }

    /// Parses RFC 3339 (`2026-03-02T09:22:10Z`, fractional seconds and offsets allowed).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        parse_rfc3339(text)
    }

    /// Formats as RFC 3339 UTC with second precision, plus milliseconds when non-zero.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0 / Self::SECOND;
        let millis = (self.0 % Self::SECOND) / 1_000_000;
        let (y, mo, d, h, mi, s) = civil_from_unix(secs as i64);
        if millis == 0 {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
        } else {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{millis:03}Z")
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Days-from-civil and back (Howard Hinnant's algorithms), so we need no date crate.
fn civil_from_unix(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |s: &str| s.parse::<u32>().ok();
    let y = text.get(0..4)?.parse::<i64>().ok()?;
    let mo = num(text.get(5..7)?)?;
    let d = num(text.get(8..10)?)?;
    let h = num(text.get(11..13)?)?;
    let mi = num(text.get(14..16)?)?;
    let s = num(text.get(17..19)?)?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = text.get(19..)?;
    let mut nanos: u64 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut scale = 100_000_000u64;
        for c in frac[..digits].bytes().take(9) {
            nanos += u64::from(c - b'0') * scale;
            scale /= 10;
        }
        rest = &frac[digits..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let oh = i64::from(num(&rest[1..3])?);
            let om = i64::from(num(&rest[4..6])?);
            sign * (oh * 3600 + om * 60)
        }
    };
    let secs = days_from_civil(y, mo, d) * 86_400
        + i64::from(h) * 3600
        + i64::from(mi) * 60
        + i64::from(s)
        - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    Some(Timestamp(
        secs.checked_mul(Timestamp::SECOND)?.checked_add(nanos)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        let t = Timestamp::parse_rfc3339("2026-03-02T09:22:10Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-02T09:22:10Z");
        let t = Timestamp::parse_rfc3339("2026-08-20T14:27:05.315384Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-08-20T14:27:05.315Z");
        assert_eq!(t.nanos() % Timestamp::SECOND, 315_384_000);
    }

    #[test]
    fn offsets_are_applied() {
        let a = Timestamp::parse_rfc3339("2026-03-02T10:22:10+01:00").unwrap();
        let b = Timestamp::parse_rfc3339("2026-03-02T09:22:10Z").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(Timestamp::parse_rfc3339("yesterday").is_none());
        assert!(Timestamp::parse_rfc3339("2026-13-02T09:22:10Z").is_none());
    }
}
