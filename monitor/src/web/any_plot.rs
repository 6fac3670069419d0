//! `GET /monitor/plot?var=<client>.<key>[&var=...]&from=&to=&width=&height=&yscale=&at=`:
//! any stored variables against time, as a PNG, configured in a plot or not (the page's
//! plot builder draws with it).
//!
//! Variables are grouped by [unit](super::units): one group is drawn on one y axis, a
//! second group on a second axis on the right; more than two groups are refused (400),
//! as they would not read. `from`/`to` are as in [`super::range`] (default: the last
//! hour), `width`/`height` default to 800 x 300 and are kept within 100..4000 pixels,
//! `yscale` is `linear` (`lin`) or `log`, and `at` (an instant, as `from`) marks a moment
//! with a vertical line.
//!
//! A variable's name is split at a configured client's name, as in `/monitor/history`;
//! one of a client no longer configured is found among the stored variables. The samples
//! are read through the same [`super::series::SeriesCache`] as the configured plots, in
//! the [`super::blocking`] pool (503 with `Retry-After` when it is full).

use super::blocking;
use super::history::{variable, Variable};
use super::plot::{pixels, png_response};
use super::range::{instant, Range};
use super::units::{unit_of, Unit};
use super::{failure, unix_seconds, Web};
use crate::store::{Reader, StoreError};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use labwire_plot::{clamp_size, render_png_with_plans, PlotSpec, Series, YScale};
use std::sync::Arc;
use std::time::SystemTime;

/// Variables one plot may draw: more lines than this do not read.
pub const MAX_VARS: usize = 16;
/// Unit groups one plot may draw: one axis on each side.
pub const MAX_GROUPS: usize = 2;

/// A plot request, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The names as asked, in order.
    pub names: Vec<String>,
    pub range: Range,
    pub width: u32,
    pub height: u32,
    pub yscale: YScale,
    pub marker: Option<SystemTime>,
}

/// Read the query; every mistake is named in the error (a 400).
pub fn parse_query(query: &str, now: SystemTime) -> Result<Request, String> {
    let (mut names, mut from, mut to, mut at) = (Vec::new(), None, None, None);
    let (mut width, mut height, mut yscale) = (800, 300, YScale::Linear);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "var" if value.is_empty() => return Err("var=: give <client>.<key>".into()),
            "var" => names.push(value.into_owned()),
            "from" => from = Some(value.into_owned()),
            "to" => to = Some(value.into_owned()),
            "at" => at = Some(instant("at", &value, now)?),
            "width" => width = pixels(&key, &value)?,
            "height" => height = pixels(&key, &value)?,
            "yscale" => {
                yscale = match value.as_ref() {
                    "lin" | "linear" => YScale::Linear,
                    "log" => YScale::Log,
                    other => return Err(format!("yscale={other:?}: lin, linear or log")),
                }
            }
            // The page adds a counter so that browsers fetch a fresh image.
            "t" => {}
            other => {
                return Err(format!(
                    "unknown parameter {other:?}: var, from, to, width, height, yscale, at"
                ))
            }
        }
    }
    if names.is_empty() || names.len() > MAX_VARS {
        return Err(format!("give 1 to {MAX_VARS} var=<client>.<key>"));
    }
    let range = Range::parse(from.as_deref(), to.as_deref(), now)?;
    let (width, height) = clamp_size(width, height);
    Ok(Request {
        names,
        range,
        width,
        height,
        yscale,
        marker: at,
    })
}

/// A variable to draw: where it is, once known, and its unit.
#[derive(Clone, Debug)]
struct Wanted {
    name: String,
    /// `None`: not a configured client's; looked up among the stored variables.
    variable: Option<Variable>,
    unit: Option<Unit>,
}

/// Why a plot was not drawn: the status and what to say.
type Refusal = (StatusCode, String);

pub async fn png(State(web): State<Arc<Web>>, RawQuery(query): RawQuery) -> Response {
    let request = match parse_query(query.as_deref().unwrap_or(""), SystemTime::now()) {
        Ok(request) => request,
        Err(why) => return failure(StatusCode::BAD_REQUEST, why),
    };
    let wanted: Vec<Wanted> = request
        .names
        .iter()
        .map(|name| {
            let variable = variable(&web.hub, name);
            let unit = variable
                .as_ref()
                .map(|v| unit_of(web.client(&v.client), &v.key));
            Wanted {
                name: name.clone(),
                variable,
                unit,
            }
        })
        .collect();
    if let Some(store) = web.hub.store() {
        web.series.follow(store.stats().reopened);
    }
    let series = web.series.clone();
    let job = web
        .blocking
        .read(move |reader| draw(reader, &series, &request, wanted))
        .await;
    match job {
        Ok(Ok(png)) => png_response(&web, png),
        Ok(Err((status, why))) => failure(status, why),
        Err(err) => blocking::unavailable(&web.counters, err),
    }
}

/// Find the variables not yet found, group them by unit and draw them. Blocking.
fn draw(
    reader: &Reader,
    cache: &super::series::SeriesCache,
    request: &Request,
    wanted: Vec<Wanted>,
) -> Result<Vec<u8>, Refusal> {
    let store_failed = |err: StoreError| (StatusCode::INTERNAL_SERVER_ERROR, err.to_string());
    let mut found = Vec::with_capacity(wanted.len());
    for want in wanted {
        let (variable, unit) = match (want.variable, want.unit) {
            (Some(variable), Some(unit)) => (variable, unit),
            _ => {
                let Some(stored) = reader.variable_named(&want.name).map_err(store_failed)? else {
                    return Err((
                        StatusCode::NOT_FOUND,
                        format!(
                            "var={:?}: no configured client and no stored variable has that name",
                            want.name
                        ),
                    ));
                };
                let unit = unit_of(None, &stored.key);
                let variable = Variable {
                    client: stored.client,
                    key: stored.key,
                };
                (variable, unit)
            }
        };
        found.push((variable, unit));
    }
    let groups = group_by_unit(&found);
    if groups.len() > MAX_GROUPS {
        let listed: Vec<String> = groups
            .iter()
            .map(|(unit, members)| {
                let names: Vec<String> = members.iter().map(|(v, _)| v.full()).collect();
                format!("{} ({})", unit.group, names.join(", "))
            })
            .collect();
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "at most {MAX_GROUPS} units in one plot, one axis each; these are {}: {}",
                groups.len(),
                listed.join("; ")
            ),
        ));
    }
    let mut series = Vec::with_capacity(found.len());
    for (_, members) in &groups {
        for (variable, unit) in members {
            let points = cache
                .points(
                    reader,
                    &variable.client,
                    &variable.key,
                    (request.range.from, request.range.to),
                    request.width,
                )
                .map_err(store_failed)?;
            let name = if unit.group == unit.title {
                variable.full()
            } else {
                format!("{} [{}]", variable.full(), unit.group)
            };
            series.push(Series { name, points });
        }
    }
    let title_of = |n: usize| {
        groups
            .get(n)
            .map(|(u, _)| u.title.clone())
            .unwrap_or_default()
    };
    let spec = PlotSpec {
        ylabel: title_of(0),
        y2label: title_of(1),
        width: request.width,
        height: request.height,
        yscale: request.yscale,
        second_axis: (groups.len() == 2).then(|| groups[0].1.len()),
        marker: request.marker.map(unix_seconds),
        ..PlotSpec::default()
    };
    render_png_with_plans(&spec, &series, &[], request.range.seconds())
        .map_err(|err| (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))
}

/// The variables in groups of one unit each, groups in the order their first variable was
/// asked, each group's variables in the order asked.
fn group_by_unit(found: &[(Variable, Unit)]) -> Vec<(Unit, Vec<(Variable, Unit)>)> {
    let mut groups: Vec<(Unit, Vec<(Variable, Unit)>)> = Vec::new();
    for (variable, unit) in found {
        match groups.iter_mut().find(|(u, _)| u.group == unit.group) {
            Some((_, members)) => members.push((variable.clone(), unit.clone())),
            None => groups.push((unit.clone(), vec![(variable.clone(), unit.clone())])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn every_parameter_is_checked() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let r = parse_query("var=a.x&var=b.y", now).unwrap();
        assert_eq!(r.names, ["a.x", "b.y"]);
        assert_eq!((r.width, r.height, r.yscale), (800, 300, YScale::Linear));
        assert_eq!(r.range.to, now);
        assert_eq!(r.marker, None);
        let r = parse_query(
            "var=a.x&from=2027-01-15T05:13:20Z&to=1799999999&width=50&height=5000&yscale=log&at=-60&t=4",
            now,
        )
        .unwrap();
        assert_eq!(
            r.range.from,
            UNIX_EPOCH + Duration::from_secs(1_799_990_000)
        );
        assert_eq!((r.width, r.height, r.yscale), (100, 4000, YScale::Log));
        assert_eq!(r.marker, Some(now - Duration::from_secs(60)));
        assert_eq!(
            parse_query("var=a.x&yscale=lin", now).unwrap().yscale,
            YScale::Linear
        );

        let many = "var=a.x&".repeat(MAX_VARS + 1);
        for (query, why) in [
            ("", "give 1 to 16"),
            (many.as_str(), "give 1 to 16"),
            ("var=", "var=: give"),
            ("var=a.x&yscale=ln", "yscale=\"ln\""),
            ("var=a.x&width=wide", "pixels"),
            ("var=a.x&height=-1", "pixels"),
            ("var=a.x&from=yesterday", "from=\"yesterday\""),
            ("var=a.x&from=-10&to=-20", "before"),
            ("var=a.x&at=soon", "at=\"soon\""),
            ("var=a.x&to=2026-13-01T00:00:00Z", "no such date"),
            ("var=a.x&colour=red", "unknown parameter \"colour\""),
        ] {
            let err = parse_query(query, now).unwrap_err();
            assert!(err.contains(why), "{query}: {err}");
        }
    }

    #[test]
    fn variables_are_grouped_by_unit_in_the_order_asked() {
        let var = |key: &str| Variable {
            client: "c".into(),
            key: key.into(),
        };
        let found: Vec<(Variable, Unit)> = ["ch1_voltage", "ch1_current", "ch2_voltage"]
            .into_iter()
            .map(|key| (var(key), unit_of(None, key)))
            .collect();
        let groups = group_by_unit(&found);
        let shape: Vec<(String, Vec<String>)> = groups
            .iter()
            .map(|(u, m)| {
                (
                    u.group.clone(),
                    m.iter().map(|(v, _)| v.key.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (
                    "V".to_string(),
                    vec!["ch1_voltage".to_string(), "ch2_voltage".to_string()]
                ),
                ("A".to_string(), vec!["ch1_current".to_string()]),
            ]
        );
    }
}
