//! One query as asked, with its times still text: the HTTP API builds it
//! from a URL, `epicenter query` from its flags, and [`answer`] gives the
//! JSON both print, so the API and the offline CLI answer alike. For
//! `--server`, [`Request::path`] and [`Request::params`] give the URL.
//!
//! Never does: I/O of its own (it reads through [`Context`]).

use serde_json::{Value, json};

use super::{Context, QueryError};
use crate::model::Timestamp;

/// A history query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Which releases explain what happened to a service (`at`, or `from` and `to`).
    WhichRelease {
        /// The service.
        service: String,
        /// Its environment, when it has several.
        environment: Option<String>,
        /// Around this time.
        at: Option<String>,
        /// Or over `[from, to)` (`to` defaults to the newest window held).
        from: Option<String>,
        /// Period end.
        to: Option<String>,
    },
    /// What `SERVICE@VERSION` changed.
    Release {
        /// `SERVICE@VERSION`.
        release: String,
        /// Its environment, when several have it.
        environment: Option<String>,
    },
    /// Releases started in `[since, until)`.
    Releases {
        /// Start (default: everything held).
        since: Option<String>,
        /// End (default: no end).
        until: Option<String>,
    },
    /// Anomalies with an onset in `[since, until)`.
    Anomalies {
        /// Start.
        since: Option<String>,
        /// End.
        until: Option<String>,
    },
    /// Alerts detected in `[since, until)`.
    Alerts {
        /// Start.
        since: Option<String>,
        /// End.
        until: Option<String>,
    },
    /// The blast radius of a service over `[from, to)` (default: last hour held).
    Impact {
        /// The service.
        service: String,
        /// Its environment.
        environment: Option<String>,
        /// Start.
        from: Option<String>,
        /// End.
        to: Option<String>,
    },
    /// A service's per-window series over `[from, to)` (default: last hour held).
    Series {
        /// The service.
        service: String,
        /// Its environment.
        environment: Option<String>,
        /// Only this version.
        version: Option<String>,
        /// Start.
        from: Option<String>,
        /// End.
        to: Option<String>,
    },
}

fn time(ctx: &Context, text: Option<&str>, default: Timestamp) -> Result<Timestamp, QueryError> {
    match text {
        Some(text) => super::parse_time(text, ctx.now()?),
        None => Ok(default),
    }
}

/// `[from, to)`, by default the last hour up to the newest window held.
fn last_hour(
    ctx: &Context,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Timestamp, Timestamp), QueryError> {
    let to = time(ctx, to, ctx.now()?.plus_nanos(1))?;
    let from = time(ctx, from, to.minus_nanos(3600 * Timestamp::SECOND))?;
    Ok((from, to))
}

impl Request {
    /// The API path (segments not yet percent-encoded: use [`Request::segments`]).
    pub fn segments(&self) -> Vec<String> {
        let mut out = vec!["api".to_owned(), "v1".to_owned()];
        match self {
            Self::WhichRelease { .. } => out.push("which-release".into()),
            Self::Release { release, .. } => out.extend(["releases".into(), release.clone()]),
            Self::Releases { .. } => out.push("releases".into()),
            Self::Anomalies { .. } => out.push("anomalies".into()),
            Self::Alerts { .. } => out.extend(["history".into(), "alerts".into()]),
            Self::Impact { service, .. } => out.extend(["impact".into(), service.clone()]),
            Self::Series { service, .. } => out.extend(["series".into(), service.clone()]),
        }
        out
    }

    /// The API query parameters.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut put = |k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                out.push((k, v.clone()));
            }
        };
        match self {
            Self::WhichRelease {
                service,
                environment,
                at,
                from,
                to,
            } => {
                put("service", &Some(service.clone()));
                put("environment", environment);
                put("at", at);
                put("from", from);
                put("to", to);
            }
            Self::Release { environment, .. } => put("environment", environment),
            Self::Releases { since, until }
            | Self::Anomalies { since, until }
            | Self::Alerts { since, until } => {
                // `/api/v1/releases` without `since` is the live index.
                let since = match self {
                    Self::Releases { .. } => Some(
                        since
                            .clone()
                            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned()),
                    ),
                    _ => since.clone(),
                };
                put("since", &since);
                put("until", until);
            }
            Self::Impact {
                environment,
                from,
                to,
                ..
            } => {
                put("environment", environment);
                put("from", from);
                put("to", to);
            }
            Self::Series {
                environment,
                version,
                from,
                to,
                ..
            } => {
                put("environment", environment);
                put("version", version);
                put("from", from);
                put("to", to);
            }
        }
        out
    }
}

/// Answers `request` as the JSON the API serves.
///
/// # Errors
/// Bad times or arguments, nothing stored, or a storage failure.
pub fn answer(ctx: &Context, request: &Request) -> Result<Value, QueryError> {
    let value = match request {
        Request::WhichRelease {
            service,
            environment,
            at,
            from,
            to,
        } => {
            let now = ctx.now()?;
            let (at, from, to) = match (at, from) {
                (Some(at), None) if to.is_none() => {
                    let at = super::parse_time(at, now)?;
                    let (from, to) = super::at_period(&ctx.settings, at);
                    (at, from, to)
                }
                (None, Some(from)) => {
                    let from = super::parse_time(from, now)?;
                    let to = time(ctx, to.as_deref(), now.plus_nanos(1))?;
                    (from, from, to)
                }
                _ => {
                    return Err(QueryError::BadArgument(
                        "give either --at T, or --from T1 (and --to T2)".into(),
                    ));
                }
            };
            serde_json::to_value(super::which_release(
                ctx,
                service,
                environment.as_deref(),
                at,
                from,
                to,
            )?)
        }
        Request::Release {
            release,
            environment,
        } => {
            let (service, version) = super::release::parse_release(release)?;
            serde_json::to_value(super::release_report(
                ctx,
                &service,
                &version,
                environment.as_deref(),
            )?)
        }
        Request::Releases { since, until } => {
            let since = time(ctx, since.as_deref(), Timestamp(0))?;
            let until = time(ctx, until.as_deref(), Timestamp(u64::MAX))?;
            Ok(json!({ "releases": super::releases(ctx, since, until)? }))
        }
        Request::Anomalies { since, until } => {
            let since = time(ctx, since.as_deref(), Timestamp(0))?;
            let until = time(ctx, until.as_deref(), Timestamp(u64::MAX))?;
            Ok(json!({ "anomalies": super::anomalies(ctx, since, until)? }))
        }
        Request::Alerts { since, until } => {
            let since = time(ctx, since.as_deref(), Timestamp(0))?;
            let until = time(ctx, until.as_deref(), Timestamp(u64::MAX))?;
            Ok(json!({ "alerts": super::alerts(ctx, since, until)? }))
        }
        Request::Impact {
            service,
            environment,
            from,
            to,
        } => {
            let (from, to) = last_hour(ctx, from.as_deref(), to.as_deref())?;
            serde_json::to_value(super::impact(
                ctx,
                service,
                environment.as_deref(),
                from,
                to,
            )?)
        }
        Request::Series {
            service,
            environment,
            version,
            from,
            to,
        } => {
            let (from, to) = last_hour(ctx, from.as_deref(), to.as_deref())?;
            let points = super::series(
                ctx,
                service,
                environment.as_deref(),
                version.as_deref(),
                from,
                to,
            )?;
            Ok(json!({ "service": service, "series": points }))
        }
    };
    value.map_err(|e| QueryError::BadArgument(format!("cannot render the answer: {e}")))
}

/// The table for `request`'s answer `value` (as [`answer`] or the API gave it).
///
/// # Errors
/// When `value` is not the answer's shape.
pub fn render(request: &Request, value: &Value) -> Result<String, serde_json::Error> {
    use super::render as r;
    let field = |name: &str| value.get(name).cloned().unwrap_or(Value::Null);
    Ok(match request {
        Request::WhichRelease { .. } => r::which_release(&serde_json::from_value(value.clone())?),
        Request::Release { .. } => r::release_report(&serde_json::from_value(value.clone())?),
        Request::Releases { .. } => {
            r::releases(&serde_json::from_value::<Vec<_>>(field("releases"))?)
        }
        Request::Anomalies { .. } => {
            r::anomalies(&serde_json::from_value::<Vec<_>>(field("anomalies"))?)
        }
        Request::Alerts { .. } => r::alerts(&serde_json::from_value::<Vec<_>>(field("alerts"))?),
        Request::Impact { .. } => r::impact(&serde_json::from_value(value.clone())?),
        Request::Series { .. } => r::series(&serde_json::from_value::<Vec<_>>(field("series"))?),
    })
}
