//! The monitor's own connection to one camera daemon, apart from its polls and relayed
//! commands: `set_keywords` lines and `get_frame`, whose FITS payload is streamed from
//! the socket into a file as it arrives. The client library would buffer a payload whole
//! (it hands out complete messages); a 4096 x 4096 frame is 32 MiB, so this connection
//! reads the reply line with the protocol's own codec, in the mode where `bytes=` is an
//! ordinary key, and then copies exactly that many bytes to the file itself.
//!
//! One request at a time; any failure drops the connection and the next request opens a
//! new one, so a stream left mid-payload is never read as lines.

use super::file_sink::FileSink;
use bytes::BytesMut;
use labwire_protocol::{LineCodec, Message, DEFAULT_MAX_LINE, PAYLOAD_KEY};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::{Decoder, Encoder};

/// Connecting, and waiting for a reply line.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// A payload that stops arriving for this long is given up.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest frame accepted (a 4096 x 4096 x 32-bit frame is 64 MiB).
pub const MAX_FRAME_BYTES: u64 = 1 << 30;

#[derive(Debug, PartialEq)]
pub enum LinkError {
    /// No connection, or it failed: try again later.
    Connection(String),
    /// The daemon answered `error ...`: its message.
    Refused(String),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Connection(why) => f.write_str(why),
            LinkError::Refused(why) => write!(f, "refused: {why}"),
        }
    }
}

/// A frame in its file.
pub struct Fetched {
    /// The `get_frame` reply line.
    pub reply: Message,
    /// When its last byte came off the socket (the file may have been finished later).
    pub received: Instant,
}

struct Conn {
    stream: TcpStream,
    /// Read but not yet decoded: what follows a reply line (a payload's start).
    buf: BytesMut,
    codec: LineCodec,
}

pub struct CameraLink {
    address: String,
    token: Option<String>,
    conn: Option<Conn>,
    next_tag: u64,
    /// The last frame's file pieces, kept for the next one.
    pieces: Vec<Vec<u8>>,
}

impl CameraLink {
    pub fn new(address: String, token: Option<String>) -> CameraLink {
        CameraLink {
            address,
            token,
            conn: None,
            next_tag: 1,
            pieces: Vec::new(),
        }
    }

    /// Send `request` and answer the daemon's reply; an `error` reply is `Refused`.
    pub async fn request(&mut self, request: Message) -> Result<Message, LinkError> {
        let result = self.exchange(request).await;
        if matches!(result, Err(LinkError::Connection(_))) {
            self.conn = None;
        }
        let reply = result?;
        if reply.is_error() {
            return Err(LinkError::Refused(
                reply.error_message().unwrap_or("error").to_string(),
            ));
        }
        if reply.get(PAYLOAD_KEY).is_some() {
            // Nothing else here asks for a payload; the stream is out of step now.
            self.conn = None;
            return Err(LinkError::Connection(format!(
                "{} answered with an unexpected payload",
                reply.name
            )));
        }
        Ok(reply)
    }

    /// `request` (a `get_frame`), its payload written to `file` (created or truncated).
    /// Answers the reply line (its `bytes=` included) once every byte is in the file.
    pub async fn fetch(&mut self, request: Message, file: &Path) -> Result<Fetched, LinkError> {
        let result = self.fetch_into(request, file).await;
        if matches!(result, Err(LinkError::Connection(_))) {
            self.conn = None;
        }
        result
    }

    async fn fetch_into(&mut self, request: Message, path: &Path) -> Result<Fetched, LinkError> {
        let reply = self.exchange(request).await?;
        if reply.is_error() {
            return Err(LinkError::Refused(
                reply.error_message().unwrap_or("error").to_string(),
            ));
        }
        let size: u64 = reply
            .get(PAYLOAD_KEY)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| LinkError::Connection(format!("no payload in {reply}")))?;
        if size > MAX_FRAME_BYTES {
            return Err(LinkError::Connection(format!(
                "a frame of {size} bytes is over the limit of {MAX_FRAME_BYTES}"
            )));
        }
        let failed = |err: std::io::Error| {
            LinkError::Connection(format!("cannot write {}: {err}", path.display()))
        };
        let spare = std::mem::take(&mut self.pieces);
        let mut sink = FileSink::create(path.to_path_buf(), size as usize, spare);
        let conn = self.conn.as_mut().expect("exchange leaves a connection");
        let mut left = size as usize;
        let mut piece = sink.piece().await.map_err(failed)?;
        // What came in with the reply line first.
        let early = conn.buf.len().min(left);
        piece.extend_from_slice(&conn.buf.split_to(early));
        left -= early;
        while left > 0 {
            if piece.len() == piece.capacity() {
                sink.write(piece).await.map_err(failed)?;
                piece = sink.piece().await.map_err(failed)?;
            }
            let room = (piece.capacity() - piece.len()).min(left);
            let n = timeout(
                STALL_TIMEOUT,
                (&mut conn.stream).take(room as u64).read_buf(&mut piece),
            )
            .await
            .map_err(|_| {
                LinkError::Connection(format!(
                    "the frame stopped arriving with {left} of {size} bytes to go"
                ))
            })?
            .map_err(|err| LinkError::Connection(format!("reading the frame: {err}")))?;
            if n == 0 {
                return Err(LinkError::Connection(format!(
                    "the daemon closed the connection with {left} of {size} bytes to go"
                )));
            }
            left -= n;
        }
        let received = Instant::now();
        sink.write(piece).await.map_err(failed)?;
        self.pieces = sink.finish().await.map_err(failed)?;
        Ok(Fetched { reply, received })
    }

    /// Write `request` with a fresh tag and read the reply line carrying it.
    async fn exchange(&mut self, mut request: Message) -> Result<Message, LinkError> {
        if self.conn.is_none() {
            self.conn = Some(self.connect().await?);
        }
        let tag = format!("f{}", self.next_tag);
        self.next_tag += 1;
        request.tag = Some(tag.clone());
        let conn = self.conn.as_mut().expect("connected above");
        send(conn, &request).await?;
        loop {
            let reply = timeout(REPLY_TIMEOUT, read_line(conn))
                .await
                .map_err(|_| {
                    LinkError::Connection(format!("no reply to {} within 10 s", request.name))
                })??;
            // Anything else (an event line) is skipped; this connection subscribes to none.
            if reply.tag.as_deref() == Some(tag.as_str()) {
                return Ok(reply);
            }
            if reply.get(PAYLOAD_KEY).is_some() {
                return Err(LinkError::Connection(format!(
                    "a payload for another request: {reply}"
                )));
            }
        }
    }

    async fn connect(&mut self) -> Result<Conn, LinkError> {
        let stream = timeout(REPLY_TIMEOUT, TcpStream::connect(&self.address))
            .await
            .map_err(|_| LinkError::Connection(format!("no connection to {}", self.address)))?
            .map_err(|err| LinkError::Connection(format!("{}: {err}", self.address)))?;
        stream
            .set_nodelay(true)
            .map_err(|err| LinkError::Connection(err.to_string()))?;
        let plain_bytes = Arc::new(AtomicBool::new(true));
        let mut conn = Conn {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
            codec: LineCodec::new(DEFAULT_MAX_LINE, 0).with_plain_bytes_switch(plain_bytes),
        };
        if let Some(token) = &self.token {
            let auth = Message::new("auth")
                .kwarg("token", token.as_str())
                .tagged(Some("auth".into()));
            send(&mut conn, &auth).await?;
            let reply = timeout(REPLY_TIMEOUT, read_line(&mut conn))
                .await
                .map_err(|_| LinkError::Connection("no reply to auth".into()))??;
            if reply.name != "ok" {
                let why = reply.error_message().unwrap_or("refused").to_string();
                return Err(LinkError::Connection(format!(
                    "the camera refused the monitor's token: {why}"
                )));
            }
        }
        Ok(conn)
    }
}

async fn send(conn: &mut Conn, request: &Message) -> Result<(), LinkError> {
    let mut out = BytesMut::new();
    conn.codec
        .encode(request, &mut out)
        .map_err(|err| LinkError::Connection(err.to_string()))?;
    conn.stream
        .write_all(&out)
        .await
        .map_err(|err| LinkError::Connection(format!("writing {}: {err}", request.name)))
}

/// The next line from the daemon, decoded by the protocol's codec.
async fn read_line(conn: &mut Conn) -> Result<Message, LinkError> {
    loop {
        match conn.codec.decode(&mut conn.buf) {
            Ok(Some(Ok(message))) => return Ok(message),
            Ok(Some(Err(bad))) => {
                return Err(LinkError::Connection(format!(
                    "unreadable line from the camera: {}",
                    bad.message
                )))
            }
            Ok(None) => {}
            Err(err) => return Err(LinkError::Connection(err.to_string())),
        }
        conn.buf.reserve(64 * 1024);
        let n = conn
            .stream
            .read_buf(&mut conn.buf)
            .await
            .map_err(|err| LinkError::Connection(format!("reading a reply: {err}")))?;
        if n == 0 {
            return Err(LinkError::Connection(
                "the camera closed the connection".into(),
            ));
        }
    }
}
