//! The labwire line protocol (see `docs/protocol.md`): the only code in the project that
//! knows the grammar.
//!
//! Layout:
//! - [`message`]: [`Message`] (tag, name, positional args, ordered kwargs, optional binary
//!   payload), reply constructors and the protocol's [`ErrorCode`]s; a leaf module.
//! - [`parse`]: the nom parser for one line ([`parse_line`], `Message: FromStr`).
//! - [`encode`]: the one encoder ([`LineWriter`], [`EncodedKwargs`], `Message::to_line`,
//!   `Message: Display`); every line any part of
//!   labwire writes goes through it, so `parse(encode(m)) == m` holds everywhere.
//! - [`codec`]: a tokio-util codec ([`LineCodec`]) with the line limit, CR/LF/NUL framing
//!   and `bytes=N` binary payloads in both directions.
//! - [`paging`]: replies too long for one line, asked for page by page (`page=`, `next=`):
//!   [`PageBuilder`], [`requested_page`], [`next_page`].
//! - [`log_level`]: [`LogLevel`], the four levels of a `log` line, ordered by severity.
//! - [`value`]: how numbers and booleans are written and read on the wire.
//!
//! The crate does no I/O of its own.

pub mod codec;
pub mod encode;
pub mod log_level;
pub mod message;
pub mod paging;
pub mod parse;
pub mod value;

pub use codec::{
    FrameError, FrameRefusal, LineCodec, PayloadPolicy, DEFAULT_MAX_LINE, DEFAULT_MAX_PAYLOAD,
};
pub use encode::{EncodedKwargs, LineWriter};
pub use log_level::{LogLevel, UnknownLogLevel};
pub use message::{ErrorCode, Message, PAYLOAD_KEY};
pub use paging::{next_page, requested_page, PageBuilder, NEXT_KEY, PAGE_BYTES, PAGE_KEY};
pub use parse::{parse_line, ParseError};
pub use value::{format_bool, format_millis_as_seconds, format_number, parse_bool, parse_number};

/// The protocol version this crate implements (`protocol=` in `id` replies).
pub const PROTOCOL_VERSION: u32 = 1;

/// Characters allowed in command names and keyword keys.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// True when `s` is a valid command name or kwarg key.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_name_char)
}

/// True when `s` is a valid request tag (without the leading `@`).
pub fn is_valid_tag(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(is_name_char)
}
