//! Log events as protocol lines: a tracing layer that encodes every event at `info` or
//! above once, as `log level=... source=<daemon> message="..."`, and broadcasts it to the
//! connections that asked for `subscribe log`. A slow subscriber skips lines.

use labwire_protocol::{LineWriter, LogLevel};
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

static BUS: OnceLock<broadcast::Sender<Arc<str>>> = OnceLock::new();
static SOURCE: OnceLock<String> = OnceLock::new();

fn bus() -> &'static broadcast::Sender<Arc<str>> {
    BUS.get_or_init(|| broadcast::channel(256).0)
}

/// A receiver of encoded `log` lines (terminator included).
pub fn subscribe() -> broadcast::Receiver<Arc<str>> {
    bus().subscribe()
}

/// The layer to add to the tracing subscriber; `source` names this daemon.
pub fn layer(source: &str) -> LogBusLayer {
    let _ = SOURCE.set(source.to_string());
    LogBusLayer
}

pub struct LogBusLayer;

#[derive(Default)]
struct MessageText(String);

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

fn log_level(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warning,
        Level::INFO => LogLevel::Info,
        _ => LogLevel::Debug,
    }
}

impl<S: Subscriber> Layer<S> for LogBusLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = event.metadata().level();
        if *level > Level::INFO || bus().receiver_count() == 0 {
            return;
        }
        let mut text = MessageText::default();
        event.record(&mut text);
        let mut line = String::new();
        LineWriter::start(&mut line, None, "log")
            .kwarg("level", log_level(level).as_str())
            .kwarg(
                "source",
                SOURCE.get().map(String::as_str).unwrap_or("daemon"),
            )
            .kwarg("message", text.0.trim())
            .finish();
        let _ = bus().send(Arc::from(line));
    }
}
