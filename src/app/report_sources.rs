//! The report's history sources: [`HistorySource`] answers a report's
//! questions from the durable history, either offline (`--data-dir DIR`,
//! [`crate::query::answer`] over `DIR/history.redb` opened read-only) or
//! from a running daemon (`--server URL`, the same queries over its HTTP
//! API). Both paths ask the same [`Request`]s and read the same JSON, so a
//! report from a daemon and one from its data directory agree.
//!
//! Never does: analysis of its own (attribution after the fact is the
//! history's `which-release`), writes to the history, clock reads.

use std::cell::{Cell, RefCell};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::analyze::Owners;
use crate::history::{HistoryReader, IncidentRecord, ReleaseRecord};
use crate::model::{Alert, AlertType, Incident, OwnerRef, Release, Suspect, Timestamp};
use crate::query::{self, Impact, QueryError, Request, WhichRelease};
use crate::report::{Dependent, IncidentInfo, ReportSource, SeriesPoint};

/// The report's `[from, to]` is inclusive; queries are `[from, to)` with
/// millisecond times, so the end is pushed one millisecond on.
const MILLI: u64 = 1_000_000;

/// Where the history is read.
enum Backend {
    /// The history store, read in this process.
    Offline(Box<query::Context>),
    /// A running daemon's API.
    Server {
        /// Its base URL.
        url: String,
        /// The runtime the HTTP client runs on when the caller has none.
        runtime: Option<tokio::runtime::Runtime>,
    },
}

/// A report source over the durable history (offline or through a daemon).
pub struct HistorySource {
    backend: Backend,
    description: String,
    owners: Owners,
    /// The period of the last `alerts` asked (the report's neighbourhood);
    /// dependents and the environment are read from its traffic.
    focus: Cell<Option<(Timestamp, Timestamp)>>,
    /// The first failure that was not "nothing stored" (the report then fails).
    failure: RefCell<Option<anyhow::Error>>,
}

impl std::fmt::Debug for HistorySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistorySource")
            .field("source", &self.describe())
            .finish_non_exhaustive()
    }
}

fn time(t: Timestamp) -> Option<String> {
    Some(t.to_rfc3339())
}

fn end(t: Timestamp) -> Option<String> {
    Some(t.plus_nanos(MILLI).to_rfc3339())
}

impl HistorySource {
    /// Opens `dir/history.redb` read-only; `settings` gives the attribution
    /// settings `which-release` re-runs with, and the owners.
    ///
    /// # Errors
    /// When the history cannot be opened (missing, or a daemon holds it).
    pub fn offline(dir: &Path, settings: crate::analyze::Settings) -> anyhow::Result<Self> {
        let reader = HistoryReader::open_read_only(dir)?;
        let owners = settings.owners.clone();
        Ok(Self::new(
            Backend::Offline(Box::new(query::Context { reader, settings })),
            format!("the history in {}", dir.display()),
            owners,
        ))
    }

    /// Reads through the daemon at `url`; `owners` (from the local
    /// configuration) name the owners, which the API does not serve.
    ///
    /// # Errors
    /// When no async runtime can be started for the HTTP client.
    pub fn server(url: &str, owners: Owners) -> anyhow::Result<Self> {
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(_) => None,
            Err(_) => Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?,
            ),
        };
        Ok(Self::new(
            Backend::Server {
                url: url.to_owned(),
                runtime,
            },
            format!("the history of the daemon at {url}"),
            owners,
        ))
    }

    fn new(backend: Backend, description: String, owners: Owners) -> Self {
        Self {
            backend,
            description,
            owners,
            focus: Cell::new(None),
            failure: RefCell::new(None),
        }
    }

    /// The first failure met while answering (other than "nothing stored"),
    /// taken; a report drawn from a source that failed is incomplete.
    pub fn take_failure(&self) -> Option<anyhow::Error> {
        self.failure.borrow_mut().take()
    }

    fn fail(&self, error: anyhow::Error) {
        let mut failure = self.failure.borrow_mut();
        if failure.is_none() {
            *failure = Some(error);
        }
    }

    /// The answer to `request`; `None` when the history holds nothing for
    /// it (a failure is kept for [`HistorySource::take_failure`]).
    fn ask(&self, request: &Request) -> Option<Value> {
        let answer = match &self.backend {
            Backend::Offline(ctx) => match query::answer(ctx, request) {
                Ok(value) => Ok(Some(value)),
                Err(QueryError::NotFound(_) | QueryError::NotHeld { .. }) => Ok(None),
                Err(error) => Err(anyhow::Error::from(error)),
            },
            Backend::Server { url, runtime } => {
                block_on(runtime, super::query_cmd::fetch_optional(url, request))
            }
        };
        answer.unwrap_or_else(|error| {
            self.fail(error.context(format!("{request:?}")));
            None
        })
    }

    /// A reported incident the daemon knows (`GET /api/v1/incidents/{id}`).
    fn server_incident(
        &self,
        url: &str,
        runtime: &Option<tokio::runtime::Runtime>,
        id: &str,
    ) -> Option<IncidentInfo> {
        let path = ["api", "v1", "incidents", id].map(str::to_owned);
        let answer = block_on(runtime, super::query_cmd::get_path(url, &path, &[], true));
        let mut value = answer.unwrap_or_else(|error| {
            self.fail(error.context(format!("incident {id}")));
            None
        })?;
        let environment = value
            .get("environment")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let incident: Incident = serde_json::from_value(value.get_mut("incident")?.take())
            .map_err(|e| self.fail(anyhow::Error::from(e).context("an incident of another shape")))
            .ok()?;
        Some(IncidentInfo {
            id: incident.id,
            service: incident.service.to_string(),
            environment: environment
                .or(incident.environment.map(|e| e.to_string()))
                .filter(|e| !e.is_empty()),
            at: incident.started_at,
            title: Some(incident.title).filter(|t| !t.is_empty()),
            external: true,
        })
    }

    /// `field` of the answer to `request` (the whole answer when `None`), decoded.
    fn ask_as<T: DeserializeOwned>(&self, request: &Request, field: Option<&str>) -> Option<T> {
        let mut value = self.ask(request)?;
        if let Some(field) = field {
            value = value.get_mut(field)?.take();
        }
        serde_json::from_value(value)
            .map_err(|e| self.fail(anyhow::Error::from(e).context("an answer of another shape")))
            .ok()
    }

    /// Every alert held (for incidents asked by id).
    fn all_alerts(&self) -> Vec<Alert> {
        self.ask_as(
            &Request::Alerts {
                since: None,
                until: None,
            },
            Some("alerts"),
        )
        .unwrap_or_default()
    }

    fn impact(&self, service: &str, environment: Option<&str>) -> Option<Impact> {
        let (from, to) = self.focus.get()?;
        self.ask_as(
            &Request::Impact {
                service: service.to_owned(),
                environment: environment.map(str::to_owned),
                from: time(from),
                to: end(to),
            },
            None,
        )
    }
}

/// Runs `future` on `runtime`, else on the runtime this blocking thread belongs to.
fn block_on<F: std::future::Future>(
    runtime: &Option<tokio::runtime::Runtime>,
    future: F,
) -> F::Output {
    match runtime {
        Some(runtime) => runtime.block_on(future),
        None => tokio::runtime::Handle::current().block_on(future),
    }
}

/// An incident stored by the history (reported by people or a pager).
fn reported(record: &IncidentRecord) -> IncidentInfo {
    IncidentInfo {
        id: record.id.clone(),
        service: record.service.clone(),
        environment: Some(record.environment.clone()).filter(|e| !e.is_empty()),
        at: record.started_at,
        title: Some(record.title.clone()).filter(|t| !t.is_empty()),
        external: true,
    }
}

/// An incident by id among `alerts`: a reported incident an alert carries,
/// else an anomaly, attribution or resolved alert's own id.
pub(super) fn incident_in(alerts: &[Alert], id: &str) -> Option<IncidentInfo> {
    if let Some(alert) = alerts
        .iter()
        .find(|a| a.incident.as_ref().is_some_and(|i| i.id == id))
        && let Some(reported) = &alert.incident
    {
        return Some(IncidentInfo {
            id: id.to_string(),
            service: reported.service.clone(),
            environment: Some(alert.environment.clone()).filter(|e| !e.is_empty()),
            at: reported.started_at,
            title: Some(reported.title.clone()).filter(|t| !t.is_empty()),
            external: true,
        });
    }
    let alert = alerts.iter().find(|a| {
        a.id == id
            && matches!(
                a.kind,
                AlertType::Anomaly | AlertType::Attribution | AlertType::Resolved
            )
    })?;
    let anomaly = alert.anomaly.as_ref()?;
    Some(IncidentInfo {
        id: id.to_string(),
        service: anomaly.service.clone(),
        environment: Some(alert.environment.clone()),
        at: anomaly.onset,
        title: None,
        external: false,
    })
}

impl ReportSource for HistorySource {
    fn describe(&self) -> String {
        self.description.clone()
    }

    /// A reported incident (stored in the history offline; the daemon's
    /// `/api/v1/incidents/{id}` through a server), else one an alert
    /// carries, else an alert's own id.
    fn incident(&self, id: &str) -> Option<IncidentInfo> {
        let known = match &self.backend {
            Backend::Offline(ctx) => {
                match ctx.reader.incidents(Timestamp(0), Timestamp(u64::MAX)) {
                    Ok(records) => records.iter().find(|r| r.id == id).map(reported),
                    Err(error) => {
                        self.fail(error.into());
                        None
                    }
                }
            }
            Backend::Server { url, runtime } => self.server_incident(url, runtime, id),
        };
        let found = known.or_else(|| incident_in(&self.all_alerts(), id))?;
        self.focus.set(Some((found.at, found.at)));
        Some(found)
    }

    fn alerts(&self, from: Timestamp, to: Timestamp) -> Vec<Alert> {
        self.focus.set(Some((from, to)));
        let mut out: Vec<Alert> = self
            .ask_as(
                &Request::Alerts {
                    since: time(from),
                    until: end(to),
                },
                Some("alerts"),
            )
            .unwrap_or_default();
        out.sort_by_key(|a| a.detected_at);
        out
    }

    /// Releases started before `to` (all of them: one that started long
    /// before may be exposed or rolled back in the period), filtered.
    fn releases(&self, environment: &str, from: Timestamp, to: Timestamp) -> Vec<Release> {
        let records: Vec<ReleaseRecord> = self
            .ask_as(
                &Request::Releases {
                    since: None,
                    until: end(to),
                },
                Some("releases"),
            )
            .unwrap_or_default();
        let within = |t: Timestamp| from <= t && t <= to;
        records
            .iter()
            .filter(|r| r.environment == environment)
            .filter(|r| {
                within(r.started_at)
                    || r.exposure_start.is_some_and(within)
                    || r.rolled_back_at.is_some_and(within)
            })
            .map(ReleaseRecord::to_release)
            .collect()
    }

    fn series(
        &self,
        service: &str,
        environment: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<SeriesPoint> {
        let points: Vec<query::SeriesPoint> = self
            .ask_as(
                &Request::Series {
                    service: service.to_owned(),
                    environment: Some(environment.to_owned()).filter(|e| !e.is_empty()),
                    version: None,
                    from: time(from),
                    to: end(to),
                },
                Some("series"),
            )
            .unwrap_or_default();
        points
            .into_iter()
            .filter(|p| from <= p.start && p.start <= to)
            .map(|p| SeriesPoint {
                at: p.start,
                requests: p.requests,
                error_ratio: p.error_ratio,
                latency_p50_secs: p.p50,
                latency_p99_secs: p.p99,
            })
            .collect()
    }

    /// The history's `impact`: transitive callers over the traffic of the
    /// report's neighbourhood, nearest first.
    fn dependents(&self, service: &str, environment: &str) -> Vec<Dependent> {
        let env = Some(environment).filter(|e| !e.is_empty());
        let Some(impact) = self.impact(service, env) else {
            return Vec::new();
        };
        let mut out: Vec<Dependent> = impact
            .dependents
            .into_iter()
            .filter(|r| r.service != service)
            .map(|r| Dependent {
                service: r.service,
                depth: r.depth,
                traffic_share: Some(r.share.clamp(0.0, 1.0)),
            })
            .collect();
        out.sort_by(|a, b| a.depth.cmp(&b.depth).then(a.service.cmp(&b.service)));
        out
    }

    fn owner(&self, service: &str) -> Option<OwnerRef> {
        self.owners.of(service)
    }

    /// The environment whose edges touch `service` most in the neighbourhood.
    fn environment_of(&self, service: &str) -> Option<String> {
        self.impact(service, None).map(|i| i.environment)
    }

    fn which_release(
        &self,
        service: &str,
        environment: &str,
        at: Timestamp,
    ) -> Option<Vec<Suspect>> {
        let found: WhichRelease = self.ask_as(
            &Request::WhichRelease {
                service: service.to_owned(),
                environment: Some(environment.to_owned()).filter(|e| !e.is_empty()),
                at: time(at),
                from: None,
                to: None,
            },
            None,
        )?;
        Some(found.suspects)
    }
}
