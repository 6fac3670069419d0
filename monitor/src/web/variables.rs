//! `GET /monitor/variables?search=&offset=&limit=`: the stored variables, for the page's
//! plot builder to pick from: every `<client>.<key>` the history holds (of clients
//! configured now or not) whose name contains `search` (any case), ordered by name, in
//! pages of `limit` (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]) from `offset`.
//!
//! `{"variables": [{"variable", "client", "key", "unit", "axis"}], "offset", "more"}`:
//! `unit` is what groups the variable onto a plot axis ([`super::units`]), `axis` that
//! axis's title; `more` says whether a next page follows.

use super::units::unit_of;
use super::{blocking, paging};
use super::{failure, json_response, Web};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
/// The longest `search` text taken.
pub const MAX_SEARCH: usize = 200;

/// `search`, `offset`, `limit`, checked.
fn parse_query(query: &str) -> Result<(String, usize, usize), String> {
    let (mut search, mut offset, mut limit) = (String::new(), 0, DEFAULT_LIMIT);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "search" if value.len() > MAX_SEARCH => {
                return Err(format!("search: at most {MAX_SEARCH} bytes"))
            }
            "search" => search = value.into_owned(),
            "offset" => offset = paging::offset(&value)?,
            "limit" => limit = paging::limit(&value, MAX_LIMIT)?,
            other => {
                return Err(format!(
                    "unknown parameter {other:?}: search, offset, limit"
                ))
            }
        }
    }
    Ok((search, offset, limit))
}

pub async fn list(State(web): State<Arc<Web>>, RawQuery(query): RawQuery) -> Response {
    let (search, offset, limit) = match parse_query(query.as_deref().unwrap_or("")) {
        Ok(parsed) => parsed,
        Err(why) => return failure(StatusCode::BAD_REQUEST, why),
    };
    let page = match web
        .blocking
        .read(move |reader| reader.variables(&search, offset, limit))
        .await
    {
        Ok(Ok(page)) => page,
        Ok(Err(err)) => return failure(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        Err(err) => return blocking::unavailable(&web.counters, err),
    };
    let variables: Vec<_> = page
        .items
        .iter()
        .map(|v| {
            let unit = unit_of(web.client(&v.client), &v.key);
            json!({
                "variable": v.full(),
                "client": v.client,
                "key": v.key,
                "unit": unit.group,
                "axis": unit.title,
            })
        })
        .collect();
    json_response(&json!({
        "variables": variables,
        "offset": offset,
        "more": page.more,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_checked() {
        assert_eq!(parse_query("").unwrap(), (String::new(), 0, DEFAULT_LIMIT));
        assert_eq!(
            parse_query("search=volt&offset=20&limit=10").unwrap(),
            ("volt".to_string(), 20, 10)
        );
        let long = format!("search={}", "x".repeat(MAX_SEARCH + 1));
        for (query, why) in [
            ("offset=-1", "offset=\"-1\""),
            ("limit=0", "limit=\"0\""),
            ("limit=1001", "1 to 1000"),
            (long.as_str(), "at most 200"),
            ("q=volt", "unknown parameter \"q\""),
        ] {
            let err = parse_query(query).unwrap_err();
            assert!(err.contains(why), "{query}: {err}");
        }
    }
}
