//! The monitor's topics under `<prefix>/`, and what is published on each.
//!
//! | topic | retained | payload |
//! |---|---|---|
//! | `<prefix>/<client>/<key>` | yes | the value as the daemon wrote it |
//! | `<prefix>/<client>/$state` | yes | `{"connected", "type", "address", "reason", "last_update", "time"}` |
//! | `<prefix>/$alarms` | yes | the alarm list, as the page's `alarms` event |
//! | `<prefix>/$log` | no | `{"time", "level", "source", "message"}` |
//! | `<prefix>/$monitor` | yes | `{"online", "name", "version"}`; `online: false` is the will |
//! | `<prefix>/$command` | | commands in (`commands = true`), see [`super::commands`] |
//! | `<prefix>/$reply` | no | replies to commands that named no `reply_to` |
//!
//! Client names and keys are protocol names (letters, digits, `_`, `-`, `.`), so they hold
//! no `/`, `+`, `#` or `$`: a `$` level is the monitor's and never a client's or a key's.

use crate::hub::ClientView;
use serde_json::{json, Value as Json};
use std::time::SystemTime;

#[derive(Clone, Debug)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    pub fn new(prefix: &str) -> Topics {
        Topics {
            prefix: prefix.to_owned(),
        }
    }

    pub fn value(&self, client: &str, key: &str) -> String {
        format!("{}/{client}/{key}", self.prefix)
    }

    pub fn state(&self, client: &str) -> String {
        format!("{}/{client}/$state", self.prefix)
    }

    pub fn alarms(&self) -> String {
        format!("{}/$alarms", self.prefix)
    }

    pub fn log(&self) -> String {
        format!("{}/$log", self.prefix)
    }

    pub fn monitor(&self) -> String {
        format!("{}/$monitor", self.prefix)
    }

    pub fn command(&self) -> String {
        format!("{}/$command", self.prefix)
    }

    pub fn reply(&self) -> String {
        format!("{}/$reply", self.prefix)
    }
}

/// A client's `$state`.
pub fn state_json(view: &ClientView, address: &str, now: SystemTime) -> Json {
    json!({
        "connected": view.connected,
        "type": view.kind,
        "address": address,
        "reason": view.reason,
        "last_update": view.last_update.map(labwire_time::unix_seconds),
        "time": labwire_time::rfc3339_millis(now),
    })
}

/// `$monitor`: `online` is true while the monitor is connected; the broker publishes the
/// `false` one (the MQTT will) when the monitor vanishes without saying goodbye.
pub fn monitor_json(name: &str, online: bool) -> Json {
    json!({
        "online": online,
        "name": name,
        "version": env!("CARGO_PKG_VERSION"),
    })
}

/// Whether `topic` may be published to: a reply topic a command names. MQTT forbids
/// wildcards and NUL in topic names, and a topic cannot be empty.
pub fn is_publishable(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= 65_535 && !topic.contains(['+', '#', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_sit_under_the_prefix() {
        let topics = Topics::new("lab/b2");
        assert_eq!(
            topics.value("psu1", "ch1_voltage"),
            "lab/b2/psu1/ch1_voltage"
        );
        assert_eq!(topics.state("psu.a"), "lab/b2/psu.a/$state");
        assert_eq!(topics.alarms(), "lab/b2/$alarms");
        assert_eq!(topics.log(), "lab/b2/$log");
        assert_eq!(topics.monitor(), "lab/b2/$monitor");
        assert_eq!(topics.command(), "lab/b2/$command");
        assert_eq!(topics.reply(), "lab/b2/$reply");
    }

    #[test]
    fn reply_topics_are_names_not_filters() {
        assert!(is_publishable("lab/scripts/42"));
        for bad in ["", "lab/+/x", "lab/#", "a\0b"] {
            assert!(!is_publishable(bad), "{bad:?}");
        }
    }

    #[test]
    fn state_says_why_a_client_is_down() {
        let view = ClientView {
            connected: false,
            kind: "psu".into(),
            reason: Some("wrong token".into()),
            ..ClientView::default()
        };
        let state = state_json(&view, "127.0.0.1:7001", SystemTime::UNIX_EPOCH);
        assert_eq!(state["connected"], false);
        assert_eq!(state["reason"], "wrong token");
        assert_eq!(state["address"], "127.0.0.1:7001");
        assert_eq!(state["last_update"], Json::Null);
        assert_eq!(state["time"], "1970-01-01T00:00:00.000Z");
    }
}
