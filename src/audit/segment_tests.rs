use serde_json::json;

use super::*;
use crate::audit::verify::{Outcome, verify};

const AT: &str = "2026-03-02T09:22:10Z";

fn intact(dir: &Path) -> crate::audit::Report {
    match verify(dir).unwrap() {
        Outcome::Intact(report) => report,
        Outcome::Broken(broken) => panic!("chain broken: {broken}"),
    }
}

fn lines(path: &Path) -> Vec<Record> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn appended_records_form_a_chain_from_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, torn) = Log::open(dir.path(), 1 << 20, 0).unwrap();
    assert!(torn.is_none());
    let a = log.append(AT, Kind::ConfigLoaded, json!({"x": 1})).unwrap();
    let b = log
        .append(AT, Kind::ReleaseEvent, json!({"id": "d1"}))
        .unwrap();
    assert_eq!((a.seq, a.prev.as_str()), (1, GENESIS));
    assert_eq!((b.seq, &b.prev), (2, &a.hash));
    let written = lines(&dir.path().join("audit/segment-000001.jsonl"));
    let hashes: Vec<&str> = written.iter().map(|r| r.hash.as_str()).collect();
    assert_eq!(hashes, vec![a.hash.as_str(), b.hash.as_str()]);
    let report = intact(dir.path());
    assert_eq!((report.records, report.head_seq), (2, 2));
    assert_eq!(report.head_hash, b.hash);
}

#[test]
fn segments_roll_at_the_size_limit_and_the_chain_spans_them() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), 4096, 0).unwrap();
    for i in 0..100 {
        log.append(AT, Kind::Alert, json!({"id": i, "pad": "x".repeat(100)}))
            .unwrap();
    }
    let segments = segments_in(&dir.path().join("audit")).unwrap();
    assert!(segments.len() > 2, "{segments:?}");
    for (_, path) in &segments {
        assert!(fs::metadata(path).unwrap().len() <= 4096);
    }
    assert_eq!(intact(dir.path()).records, 100);
}

#[test]
fn reopening_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), 1 << 20, 0).unwrap();
    let last = log.append(AT, Kind::Alert, json!({"id": 1})).unwrap();
    drop(log);
    let (mut log, torn) = Log::open(dir.path(), 1 << 20, 0).unwrap();
    assert!(torn.is_none());
    let next = log.append(AT, Kind::Alert, json!({"id": 2})).unwrap();
    assert_eq!((next.seq, &next.prev), (2, &last.hash));
    assert_eq!(intact(dir.path()).records, 2);
}

#[test]
fn reopening_after_a_roll_into_an_empty_segment_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), 1 << 20, 0).unwrap();
    let last = log.append(AT, Kind::Alert, json!({"id": 1})).unwrap();
    drop(log);
    // A crash right after a roll leaves an empty newest segment.
    File::create(dir.path().join("audit").join(segment_name(2))).unwrap();
    let (mut log, _) = Log::open(dir.path(), 1 << 20, 0).unwrap();
    let next = log.append(AT, Kind::Alert, json!({"id": 2})).unwrap();
    assert_eq!((next.seq, &next.prev), (2, &last.hash));
    intact(dir.path());
}

#[test]
fn a_torn_tail_is_reported_moved_aside_and_the_chain_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), 1 << 20, 0).unwrap();
    let last = log.append(AT, Kind::Alert, json!({"id": 1})).unwrap();
    drop(log);
    let path = dir.path().join("audit/segment-000001.jsonl");
    let good = fs::metadata(&path).unwrap().len();
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(br#"{"seq":2,"at":"2026-03-"#).unwrap();
    drop(file);
    // verify sees the incomplete line before the daemon repairs it.
    let Outcome::Broken(broken) = verify(dir.path()).unwrap() else {
        panic!("a torn line passed verification");
    };
    assert_eq!(broken.line, 2);
    assert!(broken.reason.contains("incomplete"), "{broken}");

    let (mut log, torn) = Log::open(dir.path(), 1 << 20, 0).unwrap();
    let torn = torn.expect("torn tail not reported");
    assert_eq!((torn.offset, torn.bytes), (good, 23));
    assert_eq!(
        fs::read(dir.path().join("audit").join(&torn.saved_as)).unwrap(),
        br#"{"seq":2,"at":"2026-03-"#
    );
    assert_eq!(fs::metadata(&path).unwrap().len(), good);
    let next = log.append(AT, Kind::TornTail, torn.payload()).unwrap();
    assert_eq!((next.seq, &next.prev), (2, &last.hash));
    assert_eq!(intact(dir.path()).records, 2);
}

#[test]
fn a_segment_of_garbage_does_not_panic_and_starts_a_fresh_chain() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("audit")).unwrap();
    fs::write(dir.path().join("audit/segment-000001.jsonl"), b"\0\0\0\0").unwrap();
    let (mut log, torn) = Log::open(dir.path(), 1 << 20, 0).unwrap();
    assert_eq!(torn.unwrap().bytes, 4);
    let first = log.append(AT, Kind::TornTail, json!({})).unwrap();
    assert_eq!(first.seq, 1);
    intact(dir.path());
}

#[test]
fn retention_archives_old_segments_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), 4096, 2).unwrap();
    for i in 0..200 {
        log.append(AT, Kind::Alert, json!({"id": i, "pad": "x".repeat(100)}))
            .unwrap();
    }
    let audit = dir.path().join("audit");
    let live = segments_in(&audit).unwrap();
    let archived = segments_in(&audit.join("archive")).unwrap();
    // Two closed segments plus the current one stay live.
    assert_eq!(live.len(), 3, "{live:?}");
    assert!(!archived.is_empty());
    assert_eq!(
        archived[0].0, 1,
        "the oldest segment is archived, not deleted"
    );
    let all: Vec<Record> = archived
        .iter()
        .chain(live.iter())
        .flat_map(|(_, p)| lines(p))
        .collect();
    let notes: Vec<&Record> = all.iter().filter(|r| r.kind == "archived").collect();
    assert!(!notes.is_empty());
    // Each note names the segments and the last record they hold.
    let first_note = notes[0];
    let note = first_note.payload_value();
    let named = note["segments"][0].as_str().unwrap();
    assert_eq!(named, segment_name(1));
    let last_of_first = lines(&audit.join("archive").join(named)).pop().unwrap();
    assert_eq!(note["last_hash"], json!(last_of_first.hash));
    assert_eq!(note["last_seq"], json!(last_of_first.seq));
    let report = intact(dir.path());
    assert_eq!(report.records as usize, all.len());
    assert_eq!(report.first_seq, 1);

    // Archives shipped elsewhere: the live chain is anchored by a note...
    fs::rename(audit.join("archive"), dir.path().join("shipped")).unwrap();
    let report = intact(dir.path());
    assert!(report.first_seq > 1);
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);

    // ...but not when a live segment is removed as well.
    let (_, oldest_live) = &segments_in(&audit).unwrap()[0];
    fs::remove_file(oldest_live).unwrap();
    let Outcome::Broken(broken) = verify(dir.path()).unwrap() else {
        panic!("removing a live segment passed verification");
    };
    assert!(broken.reason.contains("removed"), "{broken}");
}

#[test]
fn floats_that_do_not_survive_a_json_round_trip_still_verify() {
    // serde_json's default float parser is not exact for every 17-digit
    // value; the hash covers the payload text as written, not a re-parse.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), 1 << 20, 0).unwrap();
    let mut x = 0.1_f64;
    for i in 0..500 {
        x = x * 1.618_033_988_749_895 + 1e-13 * f64::from(i);
        log.append(
            AT,
            Kind::Alert,
            json!({"confidence": x, "tiny": x * 1e-290}),
        )
        .unwrap();
    }
    assert_eq!(intact(dir.path()).records, 500);
}
