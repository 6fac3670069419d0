//! The TCP server, generic over a [`Service`]. Each connection decodes every request
//! already buffered, appends the replies to one write buffer and writes them with one
//! call, so pipelined requests cost one read and one write per batch; before a request
//! that may take a while goes to the service, earlier replies are sent. Replies leave in
//! request order, one per request.

use crate::device::{CommandSpec, Device, Error};
use crate::hardware::{self, HardwareConfig, Job};
use crate::status::StatusCache;
use bytes::BytesMut;
use labwire_protocol::encode::TextSink;
use labwire_protocol::{ErrorCode, FrameError, LineCodec, Message, PROTOCOL_VERSION};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

/// Commands every daemon answers, with their synopses for `help`.
const BUILTIN_COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "get_id",
        synopsis: "",
    },
    CommandSpec {
        name: "get_status",
        synopsis: "",
    },
    CommandSpec {
        name: "help",
        synopsis: "[<command>]",
    },
    CommandSpec {
        name: "auth",
        synopsis: "token=<secret>",
    },
    CommandSpec {
        name: "subscribe",
        synopsis: "<status|log>",
    },
    CommandSpec {
        name: "unsubscribe",
        synopsis: "<status|log>",
    },
    CommandSpec {
        name: "reconnect",
        synopsis: "",
    },
    CommandSpec {
        name: "exit",
        synopsis: "",
    },
];

/// Commands allowed before `auth` when a token is configured.
const OPEN_COMMANDS: &[&str] = &["get_id", "help", "auth"];

const INITIAL_READ_CAPACITY: usize = 1024;
/// A read buffer grown past this by one long line is given back when idle.
const SHRINK_ABOVE: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub name: String,
    /// `version=` in `id` replies: the daemon crate's version.
    pub version: String,
    pub token: Option<String>,
    pub max_connections: usize,
    pub max_line: usize,
    pub max_payload: usize,
    pub hardware: HardwareConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            name: "daemon".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            token: None,
            max_connections: 1024,
            max_line: labwire_protocol::DEFAULT_MAX_LINE,
            max_payload: 16 * 1024 * 1024,
            hardware: HardwareConfig::default(),
        }
    }
}

/// What a server does beyond the built-ins (`get_id`, `help`, `auth`, `exit`,
/// `subscribe`): a device daemon is one service, the monitor's command port another.
pub trait Service: Send + Sync + 'static {
    /// `type=` in the `id` reply.
    fn kind(&self) -> &str;

    /// The service's own commands (routed to [`Service::handle`]), for `help`.
    fn commands(&self) -> &[CommandSpec];

    /// Write the reply to `get_status` (terminator included).
    fn write_status(&self, out: &mut Vec<u8>, request: &Message);

    /// Pre-encoded event lines for `subscribe <topic>`; `None` for an unknown topic.
    fn subscribe(&self, topic: &str) -> Option<broadcast::Receiver<Arc<str>>>;

    /// Answer one of [`Service::commands`]. `peer` is the requesting connection.
    fn handle(&self, request: Message, peer: SocketAddr) -> impl Future<Output = Message> + Send;

    /// A connection opened (`true`) or closed (`false`).
    fn connection_changed(&self, _peer: SocketAddr, _open: bool) {}
}

/// A device daemon as a [`Service`]: status from the cache, commands through the
/// hardware task's queue.
pub struct DeviceService {
    kind: &'static str,
    commands: Vec<CommandSpec>,
    jobs: mpsc::Sender<Job>,
    status: StatusCache,
}

const RECONNECT: CommandSpec = CommandSpec {
    name: "reconnect",
    synopsis: "(drop the hardware link and connect again now)",
};

impl Service for DeviceService {
    fn kind(&self) -> &str {
        self.kind
    }

    fn commands(&self) -> &[CommandSpec] {
        &self.commands
    }

    fn write_status(&self, out: &mut Vec<u8>, request: &Message) {
        self.status.write_status_reply(out, request.tag.as_deref());
    }

    fn subscribe(&self, topic: &str) -> Option<broadcast::Receiver<Arc<str>>> {
        match topic {
            "status" => Some(self.status.subscribe()),
            "log" => Some(crate::logbus::subscribe()),
            _ => None,
        }
    }

    async fn handle(&self, request: Message, _peer: SocketAddr) -> Message {
        let (reply_to, reply) = oneshot::channel();
        let job = if request.name == RECONNECT.name {
            Job::Reconnect(request.clone(), reply_to)
        } else {
            Job::Command(request.clone(), reply_to)
        };
        if self.jobs.send(job).await.is_err() {
            return Error::new(ErrorCode::Internal, "the hardware task has stopped")
                .to_reply(&request);
        }
        reply.await.unwrap_or_else(|_| {
            Error::new(ErrorCode::Internal, "the hardware task has stopped").to_reply(&request)
        })
    }
}

struct Shared<S: Service> {
    config: ServerConfig,
    service: S,
    shutdown: CancellationToken,
}

/// A running daemon: its server, connections and hardware task.
pub struct Daemon {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    status: StatusCache,
}

impl Daemon {
    /// Start serving `device` on `listener`; returns at once.
    pub fn start<D: Device>(listener: TcpListener, config: ServerConfig, device: D) -> Daemon {
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let status = StatusCache::new();
        let (jobs, job_queue) = mpsc::channel(64);
        let mut commands = device.commands().to_vec();
        commands.push(RECONNECT);
        let service = DeviceService {
            kind: device.kind(),
            commands,
            jobs,
            status: status.clone(),
        };
        tracker.spawn(hardware::run(
            device,
            status.clone(),
            config.hardware.clone(),
            job_queue,
            shutdown.clone(),
        ));
        let local_addr = serve(listener, config, service, shutdown.clone(), &tracker);
        Daemon {
            local_addr,
            shutdown,
            tracker,
            status,
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Cancelling this token stops the daemon (as `exit` does).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub fn status(&self) -> &StatusCache {
        &self.status
    }

    /// Wait until the daemon is told to stop, then for its tasks to finish (bounded).
    pub async fn wait(self) {
        self.shutdown.cancelled().await;
        self.tracker.close();
        if tokio::time::timeout(Duration::from_secs(3), self.tracker.wait())
            .await
            .is_err()
        {
            warn!("some tasks did not stop within 3 s");
        }
    }
}

/// Serve `service` on `listener` until `shutdown`; tasks are spawned on `tracker`, so the
/// caller can wait for every connection to finish. Returns the bound address.
pub fn serve<S: Service>(
    listener: TcpListener,
    config: ServerConfig,
    service: S,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> SocketAddr {
    let local_addr = listener
        .local_addr()
        .expect("bound listener has an address");
    let shared = Arc::new(Shared {
        config,
        service,
        shutdown,
    });
    tracker.spawn(accept_loop(listener, shared, tracker.clone()));
    local_addr
}

async fn accept_loop<S: Service>(
    listener: TcpListener,
    shared: Arc<Shared<S>>,
    tracker: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(shared.config.max_connections));
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                // Out of file descriptors and the like: wait instead of spinning.
                warn!("accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let shared = shared.clone();
                tracker.spawn(async move {
                    Connection::new(shared, peer).serve(stream).await;
                    drop(permit);
                });
            }
            Err(_) => {
                let limit = shared.config.max_connections;
                tracker.spawn(refuse(stream, limit));
            }
        }
    }
}

async fn refuse(mut stream: TcpStream, limit: usize) {
    let reply = Message::error_reply(
        None,
        None,
        ErrorCode::Busy,
        format!("too many connections (limit {limit}); try again later"),
    );
    let mut line = reply.to_line();
    line.push('\n');
    let _ = stream.write_all(line.as_bytes()).await;
}

/// Whether the loop goes on after a request.
#[derive(PartialEq)]
enum Flow {
    Continue,
    Close,
}

struct Connection<S: Service> {
    shared: Arc<Shared<S>>,
    peer: SocketAddr,
    writer: Option<OwnedWriteHalf>,
    authenticated: bool,
    status_updates: Option<broadcast::Receiver<Arc<str>>>,
    log_lines: Option<broadcast::Receiver<Arc<str>>>,
    out: Vec<u8>,
}

impl<S: Service> Connection<S> {
    fn new(shared: Arc<Shared<S>>, peer: SocketAddr) -> Self {
        Connection {
            authenticated: shared.config.token.is_none(),
            shared,
            peer,
            writer: None,
            status_updates: None,
            log_lines: None,
            out: Vec::new(),
        }
    }

    async fn serve(mut self, stream: TcpStream) {
        debug!(peer = %self.peer, "connection opened");
        self.shared.service.connection_changed(self.peer, true);
        let (mut reader, writer) = stream.into_split();
        self.writer = Some(writer);
        let mut codec = LineCodec::new(self.shared.config.max_line, self.shared.config.max_payload);
        let mut inbuf = BytesMut::with_capacity(INITIAL_READ_CAPACITY);
        let shutdown = self.shared.shutdown.clone();
        'connection: loop {
            loop {
                let item = match tokio_util::codec::Decoder::decode(&mut codec, &mut inbuf) {
                    Ok(Some(item)) => item,
                    Ok(None) => break,
                    Err(_) => break 'connection,
                };
                if self.respond(item).await == Flow::Close {
                    let _ = self.flush().await;
                    break 'connection;
                }
            }
            if self.flush().await.is_err() {
                break;
            }
            if inbuf.is_empty() && inbuf.capacity() > SHRINK_ABOVE {
                inbuf = BytesMut::with_capacity(INITIAL_READ_CAPACITY);
            }
            tokio::select! {
                read = reader.read_buf(&mut inbuf) => match read {
                    Ok(0) | Err(_) => {
                        // A last request without terminator still gets its answer.
                        if let Ok(Some(item)) = tokio_util::codec::Decoder::decode_eof(&mut codec, &mut inbuf) {
                            self.respond(item).await;
                            let _ = self.flush().await;
                        }
                        break;
                    }
                    Ok(_) => {}
                },
                line = next_event(&mut self.status_updates) => self.out.extend_from_slice(line.as_bytes()),
                line = next_event(&mut self.log_lines) => self.out.extend_from_slice(line.as_bytes()),
                _ = shutdown.cancelled() => break,
            }
        }
        self.shared.service.connection_changed(self.peer, false);
        debug!(peer = %self.peer, "connection closed");
    }

    /// Write the replies gathered so far.
    async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let writer = self.writer.as_mut().expect("writer set while serving");
        writer.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }

    fn reply(&mut self, message: &Message) {
        labwire_protocol::encode::write_message(&mut self.out, message);
        self.out.push_text("\n");
        if let Some(payload) = &message.payload {
            self.out.extend_from_slice(payload);
        }
    }

    fn fail(&mut self, request: &Message, code: ErrorCode, text: impl Into<String>) {
        self.reply(&Error::new(code, text).to_reply(request));
    }

    async fn respond(&mut self, item: Result<Message, FrameError>) -> Flow {
        let request = match item {
            Ok(request) => request,
            Err(err) => {
                self.reply(&err.to_reply());
                return if err.fatal {
                    Flow::Close
                } else {
                    Flow::Continue
                };
            }
        };
        let name = request.name.as_str();
        if !self.authenticated && !OPEN_COMMANDS.contains(&name) {
            self.fail(
                &request,
                ErrorCode::Forbidden,
                "authenticate first with: auth token=<secret>",
            );
            return Flow::Continue;
        }
        match name {
            "get_id" => {
                let config = &self.shared.config;
                let reply = id_reply(
                    &request,
                    &config.name,
                    self.shared.service.kind(),
                    &config.version,
                );
                self.reply(&reply);
            }
            "get_status" => {
                let shared = self.shared.clone();
                shared.service.write_status(&mut self.out, &request);
            }
            "help" => self.help(&request),
            "auth" => self.auth(&request),
            "subscribe" | "unsubscribe" => self.subscribe(&request),
            "exit" => return self.exit(&request),
            _ if self
                .shared
                .service
                .commands()
                .iter()
                .any(|c| c.name == name) =>
            {
                // The service may take a while (hardware, `wait`): earlier replies go first.
                let _ = self.flush().await;
                let reply = self.shared.service.handle(request, self.peer).await;
                self.reply(&reply);
            }
            _ => self.fail(
                &request,
                ErrorCode::UnknownCommand,
                format!("unknown command {name:?}; 'help' lists the commands"),
            ),
        }
        Flow::Continue
    }

    fn help(&mut self, request: &Message) {
        let shared = self.shared.clone();
        let all = BUILTIN_COMMANDS.iter().chain(shared.service.commands());
        self.reply(&help_reply(request, all));
    }

    fn auth(&mut self, request: &Message) {
        let Some(expected) = self.shared.config.token.clone() else {
            return self.reply(&Message::ok_reply(request));
        };
        match request.get("token") {
            None => self.fail(request, ErrorCode::MissingArgument, "auth needs token="),
            Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => {
                self.authenticated = true;
                self.reply(&Message::ok_reply(request));
            }
            Some(_) => {
                warn!(peer = %self.peer, "wrong token");
                self.fail(request, ErrorCode::Forbidden, "wrong token");
            }
        }
    }

    fn subscribe(&mut self, request: &Message) {
        let on = request.name == "subscribe";
        let topic = request.args.first().map(String::as_str).unwrap_or("");
        let receiver = self.shared.service.subscribe(topic);
        let slot = match topic {
            "status" => &mut self.status_updates,
            "log" => &mut self.log_lines,
            _ => {
                let text = format!("{} needs a topic: status or log", request.name);
                return self.fail(request, ErrorCode::BadArgument, text);
            }
        };
        if receiver.is_none() {
            let text = format!("topic {topic:?} is not offered here");
            return self.fail(request, ErrorCode::BadArgument, text);
        }
        *slot = if on { receiver } else { None };
        self.reply(&Message::ok_reply(request));
    }

    fn exit(&mut self, request: &Message) -> Flow {
        let allowed = if self.shared.config.token.is_some() {
            self.authenticated
        } else {
            self.peer.ip().is_loopback()
        };
        if !allowed {
            let text = "exit needs an authenticated connection, or no token and a loopback peer";
            self.fail(request, ErrorCode::Forbidden, text);
            return Flow::Continue;
        }
        info!(peer = %self.peer, "exit requested");
        self.reply(&Message::ok_reply(request));
        self.shared.shutdown.cancel();
        Flow::Close
    }
}

/// The `id` reply to `get_id`, for servers and for callers answering on their behalf
/// (the monitor's web page).
pub fn id_reply(request: &Message, name: &str, kind: &str, version: &str) -> Message {
    Message::new("id")
        .tagged(request.tag.clone())
        .kwarg("name", name)
        .kwarg("type", kind)
        .kwarg("version", version)
        .kwarg("protocol", PROTOCOL_VERSION.to_string())
}

/// The `help` reply: every command of `commands`, or the one `help <command>` names.
pub fn help_reply<'a>(
    request: &Message,
    commands: impl Iterator<Item = &'a CommandSpec> + Clone,
) -> Message {
    let mut reply = Message::new("help").tagged(request.tag.clone());
    match request.args.first() {
        Some(wanted) => match commands.clone().find(|c| c.name == wanted) {
            Some(spec) => reply.set(spec.name, spec.synopsis),
            None => {
                let text = format!("no command {wanted:?}");
                return Error::bad_argument(text).to_reply(request);
            }
        },
        None => commands.for_each(|spec| reply.set(spec.name, spec.synopsis)),
    }
    reply
}

/// The next event line, or never when not subscribed. A lagging subscriber skips lines.
async fn next_event(receiver: &mut Option<broadcast::Receiver<Arc<str>>>) -> Arc<str> {
    let Some(rx) = receiver else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(line) => return line,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => {
                *receiver = None;
                return std::future::pending().await;
            }
        }
    }
}

/// Compare secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
