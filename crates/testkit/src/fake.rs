//! Fake daemons: TCP servers on an ephemeral loopback port with scripted behaviour, for
//! the tests of whatever talks to a daemon (the client, the monitor) or to an instrument.
//! Each connection is served on its own task; dropping the [`FakeDaemon`] (or
//! [`FakeDaemon::stop`]) closes the listener and every connection.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use labwire_protocol::{parse_line, LineCodec, Message};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::codec::Framed;

use crate::line::any_port;

/// A connection as a protocol server sees it: requests in, replies out, framed by the
/// real [`LineCodec`].
pub type FramedConn = Framed<TcpStream, LineCodec>;

/// Binds `addr` with SO_REUSEADDR, so a test can restart a server on the port it just used.
pub fn listen(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(addr)
        .unwrap_or_else(|err| panic!("cannot bind {addr}: {err}"));
    socket.listen(64).expect("listen")
}

pub struct FakeDaemon {
    pub addr: SocketAddr,
    server: Option<JoinHandle<()>>,
}

impl FakeDaemon {
    /// Serves every connection on `listener` with `handler`.
    pub fn serve_on<F, Fut>(listener: TcpListener, handler: F) -> FakeDaemon
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let addr = listener.local_addr().expect("a bound listener");
        let server = tokio::spawn(async move {
            // Owned here, so stopping the server drops (closes) every connection too.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            connections.spawn(handler(stream));
                        }
                        Err(_) => break,
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        FakeDaemon {
            addr,
            server: Some(server),
        }
    }

    /// Serves every connection on a fresh ephemeral port with `handler`.
    pub fn serve<F, Fut>(handler: F) -> FakeDaemon
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        FakeDaemon::serve_on(listen(any_port()), handler)
    }

    /// Serves every connection with `handler`, which speaks through the real codec.
    pub fn framed_on<F, Fut>(listener: TcpListener, handler: F) -> FakeDaemon
    where
        F: Fn(FramedConn) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        FakeDaemon::serve_on(listener, move |stream| {
            handler(Framed::new(stream, LineCodec::default()))
        })
    }

    /// [`FakeDaemon::framed_on`] a fresh ephemeral port.
    pub fn framed<F, Fut>(handler: F) -> FakeDaemon
    where
        F: Fn(FramedConn) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        FakeDaemon::framed_on(listen(any_port()), handler)
    }

    /// Answers each line, in order as the daemon server does, with the lines `answer`
    /// returns for it (none: no answer). Lines that do not parse are skipped.
    pub fn answering<F, Fut>(answer: F) -> FakeDaemon
    where
        F: Fn(Message) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Vec<String>> + Send + 'static,
    {
        FakeDaemon::serve(move |stream| {
            let answer = answer.clone();
            async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let Ok(request) = parse_line(&line) else {
                        continue;
                    };
                    let lines = answer(request).await;
                    if lines.is_empty() {
                        continue;
                    }
                    let mut out = lines.join("\n");
                    out.push('\n');
                    if w.write_all(out.as_bytes()).await.is_err() {
                        break;
                    }
                }
            }
        })
    }

    /// Accepts connections and reads forever without a word: the worst kind of daemon.
    pub fn silent() -> FakeDaemon {
        FakeDaemon::serve(|mut stream| async move {
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink).await;
        })
    }

    /// Answers every line with garbage.
    pub fn garbage() -> FakeDaemon {
        FakeDaemon::serve(|stream| async move {
            let (r, mut w) = stream.into_split();
            let mut lines = BufReader::new(r).lines();
            while let Ok(Some(_)) = lines.next_line().await {
                if w.write_all(b"\xff\xfe ??? \"unclosed\n=junk=\n")
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    }

    /// A CCDLab-era daemon: no tags (it ignores tagged requests), no `protocol=` in its
    /// id (`id name=old type=vacuum`), a log line before each status, and a pressure
    /// that changes with every poll; other commands are never answered.
    pub fn legacy() -> FakeDaemon {
        FakeDaemon::serve(|stream| async move {
            let (r, mut w) = stream.into_split();
            let mut lines = BufReader::new(r).lines();
            let mut polls = 0;
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(request) = parse_line(&line) else {
                    continue;
                };
                if request.tag.is_some() {
                    continue; // a legacy daemon does not understand tags
                }
                polls += 1;
                let reply = match request.name.as_str() {
                    "get_id" => Message::new("id")
                        .kwarg("name", "old")
                        .kwarg("type", "vacuum")
                        .to_line(),
                    "get_status" => {
                        let log = Message::new("log").arg("Pumping...").to_line();
                        let status = Message::new("status")
                            .kwarg("pressure", format!("1e-{polls}"))
                            .kwarg("pump", "on")
                            .to_line();
                        format!("{log}\n{status}")
                    }
                    _ => continue, // never answers unknown commands
                };
                if w.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
                    break;
                }
            }
        })
    }

    /// A protocol-1 daemon that answers every request after `delay`: `get_id` as
    /// [`fake_id`], `get_status` with `status ok=1`, anything else `ok <name>`.
    pub fn slow(delay: Duration) -> FakeDaemon {
        FakeDaemon::answering(move |request| async move {
            tokio::time::sleep(delay).await;
            let reply = match request.name.as_str() {
                "get_id" => return vec![fake_id(&request)],
                "get_status" => Message::new("status").kwarg("ok", "1"),
                name => Message::new("ok").arg(name),
            };
            vec![reply_to(&request, reply)]
        })
    }

    /// Closes the listener and every connection, returning once they are closed.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

/// `reply` to `request`, tag and all, as one line.
pub fn reply_to(request: &Message, reply: Message) -> String {
    reply.tagged(request.tag.clone()).to_line()
}

/// A protocol-1 `id name=fake type=fake` reply to `request`.
pub fn fake_id(request: &Message) -> String {
    reply_to(
        request,
        Message::new("id")
            .kwarg("name", "fake")
            .kwarg("type", "fake")
            .kwarg("protocol", "1"),
    )
}
