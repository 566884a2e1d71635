//! Post-mortem reports (issue 4, "Reports"): `epicenter report` end to end
//! on a simulated bad release (the Markdown names it first suspect, the
//! SVGs parse and carry the data), and the charts rendered by headless
//! Chromium (Debian's `chromium`; `scripts/test.sh` installs it and exports
//! `EPICENTER_CHROMIUM`) give a screenshot that is not blank.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use epicenter::model::{AlertAnomaly, Timestamp};
use epicenter::report::{ReleaseMarker, ReportInput, SeriesPoint, ServiceSeries, render};
use epicenter::sim::{DeployFormat, ScenarioSpec, preset, write_scenario};

use crate::support::scenario_run::START;

/// Clean history before the release, seconds (baselines need 600).
const WARMUP_SECS: f64 = 660.0;

fn parse(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not XML: {e}", path.display()));
    text
}

/// `(service, signal) -> points` over every polyline of an SVG.
fn polyline_points(svg: &str, service: &str, signal: &str) -> usize {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| {
            n.has_tag_name("polyline")
                && n.attribute("data-service") == Some(service)
                && n.attribute("data-signal") == Some(signal)
        })
        .map(|n| n.attribute("points").unwrap().split_whitespace().count())
        .sum()
}

fn marker_labels(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.attribute("class") == Some("release-marker"))
        .filter_map(|g| g.children().find(|n| n.has_tag_name("text")))
        .filter_map(|t| t.text().map(str::to_string))
        .collect()
}

#[test]
fn report_on_a_bad_release_names_it_and_charts_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = preset("bad-release", WARMUP_SECS).unwrap();
    p.scenario.duration_secs = Some(WARMUP_SECS + 120.0 + 600.0);
    let spec = ScenarioSpec {
        preset: p,
        seed: 7002,
        rate_rps: 15.0,
        start: START,
        deployments: Some(DeployFormat::CdEventsV05),
        gzip: false,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let files = runtime.block_on(write_scenario(&spec, dir.path())).unwrap();
    let at = START.plus_nanos(((WARMUP_SECS + 180.0) as u64) * Timestamp::SECOND);
    let out = dir.path().join("reports");
    let output = Command::new(env!("CARGO_BIN_EXE_epicenter"))
        .arg("report")
        .args(["--service", "payment", "--at", &at.to_rfc3339()])
        .arg("--spans")
        .arg(&files.spans)
        .arg("--deployments")
        .arg(files.deployments.as_ref().unwrap())
        .arg("--out")
        .arg(&out)
        .args(["--name", "pm"])
        .env_remove("EPICENTER_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "report failed: {stderr}");
    let md = std::fs::read_to_string(out.join("pm.md")).unwrap();
    println!("{md}");
    assert!(
        md.contains("### 1. payment 1.5.0 ("),
        "first suspect:\n{md}"
    );
    assert!(
        md.contains("| Suspected release | payment 1.5.0 (from 1.4.0)"),
        "{md}"
    );
    assert!(md.contains("| What | error ratio of payment rose"), "{md}");
    assert!(md.contains("| Version split |"), "{md}");
    assert!(md.contains("| Timing |"), "{md}");
    assert!(md.contains("release started"), "{md}");
    assert!(
        md.contains("| detection |") && md.contains("| onset |"),
        "{md}"
    );
    assert!(
        md.contains("](pm-error-ratio.svg)") && md.contains("](pm-latency.svg)"),
        "{md}"
    );

    let errors = parse(&out.join("pm-error-ratio.svg"));
    let latency = parse(&out.join("pm-latency.svg"));
    // 30-second points over a period of at least 20 minutes.
    let points = polyline_points(&errors, "payment", "error_ratio");
    assert!(points >= 40, "{points} error-ratio points for payment");
    assert_eq!(polyline_points(&latency, "payment", "latency_p99"), points);
    assert!(
        marker_labels(&errors).iter().any(|l| l == "payment 1.5.0"),
        "{:?}",
        marker_labels(&errors)
    );

    // The same report by alert id.
    let id = md
        .lines()
        .find(|l| l.starts_with("| Alerts |"))
        .and_then(|l| l.split('`').nth(1))
        .unwrap()
        .to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_epicenter"))
        .args(["report", "--incident", &id, "--spans"])
        .arg(&files.spans)
        .arg("--deployments")
        .arg(files.deployments.as_ref().unwrap())
        .arg("--out")
        .arg(&out)
        .args(["--name", "by-id"])
        .env_remove("EPICENTER_CONFIG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let by_id = std::fs::read_to_string(out.join("by-id.md")).unwrap();
    assert!(by_id.contains("### 1. payment 1.5.0 ("), "{by_id}");

    // A reported incident, by the reporter's id.
    let opened = START.plus_nanos(((WARMUP_SECS + 150.0) as u64) * Timestamp::SECOND);
    let incidents = dir.path().join("incidents.jsonl");
    std::fs::write(
        &incidents,
        format!(
            "{{\"id\":\"INC-7\",\"service\":\"payment\",\"started_at\":\"{}\",\"title\":\"Checkout | payments failing\"}}\n",
            opened.to_rfc3339()
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_epicenter"))
        .args(["report", "--incident", "INC-7", "--spans"])
        .arg(&files.spans)
        .arg("--deployments")
        .arg(files.deployments.as_ref().unwrap())
        .arg("--incidents")
        .arg(&incidents)
        .arg("--out")
        .arg(&out)
        .args(["--name", "inc"])
        .env_remove("EPICENTER_CONFIG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let inc = std::fs::read_to_string(out.join("inc.md")).unwrap();
    assert!(
        inc.starts_with("# Post-mortem draft: Checkout \\| payments failing\n"),
        "{inc}"
    );
    assert!(
        inc.contains("| incident opened | incident INC-7: Checkout \\| payments failing |"),
        "{inc}"
    );
    assert!(inc.contains("### 1. payment 1.5.0 ("), "{inc}");
}

#[test]
fn report_rejects_bad_usage() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_epicenter"))
            .arg("report")
            .args(args)
            .env_remove("EPICENTER_CONFIG")
            .output()
            .unwrap()
    };
    let bad_time = run(&[
        "--service",
        "payment",
        "--at",
        "yesterday",
        "--spans",
        "x.jsonl",
    ]);
    assert_eq!(bad_time.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&bad_time.stderr).contains("not an RFC 3339 time"));
    let no_source = run(&["--service", "payment", "--at", "2026-03-02T09:00:00Z"]);
    assert_eq!(no_source.status.code(), Some(2), "clap usage error");
    let no_history = run(&[
        "--service",
        "payment",
        "--at",
        "2026-03-02T09:00:00Z",
        "--data-dir",
        "/nonexistent",
    ]);
    assert_eq!(no_history.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&no_history.stderr).contains("history"),
        "{}",
        String::from_utf8_lossy(&no_history.stderr)
    );
}

/// A small hand-built report: two services, a bad stretch, two markers.
fn sample_input() -> ReportInput {
    let t = |secs: u64| START.plus_nanos(secs * Timestamp::SECOND);
    let series = |service: &str, base: f64, bad: f64| ServiceSeries {
        service: service.into(),
        points: (0..120)
            .map(|i| {
                let hot = (40..80).contains(&i);
                SeriesPoint {
                    at: t(i * 20),
                    requests: 300,
                    error_ratio: if hot { bad } else { base },
                    latency_p50_secs: if hot { 0.08 } else { 0.03 },
                    latency_p99_secs: if hot { 0.7 } else { 0.25 },
                }
            })
            .collect(),
    };
    ReportInput {
        title: "Error ratio of payment rose after payment 1.5.0".into(),
        service: "payment".into(),
        environment: "production".into(),
        at: t(1000),
        from: t(0),
        to: t(2400),
        anomaly: Some(AlertAnomaly {
            service: "payment".into(),
            signal: "error_ratio".into(),
            onset: t(800),
            baseline: 0.005,
            observed: 0.25,
            origins: vec![],
            series: "service:production/payment".into(),
            significance: 10.0,
            requests: 3000,
            recovered_at: Some(t(1600)),
        }),
        series: vec![
            series("payment", 0.005, 0.25),
            series("checkout", 0.002, 0.15),
        ],
        markers: vec![
            ReleaseMarker {
                at: t(780),
                label: "payment 1.5.0".into(),
            },
            ReleaseMarker {
                at: t(1560),
                label: "rollback payment → 1.4.0".into(),
            },
        ],
        source: "a hand-built input".into(),
        ..ReportInput::default()
    }
}

/// The Chromium binary: `EPICENTER_CHROMIUM`, else `chromium` on the PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("EPICENTER_CHROMIUM") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "EPICENTER_CHROMIUM={} does not exist",
            path.display()
        );
        return Some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
}

/// Screenshots `svg` with headless Chromium, bounded to two minutes.
fn screenshot(chromium: &Path, svg: &Path, png: &Path, profile: &Path) -> Vec<u8> {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--hide-scrollbars",
            "--disable-dev-shm-usage",
            "--window-size=900,500",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", svg.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            waited < Duration::from_secs(120),
            "chromium did not finish in 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
        waited += Duration::from_millis(100);
    };
    assert!(status.success(), "chromium exited with {status}");
    std::fs::read(png).unwrap_or_else(|e| panic!("no screenshot {}: {e}", png.display()))
}

struct Pixels {
    width: u32,
    height: u32,
    non_white: usize,
    distinct: usize,
    rgb: Vec<[u8; 3]>,
}

fn decode(png_bytes: &[u8]) -> Pixels {
    let decoder = png::Decoder::new(png_bytes);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let rgb: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|px| match channels {
            1 | 2 => [px[0]; 3],
            _ => [px[0], px[1], px[2]],
        })
        .collect();
    let non_white = rgb.iter().filter(|p| p.iter().any(|c| *c < 245)).count();
    let distinct = rgb.iter().collect::<std::collections::BTreeSet<_>>().len();
    Pixels {
        width: info.width,
        height: info.height,
        non_white,
        distinct,
        rgb,
    }
}

fn has_color_near(pixels: &Pixels, hex: &str) -> bool {
    let want: Vec<i32> = (0..3)
        .map(|i| i32::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap())
        .collect();
    pixels.rgb.iter().any(|p| {
        p.iter()
            .zip(&want)
            .all(|(c, w)| (i32::from(*c) - w).abs() <= 24)
    })
}

#[test]
fn charts_render_in_headless_chromium_and_are_not_blank() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no chromium under CI=true: scripts/test.sh installs it"
        );
        println!(
            "skipping: no chromium (set EPICENTER_CHROMIUM or install Debian's chromium; \
             scripts/test.sh does)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = render(&sample_input(), "shot");
    let written = report.write(dir.path()).unwrap();
    let mut empty = sample_input();
    empty.series.clear();
    let empty_report = render(&empty, "empty");
    empty_report.write(dir.path()).unwrap();

    for svg in written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
    {
        let png = svg.with_extension("png");
        let bytes = screenshot(&chromium, svg, &png, &dir.path().join("profile"));
        let pixels = decode(&bytes);
        let name = svg.file_name().unwrap().to_string_lossy();
        println!(
            "{name}: {}x{} screenshot, {} non-white pixels, {} distinct colours",
            pixels.width, pixels.height, pixels.non_white, pixels.distinct
        );
        assert!(pixels.width >= 880 && pixels.height >= 400, "{name}");
        let total = (pixels.width * pixels.height) as usize;
        assert!(
            pixels.non_white * 100 >= total,
            "{name}: only {} of {total} pixels are not white",
            pixels.non_white
        );
        assert!(pixels.distinct >= 8, "{name}: {} colours", pixels.distinct);
        // Both services' lines were drawn in their colours.
        assert!(
            has_color_near(&pixels, "#1f77b4"),
            "{name}: no payment line"
        );
        assert!(
            has_color_near(&pixels, "#d62728"),
            "{name}: no checkout line"
        );
    }
    // The empty chart is drawn too (axes, the no-data text) but has no lines.
    let svg = dir.path().join("empty-error-ratio.svg");
    let bytes = screenshot(
        &chromium,
        &svg,
        &dir.path().join("empty.png"),
        &dir.path().join("profile"),
    );
    let pixels = decode(&bytes);
    assert!(pixels.non_white > 500, "{} non-white", pixels.non_white);
    assert!(!has_color_near(&pixels, "#1f77b4"));
}
