//! What every simulator shares: the TCP accept loop, fault injection and the handle a
//! test or the binary keeps.
//!
//! Each device module hands `serve` a per-connection handler; the handler talks to a
//! `Conn`, whose `Conn::answer` applies the current [`Fault`] to everything the
//! instrument sends, so the devices only decide *what* to answer, never how a broken
//! instrument would mangle it. Faults that concern the connection itself (offline,
//! shutdown) are enforced here, around the handler, so no device can forget them.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, info, warn, Instrument};

use crate::rng::XorShift;

/// At most this many clients at once; further connections are accepted and closed at
/// once. Real instruments allow only a handful of sockets, and a simulator must stay
/// bounded too.
pub const MAX_CONNECTIONS: usize = 64;

/// A misbehaviour injected into a simulator; it applies to every connection, current and
/// future, until it is changed. Set it with [`SimHandle::set_fault`] or `--fault`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Behave like the real device.
    None,
    /// Close existing connections and accept then immediately close new ones, like an
    /// instrument that was switched off behind a serial-to-Ethernet server.
    Offline,
    /// Read requests and never answer (a hung instrument: requests are not executed).
    Silent,
    /// Delay every answer by this long.
    Slow(Duration),
    /// Answer with junk bytes (random, often not UTF-8), terminated like a real answer.
    Garbage,
    /// Close the connection in the middle of the next answer: half of it is sent, then
    /// the socket is closed. It stays in force, so every connection dies on its first
    /// answer until the fault is changed.
    Disconnect,
    /// The gauge answers NAK to every mnemonic; SCPI has no NAK, so it acts as
    /// [`Fault::Garbage`] there.
    Nak,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::None => f.write_str("none"),
            Fault::Offline => f.write_str("offline"),
            Fault::Silent => f.write_str("silent"),
            Fault::Slow(delay) => write!(f, "slow={}", delay.as_millis()),
            Fault::Garbage => f.write_str("garbage"),
            Fault::Disconnect => f.write_str("disconnect"),
            Fault::Nak => f.write_str("nak"),
        }
    }
}

/// Why a `--fault` value was not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseFaultError(String);

impl fmt::Display for ParseFaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown fault {:?}: expected none, offline, silent, slow=<ms>, garbage, \
             disconnect or nak",
            self.0
        )
    }
}

impl std::error::Error for ParseFaultError {}

impl FromStr for Fault {
    type Err = ParseFaultError;

    /// Parses the `--fault` spellings, case-insensitively: `none`, `offline`, `silent`,
    /// `slow=<ms>`, `garbage`, `disconnect`, `nak`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let fault = match lower.as_str() {
            "none" => Fault::None,
            "offline" => Fault::Offline,
            "silent" => Fault::Silent,
            "garbage" => Fault::Garbage,
            "disconnect" => Fault::Disconnect,
            "nak" => Fault::Nak,
            other => {
                let ms = other
                    .strip_prefix("slow=")
                    .and_then(|ms| ms.trim().parse::<u64>().ok())
                    .ok_or_else(|| ParseFaultError(s.to_string()))?;
                Fault::Slow(Duration::from_millis(ms))
            }
        };
        Ok(fault)
    }
}

struct Shared {
    fault: watch::Sender<Fault>,
    shutdown: watch::Sender<bool>,
    stopped: watch::Sender<bool>,
}

/// A running simulator. Dropping it does not stop the server (so a test can hand the
/// address on and forget the handle); call [`SimHandle::shutdown`] for that.
pub struct SimHandle<C> {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    control: C,
}

impl<C> fmt::Debug for SimHandle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle")
            .field("local_addr", &self.local_addr)
            .field("fault", &self.fault())
            .finish_non_exhaustive()
    }
}

impl<C> SimHandle<C> {
    /// The address the simulator listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Injects a fault (or [`Fault::None`] to heal); it takes effect on every
    /// connection at its next answer, and at once for [`Fault::Offline`].
    pub fn set_fault(&self, fault: Fault) {
        info!(%fault, addr = %self.local_addr, "fault set");
        self.shared.fault.send_replace(fault);
    }

    /// The fault currently in force.
    pub fn fault(&self) -> Fault {
        *self.shared.fault.borrow()
    }

    /// The device's own state control (pressure, loads, queued errors, ...).
    pub fn control(&self) -> &C {
        &self.control
    }

    /// Stops listening and closes every connection. Returns at once; await
    /// [`SimHandle::stopped`] to know the port is closed.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
    }

    /// Resolves once the listener and all connections are closed after
    /// [`SimHandle::shutdown`].
    pub async fn stopped(&self) {
        wait_until(&mut self.shared.stopped.subscribe(), |stopped| *stopped).await;
    }
}

/// One client connection, as a device handler sees it.
pub(crate) struct Conn {
    stream: TcpStream,
    fault: watch::Receiver<Fault>,
    rng: XorShift,
    /// How the device ends its answers; junk lines end the same way so that a client's
    /// framing still finds them.
    terminator: &'static [u8],
}

impl Conn {
    pub(crate) fn fault(&self) -> Fault {
        *self.fault.borrow()
    }

    /// Reads whatever the client sent; `Ok(0)` at end of stream. Cancel-safe.
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf).await
    }

    /// Sends an answer as the current fault would let a broken instrument send it.
    /// An `Err` means the connection must end (a simulated disconnect or a real one).
    pub(crate) async fn answer(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.fault() {
            Fault::None | Fault::Offline => self.send_raw(bytes).await,
            Fault::Silent => Ok(()),
            Fault::Slow(delay) => {
                tokio::time::sleep(delay).await;
                self.send_raw(bytes).await
            }
            Fault::Garbage | Fault::Nak => {
                let junk = self.junk_line();
                self.send_raw(&junk).await
            }
            Fault::Disconnect => {
                let half = (bytes.len() / 2).max(1).min(bytes.len());
                self.send_raw(&bytes[..half]).await?;
                // Best effort: the peer may already be gone, and we close either way.
                let _ = self.stream.shutdown().await;
                Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "simulated disconnect mid-answer",
                ))
            }
        }
    }

    /// Sends bytes untouched by faults; for the few answers a device mangles itself.
    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// 8 to 24 random bytes plus the device's terminator, avoiding line ends and the
    /// gauge's control characters so the junk cannot pass for a well-formed answer.
    pub(crate) fn junk_line(&mut self) -> Vec<u8> {
        let len = 8 + self.rng.below(17) as usize;
        let mut junk = Vec::with_capacity(len + self.terminator.len());
        while junk.len() < len {
            let byte = self.rng.below(256) as u8;
            if !matches!(byte, b'\r' | b'\n' | 0x05 | 0x06 | 0x15) {
                junk.push(byte);
            }
        }
        junk.extend_from_slice(self.terminator);
        junk
    }
}

/// Binds `listen`, starts the accept loop on the current tokio runtime and returns the
/// handle. `handler` runs once per connection; its `Err` only ends that connection.
pub(crate) async fn serve<C, H, Fut>(
    kind: &'static str,
    listen: SocketAddr,
    control: C,
    seed: u64,
    terminator: &'static [u8],
    handler: H,
) -> io::Result<SimHandle<C>>
where
    H: Fn(Conn) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind(listen).await?;
    let local_addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        fault: watch::Sender::new(Fault::None),
        shutdown: watch::Sender::new(false),
        stopped: watch::Sender::new(false),
    });
    let span = tracing::info_span!("sim", kind, addr = %local_addr);
    tokio::spawn(accept_loop(listener, shared.clone(), seed, terminator, handler).instrument(span));
    Ok(SimHandle {
        local_addr,
        shared,
        control,
    })
}

async fn accept_loop<H, Fut>(
    listener: TcpListener,
    shared: Arc<Shared>,
    seed: u64,
    terminator: &'static [u8],
    handler: H,
) where
    H: Fn(Conn) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    let mut shutdown = shared.shutdown.subscribe();
    let mut accepted: u64 = 0;
    loop {
        let (stream, peer) = tokio::select! {
            _ = wait_until(&mut shutdown, |stop| *stop) => break,
            accept = listener.accept() => match accept {
                Ok(pair) => pair,
                Err(e) => {
                    // Typically EMFILE; retrying at once would spin.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        if *shared.fault.borrow() == Fault::Offline {
            debug!(%peer, "offline: closing new connection");
            continue;
        }
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            warn!(%peer, "connection limit reached: closing new connection");
            continue;
        };
        accepted += 1;
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            stream,
            fault: shared.fault.subscribe(),
            rng: XorShift::new(seed ^ accepted.wrapping_mul(0x9E37_79B9)),
            terminator,
        };
        let session = handler(conn);
        let mut fault = shared.fault.subscribe();
        let mut shutdown = shared.shutdown.subscribe();
        connections.spawn(
            async move {
                let _permit = permit;
                debug!("connected");
                // Dropping `session` drops its socket, which is how offline and shutdown
                // close a connection whatever the device was doing.
                tokio::select! {
                    result = session => match result {
                        Ok(()) => debug!("client closed"),
                        Err(e) => debug!(error = %e, "connection ended"),
                    },
                    _ = wait_until(&mut fault, |f| *f == Fault::Offline) => debug!("offline: closed"),
                    _ = wait_until(&mut shutdown, |stop| *stop) => debug!("shutdown: closed"),
                }
            }
            .instrument(tracing::debug_span!("conn", %peer)),
        );
    }
    drop(listener);
    connections.shutdown().await;
    info!("stopped");
    shared.stopped.send_replace(true);
}

/// Waits until the watched value satisfies `done`. The guard `wait_for` returns is
/// dropped here, so callers stay `Send`. The senders live as long as the tasks that wait
/// on them, so a closed channel cannot happen; if it did, returning ends the wait.
async fn wait_until<T>(rx: &mut watch::Receiver<T>, done: impl FnMut(&T) -> bool) {
    let _ = rx.wait_for(done).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_spellings_round_trip() {
        for text in [
            "none",
            "offline",
            "silent",
            "slow=250",
            "garbage",
            "disconnect",
            "nak",
        ] {
            let fault: Fault = text.parse().unwrap();
            assert_eq!(fault.to_string(), text);
        }
        assert_eq!(
            "SLOW=5".parse::<Fault>(),
            Ok(Fault::Slow(Duration::from_millis(5)))
        );
        assert_eq!(" Offline ".parse::<Fault>(), Ok(Fault::Offline));
    }

    #[test]
    fn bad_fault_spellings_are_rejected() {
        for text in ["", "slow", "slow=", "slow=-3", "slow=fast", "loud"] {
            let err = text.parse::<Fault>().unwrap_err();
            assert!(err.to_string().contains("slow=<ms>"), "{err}");
        }
    }
}
