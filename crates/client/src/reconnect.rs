//! A client that stays connected: a background task connects, watches the connection, and
//! reconnects with capped exponential backoff. Requests never wait for a reconnect; while
//! the connection is down they fail at once with [`ClientError::NotConnected`], because a
//! poller would rather skip a beat than pile up requests for a dead device.

use crate::{Client, ClientError, ClientOptions, Result};
use labwire_protocol::Message;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// A connection that stayed up this long counts as healthy: the next outage starts the
/// backoff over. Shorter ones keep growing it, so a server that accepts and immediately
/// drops connections is not hammered.
const HEALTHY_AFTER: Duration = Duration::from_secs(1);

/// The delay before a reconnect attempt doubles from `initial` up to `max`. Each delay is
/// jittered to a random point in its upper half so that many clients cut off at once do
/// not come back in lockstep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

/// The sequence of reconnect delays for one [`Backoff`].
struct Delays {
    initial: Duration,
    max: Duration,
    next: Duration,
    rng: XorShift,
}

impl Delays {
    fn new(backoff: Backoff, rng: XorShift) -> Self {
        // A zero delay would turn a dead server into a busy loop.
        let initial = backoff.initial.max(Duration::from_millis(1));
        let max = backoff.max.max(initial);
        Delays {
            initial,
            max,
            next: initial,
            rng,
        }
    }

    fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = base / 2;
        let spread = u64::try_from((base - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(self.rng.next_u64() % spread.saturating_add(1))
    }

    fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// xorshift64: jitter needs spread, not cryptographic quality.
struct XorShift(u64);

impl XorShift {
    fn from_clock(salt: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64);
        // Salting with the address keeps clients started in the same instant apart.
        let salted = salt.bytes().fold(nanos, |acc, byte| {
            (acc ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
        });
        XorShift(salted | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// A [`Client`] kept connected to `addr` by a background task. Cloning shares it; the
/// task stops and the connection closes when the last clone is dropped.
#[derive(Clone)]
pub struct ReconnectingClient {
    inner: Arc<Inner>,
}

struct Inner {
    addr: String,
    /// The live connection and its number (1 for the first, +1 for each reconnect).
    current: watch::Receiver<Option<(u64, Client)>>,
    state: watch::Receiver<bool>,
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl ReconnectingClient {
    /// Starts connecting in the background (must be called within a tokio runtime).
    pub fn new(addr: String, options: ClientOptions, backoff: Backoff) -> ReconnectingClient {
        let (current_tx, current) = watch::channel(None);
        let (state_tx, state) = watch::channel(false);
        let stop = CancellationToken::new();
        let delays = Delays::new(backoff, XorShift::from_clock(&addr));
        // In the caller's span, so its connect and loss lines say whose connection it is.
        tokio::spawn(
            maintain(
                addr.clone(),
                options,
                delays,
                current_tx,
                state_tx,
                stop.clone(),
            )
            .instrument(tracing::Span::current()),
        );
        ReconnectingClient {
            inner: Arc::new(Inner {
                addr,
                current,
                state,
                stop,
            }),
        }
    }

    pub fn addr(&self) -> &str {
        &self.inner.addr
    }

    /// The live connection, if any (e.g. to take its events after each reconnect).
    pub fn client(&self) -> Option<Client> {
        self.inner
            .current
            .borrow()
            .as_ref()
            .map(|(_, client)| client)
            .filter(|client| client.is_connected())
            .cloned()
    }

    /// Waits for a live connection newer than connection number `after` (0: any) and
    /// returns it with its number; `None` once this client has stopped. A caller that
    /// passes the number of the connection it gave up on never misses a reconnect, however
    /// quickly the drop and the reconnect follow each other (watching
    /// [`connection_state`](Self::connection_state) can: down-and-up looks like no change).
    pub async fn next_connection(&self, after: u64) -> Option<(u64, Client)> {
        let mut current = self.inner.current.clone();
        let fresh = current
            .wait_for(|current| {
                current
                    .as_ref()
                    .is_some_and(|(number, client)| *number > after && client.is_connected())
            })
            .await
            .ok()?;
        fresh.clone()
    }

    /// [`Client::request`] on the live connection; [`ClientError::NotConnected`] while down.
    pub async fn request(&self, request: Message) -> Result<Message> {
        let client = self.client().ok_or(ClientError::NotConnected)?;
        client.request(request).await
    }

    /// [`Client::call`] on the live connection; [`ClientError::NotConnected`] while down.
    pub async fn call(&self, line: &str) -> Result<Message> {
        let client = self.client().ok_or(ClientError::NotConnected)?;
        client.call(line).await
    }

    /// [`Client::request_untagged`] on the live connection; [`ClientError::NotConnected`]
    /// while down.
    pub async fn request_untagged(&self, request: Message) -> Result<Message> {
        let client = self.client().ok_or(ClientError::NotConnected)?;
        client.request_untagged(request).await
    }

    pub fn is_connected(&self) -> bool {
        self.client().is_some()
    }

    /// Follows the connection state: `true` while connected.
    pub fn connection_state(&self) -> watch::Receiver<bool> {
        self.inner.state.clone()
    }
}

async fn maintain(
    addr: String,
    options: ClientOptions,
    mut delays: Delays,
    current: watch::Sender<Option<(u64, Client)>>,
    state: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let mut number = 0;
    loop {
        let attempt = tokio::select! {
            _ = stop.cancelled() => break,
            attempt = Client::connect(addr.as_str(), options.clone()) => attempt,
        };
        match attempt {
            Ok(client) => {
                tracing::info!(%addr, "connected");
                let since = Instant::now();
                number += 1;
                current.send_replace(Some((number, client.clone())));
                state.send_replace(true);
                let stopping = tokio::select! {
                    _ = stop.cancelled() => true,
                    _ = client.closed() => false,
                };
                current.send_replace(None);
                state.send_replace(false);
                if stopping {
                    client.close().await;
                    break;
                }
                tracing::warn!(%addr, "connection lost");
                if since.elapsed() >= HEALTHY_AFTER {
                    delays.reset();
                }
            }
            Err(err) => tracing::debug!(%addr, %err, "connect failed"),
        }
        let delay = delays.next_delay();
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_stay_in_their_upper_half() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        let mut delays = Delays::new(backoff, XorShift(0x9e37_79b9_7f4a_7c15));
        let bases = [100, 200, 400, 800, 1000, 1000, 1000];
        for base in bases {
            let base = Duration::from_millis(base);
            let delay = delays.next_delay();
            assert!(
                delay >= base / 2 && delay <= base,
                "{delay:?} outside {base:?}"
            );
        }
        delays.reset();
        assert!(delays.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_delays() {
        let backoff = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(1),
        };
        let mut delays = Delays::new(backoff, XorShift::from_clock("127.0.0.1:7001"));
        let samples: std::collections::HashSet<_> = (0..32).map(|_| delays.next_delay()).collect();
        assert!(samples.len() > 16, "jitter produced {samples:?}");
    }

    /// Regression (monitor issue 8.1): a drop and reconnect between two looks at the
    /// connection state went unseen; connection numbers make every reconnect visible.
    #[tokio::test]
    async fn every_reconnect_is_a_new_connection_number() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let backoff = Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(5),
        };
        let link = ReconnectingClient::new(addr, ClientOptions::default(), backoff);
        let (first_number, first) = link.next_connection(0).await.unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        assert_eq!(first_number, 1);
        drop(server_side);
        let (second, _) = listener.accept().await.unwrap();
        // By now the state went down and up again; a fresh connection is still found.
        let (number, client) = link.next_connection(first_number).await.unwrap();
        assert!(number > first_number);
        assert!(client.is_connected() && !first.is_connected());
        drop(second);
    }

    #[test]
    fn zero_backoff_never_busy_loops() {
        let mut delays = Delays::new(
            Backoff {
                initial: Duration::ZERO,
                max: Duration::ZERO,
            },
            XorShift(7),
        );
        assert!((0..8).all(|_| delays.next_delay() >= Duration::from_micros(500)));
    }
}
