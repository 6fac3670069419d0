//! The message every line carries, and the protocol's reply shapes.
//!
//! A leaf: it knows nothing of the grammar. Writing a message as text
//! (`Message::to_line`, `Display`) lives in `encode`, reading one (`FromStr`) in `parse`.

use bytes::Bytes;
use std::fmt;
use std::str::FromStr;

/// The reserved kwarg announcing a binary payload of N bytes after the line.
pub const PAYLOAD_KEY: &str = "bytes";

/// One protocol line, parsed: `[@tag] name arg... key=value...` plus an optional payload.
///
/// Kwargs keep their order; a key appears at most once (setting it again replaces the
/// value in place). The payload is not part of `kwargs`: the encoder writes `bytes=N` for
/// it and the codec reads it back into `payload`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub tag: Option<String>,
    pub name: String,
    pub args: Vec<String>,
    pub kwargs: Vec<(String, String)>,
    pub payload: Option<Bytes>,
}

impl Message {
    pub fn new(name: impl Into<String>) -> Self {
        Message {
            name: name.into(),
            ..Message::default()
        }
    }

    /// Builder: set the tag.
    pub fn tagged(mut self, tag: Option<String>) -> Self {
        self.tag = tag;
        self
    }

    /// Builder: append a positional argument.
    pub fn arg(mut self, value: impl Into<String>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Builder: set a keyword argument (replacing an existing value, keeping its place).
    pub fn kwarg(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(key, value);
        self
    }

    /// Builder: attach a binary payload.
    pub fn with_payload(mut self, payload: impl Into<Bytes>) -> Self {
        self.payload = Some(payload.into());
        self
    }

    /// Set a keyword argument; a repeated key keeps the last value, in the first place.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.kwargs.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.kwargs.push((key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.kwargs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.kwargs.iter().position(|(k, _)| k == key)?;
        Some(self.kwargs.remove(index).1)
    }

    /// `ok <command>` answering `request`, carrying its tag.
    pub fn ok_reply(request: &Message) -> Message {
        Message::new("ok")
            .tagged(request.tag.clone())
            .arg(request.name.clone())
    }

    /// `error [<command>] code=<code> message="<text>"`.
    pub fn error_reply(
        tag: Option<String>,
        command: Option<&str>,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Message {
        let mut reply = Message::new("error").tagged(tag);
        if let Some(command) = command {
            reply.args.push(command.to_string());
        }
        reply.kwarg("code", code.as_str()).kwarg("message", message)
    }

    pub fn is_error(&self) -> bool {
        self.name == "error"
    }

    /// The `code=` of an error reply, if this is one.
    pub fn error_code(&self) -> Option<&str> {
        if self.is_error() {
            self.get("code")
        } else {
            None
        }
    }

    /// The human-readable `message=` of an error reply, if this is one.
    pub fn error_message(&self) -> Option<&str> {
        if self.is_error() {
            self.get("message")
        } else {
            None
        }
    }
}

/// The error codes of docs/protocol.md, section 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Parse,
    LineTooLong,
    BadEncoding,
    UnknownCommand,
    MissingArgument,
    BadArgument,
    OutOfRange,
    NotConnected,
    Busy,
    Timeout,
    DeviceError,
    Forbidden,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::Parse,
        ErrorCode::LineTooLong,
        ErrorCode::BadEncoding,
        ErrorCode::UnknownCommand,
        ErrorCode::MissingArgument,
        ErrorCode::BadArgument,
        ErrorCode::OutOfRange,
        ErrorCode::NotConnected,
        ErrorCode::Busy,
        ErrorCode::Timeout,
        ErrorCode::DeviceError,
        ErrorCode::Forbidden,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Parse => "parse",
            ErrorCode::LineTooLong => "line_too_long",
            ErrorCode::BadEncoding => "bad_encoding",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::MissingArgument => "missing_argument",
            ErrorCode::BadArgument => "bad_argument",
            ErrorCode::OutOfRange => "out_of_range",
            ErrorCode::NotConnected => "not_connected",
            ErrorCode::Busy => "busy",
            ErrorCode::Timeout => "timeout",
            ErrorCode::DeviceError => "device_error",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorCode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_key_keeps_last_value_in_first_place() {
        let m = Message::new("x")
            .kwarg("a", "1")
            .kwarg("b", "2")
            .kwarg("a", "3");
        assert_eq!(
            m.kwargs,
            vec![("a".into(), "3".into()), ("b".into(), "2".into())]
        );
    }

    #[test]
    fn error_reply_shape() {
        let m = Message::error_reply(
            Some("t1".into()),
            Some("set"),
            ErrorCode::OutOfRange,
            "too high",
        );
        assert_eq!(m.tag.as_deref(), Some("t1"));
        assert_eq!(m.name, "error");
        assert_eq!(m.args, vec!["set".to_string()]);
        assert_eq!(m.error_code(), Some("out_of_range"));
        assert_eq!(m.error_message(), Some("too high"));
    }

    #[test]
    fn error_codes_round_trip_through_text() {
        for code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
        }
        assert!("nope".parse::<ErrorCode>().is_err());
    }
}
