//! The raw socket link: a [`Link`] reads and writes a byte stream (TCP to the device, or
//! an in-memory pipe in a unit test). Every read has a deadline: real instruments stay
//! silent on requests they do not understand.

use super::ByteStream;
use crate::device::Error;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// A hardware link with deadlines on every exchange.
pub struct Link<S: ByteStream> {
    stream: S,
    buffer: Vec<u8>,
    timeout: Duration,
    max_reply: usize,
}

pub type TcpLink = Link<TcpStream>;

impl Link<TcpStream> {
    /// Connect to `address` (`host:port`) within `timeout`.
    pub async fn connect_tcp(address: &str, timeout_after: Duration) -> Result<Self, Error> {
        let stream = timeout(timeout_after, TcpStream::connect(address))
            .await
            .map_err(|_| Error::not_connected(format!("{address}: connection timed out")))?
            .map_err(|err| Error::not_connected(format!("{address}: {err}")))?;
        let _ = stream.set_nodelay(true);
        Ok(Link::new(stream, timeout_after))
    }
}

impl<S: ByteStream> Link<S> {
    pub fn new(stream: S, timeout: Duration) -> Self {
        Link {
            stream,
            buffer: Vec::new(),
            timeout,
            max_reply: 64 * 1024,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same link over a type-erased stream, as [`super::InstrumentLink`] holds it.
    pub fn boxed(self) -> Link<Box<dyn ByteStream>> {
        Link {
            stream: Box::new(self.stream),
            buffer: self.buffer,
            timeout: self.timeout,
            max_reply: self.max_reply,
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match timeout(self.timeout, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(Error::not_connected(format!("write failed: {err}"))),
            Err(_) => Err(Error::timeout(
                "the device did not take the request in time",
            )),
        }
    }

    /// Read up to and including `terminator`; returns the bytes before it.
    pub async fn read_until(&mut self, terminator: u8) -> Result<Vec<u8>, Error> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(at) = self.buffer.iter().position(|&b| b == terminator) {
                let mut line: Vec<u8> = self.buffer.drain(..=at).collect();
                line.pop();
                return Ok(line);
            }
            if self.buffer.len() > self.max_reply {
                return Err(Error::device_error(
                    "reply too long; the link is out of step",
                ));
            }
            let mut chunk = [0u8; 4096];
            let read = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await;
            match read {
                Err(_) => return Err(Error::timeout("no answer from the device")),
                Ok(Err(err)) => return Err(Error::not_connected(format!("read failed: {err}"))),
                Ok(Ok(0)) => return Err(Error::not_connected("the device closed the connection")),
                Ok(Ok(n)) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Read one text line ending in LF; a CR before it is dropped.
    pub async fn read_line(&mut self) -> Result<String, Error> {
        let mut line = self.read_until(b'\n').await?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line).map_err(|_| Error::device_error("the device sent non-text bytes"))
    }

    /// Send `request` and read one line back.
    pub async fn query(&mut self, request: &str) -> Result<String, Error> {
        self.send(request.as_bytes()).await?;
        self.read_line().await
    }

    /// Forget bytes received but not read (e.g. a late answer after a timeout).
    pub fn clear_input(&mut self) {
        self.buffer.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_timeouts_and_closed_links() {
        let (near, mut far) = tokio::io::duplex(256);
        let mut link = Link::new(near, Duration::from_millis(100));
        far.write_all(b"one\r\ntwo\n").await.unwrap();
        assert_eq!(link.read_line().await.unwrap(), "one");
        assert_eq!(link.read_line().await.unwrap(), "two");
        let err = link.read_line().await.unwrap_err();
        assert_eq!(err.code, labwire_protocol::ErrorCode::Timeout);
        drop(far);
        let err = link.read_line().await.unwrap_err();
        assert_eq!(err.code, labwire_protocol::ErrorCode::NotConnected);
    }
}
