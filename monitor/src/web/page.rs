//! `GET /` and `GET /monitor/status` (with `at=`, the state at that time: [`super::state_at`]). The page is `templates/monitor.html` around one block
//! per client ([`blocks`]), each rendered with the template its configuration names, under
//! a warning line when the history database had a problem (`store_problem` in the JSON). askama
//! compiles the page in and escapes every value it inserts into HTML, so a status value or
//! a description can never become markup. With a token configured, a request without it
//! gets the page *locked*: the blocks' layout with no values, no log and no alarms, which
//! the page fills (reloading with the cookie) once the user has typed the token.

use super::{auth, blocks, events, failure, json_response, state_at, utc_millis, Web};
use crate::frames::watch::CAMERA_KIND;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use std::time::SystemTime;

pub struct HeaderClient {
    pub name: String,
    pub connected: bool,
}

pub struct LogRow {
    pub time: String,
    /// `HH:MM:SS`, UTC.
    pub clock: String,
    pub level: String,
    pub source: String,
    pub message: String,
}

pub struct AlarmRow {
    pub client: String,
    pub key: String,
    pub state: String,
    pub value: String,
    /// A device alarm's message, in the daemon's words; "" for the monitor's own alarms.
    pub message: String,
    pub since: String,
    pub active: bool,
    pub acknowledged: bool,
}

#[derive(Template)]
#[template(path = "monitor.html")]
struct MonitorPage<'a> {
    name: &'a str,
    version: &'a str,
    clients: Vec<HeaderClient>,
    /// Each client's block, already rendered (and escaped) by its own template.
    blocks: Vec<String>,
    logs: Vec<LogRow>,
    alarms: Vec<AlarmRow>,
    /// What went wrong with the history database, if anything has (`StoreStats::problem`).
    store_problem: Option<String>,
    token_required: bool,
    /// Served without the token: the state of the lab is left out.
    locked: bool,
    asset_version: &'static str,
}

/// Render the whole page; `locked`, with none of the lab's state in it.
pub fn render(web: &Web, locked: bool) -> askama::Result<String> {
    let mut clients = Vec::new();
    let mut blocks = Vec::new();
    for client in &web.clients {
        let Some(slot) = web.hub.slot(&client.name) else {
            continue;
        };
        let view = if locked {
            Default::default()
        } else {
            slot.view()
        };
        let mut data = blocks::BlockData::new(client, &slot.address, view);
        clients.push(HeaderClient {
            name: data.name.clone(),
            connected: data.connected,
        });
        // A camera left at the default block gets the camera's, frames and all.
        let camera = data.kind == CAMERA_KIND
            || client.template == blocks::BlockTemplate::BuiltIn("ccd.html");
        let template = match &client.template {
            blocks::BlockTemplate::BuiltIn("default.html") if camera => {
                &blocks::BlockTemplate::BuiltIn("ccd.html")
            }
            template => template,
        };
        if camera && !locked {
            data.camera = blocks::CameraView::of(&web.frames, &client.name);
        }
        blocks.push(template.render(&data)?);
    }
    let mut logs: Vec<LogRow> = if locked {
        Vec::new()
    } else {
        web.recent_logs()
    }
    .into_iter()
    .map(|entry| LogRow {
        clock: clock(entry.time),
        time: utc_millis(entry.time),
        level: entry.level,
        source: entry.source,
        message: entry.message,
    })
    .collect();
    logs.reverse();
    let alarms = if locked { Vec::new() } else { web.hub.alarms() }
        .into_iter()
        .map(|a| AlarmRow {
            since: labwire_time::rfc3339(a.since),
            client: a.client,
            key: a.key,
            state: a.state,
            value: a.value,
            message: a.message,
            active: a.active,
            acknowledged: a.acknowledged,
        })
        .collect();
    MonitorPage {
        name: &web.hub.name,
        version: env!("CARGO_PKG_VERSION"),
        clients,
        blocks,
        logs,
        alarms,
        store_problem: if locked { None } else { store_problem(web) },
        token_required: web.token_required(),
        locked,
        asset_version: super::assets::version(),
    }
    .render()
}

pub async fn index(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let locked = auth::check(&web, &headers).is_err();
    match render(&web, locked) {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response(),
        Err(err) => failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("page template: {err}"),
        ),
    }
}

/// The hub's status (as `get_status format=json`) with each client's page configuration
/// and the alarm list.
pub fn status_document(web: &Web) -> serde_json::Value {
    let mut status = web.hub.status_json();
    if let Some(clients) = status.get_mut("clients").and_then(|c| c.as_object_mut()) {
        for client in &web.clients {
            let Some(entry) = clients
                .get_mut(&client.name)
                .and_then(|e| e.as_object_mut())
            else {
                continue;
            };
            entry.insert("description".into(), json!(client.description));
            entry.insert("template".into(), json!(client.template.name()));
            let plots: Vec<_> = client
                .plots
                .iter()
                .map(|p| {
                    json!({
                        "id": p.id,
                        "name": p.name,
                        "values": p.values,
                        "xlabel": p.xlabel,
                        "ylabel": p.ylabel,
                        "width": p.width,
                        "height": p.height,
                        "yscale": p.yscale.name(),
                    })
                })
                .collect();
            entry.insert("plots".into(), json!(plots));
        }
    }
    if let Some(document) = status.as_object_mut() {
        document.insert("alarms".into(), events::alarms_json(&web.hub.alarms()));
        document.insert("store_problem".into(), json!(store_problem(web)));
    }
    status
}

/// The store's last problem (`the history database ... was deleted; a new one was
/// opened there`), for the page's warning line.
pub fn store_problem(web: &Web) -> Option<String> {
    web.hub.store().and_then(|store| store.stats().problem)
}

/// The live status; with `at=`, the state at that time from the history
/// ([`super::state_at`]).
pub async fn status(State(web): State<Arc<Web>>, RawQuery(query): RawQuery) -> Response {
    match state_at::parse_query(query.as_deref().unwrap_or(""), SystemTime::now()) {
        Ok(None) => json_response(&status_document(&web)),
        Ok(Some(request)) => state_at::answer(&web, request).await,
        Err(why) => failure(StatusCode::BAD_REQUEST, why),
    }
}

/// `HH:MM:SS` of a time, UTC.
pub fn clock(time: std::time::SystemTime) -> String {
    let text = labwire_time::rfc3339(time);
    text.get(11..19).unwrap_or(&text).to_string()
}

/// Percent-encode one URL path segment.
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("psu-1.a_b"), "psu-1.a_b");
        assert_eq!(path_segment("a b/c?"), "a%20b%2Fc%3F");
    }
}
