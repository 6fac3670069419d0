//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4).
//!
//! - `labwire_variable{client,variable}`: every numeric status variable of a connected
//!   client, as last polled (text values and values that could not be read are left out);
//! - `labwire_client_connected{client}`, `labwire_client_last_update_timestamp_seconds{client}`;
//! - `labwire_alarms{state="active"|"unacknowledged"}`;
//! - the monitor's counters (`labwire_polls_total`, ...), the store's
//!   (`labwire_store_samples_written_total`, ...), the web side's and the camera frames'
//!   (`labwire_frames_stored_total`, `labwire_frame_transfer_seconds_total`, ...), and
//!   with `[mqtt]` the broker link's (`labwire_mqtt_published_total`, `..._dropped_total`,
//!   `labwire_mqtt_connected`, ...).
//!
//! Each family gets its `# HELP` and `# TYPE` once, before its samples; label values are
//! escaped as the format requires (`\\`, `\"`, `\n`).

use super::Web;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use labwire_protocol::parse_number;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn exposition(State(web): State<Arc<Web>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        render(&web),
    )
        .into_response()
}

/// Writes families one at a time, so HELP and TYPE precede their samples exactly once.
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        self
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, text)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", escape_label(text));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
        self
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) -> &mut Self {
        self.family(name, "counter", help)
            .sample(name, &[], value as f64)
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) -> &mut Self {
        self.family(name, "gauge", help).sample(name, &[], value)
    }
}

pub fn render(web: &Web) -> String {
    let mut e = Exposition {
        out: String::with_capacity(4096),
    };
    let views: Vec<_> = web
        .hub
        .slots()
        .iter()
        .map(|slot| (slot.name.as_str(), slot.view()))
        .collect();

    e.family(
        "labwire_variable",
        "gauge",
        "Numeric status variable of a client, as last polled.",
    );
    for (client, view) in views.iter().filter(|(_, v)| v.connected) {
        for (key, text) in &view.vars {
            if let Some(value) = parse_number(text) {
                e.sample(
                    "labwire_variable",
                    &[("client", client), ("variable", key)],
                    value,
                );
            }
        }
    }
    e.family(
        "labwire_client_connected",
        "gauge",
        "1 while the monitor is connected to the client's daemon.",
    );
    for (client, view) in &views {
        e.sample(
            "labwire_client_connected",
            &[("client", client)],
            f64::from(u8::from(view.connected)),
        );
    }
    e.family(
        "labwire_client_last_update_timestamp_seconds",
        "gauge",
        "When the client last answered a poll, Unix seconds.",
    );
    for (client, view) in &views {
        if let Some(time) = view.last_update {
            e.sample(
                "labwire_client_last_update_timestamp_seconds",
                &[("client", client)],
                super::unix_seconds(time),
            );
        }
    }
    let alarms = web.hub.alarms();
    e.family(
        "labwire_alarms",
        "gauge",
        "Alarms still out of range (active) and not yet acknowledged (unacknowledged).",
    )
    .sample(
        "labwire_alarms",
        &[("state", "active")],
        alarms.iter().filter(|a| a.active).count() as f64,
    )
    .sample(
        "labwire_alarms",
        &[("state", "unacknowledged")],
        alarms.iter().filter(|a| !a.acknowledged).count() as f64,
    );

    let c = &web.hub.counters;
    let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    e.counter(
        "labwire_polls_total",
        "Poll answers received from clients.",
        read(&c.polls),
    )
    .counter(
        "labwire_poll_failures_total",
        "Polls that failed or timed out.",
        read(&c.poll_failures),
    )
    .counter(
        "labwire_relayed_total",
        "Commands relayed to clients with send.",
        read(&c.relayed),
    )
    .counter(
        "labwire_connects_total",
        "Connections made to clients.",
        read(&c.connects),
    )
    .counter(
        "labwire_disconnects_total",
        "Connections to clients lost.",
        read(&c.disconnects),
    );
    if let Some(store) = web.hub.store() {
        let s = store.stats();
        e.counter(
            "labwire_store_samples_written_total",
            "Samples committed to the history database.",
            s.samples_written,
        )
        .counter(
            "labwire_store_samples_dropped_total",
            "Samples never stored (queue full or failed batch).",
            s.samples_dropped,
        )
        .counter(
            "labwire_store_records_dropped_total",
            "Logs, events and alarm changes refused because the queue was full.",
            s.records_dropped,
        )
        .counter(
            "labwire_store_batches_total",
            "Batches committed.",
            s.batches,
        )
        .counter(
            "labwire_store_write_errors_total",
            "Batches or retention runs that failed.",
            s.write_errors,
        )
        .counter(
            "labwire_store_samples_pruned_total",
            "Samples deleted by retention.",
            s.samples_pruned,
        )
        .counter(
            "labwire_store_texts_truncated_total",
            "Texts cut to the store's longest text before they were queued.",
            s.texts_truncated,
        )
        .counter(
            "labwire_store_reopened_total",
            "New history databases opened because the file was deleted or replaced.",
            s.reopened,
        )
        .gauge(
            "labwire_store_queued",
            "Records waiting for the history writer.",
            s.queued as f64,
        );
    }
    let w = &web.counters;
    e.counter(
        "labwire_http_requests_total",
        "HTTP requests answered by the web interface.",
        read(&w.requests),
    )
    .counter(
        "labwire_http_plots_rendered_total",
        "Plots rendered.",
        read(&w.plots_rendered),
    )
    .counter(
        "labwire_http_busy_total",
        "Plot and history requests refused because the render queue was full.",
        read(&w.busy),
    )
    .counter(
        "labwire_http_commands_total",
        "Commands run from web pages.",
        read(&w.commands),
    )
    .counter(
        "labwire_http_commands_refused_total",
        "Web commands refused: cross-site, not JSON, or without the right token.",
        read(&w.commands_refused),
    )
    .gauge(
        "labwire_http_event_streams",
        "Open event streams (pages watching live).",
        (super::events::MAX_SUBSCRIBERS - web.subscribers.available_permits()) as f64,
    );
    let f = &web.frames.counters;
    e.counter(
        "labwire_frames_stored_total",
        "Camera frames stored and indexed.",
        read(&f.stored),
    )
    .counter(
        "labwire_frame_bytes_total",
        "Bytes of the camera frames stored.",
        read(&f.bytes),
    )
    .family(
        "labwire_frame_transfer_seconds_total",
        "counter",
        "Seconds spent moving frames from the cameras into files (get_frame to last byte).",
    )
    .sample(
        "labwire_frame_transfer_seconds_total",
        &[],
        read(&f.transfer_micros) as f64 / 1e6,
    )
    .family(
        "labwire_frame_receive_seconds_total",
        "counter",
        "Seconds spent receiving frames from the cameras (get_frame to last byte read).",
    )
    .sample(
        "labwire_frame_receive_seconds_total",
        &[],
        read(&f.receive_micros) as f64 / 1e6,
    )
    .counter(
        "labwire_frame_failures_total",
        "Camera frames that could not be fetched or stored.",
        read(&f.failures),
    )
    .counter(
        "labwire_frame_keyword_updates_total",
        "set_keywords lines the cameras accepted.",
        read(&f.keyword_updates),
    );
    if let Some(m) = web.hub.counters.mqtt.get() {
        e.counter(
            "labwire_mqtt_published_total",
            "Messages written to the MQTT broker.",
            read(&m.published),
        )
        .counter(
            "labwire_mqtt_dropped_total",
            "Changes and log lines never published: the queue to the broker was full.",
            read(&m.dropped),
        )
        .gauge(
            "labwire_mqtt_connected",
            "1 while the monitor is connected to the MQTT broker.",
            f64::from(u8::from(m.connected.load(Ordering::Relaxed))),
        )
        .counter(
            "labwire_mqtt_connects_total",
            "Connections made to the MQTT broker.",
            read(&m.connects),
        )
        .counter(
            "labwire_mqtt_commands_total",
            "Commands run from MQTT messages.",
            read(&m.commands),
        )
        .counter(
            "labwire_mqtt_commands_refused_total",
            "Command messages refused: not a command document, no or a wrong token, too many.",
            read(&m.commands_refused),
        );
    }
    e.out
}

/// A sample value as Prometheus reads it (Go's ParseFloat): `NaN`, `+Inf`, `-Inf`, or
/// the shortest decimal that reads back to the same double, as the protocol writes it.
pub fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        labwire_protocol::format_number(value)
    }
}

pub fn escape_label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_back_exactly() {
        for value in [0.0, 1.0, -2.5, 1e-12, 6.02e23, 0.1, 123456789.125] {
            assert_eq!(number(value).parse::<f64>().unwrap(), value);
        }
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("line\nbreak"), "line\\nbreak");
        assert_eq!(escape_label("plain"), "plain");
    }
}
