//! `impact SERVICE`: the blast radius of changing a service. Its transitive
//! dependents (who calls it, directly or not) and dependencies (what it
//! calls), each with its traffic share, from the edges of the stored
//! windows in a period (by default the last hour held), and a risk class.
//!
//! Shares: a direct caller's share is its part of the service's inbound
//! requests; a caller one hop further gets its part of that caller's
//! inbound requests times the caller's share (along the shortest path).
//! Dependencies likewise with outbound requests.
//!
//! Risk (for release planning): `high` when the service or a dependent is
//! tier 1 in the owners file, or at least [`HIGH_DEPENDENTS`] services
//! depend on it; `medium` when a tier 2 is involved or at least
//! [`MEDIUM_DEPENDENTS`] depend on it; `low` otherwise. Every reason is listed.
//!
//! Never does: look at releases or alerts.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::{Context, QueryError};
use crate::model::alert::rfc3339;
use crate::model::{SeriesKey, Timestamp};

/// Dependents from which the risk is at least `high`.
pub const HIGH_DEPENDENTS: usize = 5;
/// Dependents from which the risk is at least `medium`.
pub const MEDIUM_DEPENDENTS: usize = 2;

/// Risk class of changing a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Few dependents, none critical.
    Low,
    /// Some dependents, or a tier-2 service involved.
    Medium,
    /// Many dependents, or a tier-1 service involved.
    High,
}

impl Risk {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// One service in the blast radius.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reach {
    /// The service (or database / external node).
    pub service: String,
    /// Hops from the service asked about.
    pub depth: u32,
    /// Share of traffic (see the module doc), 0..=1.
    pub share: f64,
    /// Requests per second on the edge that reached it.
    pub requests_per_sec: f64,
    /// Tier from the owners file.
    #[serde(default)]
    pub tier: Option<u8>,
    /// Team from the owners file.
    #[serde(default)]
    pub team: Option<String>,
}

/// The blast radius.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    /// The service asked about.
    pub service: String,
    /// Its environment.
    pub environment: String,
    /// Period whose traffic was read, start.
    #[serde(with = "rfc3339")]
    pub from: Timestamp,
    /// Period end.
    #[serde(with = "rfc3339")]
    pub to: Timestamp,
    /// Its tier from the owners file.
    #[serde(default)]
    pub tier: Option<u8>,
    /// Who depends on it, nearest first.
    pub dependents: Vec<Reach>,
    /// What it depends on, nearest first.
    pub dependencies: Vec<Reach>,
    /// The risk class.
    pub risk: Risk,
    /// Why.
    pub reasons: Vec<String>,
}

type Edges = BTreeMap<(String, String), u64>;

/// Breadth-first from `start` over `next` (node → (neighbour, requests)),
/// shares as in the module doc.
fn walk(
    start: &str,
    next: &BTreeMap<String, Vec<(String, u64)>>,
    secs: f64,
) -> Vec<(String, u32, f64, f64)> {
    let mut seen: BTreeMap<String, (u32, f64, f64)> = BTreeMap::new();
    let mut queue = VecDeque::from([(start.to_owned(), 0u32, 1.0f64)]);
    let mut order = Vec::new();
    while let Some((node, depth, share)) = queue.pop_front() {
        let Some(out) = next.get(&node) else { continue };
        let total: u64 = out.iter().map(|(_, n)| n).sum();
        for (other, n) in out {
            if other == start || seen.contains_key(other) {
                continue;
            }
            let s = share * *n as f64 / total.max(1) as f64;
            seen.insert(other.clone(), (depth + 1, s, *n as f64 / secs));
            order.push(other.clone());
            queue.push_back((other.clone(), depth + 1, s));
        }
    }
    order
        .into_iter()
        .filter_map(|n| seen.get(&n).map(|(d, s, r)| (n.clone(), *d, *s, *r)))
        .collect()
}

/// The blast radius of `service` from the traffic in `[from, to)`.
///
/// # Errors
/// When the history holds no windows for the period, or the service has
/// no edges in it.
pub fn impact(
    ctx: &Context,
    service: &str,
    environment: Option<&str>,
    from: Timestamp,
    to: Timestamp,
) -> Result<Impact, QueryError> {
    let windows = ctx.reader.windows(from, to)?;
    if windows.is_empty() {
        return Err(ctx.not_held(from, to));
    }
    let secs = windows
        .iter()
        .map(|w| w.end.nanos().saturating_sub(w.start.nanos()))
        .sum::<u64>()
        .max(1) as f64
        / Timestamp::SECOND as f64;
    let mut by_env: BTreeMap<String, Edges> = BTreeMap::new();
    for w in &windows {
        for (key, stats) in &w.series {
            if let SeriesKey::Edge {
                environment: e,
                client,
                server,
                ..
            } = key
            {
                *by_env
                    .entry(e.to_string())
                    .or_default()
                    .entry((client.to_string(), server.to_string()))
                    .or_default() += stats.requests;
            }
        }
    }
    let touches = |edges: &Edges| {
        edges
            .iter()
            .filter(|((c, s), _)| c == service || s == service)
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    let environment = match environment {
        Some(e) => e.to_owned(),
        None => by_env
            .iter()
            .map(|(e, edges)| (touches(edges), e))
            .filter(|(n, _)| *n > 0)
            .max()
            .map(|(_, e)| e.clone())
            .ok_or_else(|| {
                QueryError::NotFound(format!("{service} has no edges in {from} .. {to}"))
            })?,
    };
    let edges = by_env.remove(&environment).unwrap_or_default();
    if touches(&edges) == 0 {
        return Err(QueryError::NotFound(format!(
            "{service} has no edges in {environment} in {from} .. {to}"
        )));
    }
    let mut callers: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    let mut callees: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for ((client, server), n) in &edges {
        if client == server || *n == 0 {
            continue;
        }
        callers
            .entry(server.clone())
            .or_default()
            .push((client.clone(), *n));
        callees
            .entry(client.clone())
            .or_default()
            .push((server.clone(), *n));
    }
    let owners = &ctx.settings.owners;
    let reach = |list: Vec<(String, u32, f64, f64)>| -> Vec<Reach> {
        list.into_iter()
            .map(|(name, depth, share, rate)| {
                let owner = owners.of(&name);
                Reach {
                    tier: owner.as_ref().and_then(|o| o.tier),
                    team: owner.map(|o| o.team),
                    service: name,
                    depth,
                    share,
                    requests_per_sec: rate,
                }
            })
            .collect()
    };
    let dependents = reach(walk(service, &callers, secs));
    let dependencies = reach(walk(service, &callees, secs));
    let tier = owners.of(service).and_then(|o| o.tier);
    let (risk, reasons) = classify(service, tier, &dependents);
    Ok(Impact {
        service: service.to_owned(),
        environment,
        from,
        to,
        tier,
        dependents,
        dependencies,
        risk,
        reasons,
    })
}

/// The risk class and its reasons (see the module doc).
pub fn classify(service: &str, tier: Option<u8>, dependents: &[Reach]) -> (Risk, Vec<String>) {
    let mut risk = Risk::Low;
    let mut reasons = Vec::new();
    let mut raise = |to: Risk, why: String| {
        risk = risk.max(to);
        reasons.push(why);
    };
    match tier {
        Some(1) => raise(Risk::High, format!("{service} is tier 1")),
        Some(2) => raise(Risk::Medium, format!("{service} is tier 2")),
        _ => {}
    }
    for d in dependents {
        match d.tier {
            Some(1) => raise(Risk::High, format!("tier-1 {} depends on it", d.service)),
            Some(2) => raise(Risk::Medium, format!("tier-2 {} depends on it", d.service)),
            _ => {}
        }
    }
    let n = dependents.len();
    if n >= HIGH_DEPENDENTS {
        raise(Risk::High, format!("{n} services depend on it"));
    } else if n >= MEDIUM_DEPENDENTS {
        raise(Risk::Medium, format!("{n} services depend on it"));
    } else {
        reasons.push(format!("{n} services depend on it"));
    }
    (risk, reasons)
}
