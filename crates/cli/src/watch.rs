//! `labwire watch [client|var...]`: the values of `get_status`, kept current from
//! `subscribe status` and redrawn in place (at most five times a second) until Ctrl-C.
//! When stdout is not a terminal, each update is printed as a line instead (or as JSON
//! with `--json`), so the command also works in a pipe.

use crate::output::{bold, line, table, to_json};
use crate::status::{monitor_status, value_text};
use crate::target::request;
use crate::{Context, Failure};
use labwire_protocol::Message;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const REDRAW_EVERY: Duration = Duration::from_millis(200);
/// A value changed this recently is highlighted.
const FRESH: Duration = Duration::from_secs(2);

pub async fn run(context: &Context, filters: &[String]) -> Result<(), Failure> {
    let client = context.target.connect().await?;
    let mut events = client
        .take_events()
        .expect("a new connection has its events");
    let reply = request(&client, Message::new("subscribe").arg("status")).await?;
    if reply.is_error() {
        return Err(Failure::Refused(Box::new(reply)));
    }
    let mut values = Values::new(filters.to_vec());
    if context.target.monitor {
        let document = monitor_status(&client).await?;
        if let Some(clients) = document["clients"].as_object() {
            for (name, entry) in clients {
                values.set_connected(name, entry["connected"].as_bool() == Some(true));
                for (key, value) in entry["vars"].as_object().into_iter().flatten() {
                    values.set(&format!("{name}.{key}"), &value_text(value), None);
                }
            }
        }
    } else {
        let status = request(&client, Message::new("get_status")).await?;
        if status.is_error() {
            return Err(Failure::Refused(Box::new(status)));
        }
        for (key, value) in &status.kwargs {
            values.set(key, value, None);
        }
    }
    let live = std::io::stdout().is_terminal() && !context.json;
    let mut redraw = tokio::time::interval(REDRAW_EVERY);
    let mut dirty = true;
    // One Ctrl-C listener for the whole loop: a new one each turn would miss a SIGINT
    // that arrives while a line is being printed (the handler is installed, so the signal
    // no longer stops the process by itself).
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => return Ok(()),
            _ = redraw.tick() => if live && dirty {
                draw(context, &values);
                dirty = false;
            },
            event = events.recv() => {
                let Some(event) = event else {
                    return Err(Failure::Unreachable(format!(
                        "the {} at {} closed the connection", context.target.what(), context.target.address
                    )));
                };
                if event.name != "update" {
                    continue;
                }
                let now = Instant::now();
                let shown = values.apply(&event, context.target.monitor, now);
                if shown.kwargs.is_empty() {
                    continue;
                }
                if live {
                    dirty = true;
                } else if context.json {
                    println!("{}", to_json(&shown));
                } else {
                    println!("{}", line(&shown, context.colour));
                }
            }
        }
    }
}

fn draw(context: &Context, values: &Values) {
    let now = Instant::now();
    let rows: Vec<Vec<String>> = values
        .entries
        .iter()
        .filter(|entry| values.wanted(&entry.name))
        .map(|entry| {
            let down = values.is_down(&entry.name);
            let value = if down {
                format!("{} (disconnected)", entry.value)
            } else if context.colour && entry.changed.is_some_and(|t| now - t < FRESH) {
                format!("\x1b[36m{}\x1b[0m", entry.value)
            } else {
                entry.value.clone()
            };
            let changed = entry.changed.map_or(String::from("-"), |t| {
                format!("{:.0} s ago", (now - t).as_secs_f64())
            });
            vec![entry.name.clone(), value, changed]
        })
        .collect();
    let mut screen = String::from("\x1b[H\x1b[2J");
    screen.push_str(&bold(
        &format!(
            "labwire watch: {} {} (Ctrl-C stops)",
            context.target.what(),
            context.target.address
        ),
        context.colour,
    ));
    screen.push_str("\n\n");
    screen.push_str(&table(
        &["VARIABLE", "VALUE", "CHANGED"],
        &rows,
        context.colour,
    ));
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(screen.as_bytes());
    let _ = stdout.flush();
}

struct Entry {
    name: String,
    value: String,
    changed: Option<Instant>,
}

/// The variables in the order first seen, and which clients are connected.
struct Values {
    filters: Vec<String>,
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    connected: HashMap<String, bool>,
}

impl Values {
    fn new(filters: Vec<String>) -> Self {
        Values {
            filters,
            entries: Vec::new(),
            index: HashMap::new(),
            connected: HashMap::new(),
        }
    }

    /// A filter with a dot is one variable (`psu1.ch1_voltage`, or a prefix ending in
    /// `*`); without one it is a client of the monitor or a daemon's variable.
    fn wanted(&self, name: &str) -> bool {
        self.filters.is_empty()
            || self.filters.iter().any(|filter| {
                if let Some(prefix) = filter.strip_suffix('*') {
                    name.starts_with(prefix)
                } else {
                    name == filter
                        || name
                            .strip_prefix(filter.as_str())
                            .is_some_and(|rest| rest.starts_with('.'))
                }
            })
    }

    fn is_down(&self, name: &str) -> bool {
        name.split_once('.')
            .and_then(|(client, _)| self.connected.get(client))
            .is_some_and(|up| !up)
    }

    fn set_connected(&mut self, client: &str, up: bool) {
        self.connected.insert(client.to_string(), up);
    }

    fn set(&mut self, name: &str, value: &str, now: Option<Instant>) {
        match self.index.get(name) {
            Some(&i) => {
                let entry = &mut self.entries[i];
                if entry.value != value {
                    entry.value = value.to_string();
                    entry.changed = now;
                }
            }
            None => {
                self.index.insert(name.to_string(), self.entries.len());
                self.entries.push(Entry {
                    name: name.to_string(),
                    value: value.to_string(),
                    changed: now,
                });
            }
        }
    }

    /// Take in an `update` line; what of it passes the filters.
    fn apply(&mut self, update: &Message, monitor: bool, now: Instant) -> Message {
        let mut shown = Message::new("update");
        for (key, value) in &update.kwargs {
            if monitor && !key.contains('.') {
                // `<client>=0` / `<client>=1`: the client went away or came back.
                self.set_connected(key, value == "1");
                if self.filters.is_empty() || self.filters.iter().any(|f| f == key) {
                    shown.set(key, value);
                }
                continue;
            }
            self.set(key, value, Some(now));
            if self.wanted(key) {
                shown.set(key, value);
            }
        }
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_protocol::parse_line;

    #[test]
    fn filters_pick_clients_and_variables() {
        let values = Values::new(vec![
            "psu1".into(),
            "gauge1.pressure".into(),
            "psu2.ch1*".into(),
        ]);
        assert!(values.wanted("psu1.ch1_voltage"));
        assert!(!values.wanted("psu10.ch1_voltage"));
        assert!(values.wanted("gauge1.pressure"));
        assert!(!values.wanted("gauge1.unit"));
        assert!(values.wanted("psu2.ch1_current"));
        assert!(!values.wanted("psu2.ch2_current"));
        assert!(Values::new(vec![]).wanted("anything"));
    }

    #[test]
    fn updates_change_values_and_connection_states() {
        let mut values = Values::new(vec!["psu1".into()]);
        values.set("psu1.ch1_voltage", "0", None);
        let now = Instant::now();
        let shown = values.apply(
            &parse_line("update psu1.ch1_voltage=3.3 gauge1.pressure=5 psu1=0").unwrap(),
            true,
            now,
        );
        assert_eq!(shown.to_string(), "update psu1.ch1_voltage=3.3 psu1=0");
        assert_eq!(values.entries[0].value, "3.3");
        assert_eq!(values.entries[0].changed, Some(now));
        assert!(values.is_down("psu1.ch1_voltage"));
        assert!(!values.is_down("gauge1.pressure"));
    }
}
