//! One connection, shared by every clone of a [`Client`].
//!
//! Requests register a route (tag -> oneshot) before their line is queued, so a reply can
//! never arrive before someone waits for it. A route is removed by a guard when the
//! request's future ends in any way (reply, timeout, caller gave up), so abandoned requests
//! never accumulate. When the connection ends, the route table is closed and drained in one
//! step under its lock: a request either fails at registration or is failed by the drain.

use crate::{ClientError, ClientOptions, Result};
use futures_util::{SinkExt, StreamExt};
use labwire_protocol::{is_valid_name, parse_line, FrameError, LineCodec, Message};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

/// Lines queued for the writer task before `request` waits for room; it is backpressure
/// against a server that stops reading, not a throughput knob.
/// Initial read and write buffer size. Buffers grow for long lines and payloads; small
/// ones keep a monitor holding a thousand connections small.
const BUFFER_START: usize = 1024;
const WRITE_QUEUE: usize = 1024;

type Waiter = oneshot::Sender<Result<Message>>;

/// A connection to one labwire server. Cloning shares the connection; it closes when
/// [`close`](Client::close) is called, the server goes away, or the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// Boxed: the channel allocates a block of slots up front, and a monitor holds a
    /// thousand of these.
    outgoing: mpsc::Sender<Box<Message>>,
    /// Legacy daemons cannot tell replies apart, so untagged requests go one at a time.
    untagged_turn: tokio::sync::Mutex<()>,
    events: Mutex<Option<Events>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    next_tag: AtomicU64,
    peer: SocketAddr,
    request_timeout: Duration,
    /// Set by the first untagged request: the reader then reads `bytes=` as a variable.
    legacy_peer: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The I/O tasks only hold `Shared`, so without this they would outlive the handles.
        self.shared.close();
    }
}

/// What the reader task shares with the handles.
struct Shared {
    routes: Mutex<Routes>,
    connected: AtomicBool,
    shutdown: CancellationToken,
    events_dropped: AtomicU64,
}

struct Routes {
    open: bool,
    tagged: HashMap<String, Waiter>,
    untagged: Option<Waiter>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Route tables stay consistent even if a holder panicked: every edit is one operation.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Marks the connection down and fails everything still waiting; idempotent.
    fn close(&self) {
        let (tagged, untagged) = {
            let mut routes = lock(&self.routes);
            routes.open = false;
            (std::mem::take(&mut routes.tagged), routes.untagged.take())
        };
        self.connected.store(false, Ordering::Release);
        self.shutdown.cancel();
        for waiter in tagged.into_values().chain(untagged) {
            let _ = waiter.send(Err(ClientError::Closed));
        }
    }

    fn register(&self, route: &RouteKey, waiter: Waiter) -> Result<()> {
        let mut routes = lock(&self.routes);
        if !routes.open {
            return Err(ClientError::Closed);
        }
        match route {
            RouteKey::Tag(tag) => {
                routes.tagged.insert(tag.clone(), waiter);
            }
            RouteKey::Untagged => routes.untagged = Some(waiter),
        }
        Ok(())
    }

    fn deliver(&self, message: Message, events: &mpsc::Sender<Box<Message>>) {
        let waiter = {
            let mut routes = lock(&self.routes);
            match &message.tag {
                Some(tag) => match routes.tagged.remove(tag) {
                    Some(waiter) => Some(waiter),
                    None => {
                        drop(routes);
                        tracing::debug!(line = %message, "reply for no waiting request (timed out?)");
                        return;
                    }
                },
                None if is_event(&message) => None,
                None => routes.untagged.take(),
            }
        };
        match waiter {
            Some(waiter) => {
                let _ = waiter.send(Ok(message));
            }
            None => self.push_event(message, events),
        }
    }

    fn push_event(&self, message: Message, events: &mpsc::Sender<Box<Message>>) {
        if let Err(mpsc::error::TrySendError::Full(dropped)) = events.try_send(Box::new(message)) {
            // A slow consumer loses events instead of growing memory.
            let count = self.events_dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::trace!(line = %dropped, count, "event queue full, event dropped");
        }
    }

    /// A line from the server that could not be read. Returns true when the stream is out of
    /// sync and the connection must end.
    fn deliver_unreadable(&self, bad: FrameError) -> bool {
        let waiter = bad
            .tag
            .as_ref()
            .and_then(|tag| lock(&self.routes).tagged.remove(tag));
        match waiter {
            Some(waiter) => {
                let text = format!("unreadable reply ({}): {}", bad.code, bad.message);
                let _ = waiter.send(Err(ClientError::Protocol(text)));
            }
            // Legacy daemons may print anything; an unmatched bad line is only noted.
            None => {
                tracing::debug!(code = %bad.code, message = %bad.message, "ignoring unreadable line")
            }
        }
        bad.fatal
    }
}

/// The encoder trusts names and keys (they are identifiers the caller controls), so a bad
/// one is refused here rather than written as a line the server cannot parse.
fn check_names(message: &Message) -> Result<()> {
    if !is_valid_name(&message.name) {
        return Err(ClientError::Protocol(format!(
            "invalid command name {:?}",
            message.name
        )));
    }
    match message.kwargs.iter().find(|(key, _)| !is_valid_name(key)) {
        Some((key, _)) => Err(ClientError::Protocol(format!("invalid key {key:?}"))),
        None => Ok(()),
    }
}

/// Closes the connection when an I/O task ends, even by panic.
struct CloseOnExit(Arc<Shared>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        self.0.close();
    }
}

fn is_event(message: &Message) -> bool {
    matches!(message.name.as_str(), "update" | "log")
}

enum RouteKey {
    Tag(String),
    Untagged,
}

/// Removes a request's route when its future ends, whichever way it ends.
struct RouteGuard<'a> {
    shared: &'a Shared,
    key: RouteKey,
}

impl Drop for RouteGuard<'_> {
    fn drop(&mut self) {
        let mut routes = lock(&self.shared.routes);
        match &self.key {
            RouteKey::Tag(tag) => {
                routes.tagged.remove(tag);
            }
            // Safe to clear: untagged requests hold `untagged_turn` for longer than this guard.
            RouteKey::Untagged => routes.untagged = None,
        }
    }
}

/// The receiving end of a connection's unsolicited lines (see [`Client::take_events`]).
/// Lines travel boxed: the channel allocates a block of slots up front, and a monitor
/// holds a thousand connections.
pub struct Events(mpsc::Receiver<Box<Message>>);

impl Events {
    /// The next line; `None` once the connection has ended.
    pub async fn recv(&mut self) -> Option<Message> {
        self.0.recv().await.map(|line| *line)
    }

    /// The next line if one is waiting.
    pub fn try_recv(&mut self) -> std::result::Result<Message, mpsc::error::TryRecvError> {
        self.0.try_recv().map(|line| *line)
    }
}

impl Client {
    /// Connects to a labwire server within `options.connect_timeout`.
    pub async fn connect(addr: impl ToSocketAddrs, options: ClientOptions) -> Result<Client> {
        let stream = timeout(options.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout)??;
        Client::from_stream(stream, options)
    }

    /// Wraps an already connected stream (e.g. one accepted by a test server).
    pub fn from_stream(stream: TcpStream, options: ClientOptions) -> Result<Client> {
        // Requests are small and latency-bound; batching happens in the writer task.
        stream.set_nodelay(true)?;
        let peer = stream.peer_addr()?;
        let (read_half, write_half) = stream.into_split();
        let shared = Arc::new(Shared {
            routes: Mutex::new(Routes {
                open: true,
                tagged: HashMap::new(),
                untagged: None,
            }),
            connected: AtomicBool::new(true),
            shutdown: CancellationToken::new(),
            events_dropped: AtomicU64::new(0),
        });
        let legacy_peer = Arc::new(AtomicBool::new(false));
        let (outgoing_tx, outgoing_rx) = mpsc::channel(WRITE_QUEUE);
        let (events_tx, events_rx) = mpsc::channel(options.event_capacity.max(1));
        let codec = || LineCodec::new(options.max_line, options.max_payload);
        let reader = tokio::spawn(read_loop(
            shared.clone(),
            FramedRead::with_capacity(
                read_half,
                codec().with_plain_bytes_switch(legacy_peer.clone()),
                BUFFER_START,
            ),
            events_tx,
        ));
        let writer = tokio::spawn(write_loop(
            shared.clone(),
            FramedWrite::with_capacity(write_half, codec(), BUFFER_START),
            outgoing_rx,
        ));
        Ok(Client {
            inner: Arc::new(Inner {
                shared,
                outgoing: outgoing_tx,
                untagged_turn: tokio::sync::Mutex::new(()),
                events: Mutex::new(Some(Events(events_rx))),
                tasks: Mutex::new(vec![reader, writer]),
                next_tag: AtomicU64::new(1),
                peer,
                request_timeout: options.request_timeout,
                legacy_peer,
            }),
        })
    }

    /// Sends `request` with a fresh unique tag (replacing any tag it had) and waits for the
    /// reply carrying that tag. The reply comes back with the request's original tag (or
    /// none). An `error` reply is `Ok`. Any number of requests may be in flight at once.
    pub async fn request(&self, mut request: Message) -> Result<Message> {
        check_names(&request)?;
        let inner = &*self.inner;
        let original_tag = request.tag.take();
        let tag = inner.next_tag.fetch_add(1, Ordering::Relaxed).to_string();
        request.tag = Some(tag.clone());
        let deadline = Instant::now() + inner.request_timeout;
        let mut reply = self.exchange(request, RouteKey::Tag(tag), deadline).await?;
        reply.tag = original_tag;
        Ok(reply)
    }

    /// Parses `line` (tag allowed) and sends it with [`request`](Client::request).
    pub async fn call(&self, line: &str) -> Result<Message> {
        let request = parse_line(line).map_err(|err| ClientError::Protocol(err.to_string()))?;
        self.request(request).await
    }

    /// Legacy mode for CCDLab-era daemons that do not understand tags: sends `request`
    /// untagged, one such request at a time, and takes the next untagged line that is not
    /// an event (`update`/`log`) as its reply. Lines that match nothing are ignored. The
    /// whole call, including the wait for its turn, is bounded by the request timeout. The
    /// reply carries the request's original tag (or none).
    ///
    /// From the first such request on, the peer is taken for a legacy daemon: `bytes=`
    /// in its lines is an ordinary variable, not a payload length (those daemons know no
    /// payloads, and some report a variable called `bytes`).
    pub async fn request_untagged(&self, mut request: Message) -> Result<Message> {
        check_names(&request)?;
        let inner = &*self.inner;
        inner.legacy_peer.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + inner.request_timeout;
        let original_tag = request.tag.take();
        let _turn = timeout_at(deadline, inner.untagged_turn.lock())
            .await
            .map_err(|_| ClientError::Timeout)?;
        let mut reply = self.exchange(request, RouteKey::Untagged, deadline).await?;
        reply.tag = original_tag;
        Ok(reply)
    }

    /// Route the reply for `key` back here, send `request`, and wait for that reply until
    /// `deadline`; the route is removed however the wait ends.
    async fn exchange(
        &self,
        request: Message,
        key: RouteKey,
        deadline: Instant,
    ) -> Result<Message> {
        let inner = &*self.inner;
        let (waiter, reply) = oneshot::channel();
        inner.shared.register(&key, waiter)?;
        let _route = RouteGuard {
            shared: &inner.shared,
            key,
        };
        let exchange = async {
            inner
                .outgoing
                .send(Box::new(request))
                .await
                .map_err(|_| ClientError::Closed)?;
            reply.await.unwrap_or(Err(ClientError::Closed))
        };
        timeout_at(deadline, exchange)
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// The unsolicited lines: untagged `update`/`log` lines, and any other untagged line
    /// while no untagged request is waiting. The queue holds `event_capacity` lines; when
    /// the consumer falls behind, newer lines are dropped (see
    /// [`events_dropped`](Client::events_dropped)). The receiver ends when the connection
    /// ends. It can be taken once; later calls return `None`.
    pub fn take_events(&self) -> Option<Events> {
        lock(&self.inner.events).take()
    }

    /// How many events were dropped because the event queue was full.
    pub fn events_dropped(&self) -> u64 {
        self.inner.shared.events_dropped.load(Ordering::Relaxed)
    }

    /// How many requests are currently waiting for a reply.
    pub fn pending_requests(&self) -> usize {
        let routes = lock(&self.inner.shared.routes);
        routes.tagged.len() + usize::from(routes.untagged.is_some())
    }

    pub fn is_connected(&self) -> bool {
        self.inner.shared.connected.load(Ordering::Acquire)
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer
    }

    /// Resolves once the connection has ended, for whatever reason.
    pub async fn closed(&self) {
        self.inner.shared.shutdown.cancelled().await;
    }

    /// Closes the connection: waiting requests fail with [`ClientError::Closed`], and the
    /// socket is released before this returns.
    pub async fn close(&self) {
        self.inner.shared.close();
        let tasks = std::mem::take(&mut *lock(&self.inner.tasks));
        for task in tasks {
            let _ = task.await;
        }
    }
}

async fn read_loop(
    shared: Arc<Shared>,
    mut lines: FramedRead<OwnedReadHalf, LineCodec>,
    events: mpsc::Sender<Box<Message>>,
) {
    let _close = CloseOnExit(shared.clone());
    loop {
        let item = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            item = lines.next() => item,
        };
        match item {
            Some(Ok(Ok(message))) => shared.deliver(message, &events),
            Some(Ok(Err(bad))) => {
                if shared.deliver_unreadable(bad) {
                    break;
                }
            }
            Some(Err(err)) => {
                tracing::debug!(%err, "connection read failed");
                break;
            }
            None => break,
        }
    }
    // Dropping `events` on return is what ends the event stream for its consumer.
}

async fn write_loop(
    shared: Arc<Shared>,
    mut sink: FramedWrite<OwnedWriteHalf, LineCodec>,
    mut outgoing: mpsc::Receiver<Box<Message>>,
) {
    let _close = CloseOnExit(shared.clone());
    let pump = async {
        while let Some(message) = outgoing.recv().await {
            sink.feed(&*message).await?;
            // Whatever queued up meanwhile goes out in the same write: pipelined bursts
            // cost one syscall, not one per request.
            while let Ok(message) = outgoing.try_recv() {
                sink.feed(&*message).await?;
            }
            SinkExt::<&Message>::flush(&mut sink).await?;
        }
        Ok::<(), std::io::Error>(())
    };
    tokio::select! {
        _ = shared.shutdown.cancelled() => {}
        result = pump => if let Err(err) = result {
            tracing::debug!(%err, "connection write failed");
        },
    }
}
