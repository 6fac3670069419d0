//! `GET /monitor/logs?source=&level=&text=&from=&to=&before=&limit=&format=`: the stored
//! log lines, newest first, in pages ([`super::listing`]). The command port's `logs`
//! takes the same filters ([`parse`] reads both) and answers the same JSON or CSV.
//!
//! - `source`: one source (a client's name, `monitor`, `script`);
//! - `level`: that level and the more severe ones (`debug` is all);
//! - `text`: messages containing it (any case, for ASCII letters);
//! - `from`/`to`: as in [`super::range`]; left out, `to` is now and `from` as far back as
//!   a range may reach ([`super::range::LONGEST`]);
//! - `before`: the `next` of the page before; `limit`: lines in a page.
//!
//! JSON: `{"logs": [{"id", "time", "t", "level", "source", "message"}], "more", "next",
//! "from", "to"}`; CSV: `id,time,utc,level,source,message`.

use super::history::csv_field;
use super::listing::{self, next, Cell, Format};
use super::{failure, unix_seconds, utc_millis, Web};
use crate::store::{LogQuery, LogRecord, Page, Stored};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use labwire_protocol::LogLevel;
use serde_json::json;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

/// A checked request.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub query: LogQuery,
    pub format: Format,
}

/// Read the filters from `(key, value)` pairs (a URL's query, a command's kwargs); empty
/// values count as left out.
pub fn parse<K, V>(
    pairs: impl IntoIterator<Item = (K, V)>,
    now: SystemTime,
) -> Result<Request, String>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let (mut source, mut min_level, mut text) = (None, LogLevel::Debug, None);
    let mut common = listing::Common::default();
    for (key, value) in pairs {
        let (key, value) = (key.as_ref(), value.as_ref());
        if value.is_empty() || common.take(key, value)? {
            continue;
        }
        match key {
            "source" => source = Some(listing::name_filter(key, value)?),
            "level" => {
                min_level = value.parse().map_err(|_| {
                    format!("level={value:?}: debug, info, warning or error (that level and above)")
                })?
            }
            "text" => text = Some(listing::text_filter(key, value)?),
            other => return Err(listing::unknown(other, "source, level, text")),
        }
    }
    let range = common.range(now)?;
    Ok(Request {
        query: LogQuery {
            source,
            min_level,
            text,
            from: range.from,
            to: range.to,
            before: common.before,
            limit: common.limit,
        },
        format: common.format,
    })
}

pub fn json_document(query: &LogQuery, page: &Page<Stored<LogRecord>>) -> serde_json::Value {
    let logs: Vec<_> = page
        .items
        .iter()
        .map(|Stored { id, record }| {
            json!({
                "id": id,
                "time": utc_millis(record.time),
                "t": unix_seconds(record.time),
                "level": record.level,
                "source": record.source,
                "message": record.message,
            })
        })
        .collect();
    json!({
        "logs": logs,
        "more": page.more,
        "next": next(page),
        "from": utc_millis(query.from),
        "to": utc_millis(query.to),
    })
}

pub fn csv(page: &Page<Stored<LogRecord>>) -> String {
    let mut out = String::with_capacity(64 + page.items.len() * 96);
    out.push_str("id,time,utc,level,source,message\r\n");
    for Stored { id, record } in &page.items {
        let _ = write!(
            out,
            "{id},{},{},{},{},{}\r\n",
            labwire_protocol::format_millis_as_seconds(
                crate::store::to_millis(record.time).max(0) as u64
            ),
            utc_millis(record.time),
            csv_field(&record.level),
            csv_field(&record.source),
            csv_field(&record.message),
        );
    }
    out
}

pub async fn list(State(web): State<Arc<Web>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let request = match parse(listing::pairs(&query), SystemTime::now()) {
        Ok(request) => request,
        Err(why) => return failure(StatusCode::BAD_REQUEST, why),
    };
    let monitor = web.hub.name.clone();
    let outcome = web
        .blocking
        .read(move |reader| {
            let page = reader.logs(&request.query).map_err(|err| err.to_string())?;
            listing::render(listing::Answer {
                monitor: &monitor,
                route: "/monitor/logs",
                query: &query,
                format: request.format,
                next: next(&page),
                json: &|| json_document(&request.query, &page),
                csv: &|| csv(&page),
                title: "Log",
                columns: &["UTC", "level", "source", "message"],
                rows: &|| {
                    page.items
                        .iter()
                        .map(|Stored { record, .. }| {
                            vec![
                                Cell::text(utc_millis(record.time)),
                                Cell::text(record.level.clone()),
                                Cell::text(record.source.clone()),
                                Cell::text(record.message.clone()),
                            ]
                        })
                        .collect()
                },
            })
        })
        .await;
    listing::respond(&web, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::range::LONGEST;
    use std::time::{Duration, UNIX_EPOCH};

    fn parsed(query: &str) -> Result<Request, String> {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        parse(listing::pairs(query), now)
    }

    #[test]
    fn every_filter_is_read_and_checked() {
        let r = parsed("").unwrap();
        assert_eq!(r.format, Format::Json);
        assert_eq!(r.query.min_level, LogLevel::Debug);
        assert_eq!(r.query.to.duration_since(r.query.from).unwrap(), LONGEST);
        assert_eq!(r.query.limit, listing::DEFAULT_LIMIT);
        let r = parsed(
            "source=psu1&level=warning&text=Output+on&from=-60&to=now&before=42&limit=5&format=csv",
        )
        .unwrap();
        assert_eq!(r.query.source.as_deref(), Some("psu1"));
        assert_eq!(r.query.min_level, LogLevel::Warning);
        assert_eq!(r.query.text.as_deref(), Some("Output on"));
        assert_eq!(
            r.query.to.duration_since(r.query.from).unwrap().as_secs(),
            60
        );
        assert_eq!((r.query.before, r.query.limit), (Some(42), 5));
        assert_eq!(r.format, Format::Csv);
        // Blank fields of a form filter nothing.
        assert_eq!(
            parsed("source=&text=&level=&from=").unwrap(),
            parsed("").unwrap()
        );
        let long = format!("text={}", "x".repeat(listing::MAX_TEXT + 1));
        for (query, why) in [
            (
                "level=warn",
                "level=\"warn\": debug, info, warning or error",
            ),
            ("source=a%20b", "source=\"a b\": a name"),
            (long.as_str(), "text: at most 200 bytes"),
            ("from=yesterday", "from=\"yesterday\""),
            ("from=-10&to=-20", "before"),
            ("before=0", "before=\"0\""),
            ("before=x", "before=\"x\""),
            ("limit=0", "1 to 1000"),
            ("limit=1001", "1 to 1000"),
            ("format=xml", "format=\"xml\""),
            ("sauce=psu1", "unknown parameter \"sauce\""),
        ] {
            let err = parsed(query).unwrap_err();
            assert!(err.contains(why), "{query}: {err}");
        }
    }
}
