//! The audit log end to end: the daemon (`app::start`) records its
//! configuration and every deployment event posted to it; the real binary's
//! `epicenter audit verify` accepts the result and names the first bad
//! record once a record is altered, removed or reordered;
//! `epicenter audit export` writes the segments and a manifest.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use epicenter::config::{self, Source};
use serde_json::Value;

use crate::support::fixtures::own_fixtures_dir;
use crate::support::otlp::http_client;

/// Runs the daemon in `dir`, posts every accepted deployment fixture,
/// stops it, and returns how many events were accepted.
async fn record_some_deployments(dir: &Path) -> usize {
    let source = Source::default()
        .flag("data_dir", dir.display().to_string())
        .flag("api.listen", "127.0.0.1:0")
        .flag("ingest.otlp.enabled", false);
    let settings = config::load(&source).unwrap();
    let running = epicenter::app::start(
        settings,
        epicenter::telemetry::new_registry(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let url = format!("http://{}/api/v1/deployments", running.api_addr);
    let mut files: Vec<PathBuf> = std::fs::read_dir(own_fixtures_dir().join("deploy"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".json") && !n.starts_with("pipelinerun"))
        })
        .collect();
    files.sort();
    for path in &files {
        let response = http_client()
            .post(&url)
            .header("content-type", "application/json")
            .body(std::fs::read(path).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202, "{}", path.display());
    }
    running.stop();
    running.wait().await.unwrap();
    files.len()
}

fn epicenter(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_epicenter"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn verify(dir: &Path) -> (i32, String) {
    epicenter(&["audit", "verify", "--data-dir", dir.to_str().unwrap()])
}

fn segment(dir: &Path) -> PathBuf {
    dir.join("audit/segment-000001.jsonl")
}

/// A copy of the recorded data directory whose only segment is `edit`ed.
fn tampered(recorded: &Path, edit: impl FnOnce(&mut Vec<String>)) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(copy.path().join("audit")).unwrap();
    let text = std::fs::read_to_string(segment(recorded)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    edit(&mut lines);
    std::fs::write(segment(copy.path()), lines.join("\n") + "\n").unwrap();
    copy
}

#[tokio::test]
async fn verify_accepts_the_daemons_log_and_names_the_first_tampered_record() {
    let dir = tempfile::tempdir().unwrap();
    let posted = record_some_deployments(dir.path()).await;
    assert!(posted >= 3, "too few fixtures to tamper with");

    // What was recorded: the configuration first, then every event posted.
    let text = std::fs::read_to_string(segment(dir.path())).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records[0]["kind"], "config_loaded");
    assert_eq!(records[0]["seq"], 1);
    assert_eq!(
        records[0]["payload"]["config_sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    let events = records
        .iter()
        .filter(|r| r["kind"] == "release_event")
        .count();
    assert_eq!(events, posted, "{text}");
    assert_eq!(records.len(), posted + 1);

    let (code, stderr) = verify(dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("intact"), "{stderr}");

    // One byte of the third record's payload altered.
    let altered = tampered(dir.path(), |lines| {
        let line = &mut lines[2];
        let at = line.find("\"service\":\"").unwrap() + "\"service\":\"".len();
        let byte = if line.as_bytes()[at] == b'X' {
            "Y"
        } else {
            "X"
        };
        line.replace_range(at..=at, byte);
    });
    let (code, stderr) = verify(altered.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("segment-000001.jsonl:3: seq 3: hash mismatch"),
        "{stderr}"
    );

    // The third record removed.
    let removed = tampered(dir.path(), |lines| {
        lines.remove(2);
    });
    let (code, stderr) = verify(removed.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("segment-000001.jsonl:3: seq 4: seq gap: expected 3: records 3..3 removed"),
        "{stderr}"
    );

    // The third and fourth records swapped.
    let swapped = tampered(dir.path(), |lines| lines.swap(2, 3));
    let (code, stderr) = verify(swapped.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("segment-000001.jsonl:3: seq 4: seq out of order: expected 3"),
        "{stderr}"
    );
    assert!(stderr.contains("reordered"), "{stderr}");

    // A record re-hashed after editing still breaks the link to the next one.
    let rehashed = tampered(dir.path(), |lines| {
        let mut record: Value = serde_json::from_str(&lines[2]).unwrap();
        record["payload"]["service"] = "forged".into();
        let hash = epicenter::audit::record::hash(
            record["seq"].as_u64().unwrap(),
            record["at"].as_str().unwrap(),
            record["kind"].as_str().unwrap(),
            &serde_json::value::to_raw_value(&record["payload"]).unwrap(),
            record["prev"].as_str().unwrap(),
        );
        record["hash"] = hash.into();
        lines[2] = record.to_string();
    });
    let (code, stderr) = verify(rehashed.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("segment-000001.jsonl:4: seq 4: prev does not match"),
        "{stderr}"
    );
}

#[tokio::test]
async fn export_writes_every_record_and_a_manifest_with_the_head_hash() {
    let dir = tempfile::tempdir().unwrap();
    record_some_deployments(dir.path()).await;
    let out = dir.path().join("export.jsonl.gz");
    let (code, stderr) = epicenter(&[
        "audit",
        "export",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");

    let mut exported = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&out).unwrap())
        .read_to_string(&mut exported)
        .unwrap();
    let live = std::fs::read_to_string(segment(dir.path())).unwrap();
    assert_eq!(exported, live);

    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("export.jsonl.gz.manifest.json")).unwrap(),
    )
    .unwrap();
    let last: Value = serde_json::from_str(live.lines().last().unwrap()).unwrap();
    assert_eq!(manifest["head_hash"], last["hash"]);
    assert_eq!(manifest["head_seq"], last["seq"]);
    assert_eq!(manifest["records"], live.lines().count());

    // A broken chain is not exported.
    std::fs::write(
        segment(dir.path()),
        live.lines().skip(1).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let (code, stderr) = epicenter(&[
        "audit",
        "export",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--out",
        dir.path().join("second.jsonl.gz").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("broken"), "{stderr}");
}

#[test]
fn verify_without_an_audit_log_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = verify(dir.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no audit log"), "{stderr}");
}
