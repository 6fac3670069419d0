//! The one encoder. A value is written bare when it is non-empty and has no whitespace,
//! quote, backslash, control character, nor (for positional values) `=`; otherwise it is
//! double-quoted with the escapes `\\ \" \n \t \r \0`.

use crate::message::{Message, PAYLOAD_KEY};
use bytes::BytesMut;
use std::fmt;

impl Message {
    /// The encoded line, without terminator and without the payload bytes.
    pub fn to_line(&self) -> String {
        let mut out = String::new();
        write_message(&mut out, self);
        out
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_line())
    }
}

/// Where encoded text goes: a `String`, a `Vec<u8>` or a `BytesMut` write buffer.
pub trait TextSink {
    fn push_text(&mut self, text: &str);
}

impl TextSink for String {
    fn push_text(&mut self, text: &str) {
        self.push_str(text);
    }
}

impl TextSink for Vec<u8> {
    fn push_text(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }
}

impl TextSink for BytesMut {
    fn push_text(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }
}

/// Writes one line token by token. Tags, names and keys are written as given (they are
/// identifiers the caller controls); values are encoded.
pub struct LineWriter<'a, S: TextSink> {
    out: &'a mut S,
}

impl<'a, S: TextSink> LineWriter<'a, S> {
    /// Start a line: `[@tag ]name`.
    pub fn start(out: &'a mut S, tag: Option<&str>, name: &str) -> Self {
        debug_assert!(crate::is_valid_name(name), "invalid command name {name:?}");
        if let Some(tag) = tag {
            out.push_text("@");
            out.push_text(tag);
            out.push_text(" ");
        }
        out.push_text(name);
        LineWriter { out }
    }

    pub fn arg(self, value: &str) -> Self {
        self.out.push_text(" ");
        write_value(self.out, value, true);
        self
    }

    pub fn kwarg(self, key: &str, value: &str) -> Self {
        debug_assert!(crate::is_valid_name(key), "invalid key {key:?}");
        self.out.push_text(" ");
        self.out.push_text(key);
        self.out.push_text("=");
        write_value(self.out, value, false);
        self
    }

    /// Append kwargs encoded earlier (e.g. a cached status body).
    pub fn encoded(self, kwargs: &EncodedKwargs) -> Self {
        if !kwargs.0.is_empty() {
            self.out.push_text(" ");
            self.out.push_text(&kwargs.0);
        }
        self
    }

    /// Append kwargs this crate encoded already (a page's entries).
    pub(crate) fn raw_kwargs(self, encoded: &str) -> Self {
        if !encoded.is_empty() {
            self.out.push_text(" ");
            self.out.push_text(encoded);
        }
        self
    }

    /// End the line with its terminator.
    pub fn finish(self) {
        self.out.push_text("\n");
    }
}

/// Kwargs already encoded, for text that is built once and sent many times.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodedKwargs(String);

impl EncodedKwargs {
    pub fn from_pairs<'k, I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str> + 'k,
        V: AsRef<str>,
    {
        let mut text = String::new();
        for (key, value) in pairs {
            if !text.is_empty() {
                text.push(' ');
            }
            debug_assert!(crate::is_valid_name(key.as_ref()));
            text.push_str(key.as_ref());
            text.push('=');
            write_value(&mut text, value.as_ref(), false);
        }
        EncodedKwargs(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Encode a whole message (without terminator); `bytes=N` is added for a payload.
pub fn write_message<S: TextSink>(out: &mut S, message: &Message) {
    let mut writer = LineWriter::start(out, message.tag.as_deref(), &message.name);
    for arg in &message.args {
        writer = writer.arg(arg);
    }
    for (key, value) in &message.kwargs {
        if key != PAYLOAD_KEY {
            writer = writer.kwarg(key, value);
        }
    }
    if let Some(payload) = &message.payload {
        writer.kwarg(PAYLOAD_KEY, &payload.len().to_string());
    }
}

/// Whether `value` can go on the wire without quotes.
pub fn is_bare_safe(value: &str, positional: bool) -> bool {
    !value.is_empty()
        && !value.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '"' | '\'' | '\\')
                || (positional && c == '=')
        })
}

pub(crate) fn write_value<S: TextSink>(out: &mut S, value: &str, positional: bool) {
    if is_bare_safe(value, positional) {
        out.push_text(value);
        return;
    }
    out.push_text("\"");
    let mut run_start = 0;
    for (index, c) in value.char_indices() {
        let escaped = match c {
            '\\' => "\\\\",
            '"' => "\\\"",
            '\n' => "\\n",
            '\t' => "\\t",
            '\r' => "\\r",
            '\0' => "\\0",
            _ => continue,
        };
        out.push_text(&value[run_start..index]);
        out.push_text(escaped);
        run_start = index + c.len_utf8();
    }
    out.push_text(&value[run_start..]);
    out.push_text("\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(m: &Message) -> String {
        m.to_line()
    }

    #[test]
    fn bare_when_safe_quoted_otherwise() {
        let m = Message::new("set")
            .arg("plain")
            .arg("k=v")
            .arg("")
            .kwarg("a", "x=y")
            .kwarg("b", "two words")
            .kwarg("c", "")
            .kwarg("d", "say \"hi\"\\\n\t\r\0");
        assert_eq!(
            line(&m),
            r#"set plain "k=v" "" a=x=y b="two words" c="" d="say \"hi\"\\\n\t\r\0""#
        );
    }

    #[test]
    fn error_reply_encodes_code_then_message() {
        let m = Message::error_reply(
            Some("t1".into()),
            Some("set"),
            crate::ErrorCode::OutOfRange,
            "too high",
        );
        assert_eq!(
            line(&m),
            "@t1 error set code=out_of_range message=\"too high\""
        );
    }

    #[test]
    fn payload_announced_as_bytes() {
        let m = Message::new("frame")
            .tagged(Some("9".into()))
            .kwarg("format", "fits")
            .with_payload(vec![0u8; 10]);
        assert_eq!(line(&m), "@9 frame format=fits bytes=10");
    }

    #[test]
    fn encoded_kwargs_splice_into_a_line() {
        let cached = EncodedKwargs::from_pairs([("pressure", "1e-3"), ("unit", "mbar x")]);
        let mut out = String::new();
        LineWriter::start(&mut out, Some("t"), "status")
            .kwarg("hw_connected", "1")
            .encoded(&cached)
            .finish();
        assert_eq!(
            out,
            "@t status hw_connected=1 pressure=1e-3 unit=\"mbar x\"\n"
        );
    }
}
