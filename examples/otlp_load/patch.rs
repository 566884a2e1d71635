//! Re-stamping pre-encoded `ExportTraceServiceRequest`s without decoding them.
//!
//! A request is encoded once; [`Stamps`] remembers where in its bytes every
//! span's start/end time (and every event's time) and every trace id (span
//! and link) sits. Pass `k` of a replay copies the bytes and shifts those
//! times by `k × period` and XORs the trace ids with a value derived from
//! `k`, so each pass is new traffic in event time with the same shape, at
//! the cost of one copy and a few stores per span (no protobuf encoding in
//! the timed loop).
//!
//! Never allocates beyond the copy, never changes a length (times are
//! `fixed64`, trace ids 16 bytes), so the bytes stay valid protobuf.

/// Offsets of the fields a pass rewrites.
#[derive(Debug, Default)]
pub(crate) struct Stamps {
    /// `fixed64` nanosecond timestamps.
    times: Vec<u32>,
    /// 16-byte trace ids.
    trace_ids: Vec<u32>,
}

/// Reads a varint at `*at`, advancing it.
fn varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Calls `f(field, wire_type, start, end)` for every field of the message in
/// `buf[from..to]`, where `start..end` is the value (for `LEN`, the payload).
fn fields(
    buf: &[u8],
    from: usize,
    to: usize,
    f: &mut dyn FnMut(u64, u64, usize, usize),
) -> Option<()> {
    let mut at = from;
    while at < to {
        let key = varint(buf, &mut at)?;
        let (field, wire) = (key >> 3, key & 7);
        let start = at;
        let end = match wire {
            0 => {
                varint(buf, &mut at)?;
                at
            }
            1 => at + 8,
            2 => {
                let len = usize::try_from(varint(buf, &mut at)?).ok()?;
                let end = at.checked_add(len).filter(|&end| end <= to)?;
                f(field, wire, at, end);
                at = end;
                continue;
            }
            5 => at + 4,
            _ => return None,
        };
        if end > to {
            return None;
        }
        f(field, wire, start, end);
        at = end;
    }
    (at == to).then_some(())
}

impl Stamps {
    /// Finds the fields in an encoded request; `None` if it is not valid.
    pub(crate) fn find(buf: &[u8]) -> Option<Self> {
        let mut stamps = Stamps::default();
        let mut ok = true;
        let offset = |at: usize| u32::try_from(at).unwrap_or(u32::MAX);
        // ExportTraceServiceRequest.resource_spans = 1
        fields(buf, 0, buf.len(), &mut |field, wire, s, e| {
            if field != 1 || wire != 2 {
                return;
            }
            // ResourceSpans.scope_spans = 2
            ok &= fields(buf, s, e, &mut |field, wire, s, e| {
                if field != 2 || wire != 2 {
                    return;
                }
                // ScopeSpans.spans = 2
                ok &= fields(buf, s, e, &mut |field, wire, s, e| {
                    if field != 2 || wire != 2 {
                        return;
                    }
                    ok &= fields(buf, s, e, &mut |field, wire, s, e| match (field, wire) {
                        // Span.trace_id = 1
                        (1, 2) if e - s == 16 => stamps.trace_ids.push(offset(s)),
                        // start_time_unix_nano = 7, end_time_unix_nano = 8
                        (7 | 8, 1) => stamps.times.push(offset(s)),
                        // events = 11 (Event.time_unix_nano = 1), links = 13 (Link.trace_id = 1)
                        (11 | 13, 2) => {
                            ok &= fields(buf, s, e, &mut |inner, wire, s, e| match (
                                field, inner, wire,
                            ) {
                                (11, 1, 1) => stamps.times.push(offset(s)),
                                (13, 1, 2) if e - s == 16 => stamps.trace_ids.push(offset(s)),
                                _ => {}
                            })
                            .is_some();
                        }
                        _ => {}
                    })
                    .is_some();
                })
                .is_some();
            })
            .is_some();
        })?;
        ok.then_some(stamps)
    }

    /// A copy of `buf` for pass `pass`: times shifted by `pass × period_ns`,
    /// trace ids XORed with a pass-specific value (pass 0 is unchanged).
    pub(crate) fn apply(&self, buf: &[u8], pass: u64, period_ns: u64) -> Vec<u8> {
        let mut out = buf.to_vec();
        if pass == 0 {
            return out;
        }
        let shift = pass.wrapping_mul(period_ns);
        let mask = pass.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes();
        for &at in &self.times {
            let at = at as usize;
            let mut le = [0u8; 8];
            le.copy_from_slice(&out[at..at + 8]);
            let time = u64::from_le_bytes(le).wrapping_add(shift);
            out[at..at + 8].copy_from_slice(&time.to_le_bytes());
        }
        for &at in &self.trace_ids {
            let at = at as usize;
            for (byte, m) in out[at..at + 8].iter_mut().zip(mask) {
                *byte ^= m;
            }
        }
        out
    }

    /// Spans' and events' timestamps found.
    pub(crate) fn time_count(&self) -> usize {
        self.times.len()
    }
}
