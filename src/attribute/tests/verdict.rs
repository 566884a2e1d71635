//! Release verdicts after the soak window.

use crate::model::{Timestamp, Verdict};

use super::*;

fn judge_with(
    c: &CandidateInput,
    soak: &[SplitWindow],
    blamed: Option<&crate::model::Suspect>,
    incident: Option<(Timestamp, Option<Timestamp>)>,
) -> Option<VerdictOutcome> {
    let input = VerdictInput {
        candidate: &c.candidate,
        soak,
        baseline: c.baseline.as_ref(),
        blamed,
        incident,
        now: at(60 + 601),
    };
    judge(&Settings::default(), &input)
}

#[test]
fn no_verdict_before_the_soak_window_ends() {
    let c = candidate("checkout", "2.0.0", "prod", 60);
    let soak = windows(60, 10, stats(100, 0, 0.1), stats(100, 0, 0.1));
    let input = VerdictInput {
        candidate: &c.candidate,
        soak: &soak,
        baseline: None,
        blamed: None,
        incident: None,
        now: at(60 + 599),
    };
    assert!(judge(&Settings::default(), &input).is_none());
}

#[test]
fn verdicts_follow_the_new_versus_old_comparison() {
    let c = candidate("checkout", "2.0.0", "prod", 60);
    let cases = [
        (stats(100, 0, 0.1), stats(100, 0, 0.1), Verdict::Healthy),
        (stats(100, 3, 0.1), stats(100, 0, 0.1), Verdict::Degraded),
        (stats(100, 0, 0.15), stats(100, 0, 0.1), Verdict::Degraded),
        (stats(100, 20, 0.1), stats(100, 0, 0.1), Verdict::Failing),
        (stats(100, 0, 0.4), stats(100, 0, 0.1), Verdict::Failing),
        (stats(5, 0, 0.1), stats(100, 0, 0.1), Verdict::Inconclusive),
    ];
    for (new, old, expected) in cases {
        let soak = windows(60, 10, new.clone(), old.clone());
        let out = judge_with(&c, &soak, None, None).unwrap();
        assert_eq!(out.verdict, expected, "new {new:?} old {old:?}");
        assert_eq!(out.recommendation.is_some(), expected == Verdict::Failing);
    }
}

#[test]
fn failing_release_recommends_rolling_back_to_the_previous_version_and_measures_mttr() {
    let c = candidate("payment", "1.5.0", "prod", 60);
    let soak = windows(60, 10, stats(100, 30, 0.1), stats(100, 0, 0.1));
    let out = judge_with(&c, &soak, None, Some((at(100), Some(at(400))))).unwrap();
    assert_eq!(out.verdict, Verdict::Failing);
    assert_eq!(
        out.recommendation.as_deref(),
        Some("roll back payment to 1.0.0")
    );
    assert_eq!(out.mttr_secs, Some(300.0));
    assert!(out.evidence.iter().any(|e| e.kind() == "version_split"));
}

#[test]
fn a_blamed_release_fails_even_with_a_clean_soak_and_keeps_the_attribution_evidence() {
    let a = with_origins(
        anomaly("checkout", Signal::ErrorRatio, 120, 0.005, 0.2),
        &[("payment", 0.8)],
    );
    let mut c = candidate("payment", "1.5.0", "prod", 60);
    c.version_split = windows(60, 6, stats(100, 30, 0.1), stats(100, 0, 0.1));
    let attribution = run(&a, &world(), std::slice::from_ref(&c));
    let soak = windows(60, 10, stats(100, 0, 0.1), stats(100, 0, 0.1));
    let out = judge_with(&c, &soak, attribution.suspects.first(), None).unwrap();
    assert_eq!(out.verdict, Verdict::Failing);
    assert!(out.evidence.iter().any(|e| e.kind() == "topological_fit"));
}

#[test]
fn full_rollout_is_judged_against_the_pre_release_baseline() {
    let mut c = candidate("checkout", "2.0.0", "prod", 60);
    c.baseline = Some(stats(5000, 5, 0.1));
    let soak = windows(60, 10, stats(100, 15, 0.1), SeriesStats::default());
    let out = judge_with(&c, &soak, None, None).unwrap();
    assert_eq!(out.verdict, Verdict::Failing);
}
