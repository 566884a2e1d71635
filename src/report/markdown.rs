//! The Markdown post-mortem draft: summary, timeline, suspects with their
//! evidence, blast radius, owners, charts, what the data cannot tell, and
//! the sections a person has to write (root cause, action items).
//!
//! Every piece of input text is escaped; the output depends only on the
//! input (no clock, no hash-map order).

use std::fmt::Write as _;

use crate::model::{EvidenceDetail, Suspect};

use super::evidence;
use super::input::{EventKind, ReportInput, TimelineEvent};
use super::text::{count, date, duration, hhmm, hhmmss, md, percent, secs_between, signal_value};

/// Windows with fewer requests than this make ratios noisy.
pub const LOW_TRAFFIC_REQUESTS: u64 = 20;

/// The whole document; `charts` are (alt text, relative file name).
pub(crate) fn render(input: &ReportInput, charts: &[(String, String)]) -> String {
    let mut s = String::with_capacity(8192);
    let _ignored = writeln!(s, "# Post-mortem draft: {}\n", md(&input.title));
    let _ignored = writeln!(
        s,
        "> Draft written by Epicenter from {} for **{}**{} around {} (UTC). \
         Times are event time, UTC. Check every section, then edit: the sections \
         in italics are for people to write.\n",
        md(if input.source.is_empty() {
            "its data"
        } else {
            &input.source
        }),
        md(&input.service),
        env_suffix(&input.environment),
        input.at.to_rfc3339()
    );
    summary(&mut s, input);
    timeline(&mut s, input);
    suspects(&mut s, input);
    blast_radius(&mut s, input);
    owners(&mut s, input);
    s.push_str("## Charts\n\n");
    if input.markers.is_empty() {
        s.push_str("No release falls in the charted period.\n\n");
    } else {
        s.push_str("Dashed vertical lines mark releases and rollbacks; the shaded band is the anomaly.\n\n");
    }
    for (alt, file) in charts {
        let _ignored = writeln!(s, "![{}]({file})\n", md(alt));
    }
    unknowns(&mut s, input);
    s.push_str(
        "## Root cause\n\n_To be written: what in the change caused the failure, and why \
         it was not caught before release._\n\n\
         ## Contributing factors\n\n_To be written._\n\n\
         ## Action items\n\n\
         | Action | Owner | Due | Ticket |\n|---|---|---|---|\n| _to be written_ | | | |\n\n\
         ## Lessons learned\n\n_To be written._\n",
    );
    s
}

fn env_suffix(environment: &str) -> String {
    if environment.is_empty() {
        String::new()
    } else {
        format!(" in {}", md(environment))
    }
}

fn release_name(suspect: &Suspect) -> String {
    format!("{} {}", suspect.release.service, suspect.release.version)
}

fn summary(s: &mut String, input: &ReportInput) {
    s.push_str("## Summary\n\n| | |\n|---|---|\n");
    match &input.anomaly {
        Some(a) => {
            let signal = a.signal.replace('_', " ");
            let _ignored = writeln!(
                s,
                "| What | {} of {} rose from {} to {} ({} requests behind the observed value) |",
                md(&signal),
                md(&a.service),
                md(&signal_value(&a.signal, a.baseline)),
                md(&signal_value(&a.signal, a.observed)),
                count(a.requests)
            );
            let detected = first(input, EventKind::Detection);
            let mut when = format!("onset {} {} UTC", date(a.onset), hhmmss(a.onset));
            if let Some(d) = detected {
                let _ignored = write!(
                    when,
                    ", detected {} ({} after onset)",
                    hhmmss(d.at),
                    duration(secs_between(a.onset, d.at))
                );
            }
            match a.recovered_at {
                Some(r) => {
                    let _ignored = write!(
                        when,
                        ", recovered {} (lasted {})",
                        hhmmss(r),
                        duration(secs_between(a.onset, r))
                    );
                }
                None => {
                    let _ignored = write!(
                        when,
                        ", not recovered by the end of the data ({} UTC)",
                        hhmm(input.to)
                    );
                }
            }
            let _ignored = writeln!(s, "| When | {when} |");
        }
        None => {
            let _ignored = writeln!(
                s,
                "| What | no anomaly of {} was detected around {} UTC |",
                md(&input.service),
                hhmmss(input.at)
            );
        }
    }
    let _ignored = writeln!(
        s,
        "| Where | {}{} |",
        md(&input.service),
        if input.environment.is_empty() {
            String::new()
        } else {
            format!(" ({})", md(&input.environment))
        }
    );
    match input.suspects.first() {
        Some(top) => {
            let r = &top.release;
            let mut text = md(&release_name(top));
            if let Some(prev) = &r.previous_version {
                let _ignored = write!(text, " (from {})", md(prev));
            }
            if let Some(at) = r.started_at {
                let _ignored = write!(text, ", started {} UTC", hhmmss(at));
            }
            match &r.deployment_id {
                Some(id) => {
                    let _ignored = write!(text, ", deployment `{}`", id.replace('`', "'"));
                }
                None => text.push_str(", no deployment event (found in spans)"),
            }
            let _ignored = writeln!(s, "| Suspected release | {text} |");
            let _ignored = writeln!(s, "| Confidence | {} |", percent(top.confidence));
        }
        None => s.push_str("| Suspected release | none: no release explains it |\n"),
    }
    if let Some(v) = &input.verdict {
        let mut text = format!(
            "{} {}: {} after a {} soak",
            md(&v.release.service),
            md(&v.release.version),
            v.verdict.as_str(),
            duration(v.soak_secs as f64)
        );
        if let Some(mttr) = v.mttr_secs {
            let _ignored = write!(text, ", time to recovery {}", duration(mttr));
        }
        let _ignored = writeln!(s, "| Verdict | {text} |");
    }
    if let Some(r) = &input.recommendation {
        let _ignored = writeln!(s, "| Recommendation | {} |", md(r));
    }
    if let Some(sev) = input.severity {
        let _ignored = writeln!(s, "| Severity | {} |", sev.as_str());
    }
    if !input.alert_ids.is_empty() {
        let ids: Vec<String> = input
            .alert_ids
            .iter()
            .map(|id| format!("`{}`", id.replace('`', "'")))
            .collect();
        let _ignored = writeln!(s, "| Alerts | {} |", ids.join(", "));
    }
    s.push('\n');
}

fn first(input: &ReportInput, kind: EventKind) -> Option<&TimelineEvent> {
    input
        .timeline
        .iter()
        .filter(|e| e.kind == kind)
        .min_by_key(|e| e.at)
}

fn timeline(s: &mut String, input: &ReportInput) {
    s.push_str("## Timeline\n\n");
    if input.timeline.is_empty() {
        s.push_str("Nothing recorded in this period.\n\n");
        return;
    }
    let mut events: Vec<&TimelineEvent> = input.timeline.iter().collect();
    events.sort_by_key(|e| e.at); // stable: equal times keep input order
    let onset = input.anomaly.as_ref().map(|a| a.onset);
    let _ignored = writeln!(
        s,
        "Times are UTC on {}{}.\n",
        date(events[0].at),
        if onset.is_some() {
            "; the second column counts from the onset"
        } else {
            ""
        }
    );
    s.push_str("| Time (UTC) | Since onset | Event | Details |\n|---|---|---|---|\n");
    for e in events {
        let since = onset.map_or(String::new(), |o| {
            let d = secs_between(o, e.at);
            if d >= 0.0 {
                format!("+{}", duration(d))
            } else {
                duration(d)
            }
        });
        let day = if date(e.at) == date(input.from) {
            String::new()
        } else {
            format!("{} ", date(e.at))
        };
        let _ignored = writeln!(
            s,
            "| {day}{} | {since} | {} | {} |",
            hhmmss(e.at),
            e.kind.label(),
            md(&e.text)
        );
    }
    s.push('\n');
}

fn suspects(s: &mut String, input: &ReportInput) {
    s.push_str("## Suspects\n\n");
    if input.suspects.is_empty() {
        s.push_str(
            "No release explains the anomaly: none in the environment was exposed near the \
             onset with evidence that fits. Look at infrastructure, dependencies and traffic.\n\n",
        );
        return;
    }
    for (n, suspect) in input.suspects.iter().enumerate() {
        let r = &suspect.release;
        let _ignored = writeln!(
            s,
            "### {}. {} ({} confidence)\n",
            n + 1,
            md(&release_name(suspect)),
            percent(suspect.confidence)
        );
        let mut facts = Vec::new();
        if let Some(prev) = &r.previous_version {
            facts.push(format!("replaced {}", md(prev)));
        }
        if !r.environment.is_empty() {
            facts.push(format!("environment {}", md(&r.environment)));
        }
        if let Some(at) = r.started_at {
            facts.push(format!("started {} {} UTC", date(at), hhmmss(at)));
        }
        facts.push(match &r.deployment_id {
            Some(id) => format!("deployment `{}`", id.replace('`', "'")),
            None => "no deployment event: found from the versions in spans".to_string(),
        });
        let _ignored = writeln!(s, "Release: {}.\n", facts.join(", "));
        if suspect.evidence.is_empty() {
            s.push_str("No evidence recorded.\n\n");
            continue;
        }
        s.push_str("| Evidence | Key numbers | Weight (log-likelihood ratio) | In words |\n|---|---|---|---|\n");
        for e in &suspect.evidence {
            let _ignored = writeln!(
                s,
                "| {} | {} | {} | {} |",
                evidence::name(&e.detail),
                md(&evidence::numbers(&e.detail)),
                evidence::weight(e.llr),
                md(&e.summary)
            );
        }
        s.push('\n');
    }
}

fn blast_radius(s: &mut String, input: &ReportInput) {
    s.push_str("## Blast radius\n\n");
    let b = &input.blast_radius;
    if b.affected.is_empty() {
        s.push_str("Affected services: none recorded.\n\n");
    } else {
        let names: Vec<String> = b.affected.iter().map(|a| md(a)).collect();
        let _ignored = writeln!(s, "Affected services: {}.\n", names.join(", "));
    }
    if b.dependents.is_empty() {
        let _ignored = writeln!(
            s,
            "No service is known to depend on {}.\n",
            md(&input.service)
        );
        return;
    }
    let _ignored = writeln!(
        s,
        "Services that depend on {} (directly or through others), with the estimated share of its inbound requests that come from each:\n",
        md(&input.service)
    );
    s.push_str("| Dependent | Hops | Share of requests |\n|---|---|---|\n");
    for d in &b.dependents {
        let _ignored = writeln!(
            s,
            "| {} | {} | {} |",
            md(&d.service),
            d.depth,
            d.traffic_share.map_or("unknown".to_string(), percent)
        );
    }
    s.push('\n');
}

fn owners(s: &mut String, input: &ReportInput) {
    s.push_str("## Owners\n\n");
    if input.owners.is_empty() {
        s.push_str("No owners are recorded (see the owners file in the configuration).\n\n");
        return;
    }
    s.push_str("| Service | Team | Channel | Tier |\n|---|---|---|---|\n");
    for o in &input.owners {
        let _ignored = writeln!(
            s,
            "| {} | {} | {} | {} |",
            md(&o.service),
            md(&o.team),
            md(&o.channel),
            o.tier.map_or(String::new(), |t| t.to_string())
        );
    }
    s.push('\n');
}

/// What the data cannot tell: the assembler's notes, then what the input shows.
pub(crate) fn unknown_list(input: &ReportInput) -> Vec<String> {
    let mut out = input.unknowns.clone();
    match &input.anomaly {
        None => out.push(format!(
            "No anomaly of {} was detected around the time asked for; the charts show what the data holds.",
            input.service
        )),
        Some(a) if a.recovered_at.is_none() => out.push(format!(
            "The anomaly had not recovered by the end of the data ({} UTC): its duration is unknown.",
            hhmmss(input.to)
        )),
        Some(_) => {}
    }
    if let Some(top) = input.suspects.first() {
        let name = release_name(top);
        if top.release.deployment_id.is_none() {
            out.push(format!(
                "No deployment event announced {name}: it was found from the versions in spans, \
                 so its start is when spans first showed it, not when the rollout began, and \
                 who deployed it is unknown."
            ));
        }
        if top.release.previous_version.is_none() {
            out.push(format!("The version {name} replaced is unknown."));
        }
        if top.confidence < 0.5 {
            out.push(format!(
                "The top suspect's confidence is {}: treat it as a lead, not a conclusion.",
                percent(top.confidence)
            ));
        }
        for e in &top.evidence {
            if let EvidenceDetail::CounterEvidence { reason } = &e.detail {
                out.push(format!(
                    "Evidence against {name}: {}.",
                    evidence::counter_reason(*reason)
                ));
            }
        }
    } else if input.anomaly.is_some() {
        out.push("What caused the anomaly: no release explains it.".to_string());
    }
    for series in &input.series {
        let total = series.points.len();
        let low = series
            .points
            .iter()
            .filter(|p| p.requests < LOW_TRAFFIC_REQUESTS)
            .count();
        if total == 0 {
            out.push(format!(
                "There is no per-window data for {} in this period.",
                series.service
            ));
        } else if low * 4 >= total {
            out.push(format!(
                "Low traffic: {low} of {total} windows of {} had fewer than {LOW_TRAFFIC_REQUESTS} requests, so their ratios and percentiles are noisy.",
                series.service
            ));
        }
    }
    if input.series.is_empty() {
        out.push("There is no per-window data for this period.".to_string());
    }
    if !input.owners.iter().any(|o| o.service == input.service) {
        out.push(format!("No owner is recorded for {}.", input.service));
    }
    out
}

fn unknowns(s: &mut String, input: &ReportInput) {
    s.push_str("## What we do not know\n\n");
    for item in unknown_list(input) {
        let _ignored = writeln!(s, "- {}", md(&item));
    }
    s.push('\n');
}
