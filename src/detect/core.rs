//! The detection core: one call per closed window, returning what changed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::state::{SignalState, Verdict, anomaly_id};
use super::{Detector, SeriesWindow, Settings, detectors, origins};
use crate::baseline::{Baseline, Entry, SIGNALS, SeriesMap, signal_bit};
use crate::model::{
    Anomaly, GraphSnapshot, SeriesKey, SeriesStats, Signal, Timestamp, WindowStats,
};

/// What one [`Detect::observe`] call did. The task turns it into alerts and metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DetectOutcome {
    /// Anomalies confirmed in this window, sorted by (series, signal).
    pub opened: Vec<Anomaly>,
    /// Anomalies open before this window and still open, with refreshed
    /// `observed`, `significance`, `requests` (when the window was outside the
    /// band) and `origins`; sorted by (series, signal).
    pub updated: Vec<Anomaly>,
    /// Anomalies that recovered in this window (`recovered_at` set).
    pub recovered: Vec<Anomaly>,
    /// Open anomalies dropped because their series went idle for `series_idle_secs`.
    pub expired: Vec<Anomaly>,
    /// (series, signal) pairs judged in this window: the BH family size.
    pub evaluations: u64,
    /// Windows outside the band that survived BH.
    pub hits: u64,
    /// Series tracked after this window.
    pub series_tracked: usize,
    /// New series added in this window.
    pub series_added: u64,
    /// New series refused because `max_series` was reached.
    pub series_rejected: u64,
    /// Idle series forgotten in this window.
    pub series_evicted: u64,
}

/// Everything kept per series.
#[derive(Clone, Debug, Default)]
struct Tracked {
    baseline: Baseline,
    signals: [SignalState; 5],
    /// End of the last window with traffic.
    last_seen: Timestamp,
    /// Index of the last window this series appeared in.
    seen_window: u64,
    /// This window's stats and verdicts, between the two passes of `observe`.
    stats: SeriesStats,
    verdicts: [Verdict; 5],
}

/// The detection state machine. Synchronous, deterministic, no I/O, no clock.
pub struct Detect {
    settings: Settings,
    detectors: Vec<Box<dyn Detector>>,
    series: SeriesMap<Tracked>,
    /// Starts of the last 64 windows, latest first (bit `i` of a [`SignalState`]).
    starts: VecDeque<Timestamp>,
    window_index: u64,
    open: BTreeMap<(SeriesKey, Signal), Anomaly>,
}

impl std::fmt::Debug for Detect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detect")
            .field("series", &self.series.len())
            .field("open", &self.open.len())
            .field("window_index", &self.window_index)
            .finish_non_exhaustive()
    }
}

impl Detect {
    /// A detector with no history, using [`detectors::build`].
    pub fn new(settings: Settings) -> Self {
        let detectors = detectors::build(&settings);
        Self::with_detectors(settings, detectors)
    }

    /// A detector with no history and a custom detector set. Each detector
    /// must judge a distinct signal; later duplicates are ignored.
    pub fn with_detectors(settings: Settings, detectors: Vec<Box<dyn Detector>>) -> Self {
        let mut seen = BTreeSet::new();
        let detectors = detectors
            .into_iter()
            .filter(|d| seen.insert(d.signal()))
            .collect();
        Self {
            series: SeriesMap::new(settings.max_series),
            settings,
            detectors,
            starts: VecDeque::with_capacity(64),
            window_index: 0,
            open: BTreeMap::new(),
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Anomalies currently open, sorted by (series, signal).
    pub fn open_anomalies(&self) -> impl Iterator<Item = &Anomaly> {
        self.open.values()
    }

    /// The baseline of `key`, if tracked (for the API and tests).
    pub fn baseline(&self, key: &SeriesKey) -> Option<&Baseline> {
        self.series.get(key).map(|t| &t.baseline)
    }

    /// Series tracked.
    pub fn series_tracked(&self) -> usize {
        self.series.len()
    }

    /// Judges one closed window (windows must arrive in event-time order),
    /// then folds it into the baselines. `graph` is used only for origins.
    pub fn observe(&mut self, window: &WindowStats, graph: &GraphSnapshot) -> DetectOutcome {
        let mut outcome = DetectOutcome::default();
        let secs = window.end.nanos().saturating_sub(window.start.nanos()) as f64 / 1e9;
        self.window_index += 1;
        let index = self.window_index;
        self.starts.push_front(window.start);
        self.starts.truncate(64);

        // Pass 1: judge every tracked series (absent ones as zero traffic).
        let mut candidates: Vec<(f64, SeriesKey, usize)> = Vec::new();
        let zero = SeriesStats::default();
        for (key, stats) in &window.series {
            let tracked = match self.series.get_or_insert_with(key, Tracked::default) {
                Entry::Full => {
                    outcome.series_rejected += 1;
                    continue;
                }
                Entry::Added(t) => {
                    outcome.series_added += 1;
                    t
                }
                Entry::Existing(t) => t,
            };
            tracked.seen_window = index;
            if stats.requests > 0 {
                tracked.last_seen = window.end;
            }
            outcome.evaluations += judge(
                &self.detectors,
                &self.settings,
                key,
                tracked,
                stats,
                secs,
                &mut candidates,
            );
        }
        for (key, tracked) in self.series.iter_mut() {
            if tracked.seen_window != index {
                outcome.evaluations += judge(
                    &self.detectors,
                    &self.settings,
                    key,
                    tracked,
                    &zero,
                    secs,
                    &mut candidates,
                );
            }
        }

        // Multiplicity: Benjamini–Hochberg over everything judged in this window.
        for (q, key, slot) in benjamini_hochberg(
            candidates,
            outcome.evaluations,
            self.settings.false_alarm_rate,
        ) {
            if let Some(Verdict::Outside { q: hit, .. }) =
                self.series.get_mut(&key).map(|t| &mut t.verdicts[slot])
            {
                *hit = Some(q);
                outcome.hits += 1;
            }
        }

        // Pass 2: confirm, update, recover, fold.
        let mut opened = Vec::new();
        let mut updated = Vec::new();
        let mut recovered = Vec::new();
        let ctx = Pass2 {
            settings: &self.settings,
            starts: &self.starts,
            window,
            secs,
        };
        for (key, tracked) in self.series.iter_mut() {
            ctx.advance(
                key,
                tracked,
                &mut self.open,
                &mut opened,
                &mut updated,
                &mut recovered,
            );
        }

        // Forget idle series (their open anomalies expire).
        let idle_nanos = self
            .settings
            .series_idle_secs
            .saturating_mul(Timestamp::SECOND);
        let open = &mut self.open;
        let mut expired = Vec::new();
        outcome.series_evicted = self.series.retain(|key, tracked| {
            let keep = window.end.nanos().saturating_sub(tracked.last_seen.nanos()) < idle_nanos;
            if !keep {
                for signal in SIGNALS {
                    if let Some(anomaly) = open.remove(&(key.clone(), signal)) {
                        expired.push(anomaly);
                    }
                }
            }
            keep
        }) as u64;
        updated.retain(|k| self.open.contains_key(k));

        self.refresh_origins(graph);
        let collect = |keys: Vec<(SeriesKey, Signal)>, open: &BTreeMap<_, Anomaly>| {
            let mut list: Vec<Anomaly> = keys.iter().filter_map(|k| open.get(k).cloned()).collect();
            list.sort_by(|a, b| (&a.series, a.signal).cmp(&(&b.series, b.signal)));
            list
        };
        outcome.opened = collect(opened, &self.open);
        outcome.updated = collect(updated, &self.open);
        recovered.sort_by(|a: &Anomaly, b| (&a.series, a.signal).cmp(&(&b.series, b.signal)));
        expired.sort_by(|a: &Anomaly, b| (&a.series, a.signal).cmp(&(&b.series, b.signal)));
        outcome.recovered = recovered;
        outcome.expired = expired;
        outcome.series_tracked = self.series.len();
        outcome
    }

    /// Recomputes origins of every open anomaly from the currently anomalous nodes.
    fn refresh_origins(&mut self, graph: &GraphSnapshot) {
        let mut anomalous: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (key, _) in self.open.keys() {
            let (environment, node) = origins::subject(key);
            anomalous.entry(environment).or_default().insert(node);
        }
        let mut ranked: BTreeMap<(String, String), Vec<crate::model::Origin>> = BTreeMap::new();
        for (key, _) in self.open.keys() {
            let (environment, node) = origins::subject(key);
            let cache_key = (environment.to_owned(), node.to_owned());
            ranked.entry(cache_key).or_insert_with(|| {
                let set = anomalous.get(environment).cloned().unwrap_or_default();
                origins::rank(node, &set, graph)
            });
        }
        for ((key, _), anomaly) in self.open.iter_mut() {
            let (environment, node) = origins::subject(key);
            if let Some(list) = ranked.get(&(environment.to_owned(), node.to_owned())) {
                anomaly.origins.clone_from(list);
            }
        }
    }
}

/// Judges one series for every detector; returns how many verdicts were judged.
fn judge(
    detectors: &[Box<dyn Detector>],
    settings: &Settings,
    key: &SeriesKey,
    tracked: &mut Tracked,
    stats: &SeriesStats,
    secs: f64,
    candidates: &mut Vec<(f64, SeriesKey, usize)>,
) -> u64 {
    tracked.stats = stats.clone();
    tracked.verdicts = [Verdict::NotJudged; 5];
    let window = SeriesWindow { stats, secs };
    let version_series = matches!(
        key,
        SeriesKey::ServiceVersion { .. }
            | SeriesKey::EdgeByClientVersion { .. }
            | SeriesKey::EdgeByServerVersion { .. }
    );
    let mut judged = 0;
    for detector in detectors {
        let signal = detector.signal();
        if signal == Signal::Throughput && version_series && !settings.throughput_on_version_series
        {
            continue;
        }
        let Some(slot) = SIGNALS.iter().position(|s| *s == signal) else {
            continue;
        };
        if !detector.can_judge(&window, &tracked.baseline) {
            continue;
        }
        judged += 1;
        tracked.verdicts[slot] = match detector.evaluate(&window, &tracked.baseline) {
            Some(finding) => {
                candidates.push((finding.p_value, key.clone(), slot));
                Verdict::Outside { finding, q: None }
            }
            None => Verdict::Inside,
        };
    }
    judged
}

/// The BH step-up procedure at level `alpha` over `m` tests, of which only
/// `candidates` (p-value, series, slot) can be rejected. Returns the rejected
/// ones with their BH-adjusted p-values. Ties are broken by series and slot
/// so the result is deterministic.
fn benjamini_hochberg(
    mut candidates: Vec<(f64, SeriesKey, usize)>,
    m: u64,
    alpha: f64,
) -> Vec<(f64, SeriesKey, usize)> {
    candidates.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then_with(|| (&a.1, a.2).cmp(&(&b.1, b.2)))
    });
    let m = m.max(candidates.len() as u64) as f64;
    let mut last = 0;
    for (i, (p, _, _)) in candidates.iter().enumerate() {
        if *p <= (i + 1) as f64 / m * alpha {
            last = i + 1;
        }
    }
    candidates.truncate(last);
    // Adjusted p-values: running minimum of m·p/rank from the largest rank down.
    let mut running = 1.0f64;
    for (i, c) in candidates.iter_mut().enumerate().rev() {
        running = running.min(c.0 * m / (i + 1) as f64);
        c.0 = running;
    }
    candidates
}

/// Shared inputs of pass 2.
struct Pass2<'a> {
    settings: &'a Settings,
    starts: &'a VecDeque<Timestamp>,
    window: &'a WindowStats,
    secs: f64,
}

impl Pass2<'_> {
    fn advance(
        &self,
        key: &SeriesKey,
        tracked: &mut Tracked,
        open: &mut BTreeMap<(SeriesKey, Signal), Anomaly>,
        opened: &mut Vec<(SeriesKey, Signal)>,
        updated: &mut Vec<(SeriesKey, Signal)>,
        recovered: &mut Vec<Anomaly>,
    ) {
        let s = self.settings;
        let mut mask = 0u8;
        for (slot, signal) in SIGNALS.into_iter().enumerate() {
            let verdict = tracked.verdicts[slot];
            let state = &mut tracked.signals[slot];
            state.push(&verdict);
            let outside = match verdict {
                Verdict::Outside { finding, q } => Some((finding, q)),
                _ => None,
            };
            match state.open_since {
                None => {
                    let Some((finding, Some(q))) = outside else {
                        continue;
                    };
                    mask |= signal_bit(signal);
                    if !state.confirmed(s.confirm_windows, s.confirm_of_windows) {
                        continue;
                    }
                    let onset = self.onset(state);
                    let anomaly = Anomaly {
                        id: anomaly_id(key, signal, onset),
                        series: key.clone(),
                        signal,
                        onset,
                        detected_at: self.window.end,
                        baseline: finding.baseline,
                        observed: finding.observed,
                        significance: 1.0 - q,
                        requests: finding.requests,
                        origins: Vec::new(),
                        recovered_at: None,
                    };
                    open.insert((key.clone(), signal), anomaly);
                    opened.push((key.clone(), signal));
                    state.open_since = Some(self.window.end);
                    state.calm = 0;
                }
                Some(since) => {
                    let map_key = (key.clone(), signal);
                    match (verdict, outside) {
                        (_, Some((finding, q))) => {
                            state.calm = 0;
                            let age = self.window.end.nanos().saturating_sub(since.nanos());
                            if age < s.rebaseline_after_secs.saturating_mul(Timestamp::SECOND) {
                                mask |= signal_bit(signal);
                            }
                            if let Some(a) = open.get_mut(&map_key) {
                                a.observed = finding.observed;
                                a.requests = finding.requests;
                                if let Some(q) = q {
                                    a.significance = 1.0 - q;
                                }
                            }
                        }
                        (Verdict::Inside, None) => {
                            if state.calm == 0 {
                                state.calm_since = self.window.start;
                            }
                            state.calm += 1;
                        }
                        _ => {}
                    }
                    if state.calm >= s.recovery_windows {
                        if let Some(mut a) = open.remove(&map_key) {
                            a.recovered_at = Some(state.calm_since);
                            recovered.push(a);
                        }
                        *state = SignalState {
                            outside: state.outside,
                            ..SignalState::default()
                        };
                    } else {
                        updated.push(map_key);
                    }
                }
            }
        }
        let stats = std::mem::take(&mut tracked.stats);
        tracked.baseline.fold(&stats, self.secs, mask, &s.baseline);
    }

    /// Start of the window where the excursion ending now began.
    fn onset(&self, state: &SignalState) -> Timestamp {
        let window_nanos = self
            .window
            .end
            .nanos()
            .saturating_sub(self.window.start.nanos())
            .max(1);
        let max_back = (self
            .settings
            .onset_lookback_secs
            .saturating_mul(Timestamp::SECOND)
            / window_nanos) as usize;
        let back = state.onset_back(max_back.min(self.starts.len().saturating_sub(1)));
        self.starts.get(back).copied().unwrap_or(self.window.start)
    }
}
