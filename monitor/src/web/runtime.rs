//! `GET /monitor/runtime`: the monitor's own health, from the counters `/metrics` already
//! keeps (nothing is counted twice): uptime, polls and polls per second, the store's
//! queue, drops, write errors and size on disk, the store heartbeat (`set interval=` on
//! the command port changes it), the web side's busy answers.
//!
//! Polls per second are over the last [`WINDOW`] of requests to this route (the page asks
//! every few seconds while it shows them); the first request gets the average since the
//! monitor started.
//!
//! `{"name", "started", "started_t", "uptime_seconds", "clients", "connected", "polls_total",
//! "poll_failures_total", "polls_per_second", "rate_seconds", "store": {"path",
//! "heartbeat_seconds", "queued", "queue_capacity", "samples_written_total",
//! "samples_dropped_total", "records_dropped_total", "write_errors_total",
//! "reopened_total", "database_bytes", "problem"} | null, "web": {"busy_total",
//! "requests_total", "event_streams"}}`.

use super::{json_response, unix_seconds, utc_millis, Web};
use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How far back polls per second look.
pub const WINDOW: Duration = Duration::from_secs(60);

/// When the monitor started, and the poll counts seen lately.
pub struct Runtime {
    started: Instant,
    started_at: SystemTime,
    /// `(when, polls)`, oldest first, at most one a second, none older than [`WINDOW`].
    polls: Mutex<VecDeque<(Instant, u64)>>,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime {
            started: Instant::now(),
            started_at: SystemTime::now(),
            polls: Mutex::default(),
        }
    }
}

impl Runtime {
    pub fn uptime(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }

    /// Polls per second with `polls` counted by `now`, and over how many seconds.
    pub fn poll_rate(&self, polls: u64, now: Instant) -> (f64, f64) {
        let mut seen = self.polls.lock().expect("poll samples");
        while seen
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > WINDOW)
        {
            seen.pop_front();
        }
        let oldest = seen.front().copied();
        if seen
            .back()
            .is_none_or(|(at, _)| now.saturating_duration_since(*at) >= Duration::from_secs(1))
        {
            seen.push_back((now, polls));
        }
        let (since, before) = match oldest {
            Some((at, counted)) if now.saturating_duration_since(at) >= Duration::from_secs(1) => {
                (at, counted)
            }
            _ => (self.started, 0),
        };
        let seconds = now.saturating_duration_since(since).as_secs_f64();
        if seconds <= 0.0 {
            return (0.0, 0.0);
        }
        (polls.saturating_sub(before) as f64 / seconds, seconds)
    }
}

/// Rounded for people: three decimals.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub async fn document(web: &Web) -> serde_json::Value {
    let now = Instant::now();
    let counters = &web.hub.counters;
    let polls = counters.polls.load(Ordering::Relaxed);
    let (rate, over) = web.runtime.poll_rate(polls, now);
    let connected = web
        .hub
        .slots()
        .iter()
        .filter(|slot| slot.with_view(|view| view.connected))
        .count();
    let store = match web.hub.store() {
        None => serde_json::Value::Null,
        Some(store) => {
            let stats = store.stats();
            let path = store.shown_location();
            // Through the pool's readers: bounded, and a connection kept on PostgreSQL.
            let bytes = web
                .blocking
                .read(|reader| reader.disk_bytes().ok())
                .await
                .ok()
                .flatten();
            json!({
                "path": path,
                "heartbeat_seconds": web.hub.store_interval().as_secs_f64(),
                "queued": stats.queued,
                "queue_capacity": store.queue_capacity(),
                "samples_written_total": stats.samples_written,
                "samples_dropped_total": stats.samples_dropped,
                "records_dropped_total": stats.records_dropped,
                "write_errors_total": stats.write_errors,
                "reopened_total": stats.reopened,
                "database_bytes": bytes,
                "problem": stats.problem,
            })
        }
    };
    let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    json!({
        "name": web.hub.name,
        "started": utc_millis(web.runtime.started_at),
        "started_t": unix_seconds(web.runtime.started_at),
        "uptime_seconds": round(web.runtime.uptime(now).as_secs_f64()),
        "clients": web.hub.slots().len(),
        "connected": connected,
        "polls_total": polls,
        "poll_failures_total": read(&counters.poll_failures),
        "polls_per_second": round(rate),
        "rate_seconds": round(over),
        "store": store,
        "web": {
            "busy_total": read(&web.counters.busy),
            "requests_total": read(&web.counters.requests),
            "event_streams": super::events::MAX_SUBSCRIBERS - web.subscribers.available_permits(),
        },
    })
}

pub async fn show(State(web): State<Arc<Web>>) -> Response {
    json_response(&document(&web).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_per_second_over_the_last_minute() {
        let runtime = Runtime::default();
        let t0 = runtime.started;
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        // The first answer: the average since the start.
        assert_eq!(runtime.poll_rate(100, s(10)), (10.0, 10.0));
        // Then from the samples seen.
        assert_eq!(runtime.poll_rate(300, s(20)), (20.0, 10.0));
        assert_eq!(runtime.poll_rate(400, s(30)), (15.0, 20.0));
        // Samples older than the window are let go.
        let (rate, over) = runtime.poll_rate(1000, s(85));
        assert_eq!(over, 55.0);
        assert!((rate - 600.0 / 55.0).abs() < 1e-9, "{rate}");
        // Within a second of the last sample: no new one is kept.
        runtime.poll_rate(1001, s(85) + Duration::from_millis(500));
        assert_eq!(runtime.polls.lock().unwrap().len(), 2);
    }
}
