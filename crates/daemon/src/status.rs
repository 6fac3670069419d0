//! The status cache: the hardware task writes it after every poll, connections read it,
//! so `get_status` never waits on hardware. Changes are published once, pre-encoded, to
//! `subscribe status` connections.

use labwire_protocol::{
    format_bool, format_millis_as_seconds, format_number, EncodedKwargs, LineWriter,
};
use std::sync::{Arc, RwLock};
use std::time::Instant;
use tokio::sync::broadcast;

/// Collects one poll's status variables, in the order the device reports them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusBuilder {
    vars: Vec<(String, String)>,
}

impl StatusBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn text(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let key = key.into();
        debug_assert!(
            labwire_protocol::is_valid_name(&key),
            "bad status key {key}"
        );
        self.vars.push((key, value.into()));
        self
    }

    /// A number; a non-finite one is written as the empty string (could not be read).
    pub fn number(&mut self, key: impl Into<String>, value: f64) -> &mut Self {
        self.text(key, format_number(value))
    }

    pub fn flag(&mut self, key: impl Into<String>, value: bool) -> &mut Self {
        self.text(key, format_bool(value))
    }

    /// A value that could not be read: reported as the empty string.
    pub fn missing(&mut self, key: impl Into<String>) -> &mut Self {
        self.text(key, "")
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }
}

/// What `get_status` reports, besides `status_age` which is computed when asked. The
/// reply's text around the age is encoded once per change, not once per request.
#[derive(Debug, Default)]
struct Snapshot {
    vars: Vec<(String, String)>,
    last_read: Option<Instant>,
    hw_connected: bool,
    errors: u64,
    /// `hw_connected=..`
    head: EncodedKwargs,
    /// `errors=.. <device variables>`
    tail: EncodedKwargs,
}

impl Snapshot {
    fn encode(&mut self) {
        self.head = EncodedKwargs::from_pairs([("hw_connected", format_bool(self.hw_connected))]);
        let errors = self.errors.to_string();
        let framework = std::iter::once(("errors", errors.as_str()));
        let device = self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        self.tail = EncodedKwargs::from_pairs(framework.chain(device));
    }
}

/// Shared between the hardware task (writer) and the connections (readers).
#[derive(Clone)]
pub struct StatusCache {
    snapshot: Arc<RwLock<Snapshot>>,
    updates: broadcast::Sender<Arc<str>>,
}

impl Default for StatusCache {
    fn default() -> Self {
        Self::new()
    }
}

impl StatusCache {
    pub fn new() -> Self {
        let mut snapshot = Snapshot::default();
        snapshot.encode();
        StatusCache {
            snapshot: Arc::new(RwLock::new(snapshot)),
            updates: broadcast::channel(64).0,
        }
    }

    /// Write the `status` reply for `tag` into `out`.
    pub fn write_status_reply(
        &self,
        out: &mut impl labwire_protocol::encode::TextSink,
        tag: Option<&str>,
    ) {
        let snapshot = self.snapshot.read().expect("status lock");
        let age = snapshot
            .last_read
            .map(|at| format_millis_as_seconds(at.elapsed().as_millis() as u64))
            .unwrap_or_default();
        write_reply(out, tag, &snapshot, &age);
    }

    pub fn hw_connected(&self) -> bool {
        self.snapshot.read().expect("status lock").hw_connected
    }

    pub fn errors(&self) -> u64 {
        self.snapshot.read().expect("status lock").errors
    }

    /// One variable's current text, for tests and device-independent checks.
    pub fn get(&self, key: &str) -> Option<String> {
        let snapshot = self.snapshot.read().expect("status lock");
        snapshot
            .vars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// A receiver of pre-encoded `update ...` lines (terminator included).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.updates.subscribe()
    }

    /// Store a successful poll and publish what changed.
    pub fn publish_poll(&self, fresh: StatusBuilder) {
        let mut changed: Vec<(String, String)> = Vec::new();
        {
            let mut snapshot = self.snapshot.write().expect("status lock");
            for (key, value) in &fresh.vars {
                let old = snapshot.vars.iter().find(|(k, _)| k == key);
                if old.map(|(_, v)| v) != Some(value) {
                    changed.push((key.clone(), value.clone()));
                }
            }
            if !snapshot.hw_connected {
                changed.insert(0, ("hw_connected".into(), "1".into()));
            }
            snapshot.hw_connected = true;
            snapshot.last_read = Some(Instant::now());
            snapshot.vars = fresh.vars;
            snapshot.encode();
        }
        self.send_update(&changed);
    }

    /// The link went down (`connected == false`) or came up before the first poll.
    pub fn set_connected(&self, connected: bool) {
        let changed = {
            let mut snapshot = self.snapshot.write().expect("status lock");
            let changed = snapshot.hw_connected != connected;
            snapshot.hw_connected = connected;
            snapshot.encode();
            changed
        };
        if changed {
            self.send_update(&[("hw_connected".into(), format_bool(connected).into())]);
        }
    }

    pub fn count_error(&self) {
        let errors = {
            let mut snapshot = self.snapshot.write().expect("status lock");
            snapshot.errors += 1;
            snapshot.encode();
            snapshot.errors
        };
        self.send_update(&[("errors".into(), errors.to_string())]);
    }

    fn send_update(&self, changed: &[(String, String)]) {
        if changed.is_empty() || self.updates.receiver_count() == 0 {
            return;
        }
        let mut line = String::new();
        let mut writer = LineWriter::start(&mut line, None, "update");
        for (key, value) in changed {
            writer = writer.kwarg(key, value);
        }
        writer.finish();
        // No receiver is not an error: nobody subscribed right now.
        let _ = self.updates.send(Arc::from(line));
    }
}

fn write_reply(
    out: &mut impl labwire_protocol::encode::TextSink,
    tag: Option<&str>,
    snapshot: &Snapshot,
    age: &str,
) {
    LineWriter::start(out, tag, "status")
        .encoded(&snapshot.head)
        .kwarg("status_age", age)
        .encoded(&snapshot.tail)
        .finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(cache: &StatusCache) -> String {
        let mut out = String::new();
        cache.write_status_reply(&mut out, Some("t"));
        out
    }

    #[test]
    fn before_first_poll_only_framework_variables() {
        let cache = StatusCache::new();
        assert_eq!(
            reply(&cache),
            "@t status hw_connected=0 status_age=\"\" errors=0\n"
        );
    }

    #[test]
    fn poll_publishes_only_changes() {
        let cache = StatusCache::new();
        let mut updates = cache.subscribe();
        let mut first = StatusBuilder::new();
        first.number("pressure", 1e-3).text("unit", "mbar");
        cache.publish_poll(first);
        assert_eq!(
            &*updates.try_recv().unwrap(),
            "update hw_connected=1 pressure=0.001 unit=mbar\n"
        );
        let mut second = StatusBuilder::new();
        second
            .number("pressure", 2e-3)
            .text("unit", "mbar")
            .missing("gauge_type");
        cache.publish_poll(second);
        assert_eq!(
            &*updates.try_recv().unwrap(),
            "update pressure=0.002 gauge_type=\"\"\n"
        );
        assert!(reply(&cache).starts_with("@t status hw_connected=1 status_age=0"));
        assert!(reply(&cache).ends_with("errors=0 pressure=0.002 unit=mbar gauge_type=\"\"\n"));
        cache.set_connected(false);
        assert_eq!(&*updates.try_recv().unwrap(), "update hw_connected=0\n");
        assert_eq!(
            cache.get("pressure").as_deref(),
            Some("0.002"),
            "stale values stay"
        );
    }
}
