//! `epicenter audit verify` and `epicenter audit export`: walk every
//! segment (archive first, then live, each in number order) and check the
//! chain; export the verified segments as one `.jsonl.gz` plus a manifest.
//!
//! What a broken chain says, at the FIRST bad record:
//! * hash mismatch: the record's content was altered;
//! * seq gap: records were removed;
//! * seq out of order (the expected seq appears later): records were reordered;
//! * prev mismatch: the chain was relinked (a record removed or replaced and
//!   the following records' hashes recomputed only in part).
//!
//! Limits: cutting records off the END of the newest segment leaves a valid
//! shorter chain; compare the reported head (seq and hash) with one kept
//! elsewhere (an export manifest) to detect that.
//!
//! Never does: modify a segment.

use std::fmt;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use sha2::{Digest as _, Sha256};

use super::record::{GENESIS, Record, sha256_hex, to_hex};
use super::segment::segments_in;
use super::{ARCHIVE_DIR, AUDIT_DIR, AuditError};

/// The first bad record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// The segment file.
    pub file: PathBuf,
    /// Line in that file, from 1.
    pub line: usize,
    /// The record's seq, when it could be read.
    pub seq: Option<u64>,
    /// What is wrong, and what that means.
    pub reason: String,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.line)?;
        if let Some(seq) = self.seq {
            write!(f, "seq {seq}: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// An intact chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Records checked.
    pub records: u64,
    /// Segment files walked (archived ones first).
    pub segments: Vec<PathBuf>,
    /// Seq of the first record found (1 unless the archive was moved away).
    pub first_seq: u64,
    /// Seq of the last record (0 when the log is empty).
    pub head_seq: u64,
    /// Hash of the last record ([`GENESIS`] when empty).
    pub head_hash: String,
    /// Remarks that do not break the chain.
    pub notes: Vec<String>,
}

/// The result of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every record checked out.
    Intact(Report),
    /// The first bad record.
    Broken(Broken),
}

struct Line {
    file: usize,
    line: usize,
    record: Result<Record, String>,
}

/// The segment files of the log in `data_dir`, in chain order.
///
/// # Errors
/// When there is no `audit/` directory or it cannot be listed.
pub fn segment_files(data_dir: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let live = data_dir.join(AUDIT_DIR);
    if !live.is_dir() {
        return Err(AuditError::Missing(live));
    }
    let mut files: Vec<PathBuf> = segments_in(&live.join(ARCHIVE_DIR))?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    files.extend(segments_in(&live)?.into_iter().map(|(_, p)| p));
    Ok(files)
}

/// Checks the whole chain of the log in `data_dir`.
///
/// # Errors
/// When the log is missing or a segment cannot be read (tampering is an
/// [`Outcome::Broken`], not an error).
pub fn verify(data_dir: &Path) -> Result<Outcome, AuditError> {
    let files = segment_files(data_dir)?;
    let mut lines = Vec::new();
    for (index, path) in files.iter().enumerate() {
        let bytes = fs::read(path).map_err(AuditError::io(path))?;
        let mut rest: &[u8] = &bytes;
        let mut number = 0;
        while !rest.is_empty() {
            number += 1;
            let (text, complete) = match rest.iter().position(|b| *b == b'\n') {
                Some(end) => {
                    let text = &rest[..end];
                    rest = &rest[end + 1..];
                    (text, true)
                }
                None => (std::mem::take(&mut rest), false),
            };
            let record = if complete {
                serde_json::from_slice::<Record>(text)
                    .map_err(|e| format!("unreadable record ({e}): the line was altered"))
            } else {
                Err(
                    "incomplete last line: a write was cut short (the daemon moves it \
                     aside on its next start)"
                        .to_string(),
                )
            };
            lines.push(Line {
                file: index,
                line: number,
                record,
            });
        }
    }
    Ok(check(&files, &lines))
}

fn check(files: &[PathBuf], lines: &[Line]) -> Outcome {
    let broken = |at: &Line, seq: Option<u64>, reason: String| {
        Outcome::Broken(Broken {
            file: files[at.file].clone(),
            line: at.line,
            seq,
            reason,
        })
    };
    let mut notes = Vec::new();
    let mut expected: Option<u64> = None;
    let mut last_hash = GENESIS.to_string();
    let mut first_seq = 0;
    for (i, at) in lines.iter().enumerate() {
        let record = match &at.record {
            Ok(record) => record,
            Err(why) => return broken(at, None, why.clone()),
        };
        let seq = Some(record.seq);
        if record.computed_hash() != record.hash {
            return broken(
                at,
                seq,
                "hash mismatch: the record's content was altered".into(),
            );
        }
        match expected {
            None => {
                first_seq = record.seq;
                if record.seq == 1 && record.prev != GENESIS {
                    return broken(at, seq, "the first record does not start the chain".into());
                }
                if record.seq != 1 {
                    match anchor(lines, record) {
                        Some(by) => notes.push(format!(
                            "the chain starts at seq {}: earlier records were archived \
                             (the archived record at seq {by} vouches for them) and are not \
                             in audit/archive/",
                            record.seq
                        )),
                        None => {
                            return broken(
                                at,
                                seq,
                                format!(
                                    "the chain starts at seq {} and no archived record \
                                     vouches for the records before it: records removed",
                                    record.seq
                                ),
                            );
                        }
                    }
                }
            }
            Some(expected) if record.seq != expected => {
                let later = lines[i + 1..]
                    .iter()
                    .find(|l| l.record.as_ref().is_ok_and(|r| r.seq == expected));
                let reason = match later {
                    Some(l) => format!(
                        "seq out of order: expected {expected}, which is at {}:{}: \
                         records reordered",
                        files[l.file].display(),
                        l.line
                    ),
                    None if record.seq > expected => format!(
                        "seq gap: expected {expected}: records {expected}..{} removed",
                        record.seq - 1
                    ),
                    None => format!(
                        "seq {} again after {}: a record duplicated or reordered",
                        record.seq,
                        expected - 1
                    ),
                };
                return broken(at, seq, reason);
            }
            Some(expected) => {
                if record.prev != last_hash {
                    return broken(
                        at,
                        seq,
                        format!(
                            "prev does not match the hash of seq {}: records removed or \
                             replaced and the chain relinked",
                            expected - 1
                        ),
                    );
                }
            }
        }
        expected = Some(record.seq + 1);
        last_hash.clone_from(&record.hash);
    }
    Outcome::Intact(Report {
        records: lines.len() as u64,
        segments: files.to_vec(),
        first_seq,
        head_seq: expected.map_or(0, |e| e - 1),
        head_hash: last_hash,
        notes,
    })
}

/// The seq of an `archived` record whose last archived record is the one
/// just before `first`.
fn anchor(lines: &[Line], first: &Record) -> Option<u64> {
    lines.iter().find_map(|l| {
        let r = l.record.as_ref().ok()?;
        let p = r.payload_value();
        (r.kind == "archived"
            && p["last_seq"].as_u64() == Some(first.seq - 1)
            && p["last_hash"].as_str() == Some(first.prev.as_str()))
        .then_some(r.seq)
    })
}

/// One exported segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportedSegment {
    /// File name.
    pub name: String,
    /// Whether it came from `audit/archive/`.
    pub archived: bool,
    /// Size, bytes.
    pub bytes: u64,
    /// Hex SHA-256 of the file.
    pub sha256: String,
}

/// The manifest written next to an export (`OUT.manifest.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// Always `epicenter.audit.export/v1`.
    pub format: String,
    /// The gzip file holding every segment concatenated in chain order.
    pub archive: String,
    /// Records exported.
    pub records: u64,
    /// First seq.
    pub first_seq: u64,
    /// Last seq.
    pub head_seq: u64,
    /// Hash of the last record: the value to keep elsewhere.
    pub head_hash: String,
    /// Hex SHA-256 of the uncompressed concatenation.
    pub content_sha256: String,
    /// The segments, in order.
    pub segments: Vec<ExportedSegment>,
    /// Remarks from verification.
    pub notes: Vec<String>,
}

/// Verifies the log and writes every segment, in chain order, to `out`
/// as one gzip'd JSON-lines file, and the manifest to `OUT.manifest.json`.
///
/// # Errors
/// When the chain is broken (nothing is written) or a file fails.
pub fn export(data_dir: &Path, out: &Path) -> Result<(Manifest, PathBuf), AuditError> {
    let report = match verify(data_dir)? {
        Outcome::Intact(report) => report,
        Outcome::Broken(broken) => return Err(AuditError::Broken(broken)),
    };
    let archive_dir = data_dir.join(AUDIT_DIR).join(ARCHIVE_DIR);
    let file = File::create(out).map_err(AuditError::io(out))?;
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut content = Sha256::new();
    let mut segments = Vec::new();
    for path in &report.segments {
        let bytes = fs::read(path).map_err(AuditError::io(path))?;
        gz.write_all(&bytes).map_err(AuditError::io(out))?;
        segments.push(ExportedSegment {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            archived: path.parent() == Some(archive_dir.as_path()),
            bytes: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
        });
        content.update(&bytes);
    }
    let file = gz.finish().map_err(AuditError::io(out))?;
    file.sync_all().map_err(AuditError::io(out))?;
    let manifest = Manifest {
        format: "epicenter.audit.export/v1".into(),
        archive: out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        records: report.records,
        first_seq: report.first_seq,
        head_seq: report.head_seq,
        head_hash: report.head_hash,
        content_sha256: to_hex(&content.finalize()),
        segments,
        notes: report.notes,
    };
    let mut manifest_path = out.as_os_str().to_owned();
    manifest_path.push(".manifest.json");
    let manifest_path = PathBuf::from(manifest_path);
    let text = serde_json::to_vec_pretty(&manifest)?;
    fs::write(&manifest_path, text).map_err(AuditError::io(&manifest_path))?;
    Ok((manifest, manifest_path))
}
