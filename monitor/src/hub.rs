//! The monitor's live state: one slot per configured client with its connection state and
//! latest variables, the event streams (`update` and `log` lines for command-port
//! subscribers), each client's poll link and relay, and the monitor's own counters.
//! Pollers write it; the command port, the web page and the metrics read it. What it keeps
//! per client is bounded (see [`crate::limits`]).

use crate::alarms::{Acknowledgement, AlarmBook, AlarmView, Transition};
use crate::config::AlarmLimit;
use crate::limits::{truncate, MAX_LOG_MESSAGE, MAX_MONITOR_VARIABLES, MAX_VALUE, MAX_VARIABLES};
use crate::relay::{Relay, RELAY_TIMEOUT};
use crate::store::{AlarmChange, ChangeFilter, Store, Value};
use labwire_client::Client;
use labwire_protocol::{format_bool, LineWriter, LogLevel, PageBuilder};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::{broadcast, watch};

/// A client's state as the monitor last saw it.
#[derive(Clone, Debug, Default)]
pub struct ClientView {
    pub connected: bool,
    /// A CCDLab-era daemon (no `protocol=` in its `id` reply).
    pub legacy: bool,
    /// `type=` from its `id` reply.
    pub kind: String,
    /// Latest status variables in the order the daemon reports them.
    pub vars: Vec<(String, String)>,
    pub last_update: Option<SystemTime>,
    pub last_change: Option<SystemTime>,
    /// Why the client is not connected, when the monitor knows (it refused the monitor).
    pub reason: Option<String>,
}

/// The poll connection, while the client is connected and serving the monitor.
#[derive(Clone)]
pub struct Link {
    pub client: Client,
    pub legacy: bool,
}

/// What the hub needs to know about one configured client.
#[derive(Clone, Debug)]
pub struct SlotSpec {
    pub name: String,
    /// `host:port`.
    pub address: String,
    /// Sent as `auth token=<secret>` on every connection to the client.
    pub token: Option<String>,
}

impl From<(String, String)> for SlotSpec {
    fn from((name, address): (String, String)) -> Self {
        SlotSpec {
            name,
            address,
            token: None,
        }
    }
}

pub struct Slot {
    pub name: String,
    pub address: String,
    pub token: Option<String>,
    /// The path of relayed commands (`send`), apart from the polls.
    pub relay: Relay,
    view: RwLock<ClientView>,
    link: RwLock<Option<Link>>,
    keys: Mutex<KnownKeys>,
    /// This client's own, so that polls of different clients never wait for each other.
    filter: Mutex<ChangeFilter>,
}

/// The distinct variables a client has reported, up to [`MAX_VARIABLES`].
#[derive(Default)]
struct KnownKeys {
    keys: HashSet<String>,
    warned: bool,
}

impl Slot {
    pub fn view(&self) -> ClientView {
        self.view.read().expect("view lock").clone()
    }

    /// `read` applied to the view under its lock, for what a clone would cost too much
    /// (a lower monitor's view holds every variable of its clients).
    pub fn with_view<R>(&self, read: impl FnOnce(&ClientView) -> R) -> R {
        read(&self.view.read().expect("view lock"))
    }

    /// The latest value of `key`, whether or not the client is connected.
    pub fn var(&self, key: &str) -> Option<String> {
        self.with_view(|view| {
            view.vars
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        })
    }

    pub fn link(&self) -> Option<Link> {
        self.link.read().expect("link lock").clone()
    }
}

/// Counters for `/metrics` and benchmarks.
#[derive(Default)]
pub struct Counters {
    pub polls: AtomicU64,
    pub poll_failures: AtomicU64,
    pub relayed: AtomicU64,
    pub connects: AtomicU64,
    pub disconnects: AtomicU64,
    /// Set when `[mqtt]` is configured and its link started.
    pub mqtt: std::sync::OnceLock<Arc<crate::mqtt::Counters>>,
}

pub struct Hub {
    pub name: String,
    slots: Vec<Arc<Slot>>,
    /// Where each client is in `slots`: names are looked up per command, of thousands.
    slot_index: HashMap<String, usize>,
    store: Option<Store>,
    status_lines: broadcast::Sender<Arc<str>>,
    log_lines: broadcast::Sender<Arc<str>>,
    /// Bumped on every change, so `wait` can re-check its condition.
    generation: watch::Sender<u64>,
    connections: Mutex<BTreeMap<SocketAddr, String>>,
    alarms: Mutex<AlarmBook>,
    /// The store heartbeat in microseconds, which every client's filter takes on its
    /// next poll (one value for all, changed at runtime by `set interval=`).
    store_interval_micros: AtomicU64,
    pub counters: Counters,
}

impl Hub {
    pub fn new(
        name: String,
        clients: impl IntoIterator<Item = impl Into<SlotSpec>>,
        store: Option<Store>,
        store_interval: Duration,
    ) -> Arc<Hub> {
        let slots: Vec<Arc<Slot>> = clients
            .into_iter()
            .map(|spec| {
                let SlotSpec {
                    name,
                    address,
                    token,
                } = spec.into();
                Arc::new(Slot {
                    relay: Relay::new(address.clone(), token.clone(), RELAY_TIMEOUT),
                    name,
                    address,
                    token,
                    view: RwLock::default(),
                    link: RwLock::default(),
                    keys: Mutex::default(),
                    filter: Mutex::new(ChangeFilter::new(store_interval)),
                })
            })
            .collect();
        let mut slot_index = HashMap::with_capacity(slots.len());
        for (at, slot) in slots.iter().enumerate() {
            // The first of a repeated name, as a search of the list would find it.
            slot_index.entry(slot.name.clone()).or_insert(at);
        }
        Arc::new(Hub {
            name,
            slots,
            slot_index,
            store,
            status_lines: broadcast::channel(1024).0,
            log_lines: broadcast::channel(1024).0,
            generation: watch::channel(0).0,
            connections: Mutex::default(),
            alarms: Mutex::default(),
            store_interval_micros: AtomicU64::new(micros(store_interval)),
            counters: Counters::default(),
        })
    }

    pub fn slots(&self) -> &[Arc<Slot>] {
        &self.slots
    }

    pub fn slot(&self, name: &str) -> Option<&Arc<Slot>> {
        self.slots.get(*self.slot_index.get(name)?)
    }

    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// The store heartbeat: how often an unchanged value is still stored.
    pub fn store_interval(&self) -> Duration {
        Duration::from_micros(self.store_interval_micros.load(Ordering::Relaxed))
    }

    /// Change the store heartbeat from the next poll on (`set interval=` on the command
    /// port); answers the one it replaces.
    pub fn set_store_interval(&self, interval: Duration) -> Duration {
        let before = self
            .store_interval_micros
            .swap(micros(interval), Ordering::Relaxed);
        Duration::from_micros(before)
    }

    pub fn subscribe_status(&self) -> broadcast::Receiver<Arc<str>> {
        self.status_lines.subscribe()
    }

    pub fn subscribe_log(&self) -> broadcast::Receiver<Arc<str>> {
        self.log_lines.subscribe()
    }

    pub fn changes(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    fn bump(&self) {
        self.generation.send_modify(|generation| *generation += 1);
    }

    /// The client connected (with `link`) or went away (`None`).
    pub fn set_link(&self, slot: &Slot, link: Option<Link>, kind: &str) {
        let connected = link.is_some();
        let legacy = link.as_ref().is_some_and(|l| l.legacy);
        *slot.link.write().expect("link lock") = link;
        {
            let mut view = slot.view.write().expect("view lock");
            if view.connected == connected {
                return;
            }
            view.connected = connected;
            view.legacy = legacy;
            if connected {
                view.kind = kind.to_string();
                view.reason = None;
            }
        }
        let counter = if connected {
            &self.counters.connects
        } else {
            &self.counters.disconnects
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now();
        let (event, level) = if connected {
            ("connected", LogLevel::Info)
        } else {
            ("disconnected", LogLevel::Warning)
        };
        if let Some(store) = &self.store {
            store.record_event(now, &slot.name, event, &slot.address);
        }
        let transitions = self.book().connection(&slot.name, connected, now);
        self.apply(transitions, now);
        self.log(
            level,
            "monitor",
            &format!("{} {event} ({})", slot.name, slot.address),
        );
        let mut line = String::new();
        LineWriter::start(&mut line, None, "update")
            .kwarg(&slot.name, format_bool(connected))
            .finish();
        let _ = self.status_lines.send(Arc::from(line));
        self.bump();
    }

    /// The client has not answered since the monitor started: raise its connection alarm
    /// (`set_link` only sees changes, and this one never changed).
    pub fn never_connected(&self, slot: &Slot) {
        if slot.view().connected {
            return;
        }
        let now = SystemTime::now();
        let transitions = self.book().connection(&slot.name, false, now);
        if !transitions.is_empty() {
            self.log(
                LogLevel::Warning,
                "monitor",
                &format!("{} not reachable since start ({})", slot.name, slot.address),
            );
        }
        self.apply(transitions, now);
    }

    /// The client answered but refused the monitor (a token it does not accept, or none):
    /// shown as not connected with `reason`, logged once per reason rather than per try.
    pub fn refused(&self, slot: &Slot, reason: &str) {
        self.set_link(slot, None, "");
        let new = {
            let mut view = slot.view.write().expect("view lock");
            let new = view.reason.as_deref() != Some(reason);
            view.reason = Some(reason.to_string());
            new
        };
        if new {
            self.log(
                LogLevel::Error,
                "monitor",
                &format!("{} refused the monitor: {reason}", slot.name),
            );
            self.bump();
        }
    }

    /// Keep at most [`MAX_VARIABLES`] distinct keys per client and [`MAX_VALUE`] bytes per
    /// value, so a daemon inventing keys or values cannot grow the store without bound.
    /// A lower monitor (`type=monitor`) reports every variable of its clients, up to
    /// [`MAX_MONITOR_VARIABLES`].
    fn bound_variables(&self, slot: &Slot, vars: Vec<(String, String)>) -> Vec<(String, String)> {
        let cap = if slot.with_view(|view| view.kind == MONITOR_KIND) {
            MAX_MONITOR_VARIABLES
        } else {
            MAX_VARIABLES
        };
        let mut known = slot.keys.lock().expect("keys lock");
        let mut ignored = 0usize;
        let mut kept = Vec::with_capacity(vars.len());
        for (key, mut value) in vars {
            if !known.keys.contains(&key) {
                if known.keys.len() >= cap {
                    ignored += 1;
                    continue;
                }
                known.keys.insert(key.clone());
            }
            let (bounded, cut) = truncate(&value, MAX_VALUE);
            if cut {
                value = bounded.to_string();
            }
            kept.push((key, value));
        }
        if ignored > 0 && !known.warned {
            known.warned = true;
            drop(known);
            self.log(
                LogLevel::Warning,
                "monitor",
                &format!(
                    "{} reports more than {cap} distinct variables; \
                     further new keys are ignored ({ignored} in this poll)",
                    slot.name
                ),
            );
        }
        kept
    }

    /// A poll answered: store what the store wants, publish what changed.
    pub fn record_status(&self, slot: &Slot, vars: Vec<(String, String)>) {
        let vars = self.bound_variables(slot, vars);
        let now = SystemTime::now();
        self.counters.polls.fetch_add(1, Ordering::Relaxed);
        let changed = slot.with_view(|view| changes(&slot.name, &view.vars, &vars));
        if let Some(store) = &self.store {
            let mut filter = slot.filter.lock().expect("filter lock");
            filter.store_interval = self.store_interval();
            for (key, text) in &vars {
                // Changes on every poll by definition; meaningful only live (a lower
                // monitor's clients' ages included).
                if key == STATUS_AGE || key.ends_with(LOWER_STATUS_AGE) {
                    continue;
                }
                let value = Value::from_wire(text);
                if filter.should_store(&slot.name, key, &value, now) {
                    store.record_value(&slot.name, key, now, value);
                }
            }
        }
        let transitions = self.book().observe(&slot.name, &vars, now);
        let alarmed = !transitions.is_empty();
        self.apply(transitions, now);
        {
            let mut view = slot.view.write().expect("view lock");
            view.vars = vars;
            view.last_update = Some(now);
            if !changed.is_empty() {
                view.last_change = Some(now);
            }
        }
        if alarmed && changed.is_empty() {
            self.bump();
        }
        if !changed.is_empty() {
            if self.status_lines.receiver_count() > 0 {
                self.publish(&changed);
            }
            self.bump();
        }
    }

    /// `update` lines with `changed`, cut where one would pass a page's bytes (a lower
    /// monitor's changes can fill more than a line).
    fn publish(&self, changed: &[(String, String)]) {
        let mut rest = changed;
        while !rest.is_empty() {
            let mut piece = PageBuilder::new(0);
            let taken = rest
                .iter()
                .take_while(|(key, value)| piece.offer(key, value))
                .count()
                .max(1);
            let mut line = String::new();
            piece.write_entries(&mut line, None, "update");
            let _ = self.status_lines.send(Arc::from(line));
            rest = &rest[taken..];
        }
    }

    /// A log line from a daemon (source = its configured name), a script or the monitor.
    /// Messages longer than [`MAX_LOG_MESSAGE`] bytes are cut there; answers whether this
    /// one was.
    pub fn log(&self, level: LogLevel, source: &str, message: &str) -> bool {
        let (message, truncated) = truncate(message, MAX_LOG_MESSAGE);
        let now = SystemTime::now();
        if let Some(store) = &self.store {
            store.record_log(now, level.as_str(), source, message);
        }
        let mut line = String::new();
        LineWriter::start(&mut line, None, "log")
            .kwarg("level", level.as_str())
            .kwarg("source", source)
            .kwarg("message", message)
            .finish();
        let _ = self.log_lines.send(Arc::from(line));
        truncated
    }

    /// The current value of `<client>.<key>`, if the client is connected.
    pub fn current(&self, client: &str, key: &str) -> Option<String> {
        let slot = self.slot(client)?;
        slot.with_view(|view| view.connected)
            .then(|| slot.var(key))?
    }

    pub fn set_alarm_limits(&self, client: &str, limits: Vec<AlarmLimit>) {
        self.book().set_limits(client, limits);
    }

    /// Alarms that are active or not yet acknowledged, in the order raised.
    pub fn alarms(&self) -> Vec<AlarmView> {
        self.book().views()
    }

    /// Acknowledge `<client>.<key>` or `all`. The monitor's own alarms are acknowledged
    /// now (answered: how many); the device alarms come back as `(client, key)`, for
    /// `ack_alarm` to their daemons and [`Hub::device_alarm_acknowledged`] on each `ok`.
    pub fn acknowledge(&self, target: &str) -> Result<(usize, Vec<(String, String)>), String> {
        let Acknowledgement {
            transitions,
            forward,
        } = self.book().acknowledge(target)?;
        let count = transitions.len();
        self.apply(transitions, SystemTime::now());
        self.bump();
        Ok((count, forward))
    }

    /// The daemon answered `ok` to `ack_alarm` for the device alarm `<client>.<key>`;
    /// answers whether it was still unacknowledged here.
    pub fn device_alarm_acknowledged(&self, client: &str, key: &str) -> bool {
        let transition = self.book().acknowledge_device(client, key);
        let acknowledged = transition.is_some();
        self.apply(transition.into_iter().collect(), SystemTime::now());
        acknowledged
    }

    fn book(&self) -> std::sync::MutexGuard<'_, AlarmBook> {
        self.alarms.lock().expect("alarm lock")
    }

    /// Store and log alarm transitions; watchers see them through `changes()`.
    fn apply(&self, transitions: Vec<Transition>, now: SystemTime) {
        for transition in transitions {
            let level = match transition.change {
                AlarmChange::Raised { .. } => LogLevel::Error,
                AlarmChange::Cleared | AlarmChange::Acked => LogLevel::Info,
            };
            self.log(level, "monitor", &transition.log_text());
            let Transition {
                client,
                key,
                change,
                message,
            } = transition;
            if let Some(store) = &self.store {
                store.record_alarm(now, &client, &key, change, message.as_deref().unwrap_or(""));
            }
            self.bump();
        }
    }

    pub fn connection_opened(&self, peer: SocketAddr, what: &str) {
        self.connections
            .lock()
            .expect("connections lock")
            .insert(peer, what.to_string());
    }

    pub fn connection_closed(&self, peer: SocketAddr) {
        self.connections
            .lock()
            .expect("connections lock")
            .remove(&peer);
    }

    /// Incoming command-port connections, by peer address.
    pub fn incoming_connections(&self) -> Vec<(SocketAddr, String)> {
        let connections = self.connections.lock().expect("connections lock");
        connections.iter().map(|(p, w)| (*p, w.clone())).collect()
    }
}

impl Hub {
    /// Configuration-order view of every client, as `get_status format=json` and the web
    /// page serve it. Numbers become JSON numbers, values that could not be read `null`.
    pub fn status_json(&self) -> serde_json::Value {
        let mut clients = serde_json::Map::new();
        let mut connected = 0;
        for slot in &self.slots {
            let view = slot.view();
            connected += usize::from(view.connected);
            let vars: serde_json::Map<String, serde_json::Value> = if view.connected {
                view.vars
                    .iter()
                    .map(|(key, text)| (key.clone(), json_value(text)))
                    .collect()
            } else {
                serde_json::Map::new()
            };
            let last_update = view.last_update.map(labwire_time::unix_seconds);
            clients.insert(
                slot.name.clone(),
                serde_json::json!({
                    "connected": view.connected,
                    "legacy": view.legacy,
                    "type": view.kind,
                    "address": slot.address,
                    "last_update": last_update,
                    "reason": view.reason,
                    "vars": vars,
                }),
            );
        }
        serde_json::json!({
            "name": self.name,
            "nclients": self.slots.len(),
            "nconnected": connected,
            "clients": clients,
        })
    }
}

/// The `type=` of a monitor's `id` reply: such a client is polled as a lower monitor.
pub const MONITOR_KIND: &str = "monitor";
const STATUS_AGE: &str = "status_age";
const LOWER_STATUS_AGE: &str = ".status_age";
/// Above this many variables, a client's changes are found through a map rather than by
/// looking each key up in the list (a lower monitor's thousands).
const LINEAR_LOOKUP_MAX: usize = 32;

/// The variables of `new` whose value differs from `old`, named `<client>.<key>`.
/// A duration in whole microseconds, saturating (a heartbeat is at most a week).
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn changes(
    client: &str,
    old: &[(String, String)],
    new: &[(String, String)],
) -> Vec<(String, String)> {
    let differs = |key: &str, value: &str, before: Option<&str>| {
        (before != Some(value)).then(|| (format!("{client}.{key}"), value.to_string()))
    };
    if old.len() <= LINEAR_LOOKUP_MAX {
        let before = |key: &str| old.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        new.iter()
            .filter_map(|(key, value)| differs(key, value, before(key)))
            .collect()
    } else {
        let before: HashMap<&str, &str> =
            old.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        new.iter()
            .filter_map(|(key, value)| differs(key, value, before.get(key.as_str()).copied()))
            .collect()
    }
}

/// A wire value as JSON: a number, a string, or `null` for one that could not be read.
pub fn json_value(text: &str) -> serde_json::Value {
    match Value::from_wire(text) {
        // Whole numbers read better as integers ("errors": 0, not 0.0).
        Value::Number(number) if number.fract() == 0.0 && number.abs() < 9.0e15 => {
            serde_json::json!(number as i64)
        }
        Value::Number(number) => serde_json::json!(number),
        Value::Text(text) => serde_json::Value::String(text),
        Value::Missing => serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Arc<Hub> {
        Hub::new(
            "m".into(),
            [("ghost".to_string(), "127.0.0.1:9".to_string())],
            None,
            Duration::from_secs(60),
        )
    }

    /// Regression: a client down from the start never raised its connection alarm,
    /// because `set_link` only reacts to changes.
    #[test]
    fn a_client_down_from_the_start_raises_its_alarm() {
        let hub = hub();
        let slot = hub.slot("ghost").unwrap().clone();
        hub.set_link(&slot, None, "");
        assert!(hub.alarms().is_empty(), "no change, no alarm");
        hub.never_connected(&slot);
        let alarms = hub.alarms();
        assert_eq!(alarms.len(), 1);
        assert_eq!(
            (alarms[0].key.as_str(), alarms[0].state.as_str()),
            ("connected", "disconnected")
        );
        hub.never_connected(&slot);
        assert_eq!(hub.alarms().len(), 1, "raised once");
    }

    /// Regression (issue 8.3): a daemon inventing new keys on every poll grew the variables
    /// table by 300k rows in 30 s. Keys beyond the cap are ignored (warned once), values
    /// are cut to their cap.
    #[test]
    fn variables_per_client_and_value_lengths_are_capped() {
        let hub = hub();
        let slot = hub.slot("ghost").unwrap().clone();
        let mut logs = hub.subscribe_log();
        for poll in 0..3 {
            // Every poll repeats the keys so far and invents 600 more.
            let vars = (0..600 * (poll + 1))
                .map(|n| (format!("k{n}"), "1".to_string()))
                .chain([("long".to_string(), "v".repeat(5000))])
                .collect();
            hub.record_status(&slot, vars);
        }
        let view = slot.view();
        assert_eq!(view.vars.len(), MAX_VARIABLES);
        assert!(
            view.vars.iter().any(|(k, _)| k == "k0"),
            "the first keys stay"
        );
        assert!(
            !view.vars.iter().any(|(k, _)| k == "k1500"),
            "later new keys are ignored"
        );
        let long = view.vars.iter().find(|(k, _)| k == "long").unwrap();
        assert_eq!(long.1.len(), MAX_VALUE);
        let warnings = std::iter::from_fn(|| logs.try_recv().ok())
            .filter(|line| line.contains("distinct variables"))
            .count();
        assert_eq!(warnings, 1, "warned once per client");
    }

    #[test]
    fn long_log_messages_are_cut() {
        let hub = hub();
        let mut logs = hub.subscribe_log();
        assert!(!hub.log(LogLevel::Info, "script", "short"));
        assert!(hub.log(LogLevel::Info, "script", &"x".repeat(MAX_LOG_MESSAGE + 1)));
        let line = std::iter::from_fn(|| logs.try_recv().ok()).last().unwrap();
        assert!(line.len() < MAX_LOG_MESSAGE + 100, "{}", line.len());
    }
}
