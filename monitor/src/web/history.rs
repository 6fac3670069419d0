//! `GET /monitor/history?var=<client>.<key>[&var=...]&from=&to=&format=csv|json[&limit=N]`:
//! stored samples of one or more variables (see [`super::range`] for `from`/`to`).
//!
//! - `format=csv` (the default): `time,utc,variable,value`, one row per sample, variables
//!   one after the other, each oldest first. `time` is Unix seconds, `utc` the same instant
//!   in ISO 8601; a value that could not be read is an empty field.
//! - `format=json`: `{"from", "to", "variables": [{"variable", "client", "key", "truncated",
//!   "t": [...], "value": [...]}]}` with times in Unix seconds and values as numbers,
//!   strings, or `null` where the value could not be read.
//!
//! At most [`MAX_VARS`] variables and [`MAX_ROWS`] samples in all (shared evenly, `limit`
//! lowers it per variable); a variable cut short says `truncated` (JSON) or is named in the
//! `X-Labwire-Truncated` header (both formats).
//!
//! `step=<seconds>` (a whole number, 1 to [`MAX_STEP`]) answers per step instead of per
//! sample: steps aligned to multiples of `step` since the epoch (the first and last may
//! be partial), only those holding samples, each with `count` (numbers), `missing`
//! (unreadable values), `min`, `max` and `mean` of its numbers (empty or `null` when it
//! held none; text values are left out). CSV: `time,utc,variable,count,missing,min,max,
//! mean`, the time being the step's start; JSON: `"step"` and per variable `"t"`,
//! `"count"`, `"missing"`, `"min"`, `"max"`, `"mean"`. A step that a rollup tier's width
//! divides is read from the tier (see `Reader::steps`), so a year in hours reads 8,760
//! rows. `limit` and [`MAX_ROWS`] count steps.

use super::blocking::PoolError;
use super::range::Range;
use super::{failure, unix_seconds, utc_millis, Web};
use crate::hub::Hub;
use crate::store::{Bucket, Value};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

pub const MAX_VARS: usize = 32;
pub const MAX_ROWS: usize = 2_000_000;
/// The longest `step`: a leap year, in seconds.
pub const MAX_STEP: u64 = 366 * 86_400;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Csv,
    Json,
}

/// One requested variable.
#[derive(Clone, Debug, PartialEq)]
pub struct Variable {
    pub client: String,
    pub key: String,
}

impl Variable {
    pub fn full(&self) -> String {
        format!("{}.{}", self.client, self.key)
    }
}

/// Split `<client>.<key>` at a configured client's name (names may hold dots).
pub fn variable(hub: &Hub, text: &str) -> Option<Variable> {
    hub.slots()
        .iter()
        .filter(|slot| {
            text.len() > slot.name.len() + 1
                && text.starts_with(slot.name.as_str())
                && text.as_bytes()[slot.name.len()] == b'.'
        })
        .max_by_key(|slot| slot.name.len())
        .map(|slot| Variable {
            client: slot.name.clone(),
            key: text[slot.name.len() + 1..].to_string(),
        })
}

struct Series {
    variable: Variable,
    samples: Vec<(SystemTime, Value)>,
    /// With `step=`: the steps instead of the samples.
    steps: Vec<Bucket>,
    truncated: bool,
}

/// A `step` parameter: whole seconds, 1 to [`MAX_STEP`], as milliseconds.
fn step_ms(value: &str) -> Result<i64, String> {
    match value.parse::<u64>() {
        Ok(seconds) if (1..=MAX_STEP).contains(&seconds) => Ok(seconds as i64 * 1000),
        _ => Err(format!(
            "step={value:?}: a whole number of seconds from 1 to {MAX_STEP}"
        )),
    }
}

pub async fn export(State(web): State<Arc<Web>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let mut names = Vec::new();
    let (mut from, mut to, mut format, mut limit) = (None, None, Format::Csv, MAX_ROWS);
    let mut step = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "var" => names.push(value.into_owned()),
            "from" => from = Some(value.into_owned()),
            "to" => to = Some(value.into_owned()),
            "format" => {
                format = match value.as_ref() {
                    "csv" => Format::Csv,
                    "json" => Format::Json,
                    other => {
                        return failure(
                            StatusCode::BAD_REQUEST,
                            format!("format={other:?}: csv or json"),
                        )
                    }
                }
            }
            "limit" => match value.parse::<usize>() {
                Ok(n) if n > 0 => limit = n,
                _ => {
                    return failure(
                        StatusCode::BAD_REQUEST,
                        format!("limit={value:?}: a positive whole number"),
                    )
                }
            },
            "step" => match step_ms(&value) {
                Ok(ms) => step = Some(ms),
                Err(why) => return failure(StatusCode::BAD_REQUEST, why),
            },
            other => {
                return failure(
                    StatusCode::BAD_REQUEST,
                    format!("unknown parameter {other:?}: var, from, to, format, limit, step"),
                )
            }
        }
    }
    if names.is_empty() || names.len() > MAX_VARS {
        return failure(
            StatusCode::BAD_REQUEST,
            format!("give 1 to {MAX_VARS} var=<client>.<key>"),
        );
    }
    let mut variables = Vec::new();
    for name in &names {
        match variable(&web.hub, name) {
            Some(v) => variables.push(v),
            None => {
                return failure(
                    StatusCode::NOT_FOUND,
                    format!("var={name:?}: no configured client has that variable name"),
                )
            }
        }
    }
    let range = match Range::parse(from.as_deref(), to.as_deref(), SystemTime::now()) {
        Ok(range) => range,
        Err(why) => return failure(StatusCode::BAD_REQUEST, why),
    };
    let per_variable = limit.min(MAX_ROWS / variables.len());
    let job = web
        .blocking
        .read(move |reader| {
            let mut all = Vec::with_capacity(variables.len());
            for variable in variables {
                // One more than the limit tells a full answer from a cut one.
                let (mut samples, mut steps) = (Vec::new(), Vec::new());
                let (client, key) = (&variable.client, &variable.key);
                let truncated = match step {
                    None => {
                        samples =
                            reader.history(client, key, range.from, range.to, per_variable + 1)?;
                        let cut = samples.len() > per_variable;
                        samples.truncate(per_variable);
                        cut
                    }
                    Some(step) => {
                        steps = reader.steps(
                            client,
                            key,
                            range.from,
                            range.to,
                            step,
                            per_variable + 1,
                        )?;
                        let cut = steps.len() > per_variable;
                        steps.truncate(per_variable);
                        cut
                    }
                };
                all.push(Series {
                    variable,
                    samples,
                    steps,
                    truncated,
                });
            }
            let body = match (format, step) {
                (Format::Csv, None) => csv(&all),
                (Format::Json, None) => json_document(&all, range),
                (Format::Csv, Some(_)) => steps_csv(&all),
                (Format::Json, Some(step)) => steps_json(&all, range, step),
            };
            let truncated: Vec<String> = all
                .iter()
                .filter(|s| s.truncated)
                .map(|s| s.variable.full())
                .collect();
            Ok::<_, crate::store::StoreError>((body, truncated))
        })
        .await;
    let (body, truncated) = match job {
        Ok(Ok(answer)) => answer,
        Ok(Err(err)) => return failure(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        Err(PoolError::Busy) => {
            web.counters
                .busy
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return failure(StatusCode::SERVICE_UNAVAILABLE, PoolError::Busy.to_string());
        }
        Err(err) => return failure(StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    };
    let kind = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Json => "application/json",
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response();
    if !truncated.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&truncated.join(" ")) {
            response.headers_mut().insert("x-labwire-truncated", value);
        }
    }
    response
}

fn csv(all: &[Series]) -> String {
    let rows: usize = all.iter().map(|s| s.samples.len()).sum();
    let mut out = String::with_capacity(32 + rows * 48);
    out.push_str("time,utc,variable,value\r\n");
    for series in all {
        let name = csv_field(&series.variable.full());
        for (time, value) in &series.samples {
            let _ = write!(
                out,
                "{},{},{name},",
                labwire_protocol::format_millis_as_seconds(
                    crate::store::to_millis(*time).max(0) as u64
                ),
                utc_millis(*time)
            );
            match value {
                Value::Number(x) => out.push_str(&labwire_protocol::format_number(*x)),
                Value::Text(text) => out.push_str(&csv_field(text)),
                Value::Missing => {}
            }
            out.push_str("\r\n");
        }
    }
    out
}

fn steps_csv(all: &[Series]) -> String {
    let rows: usize = all.iter().map(|s| s.steps.len()).sum();
    let mut out = String::with_capacity(64 + rows * 80);
    out.push_str("time,utc,variable,count,missing,min,max,mean\r\n");
    for series in all {
        let name = csv_field(&series.variable.full());
        for step in &series.steps {
            let time = crate::store::from_millis(step.start);
            let _ = write!(
                out,
                "{},{},{name},{},{},",
                labwire_protocol::format_millis_as_seconds(step.start.max(0) as u64),
                utc_millis(time),
                step.count,
                step.missing
            );
            if let Some((min, max, mean)) = step.stats() {
                let _ = write!(
                    out,
                    "{},{},{}",
                    labwire_protocol::format_number(min),
                    labwire_protocol::format_number(max),
                    labwire_protocol::format_number(mean)
                );
            } else {
                out.push_str(",,");
            }
            out.push_str("\r\n");
        }
    }
    out
}

fn steps_json(all: &[Series], range: Range, step_ms: i64) -> String {
    let variables: Vec<_> = all
        .iter()
        .map(|series| {
            let steps = &series.steps;
            let stat = |pick: fn((f64, f64, f64)) -> f64| -> Vec<Option<f64>> {
                steps.iter().map(|s| s.stats().map(pick)).collect()
            };
            json!({
                "variable": series.variable.full(),
                "client": series.variable.client,
                "key": series.variable.key,
                "truncated": series.truncated,
                "t": steps.iter().map(|s| s.start as f64 / 1000.0).collect::<Vec<_>>(),
                "count": steps.iter().map(|s| s.count).collect::<Vec<_>>(),
                "missing": steps.iter().map(|s| s.missing).collect::<Vec<_>>(),
                "min": stat(|s| s.0),
                "max": stat(|s| s.1),
                "mean": stat(|s| s.2),
            })
        })
        .collect();
    json!({
        "from": unix_seconds(range.from),
        "to": unix_seconds(range.to),
        "step": step_ms / 1000,
        "variables": variables,
    })
    .to_string()
}

/// RFC 4180: quote a field holding a comma, quote or line break, doubling its quotes.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn json_document(all: &[Series], range: Range) -> String {
    let variables: Vec<_> = all
        .iter()
        .map(|series| {
            let times: Vec<f64> = series
                .samples
                .iter()
                .map(|(t, _)| unix_seconds(*t))
                .collect();
            let values: Vec<serde_json::Value> = series
                .samples
                .iter()
                .map(|(_, value)| match value {
                    Value::Number(x) => json!(x),
                    Value::Text(text) => json!(text),
                    Value::Missing => serde_json::Value::Null,
                })
                .collect();
            json!({
                "variable": series.variable.full(),
                "client": series.variable.client,
                "key": series.variable.key,
                "truncated": series.truncated,
                "t": times,
                "value": values,
            })
        })
        .collect();
    json!({
        "from": unix_seconds(range.from),
        "to": unix_seconds(range.to),
        "variables": variables,
    })
    .to_string()
}
