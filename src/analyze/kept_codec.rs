//! The encoding of one kept stats (see the parent module): a flag byte and
//! varints, latencies as whole nanoseconds when that reads back bit for
//! bit. Never does: allocate on reading, or fail (a malformed encoding,
//! never written, reads as zeros).

use prost::encoding::{decode_varint, encode_varint};

use crate::model::{LatencySummary, SeriesStats};

/// Flag bits of an encoded stats.
const NO_ERRORS: u8 = 1;
const COUNT_IS_REQUESTS: u8 = 1 << 1;
const NO_INSTANCES: u8 = 1 << 2;
const P95_IS_P50: u8 = 1 << 3;
const P99_IS_P95: u8 = 1 << 4;
const MAX_IS_P99: u8 = 1 << 5;
/// Never set in the flag byte of an encoded stats: free for a container to
/// mark "same stats as written earlier" (the history's back-references).
pub(crate) const UNUSED_FLAG: u8 = 1 << 7;

/// Appends `stats` to `out`: a flag byte, then varints (requests; errors,
/// latency count and instances unless flagged), then sum, p50, p95, p99
/// and max unless flagged equal to the one before (see [`put_seconds`]).
pub(crate) fn encode(stats: &SeriesStats, out: &mut Vec<u8>) {
    let l = &stats.latency;
    let same = |a: f64, b: f64| a.to_bits() == b.to_bits();
    let mut flags = 0;
    for (yes, flag) in [
        (stats.errors == 0, NO_ERRORS),
        (l.count == stats.requests, COUNT_IS_REQUESTS),
        (stats.instances == 0, NO_INSTANCES),
        (same(l.p95, l.p50), P95_IS_P50),
        (same(l.p99, l.p95), P99_IS_P95),
        (same(l.max, l.p99), MAX_IS_P99),
    ] {
        if yes {
            flags |= flag;
        }
    }
    out.push(flags);
    encode_varint(stats.requests, out);
    if flags & NO_ERRORS == 0 {
        encode_varint(stats.errors, out);
    }
    if flags & COUNT_IS_REQUESTS == 0 {
        encode_varint(l.count, out);
    }
    if flags & NO_INSTANCES == 0 {
        encode_varint(u64::from(stats.instances), out);
    }
    put_seconds(l.sum, out);
    put_seconds(l.p50, out);
    for (value, flag) in [
        (l.p95, P95_IS_P50),
        (l.p99, P99_IS_P95),
        (l.max, MAX_IS_P99),
    ] {
        if flags & flag == 0 {
            put_seconds(value, out);
        }
    }
}

/// The stats [`encode`] wrote at the start of `bytes`; a malformed encoding
/// (never written) reads as zeros rather than failing.
pub(crate) fn decode(mut bytes: &[u8]) -> SeriesStats {
    take(&mut bytes)
}

/// Length of the encoding at the start of `bytes`.
pub(crate) fn encoded_len(bytes: &[u8]) -> usize {
    let mut rest = bytes;
    take(&mut rest);
    bytes.len() - rest.len()
}

/// The stats [`encode`] wrote at the start of `buf`, which is advanced past
/// them.
pub(crate) fn take(buf: &mut &[u8]) -> SeriesStats {
    let Some((&flags, rest)) = buf.split_first() else {
        return SeriesStats::default();
    };
    *buf = rest;
    let varint = |buf: &mut &[u8]| decode_varint(buf).unwrap_or(0);
    let requests = varint(buf);
    let errors = if flags & NO_ERRORS == 0 {
        varint(buf)
    } else {
        0
    };
    let count = if flags & COUNT_IS_REQUESTS == 0 {
        varint(buf)
    } else {
        requests
    };
    let instances = if flags & NO_INSTANCES == 0 {
        u32::try_from(varint(buf)).unwrap_or(u32::MAX)
    } else {
        0
    };
    let sum = take_seconds(buf);
    let p50 = take_seconds(buf);
    let next = |previous: f64, flag: u8, buf: &mut &[u8]| {
        if flags & flag == 0 {
            take_seconds(buf)
        } else {
            previous
        }
    };
    let p95 = next(p50, P95_IS_P50, buf);
    let p99 = next(p95, P99_IS_P95, buf);
    let max = next(p99, MAX_IS_P99, buf);
    SeriesStats {
        requests,
        errors,
        latency: LatencySummary {
            count,
            sum,
            p50,
            p95,
            p99,
            max,
        },
        instances,
    }
}

/// A value in seconds: `2n` for `n` whole nanoseconds when `n / 1e9` is
/// exactly `value` (how the graph computes them), else `1` and the raw bits.
fn put_seconds(value: f64, out: &mut Vec<u8>) {
    match whole_nanos(value) {
        Some(n) => encode_varint(n << 1, out),
        None => {
            encode_varint(1, out);
            out.extend_from_slice(&value.to_bits().to_le_bytes());
        }
    }
}

fn take_seconds(buf: &mut &[u8]) -> f64 {
    let tag = decode_varint(buf).unwrap_or(0);
    if tag & 1 == 0 {
        return (tag >> 1) as f64 / 1e9;
    }
    let Some((raw, rest)) = buf.split_first_chunk::<8>() else {
        return 0.0;
    };
    *buf = rest;
    f64::from_bits(u64::from_le_bytes(*raw))
}

/// `n` with `n as f64 / 1e9` bit for bit `value`, if there is one below 2^63.
fn whole_nanos(value: f64) -> Option<u64> {
    let n = (value * 1e9).round();
    if !(0.0..9.2e18).contains(&n) {
        return None;
    }
    let n = n as u64;
    ((n as f64 / 1e9).to_bits() == value.to_bits()).then_some(n)
}

/// Identity for sharing: counts as they are, floats bit for bit (so
/// `0.0` and `-0.0` stay apart and a NaN equals itself).
pub(super) fn identity(stats: &SeriesStats) -> [u64; 9] {
    let l = &stats.latency;
    [
        stats.requests,
        stats.errors,
        l.count,
        u64::from(stats.instances),
        l.sum.to_bits(),
        l.p50.to_bits(),
        l.p95.to_bits(),
        l.p99.to_bits(),
        l.max.to_bits(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sketch_stats_takes_a_dozen_or_two_bytes() {
        // One request of 3.2 ms as the graph's sketch summarises it.
        let one = SeriesStats {
            requests: 1,
            errors: 0,
            latency: LatencySummary {
                count: 1,
                sum: 3_211_264.0 / 1e9,
                p50: 3_211_264.0 / 1e9,
                p95: 3_211_264.0 / 1e9,
                p99: 3_211_264.0 / 1e9,
                max: 3_211_264.0 / 1e9,
            },
            instances: 1,
        };
        let mut out = Vec::new();
        encode(&one, &mut out);
        assert_eq!(out.len(), 1 + 1 + 1 + 4 + 4);
        assert_eq!(decode(&out), one);
        // 200 requests, 3 errors, distinct quantiles.
        let busy = SeriesStats {
            requests: 200,
            errors: 3,
            latency: LatencySummary {
                count: 200,
                sum: 1_234_567_891.0 / 1e9,
                p50: 4_063_232.0 / 1e9,
                p95: 9_437_184.0 / 1e9,
                p99: 15_728_640.0 / 1e9,
                max: 18_000_123.0 / 1e9,
            },
            instances: 3,
        };
        out.clear();
        encode(&busy, &mut out);
        assert!(out.len() <= 28, "{} bytes", out.len());
        assert_eq!(decode(&out), busy);
    }

    /// Bit-for-bit equality of two stats (`==` fails on NaN).
    fn same_bits(a: &SeriesStats, b: &SeriesStats) -> bool {
        identity(a) == identity(b)
    }

    proptest::proptest! {
        #[test]
        fn any_stats_read_back_bit_for_bit(
            counts in proptest::array::uniform4(proptest::num::u64::ANY),
            nanos in proptest::array::uniform5(0u64..u64::MAX),
            raw in proptest::array::uniform5(proptest::num::f64::ANY),
            pick in proptest::array::uniform5(0u8..3),
            instances in proptest::num::u32::ANY,
        ) {
            // Each latency: whole nanoseconds, any f64, or a neighbour's value.
            let mut v = [0.0f64; 5];
            for i in 0..5 {
                v[i] = match pick[i] {
                    0 => nanos[i] as f64 / 1e9,
                    1 => raw[i],
                    _ => if i > 0 { v[i - 1] } else { -0.0 },
                };
            }
            let stats = SeriesStats {
                requests: counts[0],
                errors: if counts[1] % 2 == 0 { 0 } else { counts[1] },
                latency: LatencySummary {
                    count: if counts[2] % 2 == 0 { counts[0] } else { counts[2] },
                    sum: v[0],
                    p50: v[1],
                    p95: v[2],
                    p99: v[3],
                    max: v[4],
                },
                instances: if counts[3] % 2 == 0 { 0 } else { instances },
            };
            let mut out = Vec::new();
            encode(&stats, &mut out);
            proptest::prop_assert!(same_bits(&decode(&out), &stats));
        }
    }
}
