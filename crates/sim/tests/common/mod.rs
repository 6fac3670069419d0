//! The raw-TCP client every simulator test talks through: bytes in, bytes out, and every
//! wait bounded so a broken simulator fails a test instead of hanging it.

#![allow(dead_code)] // each test file uses its own subset

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// Longest any expected answer may take; generous because CI machines are shared.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long "no answer" is watched for.
pub const SILENCE: Duration = Duration::from_millis(300);

pub fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub struct Client {
    stream: TcpStream,
    /// Bytes read past the last line handed out.
    buffered: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = timeout(ANSWER_TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        Client {
            stream,
            buffered: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send failed");
    }

    /// Reads up to and including `terminator`; panics on timeout or end of stream.
    pub async fn read_until(&mut self, terminator: &[u8]) -> Vec<u8> {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            if let Some(pos) = find(&self.buffered, terminator) {
                return self.buffered.drain(..pos + terminator.len()).collect();
            }
            let mut buf = [0u8; 1024];
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut buf))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no {terminator:?}-terminated answer within {ANSWER_TIMEOUT:?}; \
                         got {:?}",
                        String::from_utf8_lossy(&self.buffered)
                    )
                })
                .expect("read failed");
            assert!(
                n > 0,
                "connection closed before a full answer; got {:?}",
                String::from_utf8_lossy(&self.buffered)
            );
            self.buffered.extend_from_slice(&buf[..n]);
        }
    }

    /// Sends one SCPI line and returns its reply line without the LF.
    pub async fn query(&mut self, line: &str) -> String {
        self.send(format!("{line}\n").as_bytes()).await;
        let reply = self.read_until(b"\n").await;
        String::from_utf8(reply[..reply.len() - 1].to_vec()).expect("reply is not UTF-8")
    }

    /// Sends one SCPI line that must not produce a reply.
    pub async fn command(&mut self, line: &str) {
        self.send(format!("{line}\n").as_bytes()).await;
    }

    /// Asserts that nothing arrives for `SILENCE` (and the connection stays open).
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
            let read = tokio::time::timeout_at(deadline, self.stream.read(&mut buf))
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
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
