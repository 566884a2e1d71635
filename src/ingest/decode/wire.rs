//! A protobuf wire-format reader over borrowed bytes: fields with their
//! number and value, length-delimited values as sub-slices (no copies).
//!
//! Never does: allocate, interpret field numbers, or panic on any input.

/// Malformed protobuf: where and what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct WireError {
    /// Absolute byte offset in the payload.
    pub(super) offset: usize,
    /// Lowercase description.
    pub(super) reason: &'static str,
}

/// Deepest nesting of (deprecated) groups we skip, as prost allows.
const MAX_GROUP_DEPTH: u32 = 100;

/// A field's value by wire type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 5.
    Fixed32(u32),
    /// Wire type 2: the bytes and the absolute offset where they start.
    Len(&'a [u8], usize),
    /// Wire types 3/4: a group, skipped.
    Group,
}

/// One field of a message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Field<'a> {
    /// Field number.
    pub(super) number: u32,
    /// The value.
    pub(super) value: Value<'a>,
    /// Absolute offset of the field's tag, for errors.
    pub(super) offset: usize,
}

impl<'a> Field<'a> {
    /// The bytes of a length-delimited field, or a wire-type error.
    #[inline]
    pub(super) fn bytes(&self) -> Result<(&'a [u8], usize), WireError> {
        match self.value {
            Value::Len(bytes, at) => Ok((bytes, at)),
            _ => Err(self.wrong_type()),
        }
    }

    /// A varint field's value, or a wire-type error.
    #[inline]
    pub(super) fn varint(&self) -> Result<u64, WireError> {
        match self.value {
            Value::Varint(v) => Ok(v),
            _ => Err(self.wrong_type()),
        }
    }

    /// A fixed64 field's value, or a wire-type error.
    #[inline]
    pub(super) fn fixed64(&self) -> Result<u64, WireError> {
        match self.value {
            Value::Fixed64(v) => Ok(v),
            _ => Err(self.wrong_type()),
        }
    }

    /// The error for a known field with an unexpected wire type.
    pub(super) fn wrong_type(&self) -> WireError {
        WireError {
            offset: self.offset,
            reason: "unexpected wire type for a known field",
        }
    }
}

/// Iterates the fields of one message.
#[derive(Clone, Debug)]
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, which starts at absolute offset `base`.
    pub(super) fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    fn error(&self, reason: &'static str) -> WireError {
        WireError {
            offset: self.base + self.pos,
            reason,
        }
    }

    /// The next field, `None` at the end of the message.
    // Not `Iterator`: errors end the walk and callers use `?`.
    #[allow(clippy::should_implement_trait)]
    #[inline(always)]
    pub(super) fn next(&mut self) -> Result<Option<Field<'a>>, WireError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let offset = self.base + self.pos;
        let (number, wire_type) = self.tag()?;
        let value = match wire_type {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.take::<8>()?)),
            2 => {
                let len = self.varint()?;
                let start = self.pos;
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|len| start.checked_add(len))
                    .filter(|&end| end <= self.buf.len())
                    .ok_or_else(|| self.error("length-delimited field runs past the end"))?;
                self.pos = end;
                Value::Len(&self.buf[start..end], self.base + start)
            }
            3 => {
                self.skip_group(number, 0)?;
                Value::Group
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.take::<4>()?)),
            4 => {
                return Err(WireError {
                    offset,
                    reason: "unexpected end-group tag",
                });
            }
            _ => {
                return Err(WireError {
                    offset,
                    reason: "invalid wire type",
                });
            }
        };
        Ok(Some(Field {
            number,
            value,
            offset,
        }))
    }

    #[inline(always)]
    fn tag(&mut self) -> Result<(u32, u8), WireError> {
        let at = self.pos;
        let key = self.varint()?;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|&n| n != 0)
            .ok_or(WireError {
                offset: self.base + at,
                reason: "invalid field number",
            })?;
        Ok((number, (key & 7) as u8))
    }

    #[inline]
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let bytes = self
            .buf
            .get(self.pos..self.pos + N)
            .ok_or_else(|| self.error("fixed-width field runs past the end"))?;
        self.pos += N;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    #[inline(always)]
    fn varint(&mut self) -> Result<u64, WireError> {
        // Fast path: tags, lengths and small numbers are one byte.
        if let Some(&byte) = self.buf.get(self.pos)
            && byte < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(byte));
        }
        self.varint_slow()
    }

    fn varint_slow(&mut self) -> Result<u64, WireError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(self.error("varint runs past the end"));
            };
            self.pos += 1;
            if i == 9 && byte > 1 {
                return Err(self.error("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(self.error("varint overflows 64 bits"))
    }

    fn skip_group(&mut self, number: u32, depth: u32) -> Result<(), WireError> {
        if depth >= MAX_GROUP_DEPTH {
            return Err(self.error("groups nested too deep"));
        }
        loop {
            if self.pos >= self.buf.len() {
                return Err(self.error("group runs past the end"));
            }
            let at = self.base + self.pos;
            let (inner, wire_type) = self.tag()?;
            match wire_type {
                0 => drop(self.varint()?),
                1 => drop(self.take::<8>()?),
                2 => {
                    let len = self.varint()?;
                    let end = usize::try_from(len)
                        .ok()
                        .and_then(|len| self.pos.checked_add(len))
                        .filter(|&end| end <= self.buf.len())
                        .ok_or_else(|| self.error("length-delimited field runs past the end"))?;
                    self.pos = end;
                }
                3 => self.skip_group(inner, depth + 1)?,
                4 if inner == number => return Ok(()),
                4 => {
                    return Err(WireError {
                        offset: at,
                        reason: "mismatched end-group tag",
                    });
                }
                5 => drop(self.take::<4>()?),
                _ => {
                    return Err(WireError {
                        offset: at,
                        reason: "invalid wire type",
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(buf: &[u8]) -> Result<Vec<(u32, Value<'_>)>, WireError> {
        let mut r = Reader::new(buf, 0);
        let mut out = Vec::new();
        while let Some(f) = r.next()? {
            out.push((f.number, f.value));
        }
        Ok(out)
    }

    #[test]
    fn reads_every_wire_type() {
        let mut buf = vec![0x08, 0x96, 0x01]; // 1: varint 150
        buf.extend([0x11, 1, 0, 0, 0, 0, 0, 0, 0]); // 2: fixed64 1
        buf.extend([0x1a, 2, b'h', b'i']); // 3: "hi"
        buf.extend([0x25, 2, 0, 0, 0]); // 4: fixed32 2
        buf.extend([0x2b, 0x08, 0x01, 0x2c]); // 5: group { 1: 1 }
        let got = fields(&buf).unwrap();
        assert_eq!(got[0], (1, Value::Varint(150)));
        assert_eq!(got[1], (2, Value::Fixed64(1)));
        assert_eq!(got[2], (3, Value::Len(b"hi", 14)));
        assert_eq!(got[3], (4, Value::Fixed32(2)));
        assert_eq!(got[4], (5, Value::Group));
    }

    #[test]
    fn malformed_input_is_an_error_with_an_offset() {
        let cases: &[(&[u8], &str)] = &[
            (&[0x0a, 5, 1, 2], "length-delimited field runs past the end"),
            (&[0x08], "varint runs past the end"),
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
                ],
                "varint overflows 64 bits",
            ),
            (&[0x09, 1, 2], "fixed-width field runs past the end"),
            (&[0x0e], "invalid wire type"),
            (&[0x0c], "unexpected end-group tag"),
            (&[0x0b, 0x08, 0x01], "group runs past the end"),
            (&[0x0b, 0x14], "mismatched end-group tag"),
            (&[0x00, 0x00], "invalid field number"),
        ];
        for (buf, reason) in cases {
            assert_eq!(fields(buf).unwrap_err().reason, *reason, "{buf:?}");
        }
        assert_eq!(fields(&[0x08, 1, 0x0a, 9]).unwrap_err().offset, 4);
    }

    #[test]
    fn deeply_nested_groups_are_refused_not_overflowed() {
        let mut buf = vec![0x0b; 200];
        buf.extend(vec![0x0c; 200]);
        assert_eq!(fields(&buf).unwrap_err().reason, "groups nested too deep");
    }
}
