//! The monitor's command port (docs/protocol.md, section 11; docs/monitor.md) as a `labwire_daemon` service: the
//! framework brings framing, tags, `get_id`, `help`, `auth`, `exit` and `subscribe`;
//! this module answers `get_status`, `send`, `clients`, `connections`, `wait`, `log`,
//! `alarms`, `ack`, `logs` (the stored log, read in the web side's blocking pool like
//! every archive read, so a long query never holds up this port) and `set interval=`
//! (the store heartbeat).
//! `send` goes through the client's [`Relay`](crate::relay::Relay), and so does the
//! `ack_alarm` that `ack` forwards for a device alarm; an `expose` relayed to a camera
//! is preceded by its `set_keywords` (see [`crate::frames::watch`]); `log` is bounded in
//! size and, per connection, in rate (see [`crate::limits`]).

use crate::hub::{Hub, MONITOR_KIND};
use crate::limits::{TokenBucket, MAX_LOG_MESSAGE, SCRIPT_LOG_RATE};
use crate::web::blocking::{Pool, PoolError};
use crate::web::listing::Format;
use labwire_daemon::server::Service;
use labwire_daemon::{CommandSpec, Error};
use labwire_protocol::{
    format_bool, is_valid_name, parse_number, EncodedKwargs, ErrorCode, LineWriter, LogLevel,
    Message, PageBuilder,
};
use labwire_time::rfc3339;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "send",
        synopsis:
            "<client> <command> [arguments...] (relays the command, answers the client's reply; on timeout sent=0: never sent, sent=1: sent, no reply)",
    },
    CommandSpec {
        name: "clients",
        synopsis: "(connection state of every client)",
    },
    CommandSpec {
        name: "connections",
        synopsis: "(every open connection: clients by name, scripts as script)",
    },
    CommandSpec {
        name: "wait",
        synopsis: "<client>.<key><op><number> [timeout=<s>] (op: < <= > >= == !=)",
    },
    CommandSpec {
        name: "log",
        synopsis: "<debug|info|warning|error> <message...> (4096 bytes kept; 20 lines/s per connection, bursts of 100)",
    },
    CommandSpec {
        name: "alarms",
        synopsis: "(active and unacknowledged alarms: <client>.<key>=\"<state> <since>\"; a device alarm adds <client>.<key>_message)",
    },
    CommandSpec {
        name: "ack",
        synopsis: "<client>.<key> | all (device alarms are forwarded: ack_alarm code=<code>)",
    },
    CommandSpec {
        name: "logs",
        synopsis: "[source=<name>] [level=<debug|info|warning|error>] [text=<text>] [from=<time>] [to=<time>] [before=<next>] [limit=<1-1000>] [format=json|csv] (stored log lines, newest first: ok logs n= more= [next=] bytes=<N>, then the page as JSON or CSV)",
    },
    CommandSpec {
        name: "set",
        synopsis: "interval=<seconds> (the store heartbeat: an unchanged value is still stored this often; above 0, at most 604800)",
    },
];

/// The longest store heartbeat `set interval=` takes: a week.
pub const LONGEST_HEARTBEAT: f64 = 604_800.0;

const DEFAULT_WAIT: Duration = Duration::from_secs(60);
const LONGEST_WAIT: f64 = 7.0 * 86_400.0;
/// Peers whose `log` rate is tracked before refilled (hence forgettable) ones are dropped.
const TRACKED_PEERS: usize = 256;

pub struct MonitorService {
    hub: Arc<Hub>,
    /// With a token every command is authenticated, so relaying `exit` is fine.
    token_configured: bool,
    /// `log` lines allowed per peer connection.
    log_rates: Mutex<HashMap<SocketAddr, TokenBucket>>,
    /// Where `logs` reads the archive: the web side's pool ([`MonitorService::with_archive`]).
    archive: Option<Arc<Pool>>,
}

impl MonitorService {
    pub fn new(hub: Arc<Hub>, token_configured: bool) -> Self {
        MonitorService {
            hub,
            token_configured,
            log_rates: Mutex::default(),
            archive: None,
        }
    }

    /// Read the archive (`logs`) through `pool`, the one the web page's reads go through.
    pub fn with_archive(mut self, pool: Arc<Pool>) -> Self {
        self.archive = Some(pool);
        self
    }

    /// Whether `peer` may log one more line now.
    fn may_log(&self, peer: SocketAddr) -> bool {
        let now = Instant::now();
        let mut rates = self.log_rates.lock().expect("log rates lock");
        if rates.len() >= TRACKED_PEERS && !rates.contains_key(&peer) {
            // A full bucket is as good as a new one, so forgetting it changes nothing;
            // this bounds the map for peers that never say goodbye (the web page's).
            rates.retain(|_, bucket| !bucket.is_full(now));
        }
        rates
            .entry(peer)
            .or_insert_with(|| TokenBucket::new(SCRIPT_LOG_RATE, now))
            .take(now)
    }
}

impl Service for MonitorService {
    fn kind(&self) -> &str {
        "monitor"
    }

    fn commands(&self) -> &[CommandSpec] {
        COMMANDS
    }

    fn status_synopsis(&self) -> &'static str {
        "[format=json] [page=<first entry>] (page=0 starts a paged status; next=<n> names the following page)"
    }

    fn write_status(&self, out: &mut Vec<u8>, request: &Message) {
        if request.get("format") == Some("json") {
            let document = self.hub.status_json().to_string();
            let reply = Message::new("status_json")
                .tagged(request.tag.clone())
                .arg(document);
            labwire_protocol::encode::write_message(out, &reply);
            out.push(b'\n');
            return;
        }
        match labwire_protocol::requested_page(request) {
            Ok(None) => {}
            Ok(Some(first)) => return self.write_status_page(out, request, first),
            Err(text) => {
                let reply = Error::bad_argument(text).to_reply(request);
                labwire_protocol::encode::write_message(out, &reply);
                out.push(b'\n');
                return;
            }
        }
        let views: Vec<_> = self.hub.slots().iter().map(|s| (s, s.view())).collect();
        let connected = views.iter().filter(|(_, v)| v.connected).count();
        let mut writer = LineWriter::start(out, request.tag.as_deref(), "status")
            .kwarg("nclients", &views.len().to_string())
            .kwarg("nconnected", &connected.to_string());
        for (slot, view) in &views {
            writer = writer.kwarg(&slot.name, format_bool(view.connected));
        }
        for (slot, view) in &views {
            if !view.connected {
                continue;
            }
            for (key, value) in &view.vars {
                writer = writer.kwarg(&format!("{}.{key}", slot.name), value);
            }
        }
        writer.finish();
    }

    fn subscribe(&self, topic: &str) -> Option<broadcast::Receiver<Arc<str>>> {
        match topic {
            "status" => Some(self.hub.subscribe_status()),
            "log" => Some(self.hub.subscribe_log()),
            _ => None,
        }
    }

    async fn handle(&self, request: Message, peer: SocketAddr) -> Message {
        let result = match request.name.as_str() {
            "send" => return self.send(request, peer).await,
            "clients" => Ok(self.clients(&request)),
            "connections" => Ok(self.connections(&request)),
            "wait" => self.wait(&request).await,
            "log" => self.log(&request, peer),
            "alarms" => Ok(self.alarms(&request)),
            "ack" => self.ack(&request).await,
            "logs" => self.logs(&request).await,
            "set" => self.set(&request),
            other => Err(Error::new(
                ErrorCode::UnknownCommand,
                format!("unknown command {other:?}"),
            )),
        };
        result.unwrap_or_else(|err| err.to_reply(&request))
    }

    fn connection_changed(&self, peer: SocketAddr, open: bool) {
        if open {
            self.hub.connection_opened(peer, "script");
        } else {
            self.hub.connection_closed(peer);
            self.log_rates.lock().expect("log rates lock").remove(&peer);
        }
    }
}

impl MonitorService {
    /// `get_status page=<first>`: the entries `<client>=<0/1>` and, for a connected
    /// client, its `<client>.<key>=<value>`, client by client in configuration order, from
    /// entry `first` on (docs/protocol.md, "Paged status"); the counts on page 0 only.
    fn write_status_page(&self, out: &mut Vec<u8>, request: &Message, first: usize) {
        let mut page = PageBuilder::new(first);
        let mut connected = 0;
        for slot in self.hub.slots() {
            let more = slot.with_view(|view| {
                connected += usize::from(view.connected);
                if page.is_full() {
                    return false;
                }
                let entries = 1 + if view.connected { view.vars.len() } else { 0 };
                if page.skip_before_page(entries) {
                    return true;
                }
                let mut more = page.offer(&slot.name, format_bool(view.connected));
                if view.connected {
                    for (key, value) in &view.vars {
                        more = more && page.offer(&format!("{}.{key}", slot.name), value);
                    }
                }
                more
            });
            // The counts need every client; the entries only up to a full page.
            if !more && first > 0 {
                break;
            }
        }
        let (clients, connected) = (self.hub.slots().len().to_string(), connected.to_string());
        let header = [
            ("nclients", clients.as_str()),
            ("nconnected", connected.as_str()),
        ];
        let header: &[(&str, &str)] = if first == 0 { &header } else { &[] };
        page.write(out, request.tag.as_deref(), "status", header);
    }

    async fn send(&self, request: Message, peer: SocketAddr) -> Message {
        let fail = |code, text: String| Error::new(code, text).to_reply(&request);
        let (Some(client), Some(command)) = (request.args.first(), request.args.get(1)) else {
            return fail(
                ErrorCode::MissingArgument,
                "usage: send <client> <command> [arguments...]".into(),
            );
        };
        let Some(slot) = self.hub.slot(client) else {
            return fail(
                ErrorCode::BadArgument,
                format!("no client named {client:?}"),
            );
        };
        if !is_valid_name(command) {
            return fail(
                ErrorCode::BadArgument,
                format!("{command:?} is not a command name"),
            );
        }
        if command == "exit" && !self.token_configured && !peer.ip().is_loopback() {
            return fail(
                ErrorCode::Forbidden,
                "relaying exit needs a token, or a loopback peer".into(),
            );
        }
        let Some(link) = slot.link() else {
            return fail(
                ErrorCode::NotConnected,
                format!("{client} is not connected"),
            );
        };
        let kind = slot.with_view(|view| view.kind.clone());
        if command == "expose" && kind == crate::frames::watch::CAMERA_KIND {
            // The header gets the lab's state as of now, not of the last change the
            // camera's own task passed on (monitor/src/frames/watch.rs). A refusal is the
            // camera's to report in its log; the exposure goes ahead either way.
            let (keywords, _) = crate::frames::keywords::for_camera(&self.hub, client);
            if let Ok(reply) = slot.relay.send(keywords, link.legacy).await {
                if reply.is_error() {
                    tracing::debug!("{client} refused the keywords before expose: {reply}");
                }
            }
        }
        // `send lower psu1 ...` to a lower monitor that has a client `psu1` goes on as
        // `send psu1 ...` there; a command of its own (`send lower clients`) as it is.
        let relayed = if kind == MONITOR_KIND && slot.var(command).is_some() {
            Message {
                tag: None,
                name: "send".into(),
                args: request.args[1..].to_vec(),
                kwargs: request.kwargs.clone(),
                payload: request.payload.clone(),
            }
        } else {
            Message {
                tag: None,
                name: command.clone(),
                args: request.args[2..].to_vec(),
                kwargs: request.kwargs.clone(),
                payload: request.payload.clone(),
            }
        };
        let outcome = slot.relay.send(relayed, link.legacy).await;
        self.hub.counters.relayed.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(mut reply) => {
                reply.tag = request.tag.clone();
                reply
            }
            Err(failure) => failure.to_reply(&request, client, slot.relay.timeout()),
        }
    }

    fn clients(&self, request: &Message) -> Message {
        let mut reply = Message::new("clients").tagged(request.tag.clone());
        let mut reasons = Vec::new();
        for slot in self.hub.slots() {
            let view = slot.view();
            reply.set(slot.name.clone(), format_bool(view.connected));
            if let (false, Some(reason)) = (view.connected, view.reason) {
                reasons.push((format!("{}.reason", slot.name), reason));
            }
        }
        // Why a client is down, when it refused the monitor, after the states.
        reply.kwargs.extend(reasons);
        reply
    }

    fn connections(&self, request: &Message) -> Message {
        let mut entries: Vec<(SocketAddr, String)> = self
            .hub
            .slots()
            .iter()
            .filter_map(|slot| Some((slot.link()?.client.peer_addr(), slot.name.clone())))
            .collect();
        entries.extend(self.hub.incoming_connections());
        let mut reply = Message::new("connections")
            .tagged(request.tag.clone())
            .kwarg("n", entries.len().to_string());
        for (peer, what) in entries {
            reply.set(peer_key(peer), what);
        }
        reply
    }

    async fn wait(&self, request: &Message) -> Result<Message, Error> {
        let condition = Condition::from_request(request)?;
        if self.hub.slot(&condition.client).is_none() {
            return Err(Error::bad_argument(format!(
                "no client named {:?}",
                condition.client
            )));
        }
        let seconds = match request.get("timeout") {
            None => DEFAULT_WAIT.as_secs_f64(),
            Some(text) => parse_number(text)
                .filter(|s| *s >= 0.0 && *s <= LONGEST_WAIT)
                .ok_or_else(|| {
                    Error::bad_argument(format!(
                        "timeout={text:?}: seconds from 0 to {LONGEST_WAIT}"
                    ))
                })?,
        };
        let mut changes = self.hub.changes();
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(seconds);
        loop {
            let current = self.hub.current(&condition.client, &condition.key);
            if let Some(value) = current.as_deref().and_then(parse_number) {
                if condition.holds(value) {
                    return Ok(Message::ok_reply(request).kwarg(
                        format!("{}.{}", condition.client, condition.key),
                        current.unwrap_or_default(),
                    ));
                }
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Error::new(ErrorCode::Internal, "monitor stopping")),
                Err(_) => {
                    return Err(Error::timeout(format!(
                        "{} not reached within {seconds} s (now {})",
                        condition.text,
                        current.as_deref().unwrap_or("unknown")
                    )))
                }
            }
        }
    }

    fn alarms(&self, request: &Message) -> Message {
        let alarms = self.hub.alarms();
        let mut reply = Message::new("alarms")
            .tagged(request.tag.clone())
            .kwarg("n", alarms.len().to_string());
        for alarm in alarms {
            let mut state = format!("{} {}", alarm.state, rfc3339(alarm.since));
            if !alarm.active {
                state.push_str(" cleared");
            }
            if alarm.acknowledged {
                state.push_str(" acknowledged");
            }
            reply.set(format!("{}.{}", alarm.client, alarm.key), state);
            if alarm.is_device() {
                // As the daemon names it: `<client>.alarm_<code>_message`.
                reply.set(
                    format!("{}.{}_message", alarm.client, alarm.key),
                    alarm.message,
                );
            }
        }
        reply
    }

    /// The monitor's own alarms are acknowledged here; each device alarm is forwarded to
    /// its daemon as `ack_alarm code=<code>` and counts once the daemon answers `ok`. A
    /// refusal (or an unreachable daemon) is the answer, naming the alarms it concerns.
    async fn ack(&self, request: &Message) -> Result<Message, Error> {
        let target = request
            .args
            .first()
            .ok_or_else(|| Error::missing_argument("usage: ack <client>.<key> | all"))?;
        let (mut count, forward) = self.hub.acknowledge(target).map_err(Error::bad_argument)?;
        let mut refused: Vec<Error> = Vec::new();
        for (client, key) in forward {
            match self.forward_ack(request, &client, &key).await {
                Ok(()) => count += usize::from(self.hub.device_alarm_acknowledged(&client, &key)),
                Err(err) => refused.push(Error::new(
                    err.code,
                    format!("{client}.{key} not acknowledged: {}", err.message),
                )),
            }
        }
        match refused.first() {
            None => Ok(Message::ok_reply(request).kwarg("n", count.to_string())),
            Some(first) => {
                let reasons: Vec<&str> = refused.iter().map(|e| e.message.as_str()).collect();
                let mut message = reasons.join("; ");
                if count > 0 {
                    message = format!("{count} acknowledged; {message}");
                }
                Err(Error::new(first.code, message))
            }
        }
    }

    /// `ack_alarm code=<code>` to the daemon of `client`, through its relay like `send`.
    async fn forward_ack(&self, request: &Message, client: &str, key: &str) -> Result<(), Error> {
        let slot = self
            .hub
            .slot(client)
            .ok_or_else(|| Error::bad_argument(format!("no client named {client:?}")))?;
        let link = slot
            .link()
            .ok_or_else(|| Error::not_connected(format!("{client} is not connected")))?;
        let code = crate::alarms::device_code(key).unwrap_or(key);
        let command = Message::new("ack_alarm").kwarg("code", code);
        let outcome = slot.relay.send(command, link.legacy).await;
        self.hub.counters.relayed.fetch_add(1, Ordering::Relaxed);
        let (reply, said) = match outcome {
            Ok(reply) if reply.name == "ok" => return Ok(()),
            Ok(reply) => (reply, format!("{client} answered: ")),
            Err(failure) => (
                failure.to_reply(request, client, slot.relay.timeout()),
                String::new(),
            ),
        };
        let code = reply
            .error_code()
            .and_then(|code| code.parse().ok())
            .unwrap_or(ErrorCode::DeviceError);
        let why = match reply.error_message() {
            Some(why) => why.to_string(),
            None => reply.to_line(),
        };
        Err(Error::new(code, format!("{said}{why}")))
    }

    /// `logs [filters]`: a page of the stored log (`/monitor/logs`'s filters and JSON or
    /// CSV) as the reply's payload.
    async fn logs(&self, request: &Message) -> Result<Message, Error> {
        if let Some(word) = request.args.first() {
            return Err(Error::bad_argument(format!(
                "{word:?}: logs takes key=value filters only (source=, level=, text=, from=, to=, before=, limit=, format=)"
            )));
        }
        let asked =
            crate::web::logs::parse(request.kwargs.iter().cloned(), std::time::SystemTime::now())
                .map_err(Error::bad_argument)?;
        if asked.format == Format::Html {
            return Err(Error::bad_argument(
                "format=html is the web page's: json or csv",
            ));
        }
        let pool = self
            .archive
            .as_ref()
            .ok_or_else(|| Error::new(ErrorCode::Internal, "this command port reads no archive"))?;
        // Written where it is read: a page of a thousand lines is no work for this port.
        let format = asked.format;
        let job = pool.read(move |reader| {
            let page = reader.logs(&asked.query)?;
            let body = match format {
                Format::Csv => crate::web::logs::csv(&page),
                _ => crate::web::logs::json_document(&asked.query, &page).to_string(),
            };
            let next = crate::web::listing::next(&page);
            Ok::<_, crate::store::StoreError>((body, page.items.len(), page.more, next))
        });
        let (body, lines, more, next) = match job.await {
            Ok(Ok(answer)) => answer,
            Ok(Err(err)) => return Err(Error::new(ErrorCode::Internal, err.to_string())),
            Err(PoolError::Busy) => {
                return Err(Error::new(ErrorCode::Busy, PoolError::Busy.to_string()))
            }
            Err(err) => return Err(Error::new(ErrorCode::Internal, err.to_string())),
        };
        let mut reply = Message::ok_reply(request)
            .kwarg("n", lines.to_string())
            .kwarg("more", format_bool(more));
        if let Some(next) = next {
            reply.set("next", next.to_string());
        }
        Ok(reply.with_payload(body.into_bytes()))
    }

    /// `set interval=<seconds>`: the store heartbeat, from the next poll on; logged.
    fn set(&self, request: &Message) -> Result<Message, Error> {
        const USAGE: &str = "usage: set interval=<seconds> (the store heartbeat)";
        if let Some(word) = request.args.first() {
            return Err(Error::bad_argument(format!("{word:?}: {USAGE}")));
        }
        if let Some((key, _)) = request.kwargs.iter().find(|(key, _)| key != "interval") {
            return Err(Error::bad_argument(format!(
                "{key:?} cannot be set here; {USAGE}"
            )));
        }
        let text = request
            .get("interval")
            .ok_or_else(|| Error::missing_argument(USAGE))?;
        let interval = parse_number(text)
            .filter(|s| *s > 0.0 && *s <= LONGEST_HEARTBEAT)
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                Error::out_of_range(format!(
                    "interval={text:?}: seconds above 0, at most {LONGEST_HEARTBEAT}"
                ))
            })?;
        let was = self.hub.set_store_interval(interval);
        let seconds = |d: Duration| labwire_protocol::format_number(d.as_secs_f64());
        self.hub.log(
            LogLevel::Info,
            "monitor",
            &format!(
                "store heartbeat set to {} s (was {} s)",
                seconds(interval),
                seconds(was)
            ),
        );
        Ok(Message::ok_reply(request)
            .kwarg("interval", seconds(interval))
            .kwarg("was", seconds(was)))
    }

    /// `log <level> <message...>`: the words, then any `key=value` parts as written.
    /// Messages over [`MAX_LOG_MESSAGE`] bytes are cut (`ok log truncated=<bytes kept>`);
    /// lines beyond [`SCRIPT_LOG_RATE`] on one connection are refused with `busy`.
    fn log(&self, request: &Message, peer: SocketAddr) -> Result<Message, Error> {
        let level = request
            .args
            .first()
            .ok_or_else(|| Error::missing_argument("usage: log <level> <message...>"))?;
        let level: LogLevel = level
            .parse()
            .map_err(|err: labwire_protocol::UnknownLogLevel| {
                Error::bad_argument(err.to_string())
            })?;
        let mut message = request.args[1..].join(" ");
        let kwargs = EncodedKwargs::from_pairs(request.kwargs.iter().map(|(k, v)| (k, v)));
        if !kwargs.is_empty() {
            if !message.is_empty() {
                message.push(' ');
            }
            message.push_str(kwargs.as_str());
        }
        if message.is_empty() {
            return Err(Error::missing_argument("log needs a message"));
        }
        if !self.may_log(peer) {
            return Err(Error::new(
                ErrorCode::Busy,
                format!(
                    "too many log lines from this connection (limit {}); line dropped",
                    SCRIPT_LOG_RATE.describe()
                ),
            ));
        }
        let reply = Message::ok_reply(request);
        Ok(if self.hub.log(level, "script", &message) {
            reply.kwarg("truncated", MAX_LOG_MESSAGE.to_string())
        } else {
            reply
        })
    }
}

/// A peer address as a key: keys allow letters, digits, `_`, `-` and `.` only, so the
/// port separator and IPv6 colons become `_`.
fn peer_key(peer: SocketAddr) -> String {
    format!("{}_{}", peer.ip(), peer.port()).replace(':', "_")
}

/// `<client>.<key><op><number>`.
#[derive(Debug, PartialEq)]
struct Condition {
    text: String,
    client: String,
    key: String,
    op: &'static str,
    threshold: f64,
}

impl Condition {
    /// From `wait`'s arguments. By the grammar `a.b==1` arrives as the kwarg `a.b` = `=1`
    /// (its key is valid), so that form is rebuilt here.
    fn from_request(request: &Message) -> Result<Condition, Error> {
        let rebuilt = request
            .kwargs
            .iter()
            .find(|(key, value)| key != "timeout" && value.starts_with('='))
            .map(|(key, value)| format!("{key}={value}"));
        let text = match (request.args.first(), rebuilt) {
            (Some(text), _) => text.clone(),
            (None, Some(text)) => text,
            (None, None) => {
                return Err(Error::missing_argument(
                    "usage: wait <client>.<key><op><number> [timeout=<s>]",
                ))
            }
        };
        Condition::parse(&text)
    }

    fn parse(text: &str) -> Result<Condition, Error> {
        let bad = || {
            Error::bad_argument(format!(
                "{text:?}: expected <client>.<key><op><number>, op one of < <= > >= == !="
            ))
        };
        let at = text.find(['<', '>', '=', '!']).ok_or_else(bad)?;
        let (variable, rest) = text.split_at(at);
        let op = ["<=", ">=", "==", "!=", "<", ">"]
            .into_iter()
            .find(|op| rest.starts_with(op))
            .ok_or_else(bad)?;
        let threshold = parse_number(&rest[op.len()..]).ok_or_else(bad)?;
        let (client, key) = variable.split_once('.').ok_or_else(bad)?;
        if !is_valid_name(client) || !is_valid_name(key) {
            return Err(bad());
        }
        Ok(Condition {
            text: text.to_string(),
            client: client.to_string(),
            key: key.to_string(),
            op,
            threshold,
        })
    }

    fn holds(&self, value: f64) -> bool {
        match self.op {
            "<" => value < self.threshold,
            "<=" => value <= self.threshold,
            ">" => value > self.threshold,
            ">=" => value >= self.threshold,
            "==" => value == self.threshold,
            _ => value != self.threshold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_protocol::parse_line;

    fn condition(line: &str) -> Result<Condition, Error> {
        Condition::from_request(&parse_line(line).unwrap())
    }

    #[test]
    fn conditions_in_every_form() {
        let c = condition("wait thermo.temperature<=-99.9 timeout=600").unwrap();
        assert_eq!(
            (c.client.as_str(), c.key.as_str(), c.op, c.threshold),
            ("thermo", "temperature", "<=", -99.9)
        );
        assert!(c.holds(-100.0) && !c.holds(-99.0));
        let c = condition("wait psu1.ch1_output==1").unwrap();
        assert_eq!((c.op, c.threshold), ("==", 1.0));
        assert!(c.holds(1.0));
        let c = condition("wait gauge1.pressure<1e-5").unwrap();
        assert_eq!((c.op, c.threshold), ("<", 1e-5));
        assert_eq!(condition("wait a.b!=0").unwrap().op, "!=");
        assert_eq!(condition("wait a.b>=2.5").unwrap().op, ">=");
    }

    #[test]
    fn bad_conditions_are_named() {
        for line in [
            "wait",
            "wait a.b",
            "wait ab<1",
            "wait a.b<x",
            "wait a.b=<1",
            "wait a.b<nan",
        ] {
            let err = condition(line).unwrap_err();
            assert!(
                matches!(
                    err.code,
                    ErrorCode::BadArgument | ErrorCode::MissingArgument
                ),
                "{line}: {err}"
            );
        }
    }

    #[test]
    fn peer_keys_are_valid_keys() {
        for peer in ["127.0.0.1:7001", "[::1]:7100"] {
            let key = peer_key(peer.parse().unwrap());
            assert!(is_valid_name(&key), "{key}");
        }
    }
}
