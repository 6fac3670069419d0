//! `GET /monitor/plot/<client>/<plot_id>?from=&to=&width=&height=`: one configured plot
//! (`[[plots]]` of monitor.ini) as a PNG drawn by `labwire-plot` from the stored history.
//!
//! The first of the plot's `values` is the abscissa. `time` (the usual one) plots each
//! further variable against time, UTC; any other variable plots the rest against it,
//! pairing each sample with the abscissa's latest value at or before it. `from`/`to` are
//! as in [`super::range`] (default: the last hour); `width`/`height` default to the
//! configuration's and are kept within 100..4000 pixels.
//!
//! A plotted `profile_setpoint` or `loop<N>_profile_setpoint` is the daemon's planned
//! profile ([`super::plan`]), drawn dashed over the measured values; without a `to` the
//! plot then reaches past now as far as it looks back (at most to the plan's end), so
//! the part still to come shows.
//!
//! Reading and drawing run in the [`super::blocking`] pool; when it is full the answer is
//! 503 with `Retry-After`, at once.

use super::blocking;
use super::plan::{self, Plan};
use super::range::Range;
use super::series::SeriesCache;
use super::{failure, unix_seconds, Web};
use crate::config::PlotConfig;
use crate::store::{Reader, StoreError, Value};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use labwire_plot::{render_png_with_plans, PlotSpec, Series};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

/// Samples read per variable; a week at 1 Hz fits.
pub const MAX_POINTS: usize = 1_000_000;

/// What to draw: the plot's configuration, the range and the pixel size.
#[derive(Clone, Debug)]
pub struct Request {
    pub client: String,
    pub plot: PlotConfig,
    pub range: Range,
    /// No `to` was asked: a plot with plans may reach past the range's end (now).
    pub open_ended: bool,
    pub width: u32,
    pub height: u32,
    /// The daemon's planned profiles, for plotted `..profile_setpoint` variables.
    pub plans: Vec<Plan>,
}

pub async fn png(
    State(web): State<Arc<Web>>,
    Path((client, plot_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(page) = web.client(&client) else {
        return failure(StatusCode::NOT_FOUND, format!("no client named {client:?}"));
    };
    let Some(plot) = page.plots.iter().find(|p| p.id == plot_id) else {
        return failure(
            StatusCode::NOT_FOUND,
            format!("{client} has no plot {plot_id:?}"),
        );
    };
    let mut request = match parse_query(&client, plot, query.as_deref().unwrap_or("")) {
        Ok(request) => request,
        Err(why) => return failure(StatusCode::BAD_REQUEST, why),
    };
    if plot.values.first().is_some_and(|x| x == "time") {
        request.plans = plan::fetch(&web.hub, &client, &plot.values[1..]).await;
    }
    if let Some(store) = web.hub.store() {
        web.series.follow(store.stats().reopened);
    }
    let series = web.series.clone();
    match web
        .blocking
        .read(move |reader| draw(reader, &series, &request))
        .await
    {
        Ok(Ok(png)) => png_response(&web, png),
        Ok(Err(why)) => failure(StatusCode::INTERNAL_SERVER_ERROR, why),
        Err(err) => blocking::unavailable(&web.counters, err),
    }
}

/// A drawn plot as the answer: a PNG, cached briefly (a page asks again within seconds
/// only when it zooms).
pub fn png_response(web: &Web, png: Vec<u8>) -> Response {
    web.counters.plots_rendered.fetch_add(1, Ordering::Relaxed);
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=5"),
        ],
        png,
    )
        .into_response()
}

fn parse_query(client: &str, plot: &PlotConfig, query: &str) -> Result<Request, String> {
    let (mut from, mut to) = (None, None);
    let (mut width, mut height) = (plot.width, plot.height);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "from" => from = Some(value.to_string()),
            "to" => to = Some(value.to_string()),
            "width" => width = pixels(&key, &value)?,
            "height" => height = pixels(&key, &value)?,
            // The page adds a counter so that browsers fetch a fresh image.
            "t" => {}
            other => {
                return Err(format!(
                    "unknown parameter {other:?}: from, to, width, height"
                ))
            }
        }
    }
    let range = Range::parse(from.as_deref(), to.as_deref(), SystemTime::now())?;
    let (width, height) = labwire_plot::clamp_size(width, height);
    Ok(Request {
        client: client.to_string(),
        plot: plot.clone(),
        range,
        open_ended: to.is_none(),
        width,
        height,
        plans: Vec::new(),
    })
}

/// A `width` or `height` parameter (kept within bounds later, by `clamp_size`).
pub fn pixels(key: &str, value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .map_err(|_| format!("{key}={value:?}: a whole number of pixels"))
}

/// Read the plot's variables (through `cache` when plotted against time) and draw them.
/// Blocking.
pub fn draw(reader: &Reader, cache: &SeriesCache, request: &Request) -> Result<Vec<u8>, String> {
    let plot = &request.plot;
    let (x0, x1) = request.range.seconds();
    let history = |key: &str| -> Result<Vec<(f64, Value)>, StoreError> {
        Ok(reader
            .history(
                &request.client,
                key,
                request.range.from,
                request.range.to,
                MAX_POINTS,
            )?
            .into_iter()
            .map(|(t, v)| (unix_seconds(t), v))
            .collect())
    };
    let Some((abscissa, ordinates)) = plot.values.split_first() else {
        return Err(format!("plot {} has no values", plot.id));
    };
    let time_axis = abscissa == "time";
    let fail = |err: StoreError| format!("history of {}: {err}", request.client);
    let abscissa_samples = if time_axis {
        Vec::new()
    } else {
        history(abscissa).map_err(fail)?
    };
    let mut series = Vec::with_capacity(ordinates.len());
    let mut planned = Vec::new();
    for key in ordinates {
        if let Some(plan) = request.plans.iter().find(|p| &p.key == key) {
            planned.push(Series {
                name: format!("{key} (plan)"),
                points: plan.points.clone(),
            });
            continue;
        }
        let points = if time_axis {
            cache
                .points(
                    reader,
                    &request.client,
                    key,
                    (request.range.from, request.range.to),
                    request.width,
                )
                .map_err(fail)?
        } else {
            against(&abscissa_samples, &history(key).map_err(fail)?)
        };
        series.push(Series {
            name: key.clone(),
            points,
        });
    }
    let x_range = if time_axis && request.open_ended {
        (x0, plan::reach_ahead(&request.plans, (x0, x1)))
    } else if time_axis {
        (x0, x1)
    } else {
        let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
        if lo < hi {
            (lo, hi)
        } else {
            (lo - 0.5, lo + 0.5)
        }
    };
    let spec = PlotSpec {
        title: plot.name.clone(),
        xlabel: plot.xlabel.clone(),
        ylabel: plot.ylabel.clone(),
        width: request.width,
        height: request.height,
        yscale: plot.yscale,
        time_axis,
        ..PlotSpec::default()
    };
    render_png_with_plans(&spec, &series, &planned, x_range).map_err(|err| err.to_string())
}

/// A plotted value: numbers as they are, an unreadable value as a gap (NaN), text not at
/// all.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(x) => Some(*x),
        Value::Missing => Some(f64::NAN),
        Value::Text(_) => None,
    }
}

/// `(x, y)` for every `y` sample that has an `x` sample at or before it, sorted by x.
fn against(xs: &[(f64, Value)], ys: &[(f64, Value)]) -> Vec<(f64, f64)> {
    let mut points = Vec::with_capacity(ys.len());
    let mut next = 0;
    let mut current: Option<f64> = None;
    for (t, y) in ys {
        while next < xs.len() && xs[next].0 <= *t {
            current = number(&xs[next].1).filter(|x| x.is_finite());
            next += 1;
        }
        if let (Some(x), Some(y)) = (current, number(y)) {
            points.push((x, y));
        }
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_each_sample_with_the_latest_abscissa() {
        let xs = [
            (10.0, Value::Number(1.0)),
            (20.0, Value::Number(3.0)),
            (30.0, Value::Missing),
        ];
        let ys = [
            (5.0, Value::Number(100.0)),
            (10.0, Value::Number(101.0)),
            (25.0, Value::Number(102.0)),
            (31.0, Value::Number(103.0)),
        ];
        assert_eq!(against(&xs, &ys), vec![(1.0, 101.0), (3.0, 102.0)]);
    }

    #[test]
    fn query_sizes_are_checked_and_clamped() {
        let plot = PlotConfig {
            id: "p".into(),
            name: "P".into(),
            values: vec!["time".into(), "x".into()],
            xlabel: String::new(),
            ylabel: String::new(),
            width: 800,
            height: 300,
            yscale: labwire_plot::YScale::Linear,
        };
        let r = parse_query("c", &plot, "").unwrap();
        assert_eq!((r.width, r.height), (800, 300));
        let r = parse_query("c", &plot, "width=50&height=9000&from=-900&t=3").unwrap();
        assert_eq!((r.width, r.height), (100, 4000));
        assert!(parse_query("c", &plot, "width=wide")
            .unwrap_err()
            .contains("pixels"));
        assert!(parse_query("c", &plot, "colour=red")
            .unwrap_err()
            .contains("unknown"));
        assert!(parse_query("c", &plot, "from=soon").is_err());
    }
}
