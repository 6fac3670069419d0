//! What the client tests share: a bound on every test, and small line-protocol servers on
//! loopback built on the real `LineCodec`.

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use labwire_protocol::LineCodec;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;

pub type Conn = Framed<TcpStream, LineCodec>;

/// Every test finishes or fails within this, whatever the code under test does.
pub async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), test)
        .await
        .expect("test did not finish in time")
}

/// Binds `addr` with SO_REUSEADDR, so a test can restart a server on the port it just used.
pub fn listen(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    socket.listen(16).unwrap()
}

/// Serves connections one after another with `handler`. Aborting the returned task closes
/// the listener and the connection being served.
pub fn serve_on<F, Fut>(listener: TcpListener, handler: F) -> JoinHandle<()>
where
    F: Fn(Conn) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            handler(Framed::new(stream, LineCodec::default())).await;
        }
    })
}

/// [`serve_on`] a fresh ephemeral port.
pub fn serve<F, Fut>(handler: F) -> (SocketAddr, JoinHandle<()>)
where
    F: Fn(Conn) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = listen("127.0.0.1:0".parse().unwrap());
    let addr = listener.local_addr().unwrap();
    (addr, serve_on(listener, handler))
}
