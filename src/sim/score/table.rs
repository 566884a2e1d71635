//! A plain-text table of scenario scores: one row per bad release (one row
//! for a scenario without any), then every false blame, then the median.
//!
//! Never does: I/O.

use super::{ScenarioScore, median_delay_secs};

const HEADER: [&str; 11] = [
    "scenario",
    "seed",
    "deploys",
    "spans",
    "replay",
    "bad release",
    "first suspect",
    "delay",
    "false blames",
    "anom/attr/res",
    "verdicts",
];

fn row(s: &ScenarioScore) -> Vec<Vec<String>> {
    let run = s.run.clone().unwrap_or_default();
    let common = |first: bool| -> Vec<String> {
        if first {
            vec![
                s.scenario.clone(),
                run.seed.to_string(),
                run.deployments.clone(),
                run.spans.to_string(),
                format!("{:.1}s", run.replay_secs),
            ]
        } else {
            vec![String::new(); 5]
        }
    };
    let tail = |first: bool| -> Vec<String> {
        if !first {
            return vec![String::new(); 3];
        }
        let verdicts = s
            .verdicts
            .iter()
            .map(|(r, v)| format!("{}@{}:{}", r.service, r.version, v.as_str()))
            .collect::<Vec<_>>()
            .join(" ");
        vec![
            s.false_blames.len().to_string(),
            format!("{}/{}/{}", s.anomalies, s.attributions, s.resolved),
            if verdicts.is_empty() {
                "-".to_owned()
            } else {
                verdicts
            },
        ]
    };
    if s.bad.is_empty() {
        let mut r = common(true);
        r.extend(["(none)".to_owned(), "-".to_owned(), "-".to_owned()]);
        r.extend(tail(true));
        return vec![r];
    }
    s.bad
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut r = common(i == 0);
            let found = match (b.delay_secs, b.best_rank) {
                (Some(_), _) => "yes".to_owned(),
                (None, Some(rank)) => format!("no (rank {rank})"),
                (None, None) => "no".to_owned(),
            };
            r.push(b.release.to_string());
            r.push(found);
            r.push(b.delay_secs.map_or("-".to_owned(), |d| format!("{d:.0}s")));
            r.extend(tail(i == 0));
            r
        })
        .collect()
}

/// Renders `scores` as an aligned text table (see the module doc).
pub fn render_table(scores: &[ScenarioScore]) -> String {
    let mut rows: Vec<Vec<String>> = vec![HEADER.iter().map(|h| (*h).to_owned()).collect()];
    for s in scores {
        rows.extend(row(s));
    }
    let mut widths = vec![0usize; HEADER.len()];
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (n, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        line(&mut out, cells.join("  ").trim_end());
        if n == 0 {
            let rule = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            line(&mut out, &"-".repeat(rule));
        }
    }
    for s in scores {
        for f in &s.false_blames {
            line(
                &mut out,
                &format!(
                    "false blame in {}: {} ({}) first suspect for {} at {} [{}]",
                    s.scenario,
                    f.release,
                    if f.listed_innocent {
                        "innocent"
                    } else {
                        "not in the key"
                    },
                    f.anomaly_service,
                    f.detected_at,
                    f.alert_id
                ),
            );
        }
    }
    let bad: usize = scores.iter().map(|s| s.bad.len()).sum();
    let found: usize = scores
        .iter()
        .flat_map(|s| &s.bad)
        .filter(|b| b.delay_secs.is_some())
        .count();
    let blames: usize = scores.iter().map(|s| s.false_blames.len()).sum();
    let median = match median_delay_secs(scores) {
        Some(m) if m.is_finite() => format!("{m:.0}s"),
        Some(_) => "inf (more than half missed)".to_owned(),
        None => "-".to_owned(),
    };
    line(
        &mut out,
        &format!(
            "bad releases found first: {found}/{bad}; median delay {median}; false blames {blames}"
        ),
    );
    out
}

fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}
