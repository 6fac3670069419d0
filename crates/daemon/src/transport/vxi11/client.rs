//! A VXI-11 link: find the core channel through the portmapper, CREATE_LINK, then each
//! message is DEVICE_WRITE (END on its last chunk) and answers come from DEVICE_READ until
//! the END (or termination character) reason. DESTROY_LINK on [`Vxi11Link::close`]; a link
//! merely dropped dies with its TCP connection, which the instrument notices.

use super::rpc::{RpcChannel, XdrReader, XdrWriter};
use crate::device::Error;
use crate::transport::ByteStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;

const PORTMAPPER_PROGRAM: u32 = 100_000;
const PORTMAPPER_VERSION: u32 = 2;
const PMAPPROC_GETPORT: u32 = 3;
const IPPROTO_TCP: u32 = 6;
pub const DEVICE_CORE_PROGRAM: u32 = 0x0607AF;
pub const DEVICE_CORE_VERSION: u32 = 1;
const CREATE_LINK: u32 = 10;
const DEVICE_WRITE: u32 = 11;
const DEVICE_READ: u32 = 12;
const DESTROY_LINK: u32 = 23;
/// Device_Flags: the data ends a message.
const FLAG_END: u32 = 0x08;
/// Device_Flags: stop reading at `termChar`.
const FLAG_TERMCHAR_SET: u32 = 0x80;
/// DEVICE_READ reasons: the termination character was read; the message ended.
const REASON_CHR: i32 = 0x02;
const REASON_END: i32 = 0x04;
/// Device_ErrorCode of an I/O timeout.
const IO_TIMEOUT: i32 = 15;
/// Bytes asked for by one DEVICE_READ.
const READ_CHUNK: u32 = 64 * 1024;
/// Extra time granted to the RPC reply beyond the io_timeout the instrument was given.
const RPC_SLACK: Duration = Duration::from_millis(500);
/// Longest answer accepted, as for a socket link.
const MAX_REPLY: usize = 64 * 1024;

/// Every link a process opens gets a fresh client id and fresh transaction ids.
static NEXT_CLIENT: AtomicU32 = AtomicU32::new(1);

/// What a VXI-11 Device_ErrorCode means.
fn error_text(code: i32) -> String {
    let text = match code {
        1 => "syntax error",
        3 => "device not accessible",
        4 => "invalid link identifier",
        5 => "parameter error",
        6 => "channel not established",
        8 => "operation not supported",
        9 => "out of resources",
        11 => "device locked by another link",
        12 => "no lock held by this link",
        15 => "I/O timeout",
        17 => "I/O error",
        21 => "invalid address",
        23 => "abort",
        29 => "channel already established",
        _ => "unknown error",
    };
    format!("VXI-11 error {code} ({text})")
}

/// A Device_ErrorCode as a daemon error: a dead link breaks the connection.
fn vxi11_error(code: i32, during: &str) -> Error {
    match code {
        IO_TIMEOUT => Error::timeout("no answer from the device"),
        4 | 6 | 17 | 23 => Error::not_connected(format!("{during}: {}", error_text(code))),
        _ => Error::device_error(format!("{during}: {}", error_text(code))),
    }
}

async fn connect_tcp(address: &str, wait: Duration) -> Result<TcpStream, Error> {
    let stream = timeout(wait, TcpStream::connect(address))
        .await
        .map_err(|_| Error::not_connected(format!("{address}: connection timed out")))?
        .map_err(|err| Error::not_connected(format!("{address}: {err}")))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

fn milliseconds(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

/// Ask the portmapper at `host:portmapper_port` for the TCP port of the core channel.
pub async fn core_port(host: &str, portmapper_port: u16, wait: Duration) -> Result<u16, Error> {
    let address = format!("{host}:{portmapper_port}");
    let stream = connect_tcp(&address, wait).await?;
    let xid = NEXT_CLIENT.fetch_add(1, Ordering::Relaxed) << 16;
    let mut portmapper = RpcChannel::new(
        Box::new(stream),
        PORTMAPPER_PROGRAM,
        PORTMAPPER_VERSION,
        xid,
    );
    let mut mapping = XdrWriter::new();
    mapping
        .u32(DEVICE_CORE_PROGRAM)
        .u32(DEVICE_CORE_VERSION)
        .u32(IPPROTO_TCP)
        .u32(0);
    let results = portmapper
        .call(PMAPPROC_GETPORT, &mapping.into_bytes(), wait)
        .await
        .map_err(|err| Error::new(err.code, format!("portmapper {address}: {}", err.message)))?;
    match XdrReader::new(&results).u32()? {
        0 => Err(Error::not_connected(format!(
            "{address}: the portmapper knows no VXI-11 core channel"
        ))),
        port => u16::try_from(port).map_err(|_| {
            Error::device_error(format!("{address}: the portmapper answered port {port}"))
        }),
    }
}

/// An open VXI-11 link to one device.
pub struct Vxi11Link {
    channel: RpcChannel,
    link_id: u32,
    max_write: usize,
    buffer: Vec<u8>,
    timeout: Duration,
}

impl Vxi11Link {
    /// Find the core channel of `host` through its portmapper and open a link to `device`.
    pub async fn connect(
        host: &str,
        portmapper_port: u16,
        device: &str,
        wait: Duration,
    ) -> Result<Self, Error> {
        let port = core_port(host, portmapper_port, wait).await?;
        let stream = connect_tcp(&format!("{host}:{port}"), wait).await?;
        Vxi11Link::open(Box::new(stream), device, wait).await
    }

    /// CREATE_LINK to `device` on an already connected core channel.
    pub async fn open(
        stream: Box<dyn ByteStream>,
        device: &str,
        wait: Duration,
    ) -> Result<Self, Error> {
        let client_id = NEXT_CLIENT.fetch_add(1, Ordering::Relaxed);
        let mut channel = RpcChannel::new(
            stream,
            DEVICE_CORE_PROGRAM,
            DEVICE_CORE_VERSION,
            client_id << 16,
        );
        let mut parameters = XdrWriter::new();
        parameters
            .u32(client_id)
            .bool(false)
            .u32(0)
            .opaque(device.as_bytes());
        let results = channel
            .call(CREATE_LINK, &parameters.into_bytes(), wait)
            .await?;
        let mut reader = XdrReader::new(&results);
        let error = reader.i32()?;
        let link_id = reader.u32()?;
        let _abort_port = reader.u32()?;
        let max_receive = reader.u32()?;
        if error != 0 {
            return Err(Error::not_connected(format!(
                "cannot open a link to {device:?}: {}",
                error_text(error)
            )));
        }
        Ok(Vxi11Link {
            channel,
            link_id,
            // An instrument announcing 0 is broken; 1 byte per call still works.
            max_write: (max_receive as usize).clamp(1, MAX_REPLY),
            buffer: Vec::new(),
            timeout: wait,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn rpc_wait(&self) -> Duration {
        self.timeout + RPC_SLACK
    }

    /// Send one message in pieces the instrument takes; the last carries END.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let mut rest = bytes;
        loop {
            let chunk = &rest[..rest.len().min(self.max_write)];
            let last = chunk.len() == rest.len();
            let flags = if last { FLAG_END } else { 0 };
            let mut parameters = XdrWriter::new();
            parameters
                .u32(self.link_id)
                .u32(milliseconds(self.timeout))
                .u32(0)
                .u32(flags)
                .opaque(chunk);
            let results = self
                .channel
                .call(DEVICE_WRITE, &parameters.into_bytes(), self.rpc_wait())
                .await?;
            let mut reader = XdrReader::new(&results);
            let error = reader.i32()?;
            let taken = reader.u32()? as usize;
            if error != 0 {
                return Err(vxi11_error(error, "DEVICE_WRITE"));
            }
            // A device may take less than it was given; the rest goes again.
            if (taken == 0 && !chunk.is_empty()) || taken > chunk.len() {
                return Err(Error::device_error(format!(
                    "DEVICE_WRITE: the instrument took {taken} of {} bytes",
                    chunk.len()
                )));
            }
            rest = &rest[taken..];
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// Read one text line: up to LF, or to the end of the instrument's message.
    pub async fn read_line(&mut self) -> Result<String, Error> {
        loop {
            if let Some(at) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=at).collect();
                return text(&line[..at]);
            }
            let ended = self.read_some().await?;
            if ended && !self.buffer.contains(&b'\n') {
                let line = std::mem::take(&mut self.buffer);
                return text(&line);
            }
        }
    }

    /// One DEVICE_READ; true when the instrument's message ended.
    async fn read_some(&mut self) -> Result<bool, Error> {
        if self.buffer.len() > MAX_REPLY {
            self.buffer.clear();
            return Err(Error::device_error(
                "reply too long; the link is out of step",
            ));
        }
        let mut parameters = XdrWriter::new();
        parameters
            .u32(self.link_id)
            .u32(READ_CHUNK)
            .u32(milliseconds(self.timeout))
            .u32(0)
            .u32(FLAG_TERMCHAR_SET)
            .u32(u32::from(b'\n'));
        let results = self
            .channel
            .call(DEVICE_READ, &parameters.into_bytes(), self.rpc_wait())
            .await?;
        let mut reader = XdrReader::new(&results);
        let error = reader.i32()?;
        let reason = reader.i32()?;
        let data = reader.opaque()?;
        if error != 0 {
            return Err(vxi11_error(error, "DEVICE_READ"));
        }
        self.buffer.extend_from_slice(data);
        Ok(reason & (REASON_END | REASON_CHR) != 0)
    }

    /// Send `request` and read one line back.
    pub async fn query(&mut self, request: &str) -> Result<String, Error> {
        self.send(request.as_bytes()).await?;
        self.read_line().await
    }

    /// Forget bytes received but not read.
    pub fn clear_input(&mut self) {
        self.buffer.clear();
    }

    /// DESTROY_LINK, then close the connection.
    pub async fn close(mut self) -> Result<(), Error> {
        let mut parameters = XdrWriter::new();
        parameters.u32(self.link_id);
        let results = self
            .channel
            .call(DESTROY_LINK, &parameters.into_bytes(), self.rpc_wait())
            .await?;
        match XdrReader::new(&results).i32()? {
            0 => Ok(()),
            error => Err(vxi11_error(error, "DESTROY_LINK")),
        }
    }
}

fn text(line: &[u8]) -> Result<String, Error> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8(line.to_vec())
        .map_err(|_| Error::device_error("the device sent non-text bytes"))
}

#[cfg(test)]
mod tests {
    use super::super::rpc::{frame, read_record};
    use super::*;

    /// A core channel on a pipe that takes at most 3 bytes per DEVICE_WRITE and answers
    /// DEVICE_READ in two pieces; returns each write's (flags, data).
    async fn instrument(stream: Box<dyn ByteStream>) -> Vec<(u32, Vec<u8>)> {
        let mut stream = stream;
        let mut writes = Vec::new();
        let mut answer: Vec<&[u8]> = vec![b"ab", b"c\n"];
        while let Ok(call) = read_record(&mut stream).await {
            let mut call = XdrReader::new(&call);
            let xid = call.u32().unwrap();
            for _ in 0..4 {
                call.u32().unwrap();
            }
            let procedure = call.u32().unwrap();
            call.u32().unwrap();
            call.opaque().unwrap();
            call.u32().unwrap();
            call.opaque().unwrap();
            let mut results = XdrWriter::new();
            match procedure {
                CREATE_LINK => {
                    results.u32(0).u32(7).u32(0).u32(4);
                }
                DEVICE_WRITE => {
                    let _link = call.u32().unwrap();
                    call.u32().unwrap();
                    call.u32().unwrap();
                    let flags = call.u32().unwrap();
                    let data = call.opaque().unwrap();
                    let taken = data.len().min(3);
                    writes.push((flags, data[..taken].to_vec()));
                    results.u32(0).u32(taken as u32);
                }
                DEVICE_READ => {
                    let piece = answer.remove(0);
                    let reason = if answer.is_empty() { REASON_END } else { 1 };
                    results.u32(0).u32(reason as u32).opaque(piece);
                }
                _ => {
                    results.u32(0);
                }
            }
            let mut reply = XdrWriter::new();
            reply.u32(xid).u32(1).u32(0).u32(0).opaque(&[]).u32(0);
            let mut record = reply.into_bytes();
            record.extend_from_slice(&results.into_bytes());
            if tokio::io::AsyncWriteExt::write_all(&mut stream, &frame(&record))
                .await
                .is_err()
            {
                break;
            }
        }
        writes
    }

    #[tokio::test]
    async fn partial_writes_are_resent_and_end_marks_the_last_piece() {
        let (near, far) = tokio::io::duplex(4096);
        let server = tokio::spawn(instrument(Box::new(far)));
        let mut link = Vxi11Link::open(Box::new(near), "inst0", Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(link.max_write, 4, "as the instrument announced");
        link.send(b"*IDN?\n").await.unwrap();
        assert_eq!(link.read_line().await.unwrap(), "abc");
        // A piece with END that was taken only in part goes again, END and all.
        link.send(b"*RST;*CLS\n").await.unwrap();
        link.close().await.unwrap();
        let writes = server.await.unwrap();
        let expected: Vec<(u32, Vec<u8>)> = vec![
            (0, b"*ID".to_vec()),
            (FLAG_END, b"N?\n".to_vec()),
            (0, b"*RS".to_vec()),
            (0, b"T;*".to_vec()),
            (FLAG_END, b"CLS".to_vec()),
            (FLAG_END, b"\n".to_vec()),
        ];
        assert_eq!(writes, expected);
    }
}
