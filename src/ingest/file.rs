//! Span files for `replay`: OTLP/JSON lines (one `TracesData` per line, as
//! the Collector's file exporter writes them) or, for `.pb`/`.binpb`, the
//! exporter's protobuf framing (a 4-byte big-endian length before each
//! message); gzip-compressed either way (`.gz`, or detected by magic bytes).
//!
//! [`SpanFile`] yields one decoded batch per line or frame; a bad line is an
//! error for that line only and reading goes on. Never does: interpret
//! spans beyond [`super::decode`], or read ahead more than one line.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::MultiGzDecoder;

use super::decode::{DecodeError, Decoded, decode_otlp_json, decode_otlp_proto};

/// Default limit on one line or frame: the OTLP request limit, 64 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 << 20;

/// How records are framed in a span file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// OTLP/JSON, one `TracesData` per line (`.json`, `.jsonl`, anything else).
    JsonLines,
    /// Protobuf `TracesData`, each preceded by its length as a big-endian u32
    /// (`.pb`, `.binpb`).
    ProtoFramed,
}

impl FileFormat {
    /// The format a file name implies (a trailing `.gz` is ignored).
    pub fn from_path(path: &Path) -> Self {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let name = name.strip_suffix(".gz").unwrap_or(name);
        if name.ends_with(".pb") || name.ends_with(".binpb") {
            Self::ProtoFramed
        } else {
            Self::JsonLines
        }
    }
}

/// What went wrong with one line (or frame) of a span file.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// Reading (or decompressing) failed; the file ends here.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    /// The line is not a valid OTLP payload.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The line or frame is longer than the limit; it was skipped.
    #[error("record of {len} bytes exceeds the limit of {limit} bytes")]
    TooLong {
        /// Its length (for lines: at least this long).
        len: u64,
        /// The limit.
        limit: usize,
    },
}

/// An error at one line (1-based; for framed protobuf, the record number).
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct FileError {
    /// 1-based line or record number.
    pub line: u64,
    /// What went wrong.
    pub error: LineError,
}

/// Counts bytes read from the underlying (possibly compressed) file.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// An iterator over the batches of a span file. See the module docs.
pub struct SpanFile {
    reader: Box<dyn BufRead + Send>,
    format: FileFormat,
    line: u64,
    buf: Vec<u8>,
    max_record_bytes: usize,
    raw_read: Arc<AtomicU64>,
    done: bool,
}

impl std::fmt::Debug for SpanFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanFile")
            .field("format", &self.format)
            .field("line", &self.line)
            .finish()
    }
}

impl SpanFile {
    /// Opens `path`; the format comes from its name, compression from its name
    /// or its first bytes.
    pub fn open(path: &Path) -> io::Result<Self> {
        Self::from_reader(File::open(path)?, FileFormat::from_path(path))
    }

    /// Reads `reader` in `format`, gunzipping it when it starts with the gzip
    /// magic bytes.
    pub fn from_reader(reader: impl Read + Send + 'static, format: FileFormat) -> io::Result<Self> {
        let raw_read = Arc::new(AtomicU64::new(0));
        let counting = Counting {
            inner: reader,
            read: Arc::clone(&raw_read),
        };
        let mut buffered = BufReader::with_capacity(256 << 10, counting);
        let gzip = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn BufRead + Send> = if gzip {
            Box::new(BufReader::with_capacity(
                256 << 10,
                MultiGzDecoder::new(buffered),
            ))
        } else {
            Box::new(buffered)
        };
        Ok(Self {
            reader,
            format,
            line: 0,
            buf: Vec::new(),
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            raw_read,
            done: false,
        })
    }

    /// Sets the longest line or frame accepted (longer ones are skipped with
    /// [`LineError::TooLong`]).
    pub fn with_max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit;
        self
    }

    /// Bytes consumed from the underlying file so far (compressed bytes for a
    /// gzip file), for progress reporting against the file's size.
    pub fn bytes_read(&self) -> u64 {
        self.raw_read.load(Ordering::Relaxed)
    }

    /// The current 1-based line or record number (0 before the first).
    pub fn line(&self) -> u64 {
        self.line
    }

    fn error(&mut self, error: LineError) -> Option<Result<Decoded, FileError>> {
        if matches!(error, LineError::Io(_)) {
            self.done = true;
        }
        Some(Err(FileError {
            line: self.line,
            error,
        }))
    }

    fn next_line(&mut self) -> Option<Result<Decoded, FileError>> {
        loop {
            self.buf.clear();
            let limit = self.max_record_bytes as u64 + 1;
            let n = match (&mut self.reader)
                .take(limit)
                .read_until(b'\n', &mut self.buf)
            {
                Ok(0) => return None,
                Ok(n) => n,
                Err(e) => return self.error(e.into()),
            };
            self.line += 1;
            if self.buf.last() != Some(&b'\n') && n as u64 == limit {
                // Too long: drop the rest of the line, then report it.
                let mut len = n as u64;
                loop {
                    let chunk = match self.reader.fill_buf() {
                        Ok(chunk) => chunk,
                        Err(e) => return self.error(e.into()),
                    };
                    if chunk.is_empty() {
                        break;
                    }
                    let (used, end) = match chunk.iter().position(|&b| b == b'\n') {
                        Some(i) => (i + 1, true),
                        None => (chunk.len(), false),
                    };
                    self.reader.consume(used);
                    len += used as u64 - u64::from(end);
                    if end {
                        break;
                    }
                }
                let limit = self.max_record_bytes;
                return self.error(LineError::TooLong { len, limit });
            }
            if self.buf.trim_ascii().is_empty() {
                continue;
            }
            return Some(decode_otlp_json(&self.buf).map_err(|e| FileError {
                line: self.line,
                error: e.into(),
            }));
        }
    }

    fn next_frame(&mut self) -> Option<Result<Decoded, FileError>> {
        let mut header = [0u8; 4];
        match self.reader.fill_buf() {
            Ok([]) => return None,
            Ok(_) => {}
            Err(e) => return self.error(e.into()),
        }
        self.line += 1;
        if let Err(e) = self.reader.read_exact(&mut header) {
            return self.error(e.into());
        }
        let len = u32::from_be_bytes(header) as usize;
        if len > self.max_record_bytes {
            // The framing cannot be trusted past an absurd length: stop here.
            self.done = true;
            let limit = self.max_record_bytes;
            return self.error(LineError::TooLong {
                len: len as u64,
                limit,
            });
        }
        self.buf.resize(len, 0);
        if let Err(e) = self.reader.read_exact(&mut self.buf) {
            return self.error(e.into());
        }
        Some(decode_otlp_proto(&self.buf).map_err(|e| FileError {
            line: self.line,
            error: e.into(),
        }))
    }
}

impl Iterator for SpanFile {
    type Item = Result<Decoded, FileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.format {
            FileFormat::JsonLines => self.next_line(),
            FileFormat::ProtoFramed => self.next_frame(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;
    use crate::ingest::decode::testutil::{
        encode, request, resource_spans, service, span, to_json,
    };

    fn line(svc: &str, id: u8) -> String {
        let req = request(vec![resource_spans(
            service(svc),
            vec![span(1, id, None, 2, "op")],
        )]);
        to_json(&req).to_string()
    }

    fn collect(file: SpanFile) -> Vec<Result<usize, (u64, String)>> {
        file.map(|r| {
            r.map(|d| d.batch.len())
                .map_err(|e| (e.line, e.to_string()))
        })
        .collect()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn json_lines_skip_blanks_and_report_bad_lines_by_number() {
        let text = format!(
            "{}\n\n   \n{{not json\n{}\r\n{}",
            line("a", 1),
            line("b", 2),
            line("c", 3)
        );
        let got =
            collect(SpanFile::from_reader(io::Cursor::new(text), FileFormat::JsonLines).unwrap());
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], Ok(1));
        let (n, msg) = got[1].clone().unwrap_err();
        assert_eq!(n, 4);
        assert!(
            msg.starts_with("line 4: invalid json at line 1 column 2"),
            "{msg}"
        );
        assert_eq!(
            got[2..],
            [Ok(1), Ok(1)],
            "reading goes on after a bad line; the last line needs no newline"
        );
    }

    #[test]
    fn gzip_by_extension_or_magic_including_concatenated_members() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = gzip(format!("{}\n", line("a", 1)).as_bytes());
        bytes.extend(gzip(format!("{}\n", line("b", 2)).as_bytes()));
        for name in ["spans.jsonl.gz", "spans.jsonl"] {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            let file = SpanFile::open(&path).unwrap();
            assert_eq!(collect(file), [Ok(1), Ok(1)], "{name}");
        }
        let mut file = SpanFile::open(&dir.path().join("spans.jsonl")).unwrap();
        assert!(file.next().is_some());
        assert_eq!(file.line(), 1);
        assert!(file.bytes_read() > 0);
    }

    #[test]
    fn length_prefixed_protobuf_frames() {
        let mut bytes = Vec::new();
        for (svc, id) in [("a", 1), ("b", 2)] {
            let msg = encode(&request(vec![resource_spans(
                service(svc),
                vec![span(1, id, None, 2, "op")],
            )]));
            bytes.extend((msg.len() as u32).to_be_bytes());
            bytes.extend(msg);
        }
        bytes.extend(3u32.to_be_bytes());
        bytes.extend([0x0a, 0x05, 0x00]); // truncated inside the frame's message
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spans.binpb.gz");
        std::fs::write(&path, gzip(&bytes)).unwrap();
        assert_eq!(FileFormat::from_path(&path), FileFormat::ProtoFramed);
        let got = collect(SpanFile::open(&path).unwrap());
        assert_eq!(got[..2], [Ok(1), Ok(1)]);
        let (n, msg) = got[2].clone().unwrap_err();
        assert_eq!(n, 3);
        assert!(msg.contains("invalid protobuf"), "{msg}");
        assert_eq!(got.len(), 3);

        let mut short = 10u32.to_be_bytes().to_vec();
        short.extend([1, 2]);
        let got = collect(
            SpanFile::from_reader(io::Cursor::new(short), FileFormat::ProtoFramed).unwrap(),
        );
        assert!(
            matches!(&got[..], [Err((1, msg))] if msg.contains("read failed")),
            "{got:?}"
        );
    }

    #[test]
    fn overlong_lines_and_frames_are_skipped_with_an_error() {
        let text = format!("{}\n{}\n", "x".repeat(100), line("a", 1));
        let file = SpanFile::from_reader(io::Cursor::new(text), FileFormat::JsonLines).unwrap();
        let got = collect(file.with_max_record_bytes(50));
        assert!(
            matches!(&got[0], Err((1, msg)) if msg.contains("record of 100 bytes exceeds the limit of 50")),
            "{got:?}"
        );
        assert!(
            matches!(&got[1], Err((2, msg)) if msg.contains("exceeds the limit")),
            "{got:?}"
        );
        assert_eq!(got.len(), 2);

        let text = format!("{}\n{{}}\n", "x".repeat(100));
        let file = SpanFile::from_reader(io::Cursor::new(text), FileFormat::JsonLines).unwrap();
        assert_eq!(collect(file.with_max_record_bytes(50))[1..], [Ok(0)]);

        let frame = u32::MAX.to_be_bytes().to_vec();
        let got = collect(
            SpanFile::from_reader(io::Cursor::new(frame), FileFormat::ProtoFramed).unwrap(),
        );
        assert_eq!(got.len(), 1, "an absurd frame length ends the file");
    }

    #[test]
    fn formats_from_names() {
        for (name, format) in [
            ("a.jsonl", FileFormat::JsonLines),
            ("a.json.gz", FileFormat::JsonLines),
            ("a.pb", FileFormat::ProtoFramed),
            ("a.binpb", FileFormat::ProtoFramed),
            ("a.pb.gz", FileFormat::ProtoFramed),
            ("noext", FileFormat::JsonLines),
        ] {
            assert_eq!(FileFormat::from_path(Path::new(name)), format, "{name}");
        }
    }
}
