use super::*;
use crate::model::{ALERT_SCHEMA, ReleaseRef, Severity, Suspect, VerdictInfo};
use crate::sim::preset;

const START: Timestamp = Timestamp::from_secs(1_800_000_000);

fn rel(service: &str, version: &str) -> ReleaseRef {
    ReleaseRef {
        service: service.into(),
        version: version.into(),
        environment: "production".into(),
        deployment_id: None,
        previous_version: None,
        started_at: None,
    }
}

fn alert(kind: AlertType, at_secs: u64, suspects: &[(&str, &str)]) -> Alert {
    Alert {
        schema: ALERT_SCHEMA.into(),
        kind,
        id: format!("{}-{at_secs}", kind.as_str()),
        detected_at: START.plus_nanos(at_secs * Timestamp::SECOND),
        environment: "production".into(),
        anomaly: None,
        affected: Vec::new(),
        suspects: suspects
            .iter()
            .map(|(s, v)| Suspect {
                release: rel(s, v),
                confidence: 0.9,
                evidence: Vec::new(),
            })
            .collect(),
        recommendation: None,
        summary: String::new(),
        severity: Severity::Critical,
        resolves: None,
        verdict: None,
        owners: Vec::new(),
        incident: None,
        topology: None,
    }
}

#[test]
fn exposure_is_the_first_rollout_step_of_the_version() {
    let p = preset("two-bad-releases", 900.0).unwrap();
    let key = AnswerKey::from_preset(&p, START);
    let secs: Vec<u64> = key
        .bad
        .iter()
        .map(|k| (k.exposure.unwrap().nanos() - START.nanos()) / Timestamp::SECOND)
        .collect();
    assert_eq!(secs, vec![900, 1500]);
    let p = preset("external-outage", 600.0).unwrap();
    let key = AnswerKey::from_preset(&p, START);
    assert!(key.bad.is_empty());
    assert_eq!(key.innocent.len(), 2);
    assert_eq!(
        key.innocent[1].exposure,
        Some(START.plus_nanos(660 * Timestamp::SECOND))
    );
}

#[test]
fn first_suspect_within_limits_passes_and_an_innocent_blame_fails() {
    let p = preset("bad-release", 900.0).unwrap();
    let key = AnswerKey::from_preset(&p, START);
    let alerts = vec![
        alert(AlertType::Anomaly, 950, &[]),
        // Named second first: not found yet.
        alert(
            AlertType::Attribution,
            960,
            &[("cart", "9.9.9"), ("payment", "1.5.0")],
        ),
        alert(AlertType::Attribution, 990, &[("payment", "1.5.0")]),
        alert(AlertType::Attribution, 995, &[("payment", "1.5.0")]),
    ];
    let s = score(&key, &alerts);
    assert_eq!(s.bad[0].delay_secs, Some(90.0));
    assert_eq!(s.bad[0].best_rank, Some(1));
    assert_eq!(s.bad[0].alert_id.as_deref(), Some("attribution-990"));
    assert_eq!((s.anomalies, s.attributions), (1, 3));
    // cart 9.9.9 is not in the key, and it was first once: a false blame.
    assert_eq!(s.false_blames.len(), 1);
    assert!(!s.false_blames[0].listed_innocent);
    let failures = check(std::slice::from_ref(&s), &Criteria::default());
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("cart 9.9.9"), "{failures:?}");

    let clean = score(&key, &alerts[2..]);
    assert!(check(&[clean], &Criteria::default()).is_empty());
}

#[test]
fn misses_late_finds_and_slow_medians_are_reported() {
    let p = preset("bad-release", 900.0).unwrap();
    let key = AnswerKey::from_preset(&p, START);
    let missed = score(&key, &[alert(AlertType::Anomaly, 1000, &[])]);
    let late = score(
        &key,
        &[alert(
            AlertType::Attribution,
            900 + 301,
            &[("payment", "1.5.0")],
        )],
    );
    let slow = score(
        &key,
        &[alert(
            AlertType::Attribution,
            900 + 150,
            &[("payment", "1.5.0")],
        )],
    );
    let f = check(std::slice::from_ref(&missed), &Criteria::default());
    assert!(f[0].contains("never the first suspect"), "{f:?}");
    assert!(f.last().unwrap().contains("infinite"), "{f:?}");
    let f = check(std::slice::from_ref(&late), &Criteria::default());
    assert!(f[0].contains("after 301 s"), "{f:?}");
    let f = check(&[slow.clone(), slow.clone(), late], &Criteria::default());
    assert!(
        f.iter().any(|m| m.starts_with("median delay 150 s")),
        "{f:?}"
    );
    assert_eq!(
        median_delay_secs(&[slow.clone(), missed]),
        Some(f64::INFINITY)
    );
    let table = render_table(&[slow]);
    assert!(table.contains("payment 1.5.0 (production)") && table.contains("150s"));
}

#[test]
fn verdicts_and_listed_innocents_are_recorded() {
    let p = preset("rollout", 900.0).unwrap();
    let key = AnswerKey::from_preset(&p, START);
    let mut verdict = alert(AlertType::ReleaseVerdict, 2000, &[]);
    verdict.verdict = Some(VerdictInfo {
        release: rel("checkout", "1.4.1"),
        verdict: Verdict::Healthy,
        soak_secs: 900,
        evidence: Vec::new(),
        mttr_secs: None,
    });
    let s = score(
        &key,
        &[
            verdict,
            alert(AlertType::Attribution, 1000, &[("checkout", "1.4.1")]),
        ],
    );
    assert_eq!(
        s.verdicts,
        vec![(
            ReleaseId::from_tuple(&p.innocent_releases[0]),
            Verdict::Healthy
        )]
    );
    assert!(s.false_blames[0].listed_innocent);
    assert!(render_table(&[s]).contains("innocent"));
}

#[test]
fn alert_lines_parse_and_bad_lines_are_located() {
    let a = alert(AlertType::Attribution, 5, &[("payment", "1.5.0")]);
    let text = format!("{}\n\n{}\n", serde_json::to_string(&a).unwrap(), "{nope");
    let err = parse_alerts(&text).unwrap_err();
    assert_eq!(err.line, 3);
    let ok = parse_alerts(&format!("{}\n", serde_json::to_string(&a).unwrap())).unwrap();
    assert_eq!(ok, vec![a]);
    assert!(parse_alerts("").unwrap().is_empty());
}

#[test]
fn generated_presets_release_a_busy_api_service_after_an_innocent_one() {
    for name in crate::sim::GENERATED_PRESET_NAMES {
        let p = crate::sim::generated_preset(name, 60, 3, 900.0).unwrap();
        let key = AnswerKey::from_preset(&p, START);
        let bad = key.bad[0].exposure.unwrap().nanos() - START.nanos();
        let innocent = key.innocent[0].exposure.unwrap().nanos() - START.nanos();
        assert_eq!(
            (innocent, bad),
            (900 * Timestamp::SECOND, 990 * Timestamp::SECOND)
        );
        assert_ne!(key.bad[0].release.service, key.innocent[0].release.service);
        assert!(p.topology.service(&key.bad[0].release.service).is_some());
        crate::sim::Simulator::new(p.topology, p.scenario, 1, START, 1.0).unwrap();
    }
    assert!(crate::sim::generated_preset("nope", 60, 3, 900.0).is_none());
}
