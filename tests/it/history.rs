//! The durable history end to end (issue 4): the real `epicenter replay
//! --data-dir` fills `history.redb` from a simulated bad release (payment
//! 1.5.0 fails part of its requests), and the real `epicenter query`
//! answers from it offline: `which-release` at the onset names the bad
//! release first, at a clean time before it names nothing; `release`,
//! `impact` and `anomalies` say what they should. Then a daemon fed the same
//! files answers the same `which-release` through `--server`, and an
//! offline query of its locked data directory points at `--server`.

use std::path::Path;
use std::process::{Command, Output};

use epicenter::config::{self, Source};
use epicenter::model::{AlertType, Timestamp};
use epicenter::sim::score::parse_alerts;
use epicenter::sim::{DeployFormat, ScenarioFiles, ScenarioSpec, preset, write_scenario};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::live_alerts::{lines, post_all, settle};

const START: Timestamp = Timestamp::from_secs(1_772_442_000);
/// Clean history before the release (baselines need 600 s).
const WARMUP_SECS: f64 = 660.0;

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_epicenter"))
}

async fn scenario(dir: &Path, aftermath_secs: f64) -> ScenarioFiles {
    let mut p = preset("bad-release", WARMUP_SECS).unwrap();
    p.scenario.duration_secs = Some(WARMUP_SECS + 120.0 + aftermath_secs);
    let spec = ScenarioSpec {
        preset: p,
        seed: 4242,
        rate_rps: 10.0,
        start: START,
        deployments: Some(DeployFormat::CdEventsV05),
        gzip: false,
    };
    write_scenario(&spec, dir).await.unwrap()
}

fn run(args: &[&str]) -> Output {
    Command::new(exe())
        .args(args)
        .env_remove("EPICENTER_CONFIG")
        .env_remove("EPICENTER_SERVER")
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

/// Runs `epicenter query ... --json` and parses the answer.
fn query_json(args: &[&str]) -> Value {
    let mut all = vec!["query"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = run(&all);
    assert!(
        out.status.success(),
        "epicenter {all:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{all:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn top_suspect(answer: &Value) -> Option<String> {
    let s = answer["suspects"].as_array()?.first()?;
    Some(format!(
        "{}@{}",
        s["release"]["service"].as_str()?,
        s["release"]["version"].as_str()?
    ))
}

/// Runs `epicenter report --service SERVICE --at ONSET` over `source`
/// (`--data-dir D` or `--server URL`) into `out`; checks the Markdown names
/// payment 1.5.0 first suspect and the charts parse and carry the
/// service's series. Returns the Markdown.
fn report_blames_payment(source: &[&str], service: &str, onset: &str, out: &Path) -> String {
    let out_dir = out.to_str().unwrap();
    let mut args = vec![
        "report",
        "--service",
        service,
        "--at",
        onset,
        "--out",
        out_dir,
        "--name",
        "pm",
    ];
    args.extend_from_slice(source);
    let output = run(&args);
    assert!(
        output.status.success(),
        "epicenter {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let md = std::fs::read_to_string(out.join("pm.md")).unwrap();
    assert!(
        md.contains("### 1. payment 1.5.0 ("),
        "first suspect:\n{md}"
    );
    assert!(md.contains("the history"), "source named:\n{md}");
    assert!(
        md.contains("](pm-error-ratio.svg)") && md.contains("](pm-latency.svg)"),
        "{md}"
    );
    for name in ["pm-error-ratio.svg", "pm-latency.svg"] {
        let text = std::fs::read_to_string(out.join(name)).unwrap();
        let doc =
            roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{name} is not XML: {e}"));
        let points: usize = doc
            .descendants()
            .filter(|n| n.has_tag_name("polyline") && n.attribute("data-service") == Some(service))
            .map(|n| {
                n.attribute("points")
                    .unwrap_or("")
                    .split_whitespace()
                    .count()
            })
            .sum();
        assert!(points >= 10, "{name}: {points} points for {service}");
    }
    md
}

/// The onset of the anomaly replay attributed to payment 1.5.0.
fn onset(alerts_path: &Path) -> Timestamp {
    let alerts = parse_alerts(&std::fs::read_to_string(alerts_path).unwrap()).unwrap();
    alerts
        .iter()
        .find(|a| {
            a.kind == AlertType::Attribution
                && a.top_release().is_some_and(|r| r.service == "payment")
        })
        .and_then(|a| a.anomaly.as_ref())
        .map(|a| a.onset)
        .unwrap_or_else(|| panic!("replay did not blame payment: {alerts:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_fills_the_history_and_query_answers_offline() {
    let dir = tempfile::tempdir().unwrap();
    let files = scenario(dir.path(), 600.0).await;
    let data = dir.path().join("data");
    let alerts = dir.path().join("alerts.jsonl");
    let d = data.to_str().unwrap();
    let out = run(&[
        "replay",
        "--spans",
        files.spans.to_str().unwrap(),
        "--deployments",
        files.deployments.as_ref().unwrap().to_str().unwrap(),
        "--alerts",
        alerts.to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(data.join("history.redb").is_file());
    let onset = onset(&alerts).to_rfc3339();

    // At the onset: the bad release, first.
    let answer = query_json(&[
        "which-release",
        "--data-dir",
        d,
        "--service",
        "payment",
        "--at",
        &onset,
    ]);
    assert_eq!(answer["service"], "payment");
    assert_eq!(answer["at"], onset.as_str());
    assert_eq!(
        top_suspect(&answer).as_deref(),
        Some("payment@1.5.0"),
        "{answer:#}"
    );
    assert!(answer["suspects"][0]["confidence"].as_f64().unwrap() >= 0.75);
    assert!(
        !answer["suspects"][0]["evidence"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A post-mortem draft of checkout (payment's caller, which raised no
    // alert of its own) from the history: `which-release` afterwards.
    let reports = dir.path().join("reports");
    let md = report_blames_payment(&["--data-dir", d], "checkout", &onset, &reports);
    assert!(
        md.contains("computed afterwards from the stored history"),
        "{md}"
    );
    assert!(md.contains("| frontend | 1 |"), "dependents:\n{md}");
    // Of payment: drawn from the stored alerts; then by an alert's id.
    let md = report_blames_payment(&["--data-dir", d], "payment", &onset, &reports);
    let id = md
        .lines()
        .find(|l| l.starts_with("| Alerts |"))
        .and_then(|l| l.split('`').nth(1))
        .unwrap_or_else(|| panic!("no alert ids:\n{md}"))
        .to_owned();
    let by_id = dir.path().join("by-id");
    let out = run(&[
        "report",
        "--incident",
        &id,
        "--data-dir",
        d,
        "--out",
        by_id.to_str().unwrap(),
        "--name",
        "pm",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(by_id.join("pm.md")).unwrap();
    assert!(md.contains("### 1. payment 1.5.0 ("), "by id {id}:\n{md}");

    // Five minutes into the clean warmup: nothing to blame.
    let clean = START.plus_nanos(300 * Timestamp::SECOND).to_rfc3339();
    let answer = query_json(&[
        "which-release",
        "--data-dir",
        d,
        "--service",
        "payment",
        "--at",
        &clean,
    ]);
    assert_eq!(answer["suspects"], Value::Array(Vec::new()), "{answer:#}");

    // What the release changed.
    let report = query_json(&["release", "payment@1.5.0", "--data-dir", d]);
    assert_eq!(report["release"]["previous_version"], "1.4.0");
    assert_eq!(report["verdict"], "failing", "{report:#}");
    let (before, after) = (
        report["before"]["error_ratio"].as_f64().unwrap(),
        report["after"]["error_ratio"].as_f64().unwrap(),
    );
    assert!(after > before + 0.05, "before {before}, after {after}");
    let versions: Vec<&str> = report["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert!(versions.contains(&"1.5.0"), "{versions:?}");
    assert!(!report["blamed_by"].as_array().unwrap().is_empty());
    assert!(report["time_to_recovery_secs"].as_f64().unwrap() > 0.0);
    let alerted: Vec<&str> = report["alerted_affected"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(alerted.contains(&"checkout"), "{report:#}");

    // Blast radius: checkout calls payment; payment calls its database and
    // the payment provider.
    let impact = query_json(&["impact", "payment", "--data-dir", d]);
    let names = |key: &str| -> Vec<String> {
        impact[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["service"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names("dependents").first().map(String::as_str),
        Some("checkout")
    );
    assert!(
        names("dependents").contains(&"frontend".to_owned()),
        "{impact:#}"
    );
    assert!(!names("dependencies").is_empty(), "{impact:#}");
    let shares: f64 = impact["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["depth"] == 1)
        .map(|r| r["share"].as_f64().unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 1e-9, "direct shares sum to {shares}");
    assert!(["low", "medium", "high"].contains(&impact["risk"].as_str().unwrap()));

    // Anomalies since the warmup: payment's error ratio among them.
    let since = START.plus_nanos(600 * Timestamp::SECOND).to_rfc3339();
    let anomalies = query_json(&["anomalies", "--since", &since, "--data-dir", d]);
    assert!(
        anomalies["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["series"] == "service:production/payment" && a["signal"] == "error_ratio"),
        "{anomalies:#}"
    );
    // Releases, as a table by default.
    let out = run(&["query", "releases", "--since", "-2h", "--data-dir", d]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && table.contains("payment@1.5.0"),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Neither --server nor --data-dir: usage error.
    let out = run(&["query", "releases"]);
    assert_eq!(out.status.code(), Some(64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_daemon_answers_which_release_through_server() {
    let dir = tempfile::tempdir().unwrap();
    let files = scenario(dir.path(), 420.0).await;
    let data = dir.path().join("data");
    let source = Source::default()
        .flag("data_dir", data.display().to_string())
        .flag("api.listen", "127.0.0.1:0")
        .flag("ingest.otlp.grpc_listen", "127.0.0.1:0")
        .flag("ingest.otlp.http_listen", "127.0.0.1:0")
        .flag("audit.enabled", false);
    let settings = config::load(&source).unwrap();
    let running = epicenter::app::start(
        settings,
        epicenter::telemetry::new_registry(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let api = format!("http://{}", running.api_addr);
    let otlp = format!("http://{}/v1/traces", running.otlp_http_addr.unwrap());
    post_all(
        &format!("{api}/api/v1/deployments"),
        &lines(files.deployments.as_ref().unwrap()),
        202,
    )
    .await;
    post_all(&otlp, &lines(&files.spans), 200).await;
    settle(&api).await;

    // The attribution alert the daemon sent gives the onset to ask about.
    let alerts: Value = reqwest::get(format!("{api}/api/v1/alerts?type=attribution"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let onset = alerts["alerts"][0]["anomaly"]["onset"]
        .as_str()
        .unwrap_or_else(|| panic!("no attribution alert: {alerts}"))
        .to_owned();
    let at = onset.clone();
    let server = api.clone();
    let answer = tokio::task::spawn_blocking(move || {
        query_json(&[
            "which-release",
            "--server",
            &server,
            "--service",
            "payment",
            "--at",
            &onset,
        ])
    })
    .await
    .unwrap();
    assert_eq!(
        top_suspect(&answer).as_deref(),
        Some("payment@1.5.0"),
        "{answer:#}"
    );

    // The same post-mortem draft through the daemon's API.
    let server = api.clone();
    let reports = dir.path().join("reports");
    tokio::task::spawn_blocking(move || {
        let md = report_blames_payment(&["--server", &server], "payment", &at, &reports);
        assert!(md.contains("| Alerts |"), "drawn from the alerts:\n{md}");
        report_blames_payment(&["--server", &server], "checkout", &at, &reports)
    })
    .await
    .unwrap();

    // The daemon holds the file: offline queries say to use --server.
    let d = data.display().to_string();
    let out = tokio::task::spawn_blocking(move || run(&["query", "releases", "--data-dir", &d]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--server"), "{stderr}");

    // `releases?since=` answers from the history; the plain route is unchanged.
    let since: Value = reqwest::get(format!("{api}/api/v1/releases?since=-1d"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(since["releases"][0]["version"], "1.5.0", "{since}");
    assert_eq!(since["releases"][0]["previous_version"], "1.4.0", "{since}");
    let bad = reqwest::get(format!(
        "{api}/api/v1/which-release?service=payment&at=yesterday"
    ))
    .await
    .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    running.stop();
    running.wait().await.unwrap();
}
