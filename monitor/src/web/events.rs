//! `GET /monitor/events`: Server-Sent Events that keep the page current without reloads.
//!
//! | event | data (one JSON document) |
//! |---|---|
//! | `snapshot` | `{"clients": {client: {"connected", "vars": [[key, value], ...]}}, "alarms": [...]}`: first, and again after a lag |
//! | `status` | `{"vars": [[client, key, value], ...], "connected": {client: bool}}`: what changed |
//! | `log` | `{"time", "level", "source", "message"}` |
//! | `alarms` | the whole alarm list, whenever it changes |
//! | `store` | `{"problem": text or null}`: the history database's problem, when it changes |
//! | `frame` | a camera frame just stored: its index entry with its header cards (see [`super::frames::frame_json`]) |
//!
//! The snapshot carries `"store_problem"` too.
//!
//! A subscriber reads the hub's bounded broadcast channels. One that falls behind loses
//! the updates it missed and gets a fresh `snapshot` instead, so a slow browser never makes
//! the monitor hold more in memory.

use super::{failure, unix_seconds, utc_millis, LogEntry, Web};
use crate::alarms::AlarmView;
use crate::hub::Hub;
use crate::store::FrameRecord;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use labwire_protocol::{parse_bool, parse_line};
use serde_json::{json, Value as Json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch, OwnedSemaphorePermit};

/// Open event streams at once; more are answered 503.
pub const MAX_SUBSCRIBERS: usize = 64;
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub async fn stream(State(web): State<Arc<Web>>) -> Response {
    let Ok(permit) = web.subscribers.clone().try_acquire_owned() else {
        return failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many event streams open",
        );
    };
    let mut feed = Feed {
        status: web.hub.subscribe_status(),
        log: web.hub.subscribe_log(),
        frames: web.frames.subscribe(),
        changes: web.hub.changes(),
        alarms: alarms_json(&web.hub.alarms()),
        store_problem: None,
        pending: VecDeque::new(),
        web,
        _permit: permit,
    };
    feed.changes.mark_unchanged();
    let snapshot = feed.snapshot();
    feed.pending.push_back(snapshot);
    let events = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

struct Feed {
    web: Arc<Web>,
    status: broadcast::Receiver<Arc<str>>,
    log: broadcast::Receiver<Arc<str>>,
    frames: broadcast::Receiver<Arc<FrameRecord>>,
    changes: watch::Receiver<u64>,
    /// The alarm list last sent, to send it again only when it changed.
    alarms: Json,
    /// The store's problem last sent.
    store_problem: Option<String>,
    pending: VecDeque<Event>,
    _permit: OwnedSemaphorePermit,
}

impl Feed {
    /// The next event; `None` ends the stream (monitor stopping).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            tokio::select! {
                _ = self.web.shutdown.cancelled() => return None,
                line = self.status.recv() => match line {
                    Ok(line) => {
                        if let Some(data) = status_update(&self.web.hub, &line) {
                            self.pending.push_back(Event::default().event("status").data(data.to_string()));
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        // Start again from now rather than replay what is left of the backlog.
                        self.status = self.status.resubscribe();
                        let snapshot = self.snapshot();
                        self.pending.push_back(snapshot);
                    }
                    Err(RecvError::Closed) => return None,
                },
                line = self.log.recv() => match line {
                    Ok(line) => {
                        if let Some(entry) = log_entry(&line, SystemTime::now()) {
                            self.pending.push_back(Event::default().event("log").data(log_json(&entry).to_string()));
                        }
                    }
                    Err(RecvError::Lagged(_)) => self.log = self.log.resubscribe(),
                    Err(RecvError::Closed) => return None,
                },
                frame = self.frames.recv() => match frame {
                    Ok(frame) => {
                        let data = super::frames::frame_json(&frame);
                        self.pending.push_back(Event::default().event("frame").data(data.to_string()));
                    }
                    // A page that missed frames shows the newest one next time.
                    Err(RecvError::Lagged(_)) => self.frames = self.frames.resubscribe(),
                    Err(RecvError::Closed) => return None,
                },
                changed = self.changes.changed() => {
                    changed.ok()?;
                    let alarms = alarms_json(&self.web.hub.alarms());
                    if alarms != self.alarms {
                        self.pending.push_back(Event::default().event("alarms").data(alarms.to_string()));
                        self.alarms = alarms;
                    }
                    // The store tells no one; every poll bumps the hub, so look here.
                    let problem = super::page::store_problem(&self.web);
                    if problem != self.store_problem {
                        let data = json!({"problem": problem});
                        self.pending.push_back(Event::default().event("store").data(data.to_string()));
                        self.store_problem = problem;
                    }
                }
            }
        }
    }

    fn snapshot(&mut self) -> Event {
        self.alarms = alarms_json(&self.web.hub.alarms());
        self.store_problem = super::page::store_problem(&self.web);
        let data = json!({
            "clients": snapshot(&self.web.hub),
            "alarms": self.alarms,
            "store_problem": self.store_problem,
        });
        Event::default().event("snapshot").data(data.to_string())
    }
}

/// Every client's connection and variables, values as the daemon wrote them (the page
/// shows wire text; `/monitor/status` turns numbers into JSON numbers). A disconnected
/// client's last values come along: the page shows them greyed out.
pub fn snapshot(hub: &Hub) -> Json {
    let clients: serde_json::Map<String, Json> = hub
        .slots()
        .iter()
        .map(|slot| {
            let view = slot.view();
            (
                slot.name.clone(),
                json!({"connected": view.connected, "vars": view.vars}),
            )
        })
        .collect();
    Json::Object(clients)
}

/// An `update` line as the page applies it: `<client>=<0/1>` is a connection change,
/// `<client>.<key>=<value>` a variable. Client names may hold dots themselves, so the
/// split is made at a configured client's name.
pub fn status_update(hub: &Hub, line: &str) -> Option<Json> {
    let update = parse_line(line.trim_end_matches(['\r', '\n'])).ok()?;
    let mut vars = Vec::new();
    let mut connected = serde_json::Map::new();
    for (name, value) in &update.kwargs {
        if hub.slot(name).is_some() {
            connected.insert(name.clone(), json!(parse_bool(value) == Some(true)));
            continue;
        }
        // The longest client name before a dot, probed from the right: a few lookups by
        // name rather than a pass over every client for every value.
        let owner = name
            .match_indices('.')
            .rev()
            .find_map(|(dot, _)| Some((hub.slot(&name[..dot])?, dot)));
        if let Some((slot, dot)) = owner {
            vars.push(json!([slot.name, name[dot + 1..], value]));
        }
    }
    if vars.is_empty() && connected.is_empty() {
        return None;
    }
    Some(json!({"vars": vars, "connected": connected}))
}

/// A `log level=.. source=.. message=..` line, stamped with when it was seen.
pub fn log_entry(line: &str, time: SystemTime) -> Option<LogEntry> {
    let log = parse_line(line.trim_end_matches(['\r', '\n'])).ok()?;
    Some(LogEntry {
        time,
        level: log.get("level")?.to_string(),
        source: log.get("source").unwrap_or_default().to_string(),
        message: log.get("message").unwrap_or_default().to_string(),
    })
}

pub fn log_json(entry: &LogEntry) -> Json {
    json!({
        "time": utc_millis(entry.time),
        "level": entry.level,
        "source": entry.source,
        "message": entry.message,
    })
}

pub fn alarms_json(alarms: &[AlarmView]) -> Json {
    Json::Array(
        alarms
            .iter()
            .map(|a| {
                json!({
                    "client": a.client,
                    "key": a.key,
                    "state": a.state,
                    "value": a.value,
                    "message": a.message,
                    "since": labwire_time::rfc3339(a.since),
                    "since_unix": unix_seconds(a.since),
                    "active": a.active,
                    "acknowledged": a.acknowledged,
                })
            })
            .collect(),
    )
}
