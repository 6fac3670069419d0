//! The line parser on any text: it never panics, and what it accepts survives a trip
//! through the encoder unchanged (`parse(encode(m)) == m`), except a `bytes=` kwarg,
//! which the encoder writes only for a payload the message carries.
#![no_main]

use labwire_protocol::{parse_line, Message, PAYLOAD_KEY};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut message) = parse_line(text) else {
        return;
    };
    let line = message.to_line();
    let again: Message = line
        .parse()
        .unwrap_or_else(|err| panic!("{line:?}, encoded from {text:?}, does not parse: {err}"));
    message.remove(PAYLOAD_KEY);
    assert_eq!(again, message, "{text:?} -> {line:?}");
});
