//! Release verdicts after the soak window, and `topology_change` alerts
//! naming the caller's release that coincides.
//!
//! Never does: detection or attribution of anomalies.

use std::sync::Arc;

use super::{Analyzer, Outcome};
use crate::analyze::inputs;
use crate::attribute::{self, VerdictInput};
use crate::model::{Alert, EdgeRef, Timestamp};

impl Analyzer {
    pub(super) fn topology_alert(
        &self,
        environment: &Arc<str>,
        added: &[(Arc<str>, Arc<str>)],
        removed: &[(Arc<str>, Arc<str>)],
        now: Timestamp,
    ) -> Alert {
        let lookback = now.minus_nanos(self.settings.attribute.lookback_ns);
        let release = added
            .iter()
            .chain(removed)
            .filter_map(|(client, _)| {
                self.releases
                    .releases_of(client, environment)
                    .iter()
                    .filter(|r| r.exposure_or_start() >= lookback && r.exposure_or_start() <= now)
                    .max_by_key(|r| r.exposure_or_start())
            })
            .max_by_key(|r| r.exposure_or_start())
            .map(inputs::candidate);
        let edge = |(c, s): &(Arc<str>, Arc<str>)| EdgeRef {
            client: c.to_string(),
            server: s.to_string(),
        };
        attribute::topology_alert(
            &self.settings.attribute,
            environment,
            added.iter().map(edge).collect(),
            removed.iter().map(edge).collect(),
            release.as_ref(),
            now,
        )
    }

    /// A verdict for every release whose soak window has passed.
    pub(super) fn judge_releases(&mut self, now: Timestamp, out: &mut Outcome) {
        let settings = &self.settings.attribute;
        let since = now.minus_nanos(settings.soak_ns() + settings.lookback_ns);
        let due: Vec<_> = self
            .releases
            .releases_since(since)
            .into_iter()
            .filter(|r| !self.judged.contains(&r.key))
            .filter(|r| r.exposure_or_start().plus_nanos(settings.soak_ns()) <= now)
            .cloned()
            .collect();
        for release in due {
            let candidate = inputs::candidate(&release);
            let exposure = release.exposure_or_start();
            let soak_end = exposure.plus_nanos(settings.soak_ns());
            let soak = inputs::version_split(&self.history, &release, exposure, soak_end);
            let input = inputs::candidate_input(
                &self.history,
                &self.topology,
                &release,
                settings.lookback_ns,
                exposure,
            );
            let blamed = self.blamed.get(&release.key);
            let verdict = attribute::judge(
                settings,
                &VerdictInput {
                    candidate: &candidate,
                    soak: &soak,
                    baseline: input.baseline.as_ref(),
                    blamed: blamed.map(|b| &b.0),
                    incident: blamed.map(|b| (b.1, b.2)),
                    now,
                },
            );
            self.judged.insert(release.key.clone());
            if let Some(mut verdict) = verdict {
                if let Some(to) = &release.rolled_back_to {
                    // Already done: say so instead of recommending it.
                    verdict.recommendation = Some(format!(
                        "already rolled back to {to}; keep {} {} out until fixed",
                        release.key.service, release.key.version
                    ));
                }
                out.verdicts.push((release.key.clone(), verdict.verdict));
                out.alerts
                    .push(attribute::verdict_alert(&candidate, &verdict, now));
            }
        }
    }
}
