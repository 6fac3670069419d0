//! Byte-stream links to hardware. A driver talks to a [`Link`] over any async stream, so
//! the same driver code runs against the real device over TCP, the simulators in
//! `crates/sim`, or an in-memory pipe in a unit test. Every read has a deadline: real
//! instruments stay silent on requests they do not understand.

use crate::device::Error;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// A byte stream a driver can talk through.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ByteStream for T {}

/// Where a TCP-reached device is: `host`, `host:port`, or the VISA form
/// `TCPIP[0]::host::port::SOCKET`.
pub fn tcp_address(spec: &str, default_port: u16) -> Result<String, Error> {
    let spec = spec.trim();
    if spec.to_ascii_uppercase().starts_with("TCPIP") {
        let parts: Vec<&str> = spec.split("::").collect();
        return match parts.as_slice() {
            [_, host, port, socket] if socket.eq_ignore_ascii_case("SOCKET") => {
                let port: u16 = port
                    .parse()
                    .map_err(|_| Error::bad_argument(format!("bad port in {spec:?}")))?;
                Ok(format!("{host}:{port}"))
            }
            _ => Err(Error::bad_argument(format!(
                "{spec:?}: expected TCPIP::<host>::<port>::SOCKET"
            ))),
        };
    }
    if spec.is_empty() {
        return Err(Error::bad_argument("empty device address"));
    }
    // A bare IPv6 address has several colons and no port; with a port it is bracketed.
    if spec.matches(':').count() > 1 && !spec.starts_with('[') {
        return Ok(format!("[{spec}]:{default_port}"));
    }
    let bracketed = spec.starts_with('[') && spec.ends_with(']');
    let Some((host, port)) = spec.rsplit_once(':').filter(|_| !bracketed) else {
        return Ok(format!("{spec}:{default_port}"));
    };
    if host.is_empty() || host == "[]" {
        return Err(Error::bad_argument(format!("no host in {spec:?}")));
    }
    match port.parse::<u16>() {
        Ok(_) => Ok(spec.to_string()),
        Err(_) => Err(Error::bad_argument(format!(
            "{port:?} is not a port number in {spec:?}"
        ))),
    }
}

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

    #[test]
    fn addresses() {
        assert_eq!(tcp_address("psu.lab", 5025).unwrap(), "psu.lab:5025");
        assert_eq!(tcp_address("10.0.0.2:6000", 5025).unwrap(), "10.0.0.2:6000");
        assert_eq!(
            tcp_address("TCPIP::169.254.4.10::5025::SOCKET", 1).unwrap(),
            "169.254.4.10:5025"
        );
        assert_eq!(tcp_address("TCPIP0::h::7::socket", 1).unwrap(), "h:7");
        assert!(tcp_address("TCPIP::h::INSTR", 1).is_err());
        assert!(tcp_address("", 1).is_err());
        assert_eq!(tcp_address("[::1]:7", 1).unwrap(), "[::1]:7");
        assert_eq!(tcp_address("::1", 7).unwrap(), "[::1]:7");
        assert_eq!(tcp_address("[::1]", 7).unwrap(), "[::1]:7");
        for malformed in ["h:port", "h:99999", "h:", ":7", "[::1]:x"] {
            let err = tcp_address(malformed, 1).unwrap_err();
            assert!(err.message.contains(malformed), "{malformed}: {err}");
        }
    }

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
