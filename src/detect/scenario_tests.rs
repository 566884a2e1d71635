//! End-to-end tests of [`Detect`] on synthetic windows from a seeded PRNG.

use std::sync::Arc;

use super::origins::tests::chain;
use super::*;
use crate::model::{
    ConnectionType, GraphSnapshot, LatencySummary, SeriesKey, Timestamp, WindowStats,
};

const WINDOW_SECS: u64 = 30;
const T0: u64 = 1_700_000_000;

/// SplitMix64: tiny, seeded, good enough for test noise.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 50.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let limit = (-lambda).exp();
        let (mut k, mut p) = (0, self.uniform());
        while p > limit {
            k += 1;
            p *= self.uniform();
        }
        k
    }
}

/// How a synthetic series behaves in one window.
#[derive(Clone, Copy, Debug)]
struct Profile {
    /// Requests per second.
    rate: f64,
    /// Error ratio.
    error_ratio: f64,
    /// Median latency, seconds.
    p50: f64,
}

impl Profile {
    fn sample(&self, rng: &mut Rng, window_secs: u64) -> SeriesStats {
        // Lognormal wobble of rate and error ratio: real series are over-dispersed.
        let wobble = (0.1 * rng.normal()).exp();
        let requests = rng.poisson(self.rate * window_secs as f64 * wobble);
        let ratio = (self.error_ratio * (0.3 * rng.normal()).exp()).min(1.0);
        let expected_errors = requests as f64 * ratio;
        let errors = rng.poisson(expected_errors).min(requests);
        let p50 = self.p50 * (0.05 * rng.normal()).exp();
        let p95 = p50 * 3.0 * (0.08 * rng.normal()).exp();
        let p99 = p95 * 2.0 * (0.12 * rng.normal()).exp();
        SeriesStats {
            requests,
            errors,
            latency: LatencySummary {
                count: requests,
                sum: p50 * requests as f64,
                p50,
                p95,
                p99,
                max: p99,
            },
            instances: 1,
        }
    }
}

fn service(name: &str) -> SeriesKey {
    SeriesKey::Service {
        environment: Arc::from("prod"),
        service: Arc::from(name),
    }
}

fn edge(client: &str, server: &str, connection_type: ConnectionType) -> SeriesKey {
    SeriesKey::Edge {
        environment: Arc::from("prod"),
        client: Arc::from(client),
        server: Arc::from(server),
        connection_type,
    }
}

fn window_at(i: u64, secs: u64, mut series: Vec<(SeriesKey, SeriesStats)>) -> WindowStats {
    series.sort_by(|a, b| a.0.cmp(&b.0));
    WindowStats {
        start: Timestamp::from_secs(T0 + i * secs),
        end: Timestamp::from_secs(T0 + (i + 1) * secs),
        series,
    }
}

fn start_of(i: u64) -> Timestamp {
    Timestamp::from_secs(T0 + i * WINDOW_SECS)
}

/// Runs `windows` windows of [`WINDOW_SECS`]; `profile(i, key_index)` gives
/// each series' behaviour (None = absent). Returns every outcome.
fn run(
    keys: &[SeriesKey],
    windows: u64,
    seed: u64,
    graph: &GraphSnapshot,
    detect: &mut Detect,
    profile: impl Fn(u64, usize) -> Option<Profile>,
) -> Vec<DetectOutcome> {
    run_windows(keys, WINDOW_SECS, windows, seed, graph, detect, profile)
}

fn run_windows(
    keys: &[SeriesKey],
    window_secs: u64,
    windows: u64,
    seed: u64,
    graph: &GraphSnapshot,
    detect: &mut Detect,
    profile: impl Fn(u64, usize) -> Option<Profile>,
) -> Vec<DetectOutcome> {
    let mut rng = Rng(seed);
    (0..windows)
        .map(|i| {
            let series = keys
                .iter()
                .enumerate()
                .filter_map(|(k, key)| {
                    Some((key.clone(), profile(i, k)?.sample(&mut rng, window_secs)))
                })
                .collect();
            detect.observe(&window_at(i, window_secs, series), graph)
        })
        .collect()
}

const NORMAL: Profile = Profile {
    rate: 30.0,
    error_ratio: 0.004,
    p50: 0.08,
};

#[test]
fn no_alarm_on_2000_stationary_noisy_series_over_hours() {
    let keys: Vec<SeriesKey> = (0..2000).map(|i| service(&format!("svc-{i:04}"))).collect();
    // Volumes from 0.1 to 300 requests per second, error ratios 0 to 5 %,
    // latencies 1 ms to 2 s: every regime the gates must handle.
    let profiles: Vec<Profile> = (0..2000u64)
        .map(|i| Profile {
            rate: 0.1 * 3000f64.powf((i % 97) as f64 / 96.0),
            error_ratio: [0.0, 0.0005, 0.004, 0.02, 0.05][(i % 5) as usize],
            p50: 0.001 * 2000f64.powf((i % 89) as f64 / 88.0),
        })
        .collect();
    let mut detect = Detect::new(Settings::default());
    // Three hours of one-minute windows (long windows keep the debug-build test short).
    let outcomes = run_windows(
        &keys,
        60,
        180,
        7,
        &GraphSnapshot::default(),
        &mut detect,
        |_, k| Some(profiles[k]),
    );
    let evaluations: u64 = outcomes.iter().map(|o| o.evaluations).sum();
    let hits: u64 = outcomes.iter().map(|o| o.hits).sum();
    let opened: Vec<&Anomaly> = outcomes.iter().flat_map(|o| &o.opened).collect();
    eprintln!(
        "evaluations {evaluations}, single-window hits {hits}, opened {}",
        opened.len()
    );
    assert!(
        evaluations > 1_000_000,
        "the test must actually judge windows: {evaluations}"
    );
    assert!(
        opened.is_empty(),
        "false alarms: {:?}",
        &opened[..opened.len().min(5)]
    );
}

#[test]
fn error_step_opens_with_onset_within_one_window_then_recovers() {
    let keys: Vec<SeriesKey> = (0..50).map(|i| service(&format!("svc-{i}"))).collect();
    let (step, back) = (40, 70);
    let bad = Profile {
        error_ratio: 0.27,
        ..NORMAL
    };
    let mut detect = Detect::new(Settings::default());
    let outcomes = run(
        &keys,
        100,
        11,
        &GraphSnapshot::default(),
        &mut detect,
        |i, k| {
            Some(if k == 3 && (step..back).contains(&i) {
                bad
            } else {
                NORMAL
            })
        },
    );
    let opened: Vec<(u64, &Anomaly)> = (0..)
        .zip(&outcomes)
        .flat_map(|(i, o)| o.opened.iter().map(move |a| (i, a)))
        .collect();
    assert_eq!(opened.len(), 1, "{opened:?}");
    let (at, anomaly) = opened[0];
    assert_eq!(anomaly.series, keys[3]);
    assert_eq!(anomaly.signal, Signal::ErrorRatio);
    assert!(
        at <= step + 2,
        "confirmed {} windows after the step",
        at - step
    );
    assert!(
        anomaly.onset.nanos().abs_diff(start_of(step).nanos()) <= WINDOW_SECS * Timestamp::SECOND
    );
    assert!(
        (anomaly.baseline - 0.004).abs() < 0.002 && anomaly.observed > 0.2,
        "{anomaly:?}"
    );
    assert!(anomaly.significance > 0.99);
    assert_eq!(anomaly.origins[0].node, "svc-3");
    // Same id while open.
    for o in &outcomes[at as usize + 1..back as usize] {
        assert_eq!(o.updated.len(), 1);
        assert_eq!(o.updated[0].id, anomaly.id);
    }
    let recovered: Vec<(u64, &Anomaly)> = (0..)
        .zip(&outcomes)
        .flat_map(|(i, o)| o.recovered.iter().map(move |a| (i, a)))
        .collect();
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    let (when, r) = recovered[0];
    assert_eq!(r.id, anomaly.id);
    assert_eq!(
        when,
        back + u64::from(Settings::default().recovery_windows) - 1
    );
    assert_eq!(r.recovered_at, Some(start_of(back)));
    assert!(detect.open_anomalies().next().is_none());
}

#[test]
fn latency_step_mid_window_has_onset_within_one_window() {
    let keys: Vec<SeriesKey> = (0..20).map(|i| service(&format!("svc-{i}"))).collect();
    let step = 45;
    let mut detect = Detect::new(Settings::default());
    let outcomes = run(
        &keys,
        60,
        5,
        &GraphSnapshot::default(),
        &mut detect,
        |i, k| {
            Some(match (k, i) {
                // The step lands half-way through window `step`: half the effect there.
                (0, i) if i == step => Profile {
                    p50: NORMAL.p50 * 1.5,
                    ..NORMAL
                },
                (0, i) if i > step => Profile {
                    p50: NORMAL.p50 * 2.0,
                    ..NORMAL
                },
                _ => NORMAL,
            })
        },
    );
    let opened: Vec<&Anomaly> = outcomes.iter().flat_map(|o| &o.opened).collect();
    let p50 = opened
        .iter()
        .find(|a| a.signal == Signal::LatencyP50)
        .expect("p50 anomaly");
    assert_eq!(p50.series, keys[0]);
    let true_onset = start_of(step).nanos() + WINDOW_SECS * Timestamp::SECOND / 2;
    assert!(
        p50.onset.nanos().abs_diff(true_onset) <= WINDOW_SECS * Timestamp::SECOND,
        "{p50:?}"
    );
    assert!(opened.iter().all(|a| a.series == keys[0]), "{opened:?}");
}

#[test]
fn a_vanished_series_is_a_throughput_drop() {
    let keys: Vec<SeriesKey> = (0..10).map(|i| service(&format!("svc-{i}"))).collect();
    let mut detect = Detect::new(Settings::default());
    let outcomes = run(
        &keys,
        50,
        3,
        &GraphSnapshot::default(),
        &mut detect,
        |i, k| (k != 2 || i < 40).then_some(NORMAL),
    );
    let opened: Vec<&Anomaly> = outcomes.iter().flat_map(|o| &o.opened).collect();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(
        (opened[0].signal, opened[0].observed),
        (Signal::Throughput, 0.0)
    );
    assert_eq!(opened[0].onset, start_of(40));
}

#[test]
fn tiny_series_never_alarm_even_when_mostly_failing() {
    let keys = vec![service("tiny")];
    let mut detect = Detect::new(Settings::default());
    // 9 requests a window (0.3 rps), then 3 errors in 9 requests for 20 minutes.
    let outcomes = run(
        &keys,
        80,
        9,
        &GraphSnapshot::default(),
        &mut detect,
        |i, _| {
            Some(Profile {
                rate: 0.3,
                error_ratio: if i < 40 { 0.004 } else { 0.33 },
                p50: 0.05,
            })
        },
    );
    assert!(outcomes.iter().all(|o| o.opened.is_empty()));
}

/// Chain frontend → checkout → payment → postgres (plus a healthy cart).
fn chain_keys() -> Vec<SeriesKey> {
    vec![
        service("frontend"),
        service("checkout"),
        service("payment"),
        service("cart"),
        edge("frontend", "checkout", ConnectionType::Direct),
        edge("checkout", "payment", ConnectionType::Direct),
        edge("checkout", "cart", ConnectionType::Direct),
        edge("payment", "postgres", ConnectionType::Database),
    ]
}

fn chain_run(failing: &[usize]) -> Vec<DetectOutcome> {
    let keys = chain_keys();
    let mut detect = Detect::new(Settings::default());
    let bad = Profile {
        error_ratio: 0.2,
        ..NORMAL
    };
    let failing = failing.to_vec();
    run(&keys, 60, 21, &chain(), &mut detect, move |i, k| {
        Some(if i >= 40 && failing.contains(&k) {
            bad
        } else {
            NORMAL
        })
    })
}

#[test]
fn origin_is_payment_when_payment_and_its_callers_fail() {
    // payment, checkout, frontend and the edges into them; postgres is fine.
    let outcomes = chain_run(&[0, 1, 2, 4, 5]);
    let open: Vec<&Anomaly> = outcomes.iter().flat_map(|o| &o.opened).collect();
    assert!(open.len() >= 5, "{open:?}");
    let frontend = outcomes
        .last()
        .unwrap()
        .updated
        .iter()
        .find(|a| a.series == service("frontend"));
    let frontend = frontend.expect("frontend anomaly still open");
    assert_eq!(
        frontend.origins[0].node, "payment",
        "{:?}",
        frontend.origins
    );
    assert!(frontend.origins[0].score > 0.5);
    for a in &outcomes.last().unwrap().updated {
        assert_eq!(a.origins[0].node, "payment", "{a:?}");
    }
}

#[test]
fn origin_is_postgres_when_its_edge_fails() {
    let outcomes = chain_run(&[0, 1, 2, 4, 5, 7]);
    let last = outcomes.last().unwrap();
    let frontend = last
        .updated
        .iter()
        .find(|a| a.series == service("frontend"))
        .unwrap();
    assert_eq!(
        frontend.origins[0].node, "postgres",
        "{:?}",
        frontend.origins
    );
    let payment = last
        .updated
        .iter()
        .find(|a| a.series == service("payment"))
        .unwrap();
    assert_eq!(payment.origins[0].node, "postgres");
}

#[test]
fn deterministic_ids_and_outcomes_across_runs() {
    let a = chain_run(&[0, 1, 2, 4, 5]);
    let b = chain_run(&[0, 1, 2, 4, 5]);
    assert_eq!(a, b);
}

#[test]
fn series_cap_refuses_and_counts_and_idle_series_are_forgotten() {
    let keys: Vec<SeriesKey> = (0..10).map(|i| service(&format!("svc-{i}"))).collect();
    let settings = Settings {
        max_series: 6,
        series_idle_secs: 300,
        ..Settings::default()
    };
    let mut detect = Detect::new(settings);
    let outcomes = run(
        &keys,
        30,
        1,
        &GraphSnapshot::default(),
        &mut detect,
        |i, k| {
            (k < 8 || i < 1)
                .then_some(NORMAL)
                .filter(|_| i < 5 || k != 0)
        },
    );
    assert_eq!(outcomes[0].series_added, 6);
    assert_eq!(outcomes[0].series_rejected, 4);
    assert_eq!(outcomes[1].series_rejected, 2);
    // svc-0 stops at window 5 and is forgotten 300 s later; then svc-6 gets in.
    let evicted_at = outcomes.iter().position(|o| o.series_evicted == 1).unwrap();
    assert_eq!(evicted_at, 5 + 300 / WINDOW_SECS as usize - 1);
    assert_eq!(outcomes[evicted_at + 1].series_added, 1);
    assert_eq!(detect.series_tracked(), 6);
}
