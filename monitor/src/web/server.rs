//! The web port's connections: accepted here and served by hyper's HTTP/1, so that sockets
//! that send nothing cannot hold the port.
//!
//! - A request's header must arrive within [`HEADER_READ_TIMEOUT`] of the connection
//!   waiting for it: at the start, and between two requests of a kept-alive connection.
//!   A connection that sends nothing, or a header a byte at a time, is closed then.
//! - At most [`MAX_CONNECTIONS`] are open, far above the event streams' own limit. A new
//!   connection that finds the port full closes the oldest one that has not sent a request
//!   yet; when every open connection has, the newcomer is closed instead.
//!
//! A connection being answered (an event stream, a plot) is never closed for a newcomer.

use super::{Peer, Web};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::{debug, warn};

/// Open HTTP connections at most (the event streams are limited to far fewer).
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a connection may take to send a request's header, or stay idle between two.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One open connection, as the accept loop sees it.
struct Open {
    id: u64,
    /// Set when its first request arrives: from then on it is a client, not a stray socket.
    served: AtomicBool,
    close: CancellationToken,
}

/// The open connections, oldest first.
#[derive(Default)]
struct Connections {
    open: Mutex<VecDeque<Arc<Open>>>,
    next_id: AtomicU64,
}

impl Connections {
    /// Register a new connection; `None` when the port is full of connections that are all
    /// in use. Otherwise the oldest one that never sent a request is told to close.
    fn admit(&self) -> Option<Arc<Open>> {
        let mut open = self.open.lock().expect("connection list");
        if open.len() >= MAX_CONNECTIONS {
            let stray = open
                .iter()
                .position(|c| !c.served.load(Ordering::Relaxed) && !c.close.is_cancelled())?;
            let stray = open.remove(stray).expect("found just now");
            stray.close.cancel();
        }
        let connection = Arc::new(Open {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            served: AtomicBool::new(false),
            close: CancellationToken::new(),
        });
        open.push_back(connection.clone());
        Some(connection)
    }

    fn remove(&self, id: u64) {
        let mut open = self.open.lock().expect("connection list");
        if let Some(at) = open.iter().position(|c| c.id == id) {
            open.remove(at);
        }
    }
}

/// Accept and serve connections on `listener` until `shutdown`; then let each connection
/// finish the answer it is writing (event streams end on the same signal).
pub fn spawn(
    listener: TcpListener,
    web: Arc<Web>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) {
    let router = super::router(web);
    let connections = Arc::new(Connections::default());
    let workers = tracker.clone();
    tracker.spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let Some(connection) = connections.admit() else {
                        debug!("web port full of busy connections; closing {peer}");
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    workers.spawn(serve_connection(
                        stream,
                        peer,
                        router.clone(),
                        connection,
                        connections.clone(),
                        shutdown.clone(),
                    ));
                }
                // Out of file descriptors and the like: wait instead of spinning.
                Err(err) => {
                    warn!("web accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    connection: Arc<Open>,
    connections: Arc<Connections>,
    shutdown: CancellationToken,
) {
    let marker = connection.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
        marker.served.store(true, Ordering::Relaxed);
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(Peer(peer)));
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let served = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(served);
    tokio::select! {
        result = served.as_mut() => {
            if let Err(err) = result {
                debug!("web connection from {peer}: {err}");
            }
        }
        _ = connection.close.cancelled() => debug!("closed idle web connection from {peer}"),
        _ = shutdown.cancelled() => {
            served.as_mut().graceful_shutdown();
            let _ = served.await;
        }
    }
    connections.remove(connection.id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_port_closes_the_oldest_stray_socket() {
        let connections = Connections::default();
        let first: Vec<Arc<Open>> = (0..MAX_CONNECTIONS)
            .map(|_| connections.admit().unwrap())
            .collect();
        first[0].served.store(true, Ordering::Relaxed);
        let newcomer = connections.admit().expect("room was made");
        assert!(!first[0].close.is_cancelled(), "a served connection stays");
        assert!(first[1].close.is_cancelled(), "the oldest stray one goes");
        assert!(!first[2].close.is_cancelled());
        assert_eq!(connections.open.lock().unwrap().len(), MAX_CONNECTIONS);
        for c in first.iter().chain([&newcomer]) {
            c.served.store(true, Ordering::Relaxed);
        }
        assert!(
            connections.admit().is_none(),
            "all in use: the newcomer goes"
        );
        connections.remove(first[0].id);
        assert!(connections.admit().is_some());
    }
}
