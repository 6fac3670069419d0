//! `GET /monitor/alarms?name=&client=&state=&from=&to=&before=&limit=&format=`: every
//! stored alarm with when it was raised, acknowledged and cleared, newest first, in pages
//! ([`super::listing`]); each links to the plot of its variable around it, the moment
//! it was raised marked (`/monitor/plot?var=&from=&to=&at=`).
//!
//! - `name`: `<client>.<key>` containing it (any case); `client`: only that client's;
//! - `state`: `active` (not cleared), `cleared`, `acknowledged`, `unacknowledged`, or how
//!   it was raised: `high`, `low`, `disconnected`, `device`;
//! - `from`/`to`: alarms listed at some moment of the range (raised before `to`, not
//!   cleared before `from`); left out as in `/monitor/logs`;
//! - `before`, `limit`, `format`: as in `/monitor/logs`.
//!
//! JSON: `{"alarms": [{"id", "variable", "client", "key", "state", "value", "message",
//! "raised", "acknowledged", "cleared", "raised_t", "acknowledged_t", "cleared_t",
//! "plot"}], "more", "next", "from", "to"}`, times as UTC text and Unix seconds, `null`
//! while not yet; `plot` is `null` for a connection alarm (no stored variable).

use super::history::csv_field;
use super::listing::{self, next, Cell, Format};
use super::{failure, unix_seconds, utc_millis, Web};
use crate::alarms::CONNECTION_KEY;
use crate::store::{AlarmQuery, AlarmRecord, AlarmState, Page, Stored};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How much of the variable's history the plot shows before the raise and after the clear
/// at least (a quarter of the alarm's length when that is longer).
pub const PLOT_MARGIN: Duration = Duration::from_secs(600);

const STATES: &str =
    "active, cleared, acknowledged, unacknowledged, high, low, disconnected, device";

/// A checked request.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub query: AlarmQuery,
    pub format: Format,
}

fn state(value: &str) -> Result<AlarmState, String> {
    Ok(match value {
        "active" => AlarmState::Active,
        "cleared" => AlarmState::Cleared,
        "acknowledged" => AlarmState::Acknowledged,
        "unacknowledged" => AlarmState::Unacknowledged,
        "high" | "low" | "disconnected" | crate::alarms::DEVICE_STATE => {
            AlarmState::Raised(value.to_string())
        }
        other => return Err(format!("state={other:?}: {STATES}")),
    })
}

pub fn parse_query(query: &str, now: SystemTime) -> Result<Request, String> {
    let (mut client, mut name, mut wanted) = (None, None, None);
    let mut common = listing::Common::default();
    for (key, value) in listing::pairs(query) {
        if common.take(&key, &value)? {
            continue;
        }
        match key.as_ref() {
            "client" => client = Some(listing::name_filter(&key, &value)?),
            "name" => name = Some(listing::text_filter(&key, &value)?),
            "state" => wanted = Some(state(&value)?),
            other => return Err(listing::unknown(other, "name, client, state")),
        }
    }
    let range = common.range(now)?;
    Ok(Request {
        query: AlarmQuery {
            client,
            name,
            state: wanted,
            from: range.from,
            to: range.to,
            before: common.before,
            limit: common.limit,
        },
        format: common.format,
    })
}

/// The plot of the alarm's variable around it, the raise marked; `None` for a connection
/// alarm, whose variable is not stored.
pub fn plot_link(alarm: &AlarmRecord, now: SystemTime) -> Option<String> {
    if alarm.key == CONNECTION_KEY {
        return None;
    }
    let end = alarm.cleared_at.unwrap_or(now).max(alarm.raised_at);
    let length = end.duration_since(alarm.raised_at).unwrap_or_default();
    let margin = PLOT_MARGIN.max(length / 4);
    let from = alarm
        .raised_at
        .checked_sub(margin)
        .unwrap_or(alarm.raised_at);
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("var", &format!("{}.{}", alarm.client, alarm.key))
        .append_pair("from", &seconds(from))
        .append_pair("to", &seconds(end + margin))
        .append_pair("at", &seconds(alarm.raised_at));
    Some(format!("/monitor/plot?{}", query.finish()))
}

fn seconds(time: SystemTime) -> String {
    format!("{:.3}", unix_seconds(time))
}

fn json_document(
    query: &AlarmQuery,
    page: &Page<Stored<AlarmRecord>>,
    now: SystemTime,
) -> serde_json::Value {
    let alarms: Vec<_> = page
        .items
        .iter()
        .map(|Stored { id, record: a }| {
            json!({
                "id": id,
                "variable": format!("{}.{}", a.client, a.key),
                "client": a.client,
                "key": a.key,
                "state": a.state,
                "value": a.value,
                "message": a.message,
                "raised": utc_millis(a.raised_at),
                "acknowledged": a.acked_at.map(utc_millis),
                "cleared": a.cleared_at.map(utc_millis),
                "raised_t": unix_seconds(a.raised_at),
                "acknowledged_t": a.acked_at.map(unix_seconds),
                "cleared_t": a.cleared_at.map(unix_seconds),
                "plot": plot_link(a, now),
            })
        })
        .collect();
    json!({
        "alarms": alarms,
        "more": page.more,
        "next": next(page),
        "from": utc_millis(query.from),
        "to": utc_millis(query.to),
    })
}

fn csv(page: &Page<Stored<AlarmRecord>>) -> String {
    let mut out = String::with_capacity(96 + page.items.len() * 128);
    out.push_str("id,variable,state,value,raised,acknowledged,cleared,message\r\n");
    let time = |t: Option<SystemTime>| t.map(utc_millis).unwrap_or_default();
    for Stored { id, record: a } in &page.items {
        let _ = write!(
            out,
            "{id},{},{},{},{},{},{},{}\r\n",
            csv_field(&format!("{}.{}", a.client, a.key)),
            csv_field(&a.state),
            a.value
                .map(labwire_protocol::format_number)
                .unwrap_or_default(),
            utc_millis(a.raised_at),
            time(a.acked_at),
            time(a.cleared_at),
            csv_field(&a.message),
        );
    }
    out
}

pub async fn list(State(web): State<Arc<Web>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let now = SystemTime::now();
    let request = match parse_query(&query, now) {
        Ok(request) => request,
        Err(why) => return failure(StatusCode::BAD_REQUEST, why),
    };
    let monitor = web.hub.name.clone();
    let outcome = web
        .blocking
        .read(move |reader| {
            let page = reader
                .alarm_history(&request.query)
                .map_err(|err| err.to_string())?;
            let when = |t: Option<SystemTime>| Cell::text(t.map(utc_millis).unwrap_or_default());
            listing::render(listing::Answer {
                monitor: &monitor,
                route: "/monitor/alarms",
                query: &query,
                format: request.format,
                next: next(&page),
                json: &|| json_document(&request.query, &page, now),
                csv: &|| csv(&page),
                title: "Alarm history",
                columns: &[
                    "alarm",
                    "state",
                    "value",
                    "message",
                    "raised",
                    "acknowledged",
                    "cleared",
                ],
                rows: &|| {
                    page.items
                        .iter()
                        .map(|Stored { record: a, .. }| {
                            let name = format!("{}.{}", a.client, a.key);
                            vec![
                                match plot_link(a, now) {
                                    Some(href) => Cell::link(name, href),
                                    None => Cell::text(name),
                                },
                                Cell::text(a.state.clone()),
                                Cell::text(
                                    a.value
                                        .map(labwire_protocol::format_number)
                                        .unwrap_or_default(),
                                ),
                                Cell::text(a.message.clone()),
                                when(Some(a.raised_at)),
                                when(a.acked_at),
                                when(a.cleared_at),
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
    use std::time::UNIX_EPOCH;

    const NOW: u64 = 1_800_000_000;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn every_filter_is_read_and_checked() {
        let r = parse_query("", at(NOW)).unwrap();
        assert_eq!((r.query.state.clone(), r.format), (None, Format::Json));
        let r = parse_query(
            "name=CH1&client=psu1&state=unacknowledged&from=-600&before=7&limit=3&format=html",
            at(NOW),
        )
        .unwrap();
        assert_eq!(r.query.name.as_deref(), Some("CH1"));
        assert_eq!(r.query.client.as_deref(), Some("psu1"));
        assert_eq!(r.query.state, Some(AlarmState::Unacknowledged));
        assert_eq!(r.query.from, at(NOW - 600));
        assert_eq!(
            (r.query.before, r.query.limit, r.format),
            (Some(7), 3, Format::Html)
        );
        assert_eq!(
            parse_query("state=device", at(NOW)).unwrap().query.state,
            Some(AlarmState::Raised("device".into()))
        );
        for (query, why) in [
            ("state=open", "state=\"open\": active, cleared"),
            ("client=a/b", "client=\"a/b\": a name"),
            ("to=soon", "to=\"soon\""),
            ("before=-3", "before=\"-3\""),
            ("limit=5000", "1 to 1000"),
            ("format=pdf", "format=\"pdf\""),
            ("key=x", "unknown parameter \"key\""),
        ] {
            let err = parse_query(query, at(NOW)).unwrap_err();
            assert!(err.contains(why), "{query}: {err}");
        }
    }

    #[test]
    fn the_plot_shows_the_alarm_with_a_margin_and_marks_the_raise() {
        let alarm = |key: &str, cleared: Option<u64>| AlarmRecord {
            client: "psu1".into(),
            key: key.into(),
            state: "high".into(),
            value: Some(1.7),
            raised_at: at(NOW - 7200),
            cleared_at: cleared.map(at),
            acked_at: None,
            message: String::new(),
        };
        assert_eq!(
            plot_link(&alarm("ch1_current", Some(NOW - 7000)), at(NOW)).unwrap(),
            format!(
                "/monitor/plot?var=psu1.ch1_current&from={}.000&to={}.000&at={}.000",
                NOW - 7800,
                NOW - 6400,
                NOW - 7200
            )
        );
        // Still active: up to now, a quarter of its two hours on either side.
        assert_eq!(
            plot_link(&alarm("ch1_current", None), at(NOW)).unwrap(),
            format!(
                "/monitor/plot?var=psu1.ch1_current&from={}.000&to={}.000&at={}.000",
                NOW - 9000,
                NOW + 1800,
                NOW - 7200
            )
        );
        assert_eq!(plot_link(&alarm(CONNECTION_KEY, None), at(NOW)), None);
    }
}
