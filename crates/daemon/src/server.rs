//! The TCP server, generic over a [`Service`]: the accept loop and its limits. A full
//! server makes room by closing the connection idle the longest ([`crate::room`]) rather
//! than refusing newcomers for as long as idle sockets stay open; each connection runs
//! in its own task ([`crate::connection`]) inside a tracing span naming its peer.

use crate::auth::AuthThrottle;
use crate::connection::Connection;
use crate::dispatch::Identity;
use crate::hardware::HardwareConfig;
use crate::room::Registry;
use labwire_protocol::{ErrorCode, Message};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info_span, warn, Instrument};

pub use crate::auth::constant_time_eq;
pub use crate::daemon::Daemon;
pub use crate::dispatch::{help_reply, id_reply};
pub use crate::service::{DeviceService, Service};

/// How long a newcomer waits for the slot of the connection closed to make room.
const ROOM_WAIT: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub name: String,
    /// `version=` in `id` replies: the daemon crate's version.
    pub version: String,
    pub token: Option<String>,
    pub max_connections: usize,
    pub max_line: usize,
    /// The longest payload one request may announce; a longer one closes the connection.
    pub max_payload: usize,
    /// Payload bytes buffered at once, all connections together.
    pub payload_budget: usize,
    /// When full, a connection idle this long may be closed for a newcomer.
    pub evict_idle_after: Duration,
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
            payload_budget: 64 * 1024 * 1024,
            evict_idle_after: Duration::from_secs(5),
            hardware: HardwareConfig::default(),
        }
    }
}

impl ServerConfig {
    /// `name=` and `version=` of this server's `id` reply.
    pub fn identity(&self) -> Identity<'_> {
        Identity {
            name: &self.name,
            version: &self.version,
        }
    }
}

/// What every connection of one server shares.
pub(crate) struct Shared<S: Service> {
    pub config: ServerConfig,
    pub service: S,
    pub shutdown: CancellationToken,
    pub registry: Arc<Registry>,
    pub auth: AuthThrottle,
    pub payload_budget: Arc<Semaphore>,
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
    let budget = config.payload_budget.min(Semaphore::MAX_PERMITS);
    let shared = Arc::new(Shared {
        config,
        service,
        shutdown,
        registry: Arc::default(),
        auth: AuthThrottle::default(),
        payload_budget: Arc::new(Semaphore::new(budget)),
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
        let span = info_span!("connection", %peer);
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            tracker.spawn(open(shared.clone(), stream, peer, permit).instrument(span));
            continue;
        }
        let limit = shared.config.max_connections;
        if shared
            .registry
            .evict_longest_idle(shared.config.evict_idle_after)
            .is_none()
        {
            tracker.spawn(refuse(stream, limit).instrument(span));
            continue;
        }
        let (shared, slots) = (shared.clone(), slots.clone());
        tracker.spawn(
            async move {
                match tokio::time::timeout(ROOM_WAIT, slots.acquire_owned()).await {
                    Ok(Ok(permit)) => open(shared, stream, peer, permit).await,
                    _ => refuse(stream, limit).await,
                }
            }
            .instrument(span),
        );
    }
}

async fn open<S: Service>(
    shared: Arc<Shared<S>>,
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let member = shared.registry.join();
    Connection::new(shared, stream, peer, member).serve().await;
    drop(permit);
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
