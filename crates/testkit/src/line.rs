//! A raw connection for tests that speak the protocol's bytes themselves (or an
//! instrument's): bytes and lines out, lines in, every wait bounded so a broken server
//! fails the test instead of hanging it.

use std::net::SocketAddr;
use std::time::Duration;

use labwire_protocol::{parse_line, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};

/// Longest any expected answer may take; generous because CI machines are shared.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long "no answer" is watched for.
pub const SILENCE: Duration = Duration::from_millis(300);

/// `127.0.0.1:0`: loopback, any free port, chosen by the kernel when it is bound.
pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A loopback port that is bound but never listens: connecting to it is refused, and no
/// other socket can take the port while this lives (unlike a port found free and let go).
pub struct ClosedPort {
    pub addr: SocketAddr,
    _socket: tokio::net::TcpSocket,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.bind(any_port()).expect("bind an ephemeral port");
        ClosedPort {
            addr: socket.local_addr().expect("a bound socket"),
            _socket: socket,
        }
    }
}

impl Default for ClosedPort {
    fn default() -> ClosedPort {
        ClosedPort::new()
    }
}

pub struct LineConn {
    stream: TcpStream,
    /// Bytes read past the last line handed out.
    buffered: Vec<u8>,
}

impl LineConn {
    pub async fn connect(addr: SocketAddr) -> LineConn {
        let stream = timeout(ANSWER_TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .unwrap_or_else(|err| panic!("cannot connect to {addr}: {err}"));
        LineConn {
            stream,
            buffered: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send failed");
    }

    /// Sends `line` and its LF.
    pub async fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\n").as_bytes()).await;
    }

    /// Reads up to and including `terminator`; panics on timeout or end of stream.
    pub async fn read_until(&mut self, terminator: &[u8]) -> Vec<u8> {
        match self.try_read_until(terminator, ANSWER_TIMEOUT).await {
            Ok(bytes) => bytes,
            Err(why) => panic!(
                "no {terminator:?}-terminated answer within {ANSWER_TIMEOUT:?} ({why}); got {:?}",
                String::from_utf8_lossy(&self.buffered)
            ),
        }
    }

    async fn try_read_until(
        &mut self,
        terminator: &[u8],
        within: Duration,
    ) -> Result<Vec<u8>, &'static str> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(pos) = find(&self.buffered, terminator) {
                return Ok(self.buffered.drain(..pos + terminator.len()).collect());
            }
            let mut buf = [0u8; 1024];
            let n = timeout_at(deadline, self.stream.read(&mut buf))
                .await
                .map_err(|_| "timed out")?
                .map_err(|_| "read failed")?;
            if n == 0 {
                return Err("connection closed");
            }
            self.buffered.extend_from_slice(&buf[..n]);
        }
    }

    /// The next line without its LF; panics on timeout or end of stream.
    pub async fn line(&mut self) -> String {
        let line = self.read_until(b"\n").await;
        text(line)
    }

    /// The next line without its LF, or `None` when none arrives within `within` or
    /// the connection closes first.
    pub async fn line_within(&mut self, within: Duration) -> Option<String> {
        self.try_read_until(b"\n", within).await.ok().map(text)
    }

    /// Sends `line` and returns the reply line without its LF.
    pub async fn query(&mut self, line: &str) -> String {
        self.send_line(line).await;
        self.line().await
    }

    /// Sends a protocol request and parses the reply line.
    pub async fn ask(&mut self, request: &str) -> Message {
        let reply = self.query(request).await;
        parse_line(&reply).unwrap_or_else(|err| panic!("bad reply {reply:?}: {err:?}"))
    }

    /// Asserts that nothing arrives for [`SILENCE`] (and the connection stays open).
    pub async fn expect_silence(&mut self) {
        assert!(
            self.buffered.is_empty(),
            "unexpected buffered bytes {:?}",
            self.buffered
        );
        let mut buf = [0u8; 256];
        match timeout(SILENCE, self.stream.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0)) => panic!("connection closed while expecting silence"),
            Ok(Ok(n)) => panic!("expected silence, got {:?}", &buf[..n]),
            Ok(Err(e)) => panic!("read failed while expecting silence: {e}"),
        }
    }

    /// Reads everything until the peer closes; panics if it does not close in time.
    pub async fn read_to_close(&mut self) -> Vec<u8> {
        let mut all = std::mem::take(&mut self.buffered);
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let mut buf = [0u8; 1024];
        loop {
            let read = timeout_at(deadline, self.stream.read(&mut buf))
                .await
                .expect("connection was not closed in time");
            match read {
                Ok(0) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                // A reset is as closed as it gets.
                Err(_) => return all,
            }
        }
    }

    /// Collects whatever arrives within `window`, without requiring anything.
    pub async fn drain_for(&mut self, window: Duration) -> Vec<u8> {
        let mut all = std::mem::take(&mut self.buffered);
        let deadline = Instant::now() + window;
        let mut buf = [0u8; 1024];
        while let Ok(Ok(n)) = timeout_at(deadline, self.stream.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    }
}

fn text(mut line: Vec<u8>) -> String {
    line.pop(); // the LF
    String::from_utf8(line).expect("reply is not UTF-8")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
