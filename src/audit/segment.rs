//! The synchronous writer: appends records to the newest segment, rolls
//! to a new segment at the size limit, archives old segments, and resumes
//! the chain after a restart.
//!
//! Durability: every record is one `write` of one whole line to a file
//! opened for appending, so it reaches the OS before `append` returns and
//! survives a process crash (`kill -9`); `fsync` happens when a segment is
//! closed on roll, after archiving, and on [`Log::sync`] (shutdown). A power
//! loss can therefore lose records written since the last fsync, and may
//! leave an incomplete last line: [`Log::open`] moves such a tail aside to
//! `segment-NNNNNN.jsonl.torn-OFFSET` and the writer records a `torn_tail`.
//!
//! Never does: delete or rewrite a complete record; segments leave the
//! live directory only by being moved into `archive/`.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::record::{GENESIS, Kind, Record};
use super::{ARCHIVE_DIR, AUDIT_DIR, AuditError};

/// The file name of segment `number`.
pub fn segment_name(number: u64) -> String {
    format!("segment-{number:06}.jsonl")
}

/// The number of a segment file name, or `None` for other files.
pub fn segment_number(name: &str) -> Option<u64> {
    name.strip_prefix("segment-")?
        .strip_suffix(".jsonl")?
        .parse()
        .ok()
}

/// Segment files directly in `dir`, oldest first (none when `dir` is absent).
///
/// # Errors
/// When `dir` exists but cannot be listed.
pub fn segments_in(dir: &Path) -> Result<Vec<(u64, PathBuf)>, AuditError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(AuditError::io(dir))? {
        let entry = entry.map_err(AuditError::io(dir))?;
        let name = entry.file_name();
        if let Some(number) = name.to_str().and_then(segment_number) {
            found.push((number, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// An incomplete or unreadable tail cut from the newest segment on open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Torn {
    /// The segment's file name.
    pub segment: String,
    /// Where the tail started, bytes.
    pub offset: u64,
    /// How long it was, bytes.
    pub bytes: u64,
    /// The file the tail was saved to, next to the segment.
    pub saved_as: String,
}

impl Torn {
    /// The payload of the `torn_tail` record.
    pub fn payload(&self) -> Value {
        json!({
            "segment": self.segment,
            "offset": self.offset,
            "bytes": self.bytes,
            "saved_as": self.saved_as,
        })
    }
}

/// The open audit log.
#[derive(Debug)]
pub struct Log {
    live: PathBuf,
    archive: PathBuf,
    segment_bytes: u64,
    retain_segments: usize,
    file: File,
    path: PathBuf,
    number: u64,
    size: u64,
    next_seq: u64,
    prev: String,
}

impl Log {
    /// Opens (creating) `DATA_DIR/audit/`, cuts an incomplete tail from the
    /// newest segment, and continues the chain from its last record.
    ///
    /// Reads the newest segment whole (at most about `segment_bytes`).
    ///
    /// # Errors
    /// When the directory or a segment cannot be read or written.
    pub fn open(
        data_dir: &Path,
        segment_bytes: u64,
        retain_segments: usize,
    ) -> Result<(Self, Option<Torn>), AuditError> {
        let live = data_dir.join(AUDIT_DIR);
        fs::create_dir_all(&live).map_err(AuditError::io(&live))?;
        let archive = live.join(ARCHIVE_DIR);
        let live_segments = segments_in(&live)?;
        let archived = segments_in(&archive)?;

        let mut torn = None;
        let mut head = None;
        if let Some((_, path)) = live_segments.last() {
            let tail = scan_tail(path)?;
            if tail.good_len < tail.total {
                torn = Some(cut_tail(path, tail.good_len, tail.total)?);
            }
            head = tail.last;
        }
        // A segment can be empty after a roll; the head is further back.
        let mut older: Vec<&PathBuf> = archived
            .iter()
            .chain(live_segments.iter())
            .map(|(_, p)| p)
            .collect();
        if !live_segments.is_empty() {
            older.pop();
        }
        if head.is_none() {
            for path in older.into_iter().rev() {
                if let Some(last) = scan_tail(path)?.last {
                    head = Some(last);
                    break;
                }
            }
        }
        let newest = archived
            .iter()
            .chain(live_segments.iter())
            .map(|(n, _)| *n)
            .max();
        let number = match (live_segments.last(), newest) {
            (Some((n, _)), _) => *n,
            (None, Some(n)) => n + 1,
            (None, None) => 1,
        };
        let path = live.join(segment_name(number));
        let file = open_append(&path)?;
        let size = file.metadata().map_err(AuditError::io(&path))?.len();
        let (next_seq, prev) = match head {
            Some(record) => (record.seq + 1, record.hash),
            None => (1, GENESIS.to_string()),
        };
        Ok((
            Self {
                live,
                archive,
                segment_bytes,
                retain_segments,
                file,
                path,
                number,
                size,
                next_seq,
                prev,
            },
            torn,
        ))
    }

    /// The seq the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The hash of the last record written ([`GENESIS`] when none).
    pub fn head_hash(&self) -> &str {
        &self.prev
    }

    /// Appends one record, rolling (and archiving, which writes an
    /// `archived` record first) when it would overflow the segment.
    ///
    /// # Errors
    /// When the line cannot be written; the segment is cut back to its
    /// last complete record and the chain does not advance.
    pub fn append(&mut self, at: &str, kind: Kind, payload: Value) -> Result<Record, AuditError> {
        let (record, line) = self.build(at, kind, payload.clone())?;
        // Rolls only when the record would overflow a non-empty segment.
        if self.size > 0
            && self.size + line.len() as u64 > self.segment_bytes
            && let Some(archived) = self.roll()?
        {
            let (note, note_line) = self.build(at, Kind::Archived, archived)?;
            self.write(note, &note_line)?;
            self.sync()?;
            let (record, line) = self.build(at, kind, payload)?;
            return self.write(record, &line);
        }
        self.write(record, &line)
    }

    /// Flushes the current segment to disk (`fsync`).
    ///
    /// # Errors
    /// When the OS reports a failure.
    pub fn sync(&mut self) -> Result<(), AuditError> {
        self.file.sync_all().map_err(AuditError::io(&self.path))
    }

    fn build(&self, at: &str, kind: Kind, payload: Value) -> Result<(Record, Vec<u8>), AuditError> {
        let record = Record::new(
            self.next_seq,
            at.to_string(),
            kind,
            payload,
            self.prev.clone(),
        );
        let mut line = serde_json::to_vec(&record)?;
        line.push(b'\n');
        Ok((record, line))
    }

    fn write(&mut self, record: Record, line: &[u8]) -> Result<Record, AuditError> {
        if let Err(error) = self.file.write_all(line) {
            // Never leave half a line for the next record to follow.
            let _ignored = self.file.set_len(self.size);
            return Err(AuditError::Io {
                path: self.path.clone(),
                source: error,
            });
        }
        self.size += line.len() as u64;
        self.next_seq = record.seq + 1;
        self.prev.clone_from(&record.hash);
        Ok(record)
    }

    /// Closes the current segment (fsync), starts the next, and archives
    /// the oldest closed segments beyond `retain_segments`. Returns the
    /// `archived` payload when segments were moved.
    fn roll(&mut self) -> Result<Option<Value>, AuditError> {
        self.sync()?;
        self.number += 1;
        self.path = self.live.join(segment_name(self.number));
        self.file = open_append(&self.path)?;
        self.size = 0;
        sync_dir(&self.live);
        if self.retain_segments == 0 {
            return Ok(None);
        }
        let closed: Vec<(u64, PathBuf)> = segments_in(&self.live)?
            .into_iter()
            .filter(|(n, _)| *n != self.number)
            .collect();
        if closed.len() <= self.retain_segments {
            return Ok(None);
        }
        let excess = closed.len() - self.retain_segments;
        fs::create_dir_all(&self.archive).map_err(AuditError::io(&self.archive))?;
        let mut names = Vec::new();
        let mut last = None;
        for (_, path) in closed.into_iter().take(excess) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some(record) = scan_tail(&path)?.last {
                last = Some(record);
            }
            let target = self.archive.join(&name);
            fs::rename(&path, &target).map_err(AuditError::io(&path))?;
            names.push(name);
        }
        sync_dir(&self.archive);
        sync_dir(&self.live);
        Ok(Some(json!({
            "segments": names,
            "last_seq": last.as_ref().map(|r| r.seq),
            "last_hash": last.map(|r| r.hash),
        })))
    }
}

fn open_append(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(AuditError::io(path))
}

/// Best effort: makes renames and new files durable on Linux.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ignored = handle.sync_all();
    }
}

struct Tail {
    last: Option<Record>,
    good_len: u64,
    total: u64,
}

/// The last complete, parseable record of a segment, and where the file
/// stops being made of such records at its end.
fn scan_tail(path: &Path) -> Result<Tail, AuditError> {
    let bytes = fs::read(path).map_err(AuditError::io(path))?;
    let total = bytes.len() as u64;
    // Only newline-terminated lines count as written.
    let complete = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(end) => &bytes[..=end],
        None => &bytes[..0],
    };
    let mut end = complete.len();
    while end > 0 {
        let start = complete[..end - 1]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        if let Ok(record) = serde_json::from_slice::<Record>(&complete[start..end - 1]) {
            return Ok(Tail {
                last: Some(record),
                good_len: end as u64,
                total,
            });
        }
        end = start;
    }
    Ok(Tail {
        last: None,
        good_len: 0,
        total,
    })
}

/// Saves `[good_len, total)` of the segment beside it and truncates it.
fn cut_tail(path: &Path, good_len: u64, total: u64) -> Result<Torn, AuditError> {
    let bytes = fs::read(path).map_err(AuditError::io(path))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let saved_as = format!("{name}.torn-{good_len}");
    let saved = path.with_file_name(&saved_as);
    let start = usize::try_from(good_len)
        .unwrap_or(bytes.len())
        .min(bytes.len());
    let mut out = File::create(&saved).map_err(AuditError::io(&saved))?;
    out.write_all(&bytes[start..])
        .and_then(|()| out.sync_all())
        .map_err(AuditError::io(&saved))?;
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(AuditError::io(path))?;
    file.set_len(good_len)
        .and_then(|()| file.sync_all())
        .map_err(AuditError::io(path))?;
    tracing::warn!(
        segment = %name,
        offset = good_len,
        bytes = total - good_len,
        saved_as = %saved_as,
        "audit log had an incomplete tail; moved aside"
    );
    Ok(Torn {
        segment: name,
        offset: good_len,
        bytes: total - good_len,
        saved_as,
    })
}

#[cfg(test)]
#[path = "segment_tests.rs"]
mod tests;
