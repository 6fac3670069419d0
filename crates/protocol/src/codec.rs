//! Framing: lines end at LF (a CR before it is dropped) or NUL; blank lines are skipped; a
//! line with `bytes=N` is followed by N raw bytes. Bad lines are items, not stream errors,
//! so one bad line never ends a connection — except an oversized payload, after which the
//! stream cannot be resynchronised (`FrameError::fatal`).
//!
//! `bytes=` must be ASCII digits only (`bytes=+3` or `bytes=x` is answered `bad_argument`
//! and the line carries no payload: what follows is read as lines, as the sender of a line
//! without a valid count would expect); digits too many for a byte count are an
//! over-limit payload, so fatal. A [`PayloadPolicy`] may refuse a payload by its
//! command: the refusal is answered at once and the payload's bytes are then skipped as
//! they arrive, never buffered.

use crate::message::{ErrorCode, Message, PAYLOAD_KEY};
use bytes::{Buf, BytesMut};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio_util::codec::{Decoder, Encoder};

pub const DEFAULT_MAX_LINE: usize = 64 * 1024;
pub const DEFAULT_MAX_PAYLOAD: usize = 64 * 1024 * 1024;

/// A line that could not become a message. Answer it with [`FrameError::to_reply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    pub code: ErrorCode,
    pub message: String,
    /// The request's tag, when one could be read.
    pub tag: Option<String>,
    /// The request's command, when the line parsed but its payload header was bad.
    pub command: Option<String>,
    /// The stream is out of sync: reply, then close the connection.
    pub fatal: bool,
}

impl FrameError {
    pub fn to_reply(&self) -> Message {
        Message::error_reply(
            self.tag.clone(),
            self.command.as_deref(),
            self.code,
            self.message.clone(),
        )
    }
}

/// Decides, from a request's header, whether its payload of `len` bytes is buffered
/// (`Ok`) or refused and skipped (`Err(reason)`).
pub type PayloadPolicy = Box<dyn FnMut(&Message, usize) -> Result<(), FrameRefusal> + Send>;

/// Why a payload was refused: answered as `error <command> code=<code> message=...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameRefusal {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug)]
enum State {
    Line,
    /// Dropping the rest of an oversized line, up to its terminator.
    Discarding,
    Payload(Message, usize),
    /// Dropping this many bytes of a refused payload.
    Skipping(usize),
    /// After a fatal error: nothing more is decoded.
    Broken,
}

pub struct LineCodec {
    max_line: usize,
    max_payload: usize,
    /// How far the current partial line has been searched for a terminator.
    scanned: usize,
    state: State,
    payload_policy: Option<PayloadPolicy>,
    /// While on, `bytes=` is an ordinary kwarg.
    plain_bytes: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for LineCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineCodec")
            .field("max_line", &self.max_line)
            .field("max_payload", &self.max_payload)
            .field("state", &self.state)
            .field("payload_policy", &self.payload_policy.is_some())
            .field("plain_bytes", &self.plain_bytes)
            .finish()
    }
}

impl Default for LineCodec {
    fn default() -> Self {
        LineCodec::new(DEFAULT_MAX_LINE, DEFAULT_MAX_PAYLOAD)
    }
}

impl LineCodec {
    pub fn new(max_line: usize, max_payload: usize) -> Self {
        LineCodec {
            max_line,
            max_payload,
            scanned: 0,
            state: State::Line,
            payload_policy: None,
            plain_bytes: None,
        }
    }

    /// While `switch` is on, `bytes=` is an ordinary kwarg and announces no payload:
    /// CCDLab-era daemons know no payloads and may report a variable called `bytes`.
    pub fn with_plain_bytes_switch(mut self, switch: Arc<AtomicBool>) -> Self {
        self.plain_bytes = Some(switch);
        self
    }

    /// Ask `policy` before buffering any payload (without one, every payload within
    /// `max_payload` is buffered).
    pub fn with_payload_policy(mut self, policy: PayloadPolicy) -> Self {
        self.payload_policy = Some(policy);
        self
    }

    pub fn max_line(&self) -> usize {
        self.max_line
    }

    fn leading_tag(bytes: &[u8]) -> Option<String> {
        let head = &bytes[..bytes.len().min(80)];
        let text = String::from_utf8_lossy(head);
        let candidate = text.strip_prefix('@')?.split([' ', '\t']).next()?;
        // The tag is only trusted when the blank after it arrived too.
        let complete = text.len() > candidate.len() + 1;
        (complete && crate::is_valid_tag(candidate)).then(|| candidate.to_string())
    }

    fn decode_line(&mut self, raw: &[u8]) -> Option<Result<Message, FrameError>> {
        let text = match std::str::from_utf8(raw) {
            Ok(text) => text,
            Err(err) => {
                return Some(Err(FrameError {
                    code: ErrorCode::BadEncoding,
                    message: format!("line is not valid UTF-8 (byte {})", err.valid_up_to()),
                    tag: Self::leading_tag(raw),
                    command: None,
                    fatal: false,
                }))
            }
        };
        if text.trim_matches([' ', '\t']).is_empty() {
            return None;
        }
        let mut message = match crate::parse_line(text) {
            Ok(message) => message,
            Err(err) => {
                return Some(Err(FrameError {
                    code: ErrorCode::Parse,
                    message: err.message,
                    tag: err.tag,
                    command: None,
                    fatal: false,
                }))
            }
        };
        let plain = self
            .plain_bytes
            .as_ref()
            .is_some_and(|switch| switch.load(Ordering::Relaxed));
        if plain {
            return Some(Ok(message));
        }
        let Some(declared) = message.remove(PAYLOAD_KEY) else {
            return Some(Ok(message));
        };
        let error = |code, text: String, fatal| FrameError {
            code,
            message: text,
            tag: message.tag.clone(),
            command: Some(message.name.clone()),
            fatal,
        };
        let digits = !declared.is_empty() && declared.bytes().all(|b| b.is_ascii_digit());
        if !digits {
            return Some(Err(error(
                ErrorCode::BadArgument,
                format!("bytes={declared:?} is not a byte count"),
                false,
            )));
        }
        match declared.parse::<usize>() {
            Ok(len) if len <= self.max_payload => {
                if let Some(policy) = &mut self.payload_policy {
                    if let Err(refusal) = policy(&message, len) {
                        self.state = State::Skipping(len);
                        return Some(Err(error(refusal.code, refusal.message, false)));
                    }
                }
                self.state = State::Payload(message, len);
                None
            }
            // Too many digits for a count is over any limit too.
            _ => {
                self.state = State::Broken;
                Some(Err(error(
                    ErrorCode::OutOfRange,
                    format!(
                        "payload of {declared} bytes exceeds the limit of {} bytes",
                        self.max_payload
                    ),
                    true,
                )))
            }
        }
    }
}

impl Decoder for LineCodec {
    type Item = Result<Message, FrameError>;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        loop {
            match &mut self.state {
                State::Broken => {
                    buf.clear();
                    return Ok(None);
                }
                State::Payload(_, len) => {
                    let len = *len;
                    if buf.len() < len {
                        buf.reserve(len - buf.len());
                        return Ok(None);
                    }
                    let payload = buf.split_to(len).freeze();
                    let State::Payload(mut message, _) =
                        std::mem::replace(&mut self.state, State::Line)
                    else {
                        unreachable!("state checked above")
                    };
                    message.payload = Some(payload);
                    return Ok(Some(Ok(message)));
                }
                State::Skipping(left) => {
                    let now = (*left).min(buf.len());
                    buf.advance(now);
                    *left -= now;
                    if *left > 0 {
                        return Ok(None);
                    }
                    self.state = State::Line;
                }
                State::Discarding => match buf.iter().position(|&b| b == b'\n' || b == 0) {
                    Some(end) => {
                        buf.advance(end + 1);
                        self.state = State::Line;
                    }
                    None => {
                        buf.clear();
                        return Ok(None);
                    }
                },
                State::Line => {
                    let limit = buf.len().min(self.max_line + 2);
                    let found = buf[self.scanned..limit]
                        .iter()
                        .position(|&b| b == b'\n' || b == 0)
                        .map(|at| at + self.scanned);
                    let Some(end) = found else {
                        if buf.len() <= self.max_line + 1 {
                            self.scanned = buf.len();
                            return Ok(None);
                        }
                        // Too long and still no terminator: answer now, drop the rest.
                        let tag = Self::leading_tag(buf);
                        // Only the searched part is known to belong to this line.
                        buf.advance(limit);
                        self.scanned = 0;
                        self.state = State::Discarding;
                        return Ok(Some(Err(self.too_long(tag))));
                    };
                    self.scanned = 0;
                    let line = buf.split_to(end + 1);
                    let mut content = &line[..end];
                    if line[end] == b'\n' {
                        content = content.strip_suffix(b"\r").unwrap_or(content);
                    }
                    if content.len() > self.max_line {
                        return Ok(Some(Err(self.too_long(Self::leading_tag(content)))));
                    }
                    if let Some(item) = self.decode_line(content) {
                        return Ok(Some(item));
                    }
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        if let Some(item) = self.decode(buf)? {
            return Ok(Some(item));
        }
        // A last line without terminator (e.g. `printf get_id | nc`) still counts.
        if matches!(self.state, State::Line) && !buf.is_empty() {
            let rest = buf.split();
            self.scanned = 0;
            if rest.len() > self.max_line {
                return Ok(Some(Err(self.too_long(Self::leading_tag(&rest)))));
            }
            return Ok(self.decode_line(&rest));
        }
        buf.clear();
        Ok(None)
    }
}

impl LineCodec {
    fn too_long(&self, tag: Option<String>) -> FrameError {
        FrameError {
            code: ErrorCode::LineTooLong,
            message: format!("line longer than {} bytes", self.max_line),
            tag,
            command: None,
            fatal: false,
        }
    }
}

impl Encoder<&Message> for LineCodec {
    type Error = io::Error;

    fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> io::Result<()> {
        crate::encode::write_message(dst, message);
        dst.extend_from_slice(b"\n");
        if let Some(payload) = &message.payload {
            dst.extend_from_slice(payload);
        }
        Ok(())
    }
}

impl Encoder<Message> for LineCodec {
    type Error = io::Error;

    fn encode(&mut self, message: Message, dst: &mut BytesMut) -> io::Result<()> {
        self.encode(&message, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut LineCodec, input: &[u8]) -> Vec<Result<Message, FrameError>> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            out.push(item);
        }
        out
    }

    #[test]
    fn terminators_and_blank_lines() {
        let mut codec = LineCodec::default();
        let items = decode_all(&mut codec, b"a\r\nb\0c\n\n  \t \r\nd x\r\n");
        let names: Vec<_> = items.into_iter().map(|m| m.unwrap().name).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
    }

    #[test]
    fn cr_only_dropped_before_lf() {
        let mut codec = LineCodec::default();
        let items = decode_all(&mut codec, b"a 'x\r'\0");
        assert_eq!(items[0].as_ref().unwrap().args, ["x\r"]);
    }

    #[test]
    fn oversized_line_in_pieces_is_answered_once_and_memory_stays_bounded() {
        let mut codec = LineCodec::new(16, 1024);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"@t1 get_status ");
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&[b'x'; 10]);
        let err = codec.decode(&mut buf).unwrap().unwrap().unwrap_err();
        assert_eq!(err.code, ErrorCode::LineTooLong);
        assert_eq!(err.tag.as_deref(), Some("t1"));
        for _ in 0..100 {
            buf.extend_from_slice(&[b'y'; 1000]);
            assert!(codec.decode(&mut buf).unwrap().is_none());
            assert!(buf.is_empty());
        }
        buf.extend_from_slice(b"yyy\nget_id\n");
        let next = codec.decode(&mut buf).unwrap().unwrap().unwrap();
        assert_eq!(next.name, "get_id");
    }

    #[test]
    fn oversized_line_arriving_whole() {
        let mut codec = LineCodec::new(8, 1024);
        let items = decode_all(&mut codec, b"abcdefghijkl\nok\n");
        assert_eq!(items[0].as_ref().unwrap_err().code, ErrorCode::LineTooLong);
        assert_eq!(items[1].as_ref().unwrap().name, "ok");
    }

    #[test]
    fn line_exactly_at_limit_is_fine() {
        let mut codec = LineCodec::new(8, 1024);
        let items = decode_all(&mut codec, b"abcdefgh\r\nabcdefgh\n");
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|i| i.is_ok()));
    }

    #[test]
    fn bad_utf8_is_an_item_and_stream_continues() {
        let mut codec = LineCodec::default();
        let items = decode_all(&mut codec, b"@q get_\xff\nget_id\n");
        let err = items[0].as_ref().unwrap_err();
        assert_eq!(err.code, ErrorCode::BadEncoding);
        assert_eq!(err.tag.as_deref(), Some("q"));
        assert_eq!(items[1].as_ref().unwrap().name, "get_id");
    }

    #[test]
    fn payload_in_both_directions() {
        let mut codec = LineCodec::default();
        let sent = Message::new("frame")
            .tagged(Some("9".into()))
            .kwarg("format", "fits")
            .with_payload(b"\n\0binary\r\n".to_vec());
        let mut wire = BytesMut::new();
        codec.encode(&sent, &mut wire).unwrap();
        wire.extend_from_slice(b"next\n");
        // Feed one byte at a time to exercise partial payloads.
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for byte in wire.iter() {
            buf.extend_from_slice(&[*byte]);
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                got.push(item.unwrap());
            }
        }
        assert_eq!(got, vec![sent, Message::new("next")]);
    }

    #[test]
    fn oversized_payload_is_fatal() {
        let mut codec = LineCodec::new(1024, 4);
        let items = decode_all(&mut codec, b"@z put bytes=5\nhello\nget_id\n");
        assert_eq!(items.len(), 1);
        let err = items[0].as_ref().unwrap_err();
        assert_eq!(
            (err.code, err.fatal, err.command.as_deref()),
            (ErrorCode::OutOfRange, true, Some("put"))
        );
        assert_eq!(
            err.to_reply().to_line(),
            "@z error put code=out_of_range message=\"payload of 5 bytes exceeds the limit of 4 bytes\""
        );
    }

    #[test]
    fn bad_byte_count_is_not_fatal() {
        let mut codec = LineCodec::default();
        let items = decode_all(&mut codec, b"put bytes=many\nget_id\n");
        assert_eq!(items[0].as_ref().unwrap_err().code, ErrorCode::BadArgument);
        assert_eq!(items[1].as_ref().unwrap().name, "get_id");
    }

    #[test]
    fn last_line_without_terminator_at_eof() {
        let mut codec = LineCodec::default();
        let mut buf = BytesMut::from(&b"get_id"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        let item = codec.decode_eof(&mut buf).unwrap().unwrap().unwrap();
        assert_eq!(item.name, "get_id");
    }

    #[test]
    fn byte_count_too_long_for_any_integer_is_fatal() {
        let mut codec = LineCodec::default();
        let items = decode_all(
            &mut codec,
            b"put bytes=99999999999999999999999999\nhello\nget_id\n",
        );
        assert_eq!(
            items.len(),
            1,
            "nothing after an unreadable payload: {items:?}"
        );
        let err = items[0].as_ref().unwrap_err();
        assert_eq!((err.code, err.fatal), (ErrorCode::OutOfRange, true));
    }

    #[test]
    fn signed_byte_count_is_not_a_count_and_carries_no_payload() {
        let mut codec = LineCodec::default();
        let items = decode_all(&mut codec, b"put bytes=+3\nabc\nget_id\n");
        let err = items[0].as_ref().unwrap_err();
        assert_eq!((err.code, err.fatal), (ErrorCode::BadArgument, false));
        assert_eq!(err.command.as_deref(), Some("put"));
        let names: Vec<_> = items[1..]
            .iter()
            .map(|m| m.as_ref().unwrap().name.clone())
            .collect();
        assert_eq!(names, ["abc", "get_id"]);
    }

    #[test]
    fn refused_payload_is_answered_then_skipped_without_buffering() {
        let policy: PayloadPolicy = Box::new(|message, _| {
            if message.name == "upload" {
                Ok(())
            } else {
                Err(FrameRefusal {
                    code: ErrorCode::BadArgument,
                    message: format!("{} takes no payload", message.name),
                })
            }
        });
        let mut codec = LineCodec::new(1024, 64 * 1024 * 1024).with_payload_policy(policy);
        let mut buf = BytesMut::with_capacity(4096);
        buf.extend_from_slice(b"@7 get_status bytes=16777216\n");
        let err = codec.decode(&mut buf).unwrap().unwrap().unwrap_err();
        assert_eq!(
            (
                err.code,
                err.fatal,
                err.tag.as_deref(),
                err.command.as_deref()
            ),
            (ErrorCode::BadArgument, false, Some("7"), Some("get_status"))
        );
        let chunk = [b'\n'; 4096];
        for _ in 0..(16 * 1024 * 1024 / chunk.len()) {
            buf.extend_from_slice(&chunk);
            assert!(
                codec.decode(&mut buf).unwrap().is_none(),
                "payload bytes are not lines"
            );
            assert!(buf.is_empty());
            assert!(buf.capacity() <= 8192, "buffer grew to {}", buf.capacity());
        }
        buf.extend_from_slice(b"get_id\nupload bytes=2\nhi");
        assert_eq!(
            codec.decode(&mut buf).unwrap().unwrap().unwrap().name,
            "get_id"
        );
        let upload = codec.decode(&mut buf).unwrap().unwrap().unwrap();
        assert_eq!(upload.payload.as_deref(), Some(&b"hi"[..]));
    }

    #[test]
    fn with_plain_bytes_on_a_bytes_variable_is_kept_and_nothing_is_read_as_payload() {
        let switch = Arc::new(AtomicBool::new(false));
        let mut codec = LineCodec::default().with_plain_bytes_switch(switch.clone());
        let mut buf = BytesMut::from(&b"frame bytes=2\nhi"[..]);
        let framed = codec.decode(&mut buf).unwrap().unwrap().unwrap();
        assert_eq!(framed.payload.as_deref(), Some(&b"hi"[..]));
        switch.store(true, Ordering::Relaxed);
        let items = decode_all(&mut codec, b"status bytes=12 rate=3\nnext\n");
        let status = items[0].as_ref().unwrap();
        assert_eq!(
            (status.get("bytes"), status.payload.as_ref()),
            (Some("12"), None)
        );
        assert_eq!(items[1].as_ref().unwrap().name, "next");
    }

    #[test]
    fn a_prefixed_bytes_variable_survives_encoding() {
        let status = Message::new("status")
            .kwarg("legacy1.bytes", "12")
            .kwarg("legacy1.rate", "3");
        let mut wire = BytesMut::new();
        LineCodec::default().encode(&status, &mut wire).unwrap();
        assert_eq!(&wire[..], b"status legacy1.bytes=12 legacy1.rate=3\n");
        let back = decode_all(&mut LineCodec::default(), &wire);
        assert_eq!(back[0].as_ref().unwrap(), &status);
    }
}
