//! `GET /` and `GET /monitor/status`. The page is `templates/monitor.html` around one block
//! per client, each rendered with the template its configuration names. askama compiles
//! the templates in and escapes every value it inserts into HTML, so a status value or a
//! description can never become markup.

use super::{events, failure, json_response, range, utc_millis, ClientPage, Web};
use crate::hub::ClientView;
use askama::Template;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// The client block templates built into the monitor (`template =` in monitor.ini).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockTemplate {
    Default,
    Psu,
    Gauge,
}

impl BlockTemplate {
    pub const NAMES: [&'static str; 3] = ["default.html", "psu.html", "gauge.html"];

    pub fn from_name(name: &str) -> Option<BlockTemplate> {
        match name {
            "default.html" => Some(BlockTemplate::Default),
            "psu.html" => Some(BlockTemplate::Psu),
            "gauge.html" => Some(BlockTemplate::Gauge),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BlockTemplate::Default => "default.html",
            BlockTemplate::Psu => "psu.html",
            BlockTemplate::Gauge => "gauge.html",
        }
    }
}

/// The range buttons under every plot: label and seconds back from now.
pub const PLOT_RANGES: [(&str, u64); 4] = [
    ("15 min", 900),
    ("1 h", 3600),
    ("24 h", 86_400),
    ("7 days", 604_800),
];

/// What every block template gets: one client's configuration and state.
pub struct BlockData {
    pub name: String,
    pub description: String,
    pub address: String,
    pub connected: bool,
    pub legacy: bool,
    pub kind: String,
    pub vars: Vec<(String, String)>,
    pub plots: Vec<PlotView>,
}

impl BlockData {
    fn new(client: &ClientPage, address: &str, view: ClientView) -> BlockData {
        let span = range::DEFAULT_SPAN.as_secs();
        BlockData {
            name: client.name.clone(),
            description: client.description.clone(),
            address: address.to_string(),
            connected: view.connected,
            legacy: view.legacy,
            kind: view.kind,
            vars: view.vars,
            plots: client
                .plots
                .iter()
                .map(|plot| {
                    let base = format!(
                        "/monitor/plot/{}/{}",
                        path_segment(&client.name),
                        path_segment(&plot.id)
                    );
                    PlotView {
                        src: format!(
                            "{base}?from=-{span}&width={}&height={}",
                            plot.width, plot.height
                        ),
                        base,
                        id: plot.id.clone(),
                        name: if plot.name.is_empty() {
                            plot.id.clone()
                        } else {
                            plot.name.clone()
                        },
                        width: plot.width,
                        height: plot.height,
                        span,
                    }
                })
                .collect(),
        }
    }

    /// The value of `key`, "" when the client has not reported it.
    pub fn var(&self, key: &str) -> &str {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// A flag variable is set (`1`).
    pub fn on(&self, key: &str) -> bool {
        matches!(self.var(key), "1" | "true" | "on")
    }

    pub fn state(&self) -> &'static str {
        if self.connected {
            "connected"
        } else {
            "disconnected"
        }
    }

    pub fn ranges(&self) -> &'static [(&'static str, u64)] {
        &PLOT_RANGES
    }
}

pub struct PlotView {
    pub id: String,
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// The route without the query, which the page's range buttons change.
    pub base: String,
    pub src: String,
    /// Seconds back from now the first image shows.
    pub span: u64,
}

#[derive(Template)]
#[template(path = "default.html")]
struct DefaultBlock<'a> {
    b: &'a BlockData,
}

#[derive(Template)]
#[template(path = "gauge.html")]
struct GaugeBlock<'a> {
    b: &'a BlockData,
    rest: Vec<(String, String)>,
}

/// One output of a power supply, from its `ch<N>_*` variables.
pub struct PsuChannel {
    pub n: u32,
    pub name: String,
    pub output: bool,
    pub voltage_set: String,
    pub current_set: String,
    pub voltage: String,
    pub current: String,
    pub mode: String,
    pub ovp_level: String,
    pub ovp_tripped: bool,
    pub ocp_enabled: bool,
    pub ocp_tripped: bool,
}

#[derive(Template)]
#[template(path = "psu.html")]
struct PsuBlock<'a> {
    b: &'a BlockData,
    channels: Vec<PsuChannel>,
    /// Variables that are not per channel (model, errors, ...).
    rest: Vec<(String, String)>,
}

/// The outputs a supply has shown (`ch<N>_...`), or the E36300's three before it has.
fn psu_channels(b: &BlockData) -> Vec<PsuChannel> {
    let mut numbers: Vec<u32> = b.vars.iter().filter_map(|(k, _)| channel_of(k)).collect();
    numbers.sort_unstable();
    numbers.dedup();
    if numbers.is_empty() {
        numbers = vec![1, 2, 3];
    }
    numbers
        .into_iter()
        .map(|n| {
            let v = |what: &str| b.var(&format!("ch{n}_{what}")).to_string();
            let on = |what: &str| b.on(&format!("ch{n}_{what}"));
            PsuChannel {
                n,
                name: match v("name") {
                    name if name.is_empty() => format!("ch{n}"),
                    name => name,
                },
                output: on("output"),
                voltage_set: v("voltage_set"),
                current_set: v("current_set"),
                voltage: v("voltage"),
                current: v("current"),
                mode: v("mode"),
                ovp_level: v("ovp_level"),
                ovp_tripped: on("ovp_tripped"),
                ocp_enabled: on("ocp_enabled"),
                ocp_tripped: on("ocp_tripped"),
            }
        })
        .collect()
}

/// `ch2_voltage` -> 2.
pub fn channel_of(key: &str) -> Option<u32> {
    let rest = key.strip_prefix("ch")?;
    let digits = rest.split('_').next()?;
    (rest.len() > digits.len() && !digits.is_empty())
        .then(|| digits.parse().ok())
        .flatten()
}

const GAUGE_KEYS: [&str; 3] = ["pressure", "gauge_status_text", "unit"];

fn render_block(template: BlockTemplate, b: &BlockData) -> askama::Result<String> {
    match template {
        BlockTemplate::Default => DefaultBlock { b }.render(),
        BlockTemplate::Psu => PsuBlock {
            b,
            channels: psu_channels(b),
            rest: b
                .vars
                .iter()
                .filter(|(k, _)| channel_of(k).is_none())
                .cloned()
                .collect(),
        }
        .render(),
        BlockTemplate::Gauge => GaugeBlock {
            b,
            rest: b
                .vars
                .iter()
                .filter(|(k, _)| !GAUGE_KEYS.contains(&k.as_str()))
                .cloned()
                .collect(),
        }
        .render(),
    }
}

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
    token_required: bool,
    asset_version: &'static str,
}

/// Render the whole page.
pub fn render(web: &Web) -> askama::Result<String> {
    let mut clients = Vec::new();
    let mut blocks = Vec::new();
    for client in &web.clients {
        let Some(slot) = web.hub.slot(&client.name) else {
            continue;
        };
        let data = BlockData::new(client, &slot.address, slot.view());
        clients.push(HeaderClient {
            name: data.name.clone(),
            connected: data.connected,
        });
        blocks.push(render_block(client.template, &data)?);
    }
    let mut logs: Vec<LogRow> = web
        .recent_logs()
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
    let alarms = web
        .hub
        .alarms()
        .into_iter()
        .map(|a| AlarmRow {
            since: labwire_time::rfc3339(a.since),
            client: a.client,
            key: a.key,
            state: a.state,
            value: a.value,
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
        token_required: web.token_required(),
        asset_version: super::assets::version(),
    }
    .render()
}

pub async fn index(State(web): State<Arc<Web>>) -> Response {
    match render(&web) {
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
                        "yscale": match p.yscale {
                            crate::config::YScale::Linear => "linear",
                            crate::config::YScale::Log => "log",
                        },
                    })
                })
                .collect();
            entry.insert("plots".into(), json!(plots));
        }
    }
    if let Some(document) = status.as_object_mut() {
        document.insert("alarms".into(), events::alarms_json(&web.hub.alarms()));
    }
    status
}

pub async fn status(State(web): State<Arc<Web>>) -> Response {
    json_response(&status_document(&web))
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
    fn channel_numbers_come_from_keys() {
        assert_eq!(channel_of("ch2_voltage"), Some(2));
        assert_eq!(channel_of("ch12_ovp_tripped"), Some(12));
        assert_eq!(channel_of("channel"), None);
        assert_eq!(channel_of("ch_x"), None);
        assert_eq!(channel_of("ch3"), None);
        assert_eq!(channel_of("pressure"), None);
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("psu-1.a_b"), "psu-1.a_b");
        assert_eq!(path_segment("a b/c?"), "a%20b%2Fc%3F");
    }
}
