//! How the logbook's lists (`/monitor/logs`, `/monitor/alarms`) answer a page: `format=`
//! `json` (the default), `csv` or `html` (a table of its own, `templates/listing.html`,
//! with links to the older page and the same page as CSV and JSON); the cursor of the
//! next page is `next` in the JSON and the `X-Labwire-Next` header in all three. Empty
//! filter values count as left out, so a form's blank fields filter nothing.

use super::blocking::PoolError;
use super::{failure, Web};
use crate::store::{Page, Stored};
use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;

/// Rows in a page unless `limit=` says otherwise; and the most it may say.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
/// The longest text filter taken.
pub const MAX_TEXT: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Html,
}

impl Format {
    pub fn parse(value: &str) -> Result<Format, String> {
        match value {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "html" => Ok(Format::Html),
            other => Err(format!("format={other:?}: json, csv or html")),
        }
    }
}

/// The parameters every list takes: its time range, its page and its format.
#[derive(Clone, Debug)]
pub struct Common {
    from: Option<String>,
    to: Option<String>,
    pub before: Option<i64>,
    pub limit: usize,
    pub format: Format,
}

/// What a list's own parameters are called, for the message naming an unknown one.
const COMMON_NAMES: &str = "from, to, before, limit, format";

impl Default for Common {
    fn default() -> Self {
        Common {
            from: None,
            to: None,
            before: None,
            limit: DEFAULT_LIMIT,
            format: Format::Json,
        }
    }
}

impl Common {
    /// Take `key=value` if it is one of the common parameters: `Ok(false)` when it is not.
    pub fn take(&mut self, key: &str, value: &str) -> Result<bool, String> {
        match key {
            "from" => self.from = Some(value.to_string()),
            "to" => self.to = Some(value.to_string()),
            "before" => self.before = Some(super::paging::cursor(value)?),
            "limit" => self.limit = super::paging::limit(value, MAX_LIMIT)?,
            "format" => self.format = Format::parse(value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The range asked for, at most [`LONGEST`](super::range::LONGEST) long.
    pub fn range(&self, now: std::time::SystemTime) -> Result<super::range::Range, String> {
        super::range::Range::parse_spanning(
            self.from.as_deref(),
            self.to.as_deref(),
            now,
            super::range::LONGEST,
        )
    }
}

/// The error for a parameter a list does not take; `own` names the list's own ones.
pub fn unknown(key: &str, own: &str) -> String {
    format!("unknown parameter {key:?}: {own}, {COMMON_NAMES}")
}

/// The cursor of the page after `page`: its last row, when more follow.
pub fn next<T>(page: &Page<Stored<T>>) -> Option<i64> {
    page.more.then(|| page.items.last().map(|s| s.id)).flatten()
}

/// The query's pairs, decoded, without the empty ones.
pub fn pairs(query: &str) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    form_urlencoded::parse(query.as_bytes())
        .filter(|(_, value)| !value.is_empty())
        .collect()
}

/// A text filter (`text=`, `name=`), bounded.
pub fn text_filter(key: &str, value: &str) -> Result<String, String> {
    if value.len() > MAX_TEXT {
        return Err(format!("{key}: at most {MAX_TEXT} bytes"));
    }
    Ok(value.to_string())
}

/// A name filter (`source=`, `client=`): a name as the protocol allows them.
pub fn name_filter(key: &str, value: &str) -> Result<String, String> {
    if !labwire_protocol::is_valid_name(value) {
        return Err(format!(
            "{key}={value:?}: a name (letters, digits, '_', '-', '.')"
        ));
    }
    Ok(value.to_string())
}

/// One cell of the HTML table: its text, and where it links to.
pub struct Cell {
    pub text: String,
    pub href: Option<String>,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            href: None,
        }
    }

    pub fn link(text: impl Into<String>, href: String) -> Cell {
        Cell {
            text: text.into(),
            href: Some(href),
        }
    }
}

#[derive(Template)]
#[template(path = "listing.html")]
struct Listing<'a> {
    monitor: &'a str,
    title: &'a str,
    columns: &'a [&'a str],
    rows: Vec<Vec<Cell>>,
    older: Option<String>,
    csv: String,
    json: String,
    asset_version: &'static str,
}

/// A page of a list, to be written in one of the three formats. Built and rendered in
/// the blocking pool, with the rows just read: a page of a thousand lines is CPU work
/// that does not belong on the threads serving the command port.
pub struct Answer<'a> {
    /// The monitor's name, for the HTML page's title.
    pub monitor: &'a str,
    pub route: &'a str,
    /// The request's query, to build the links from.
    pub query: &'a str,
    pub format: Format,
    pub next: Option<i64>,
    pub json: &'a dyn Fn() -> serde_json::Value,
    pub csv: &'a dyn Fn() -> String,
    pub title: &'a str,
    pub columns: &'a [&'a str],
    pub rows: &'a dyn Fn() -> Vec<Vec<Cell>>,
}

/// A page written: its content type, its text, the cursor of the page after it.
pub struct Body {
    pub kind: &'static str,
    pub text: String,
    pub next: Option<i64>,
}

/// The route's URL with `query`, its `before` and `format` replaced.
fn link(route: &str, query: &str, before: Option<i64>, format: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs(query) {
        if key != "before" && key != "format" {
            out.append_pair(&key, &value);
        }
    }
    if let Some(before) = before {
        out.append_pair("before", &before.to_string());
    }
    out.append_pair("format", format);
    format!("{route}?{}", out.finish())
}

/// Write the page in its format.
pub fn render(answer: Answer<'_>) -> Result<Body, String> {
    let (kind, text) = match answer.format {
        Format::Json => ("application/json", (answer.json)().to_string()),
        Format::Csv => ("text/csv; charset=utf-8", (answer.csv)()),
        Format::Html => {
            let before = pairs(answer.query)
                .into_iter()
                .find(|(key, _)| key == "before")
                .and_then(|(_, value)| value.parse().ok());
            let page = Listing {
                monitor: answer.monitor,
                title: answer.title,
                columns: answer.columns,
                rows: (answer.rows)(),
                older: answer
                    .next
                    .map(|next| link(answer.route, answer.query, Some(next), "html")),
                csv: link(answer.route, answer.query, before, "csv"),
                json: link(answer.route, answer.query, before, "json"),
                asset_version: super::assets::version(),
            };
            let html = page
                .render()
                .map_err(|err| format!("listing template: {err}"))?;
            ("text/html; charset=utf-8", html)
        }
    };
    Ok(Body {
        kind,
        text,
        next: answer.next,
    })
}

/// The answer to a list's request: the page, or why there is none (the pool's 503, a
/// failed read's 500).
pub fn respond(web: &Web, outcome: Result<Result<Body, String>, PoolError>) -> Response {
    let body = match outcome {
        Ok(Ok(body)) => body,
        Ok(Err(why)) => return failure(StatusCode::INTERNAL_SERVER_ERROR, why),
        Err(err) => return super::blocking::unavailable(&web.counters, err),
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, body.kind),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.text,
    )
        .into_response();
    if let Some(next) = body.next {
        response
            .headers_mut()
            .insert("x-labwire-next", HeaderValue::from(next));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_filters_and_replace_the_page() {
        assert_eq!(
            link(
                "/monitor/logs",
                "level=warning&before=9&text=a+b&format=html&to=",
                Some(4),
                "csv"
            ),
            "/monitor/logs?level=warning&text=a+b&before=4&format=csv"
        );
        assert!(Format::parse("xml")
            .unwrap_err()
            .contains("json, csv or html"));
        assert!(name_filter("source", "a b").is_err());
        assert!(text_filter("text", &"x".repeat(MAX_TEXT + 1)).is_err());
    }
}
