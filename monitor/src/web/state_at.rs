//! `GET /monitor/status?at=<time>[&client=][&offset=][&limit=]`: every variable as it was
//! at a moment, from the history: each one's last stored sample at or before `at`, with
//! its time and its age then. `at` is an instant as in [`super::range`] (a UTC time, Unix
//! seconds, seconds relative to now). Without any parameter the route answers the live
//! status ([`super::page::status`]); these parameters without `at` are refused.
//!
//! `{"at", "at_unix", "client", "offset", "more", "values": [{"variable", "client", "key",
//! "value", "time", "t", "age"}]}`, ordered by client and key, at most `limit` (default and
//! most [`MAX_LIMIT`]) from `offset`; `more` says whether a next page follows. `value` is
//! a number, a text, or `null` where the value could not be read; `t` is Unix seconds and
//! `age` the seconds from `t` to `at`.

use super::range::instant;
use super::{blocking, paging};
use super::{failure, unix_seconds, utc_millis, Web};
use crate::store::{Page, Value, ValueAt};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::SystemTime;

pub const MAX_LIMIT: usize = 5000;

/// The checked query.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub at: SystemTime,
    pub client: Option<String>,
    pub offset: usize,
    pub limit: usize,
}

/// Read the query; `Ok(None)` when it has no parameter at all (the live status).
pub fn parse_query(query: &str, now: SystemTime) -> Result<Option<Request>, String> {
    let (mut at, mut client, mut offset, mut limit) = (None, None, 0, MAX_LIMIT);
    let mut any = false;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        any = true;
        match key.as_ref() {
            "at" => at = Some(instant("at", &value, now)?),
            "client" => client = Some(value.into_owned()),
            "offset" => offset = paging::offset(&value)?,
            "limit" => limit = paging::limit(&value, MAX_LIMIT)?,
            other => {
                return Err(format!(
                    "unknown parameter {other:?}: at, client, offset, limit"
                ))
            }
        }
    }
    if !any {
        return Ok(None);
    }
    let at = at.ok_or("client, offset and limit go with at=<time>: the state at that time")?;
    Ok(Some(Request {
        at,
        client,
        offset,
        limit,
    }))
}

/// The answer to `request`, read and written in the blocking pool (a page of thousands
/// of values is CPU work that does not belong on the threads serving the command port).
pub async fn answer(web: &Web, request: Request) -> Response {
    let job = web
        .blocking
        .read(move |reader| {
            let Request {
                at,
                ref client,
                offset,
                limit,
            } = request;
            let page = reader.values_at(at, client.as_deref(), offset, limit)?;
            Ok::<_, crate::store::StoreError>(document(&request, &page).to_string())
        })
        .await;
    match job {
        Ok(Ok(body)) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Ok(Err(err)) => failure(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        Err(err) => blocking::unavailable(&web.counters, err),
    }
}

fn document(request: &Request, page: &Page<ValueAt>) -> serde_json::Value {
    let at_unix = unix_seconds(request.at);
    let values: Vec<_> = page
        .items
        .iter()
        .map(|v| {
            let t = unix_seconds(v.time);
            json!({
                "variable": v.variable.full(),
                "client": v.variable.client,
                "key": v.variable.key,
                "value": match &v.value {
                    Value::Number(x) => json!(x),
                    Value::Text(text) => json!(text),
                    Value::Missing => serde_json::Value::Null,
                },
                "time": utc_millis(v.time),
                "t": t,
                "age": ((at_unix - t) * 1000.0).round() / 1000.0,
            })
        })
        .collect();
    json!({
        "at": utc_millis(request.at),
        "at_unix": at_unix,
        "client": request.client,
        "offset": request.offset,
        "more": page.more,
        "values": values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_query_is_checked() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(parse_query("", now).unwrap(), None);
        let r = parse_query("at=2027-01-15T05:13:20Z&client=psu1&offset=10&limit=5", now)
            .unwrap()
            .unwrap();
        assert_eq!(r.at, UNIX_EPOCH + Duration::from_secs(1_799_990_000));
        assert_eq!(
            (r.client.as_deref(), r.offset, r.limit),
            (Some("psu1"), 10, 5)
        );
        let r = parse_query("at=-3600", now).unwrap().unwrap();
        assert_eq!(r.at, now - Duration::from_secs(3600));
        assert_eq!(r.limit, MAX_LIMIT);
        for (query, why) in [
            ("at=yesterday", "at=\"yesterday\""),
            ("at=2027-02-29T00:00:00Z", "no such date"),
            ("client=psu1", "go with at="),
            ("at=0&offset=x", "offset=\"x\""),
            ("at=0&limit=0", "1 to 5000"),
            ("at=0&limit=5001", "1 to 5000"),
            ("at=0&when=1", "unknown parameter \"when\""),
        ] {
            let err = parse_query(query, now).unwrap_err();
            assert!(err.contains(why), "{query}: {err}");
        }
    }
}
