//! Crash safety with a real broker: the daemon binary consumes a simulated
//! stream with a bad release from Kafka and is `kill -9`ed several times (at
//! seeded points, each after a snapshot of that run was committed) and
//! restarted on the same data directory. At the end the alerts equal
//! `replay`'s over the same input (so the release event was not lost and
//! the verdict is the same), no alert id was written twice, and the saved
//! graph equals an uninterrupted daemon's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use epicenter::app::replay::{ReplayOptions, replay};
use epicenter::config::{self, Source};
use epicenter::graph::{Graph, GraphState};
use epicenter::model::{AlertType, Timestamp};
use epicenter::sim::score::parse_alerts;
use epicenter::sim::{DeployFormat, ScenarioSpec, preset, write_scenario};
use epicenter::store::persist::StateStore;

use crate::live_alerts::{assert_live_matches_replay, lines};
use crate::support::kafka::{self as k, PATIENCE};

const START: Timestamp = Timestamp::from_secs(1_772_442_000);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The daemon's configuration file: Kafka only, one-second snapshots.
fn write_config(dir: &Path, broker: &str, group: &str, spans: &str, deploys: &str) -> PathBuf {
    let path = dir.join("epicenter.yaml");
    let yaml = format!(
        r#"
data_dir: "{data}"
ingest:
  # A short queue: barriers wait behind fewer batches.
  queue_batches: 16
  otlp:
    enabled: false
  kafka:
    brokers: ["{broker}"]
    group_id: "{group}"
    topics:
      - {{ name: "{spans}", encoding: otlp_json }}
      - {{ name: "{deploys}", encoding: cdevents }}
    auto_offset_reset: earliest
    session_timeout_ms: 6000
graph:
  idle_advance_secs: 0
emit:
  file:
    path: "{alerts}"
snapshot:
  interval_secs: 1
"#,
        data = dir.join("data").display(),
        alerts = dir.join("alerts.jsonl").display(),
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Starts the daemon; its log is appended to `run.log` next to `config`.
fn spawn(config: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.with_file_name("run.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_epicenter"))
        .args(["run", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .env("RUST_LOG", "epicenter=debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// The daemon log of a run directory, for failure messages.
fn run_log(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("run.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(400)..].join("\n")
}

fn kill9(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap();
}

async fn committed(broker: &str, group: &str, topic: &str) -> i64 {
    k::committed(broker, group, topic, 1).await[0]
}

/// Waits until the group has committed `total` records of `topic`.
async fn wait_for_all(broker: String, group: String, topic: String, total: i64) {
    // A debug build on a busy machine takes minutes for the whole stream.
    let deadline = tokio::time::Instant::now() + 5 * PATIENCE;
    loop {
        let now = committed(&broker, &group, &topic).await;
        assert!(
            now <= total,
            "committed {now}, more than the {total} records"
        );
        if now == total {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "committed {now} of {total}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The graph saved in `data_dir`, as a snapshot.
fn saved_graph(settings: &config::Settings, data_dir: &Path) -> epicenter::model::GraphSnapshot {
    let store = StateStore::open(data_dir).unwrap();
    let bytes = store.get("graph").unwrap().expect("a saved graph");
    let state = GraphState::decode(&bytes).unwrap();
    Graph::restore(&settings.graph, state).unwrap().snapshot()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_consumption_loses_nothing_and_repeats_no_alert() {
    let Some(broker) = k::broker("crash_kill_9") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut p = preset("bad-release", 660.0).unwrap();
    p.scenario.duration_secs = Some(660.0 + 120.0 + 720.0);
    let spec = ScenarioSpec {
        preset: p,
        seed: 9009,
        rate_rps: 6.0,
        start: START,
        deployments: Some(DeployFormat::CdEventsV05),
        gzip: false,
    };
    let files = write_scenario(&spec, dir.path()).await.unwrap();
    let deployments = files.deployments.clone().unwrap();
    let (spans_topic, deploy_topic) = (k::unique("crash_spans"), k::unique("crash_deploys"));
    k::create_topics(&broker, &[&spans_topic, &deploy_topic], 1).await;
    let producer = k::producer(&broker);
    for line in lines(&deployments) {
        k::produce(&producer, &deploy_topic, None, line.as_bytes(), &[]).await;
    }
    let spans = lines(&files.spans);
    for line in &spans {
        k::produce(&producer, &spans_topic, None, line.as_bytes(), &[]).await;
    }
    let total = spans.len() as i64;

    // Uninterrupted, for the graph.
    let calm_dir = dir.path().join("calm");
    std::fs::create_dir_all(&calm_dir).unwrap();
    let calm_group = k::unique("calm");
    let calm_config = write_config(&calm_dir, &broker, &calm_group, &spans_topic, &deploy_topic);
    let calm = spawn(&calm_config);

    // Killed again and again.
    let crash_dir = dir.path().join("crash");
    std::fs::create_dir_all(&crash_dir).unwrap();
    let group = k::unique("crash");
    let crash_config = write_config(&crash_dir, &broker, &group, &spans_topic, &deploy_topic);
    let mut seed: u64 = 0x5eed_cafe;
    let mut kills = 0;
    while kills < 4 {
        let before = committed(&broker, &group, &spans_topic).await;
        let mut child = spawn(&crash_config);
        // Wait until this run made a snapshot durable (its commit moved),
        // or everything was read, then a seeded extra delay.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let now = committed(&broker, &group, &spans_topic).await;
            if now > before || now == total {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no progress");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        tokio::time::sleep(Duration::from_millis((seed >> 33) % 1200)).await;
        kill9(&mut child);
        kills += 1;
    }
    let last = spawn(&crash_config);
    let (crash_done, calm_done) = (
        wait_for_all(broker.clone(), group.clone(), spans_topic.clone(), total),
        wait_for_all(
            broker.clone(),
            calm_group.clone(),
            spans_topic.clone(),
            total,
        ),
    );
    let logs = (crash_dir.clone(), calm_dir.clone());
    let waited = tokio::spawn(async move {
        crash_done.await;
        calm_done.await;
    })
    .await;
    if let Err(error) = waited {
        panic!(
            "{error}\ncrashed run:\n{}\nuninterrupted run:\n{}",
            run_log(&logs.0),
            run_log(&logs.1)
        );
    }
    // Everything is committed, so the last durable snapshot covers the
    // whole stream: one more kill -9 loses nothing. (A clean stop is
    // tested elsewhere; a busy machine can exceed its grace period.)
    let (mut last, mut calm) = (last, calm);
    kill9(&mut last);
    kill9(&mut calm);

    let source = Source {
        file: Some((
            crash_config.clone(),
            std::fs::read_to_string(&crash_config).unwrap(),
        )),
        ..Source::default()
    };
    let settings = config::load(&source).unwrap();
    // The graph: equal to the uninterrupted run's.
    assert_eq!(
        saved_graph(&settings, &crash_dir.join("data")),
        saved_graph(&settings, &calm_dir.join("data")),
        "the graph differs from an uninterrupted run's"
    );

    // The alerts: replay's, none written twice.
    let live =
        parse_alerts(&std::fs::read_to_string(crash_dir.join("alerts.jsonl")).unwrap()).unwrap();
    let replay_alerts = dir.path().join("replay.alerts.jsonl");
    replay(
        &settings,
        &ReplayOptions {
            spans: vec![files.spans.clone()],
            deployments: vec![deployments],
            incidents: Vec::new(),
            alerts: replay_alerts.clone(),
            graph: None,
            progress: false,
        },
    )
    .unwrap();
    let replayed = parse_alerts(&std::fs::read_to_string(&replay_alerts).unwrap()).unwrap();
    let end = START
        .plus_nanos((spec.preset.scenario.duration_secs.unwrap() as u64 - 60) * Timestamp::SECOND);
    let keys = assert_live_matches_replay(&live, &replayed, end);
    let mut ids: Vec<&str> = live.iter().map(|a| a.id.as_str()).collect();
    ids.sort_unstable();
    let before_dedup = ids.len();
    ids.dedup();
    if ids.len() != before_dedup {
        let repeated: Vec<String> = live
            .iter()
            .filter(|a| live.iter().filter(|b| b.id == a.id).count() > 1)
            .map(|a| serde_json::to_string(a).unwrap())
            .collect();
        panic!(
            "an alert id was repeated: {keys:#?}\nthe alerts:\n{}\n{}",
            repeated.join("\n"),
            run_log(&crash_dir)
        );
    }
    // The release event was applied: the bad release is attributed and judged.
    assert!(
        live.iter().any(|a| a.kind == AlertType::Attribution
            && a.suspects
                .first()
                .is_some_and(|s| &*s.release.service == "payment")),
        "no attribution to the payment release: {keys:#?}"
    );
    assert!(
        live.iter().any(|a| a.kind == AlertType::ReleaseVerdict),
        "no verdict: {keys:#?}"
    );
}
