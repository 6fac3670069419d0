//! The ccd driver's readers of the Archon's replies: `KEY=VALUE` text (SYSTEM, STATUS,
//! FRAME) and the header of a FETCH block, for any id: an `Error` for garbage, never a
//! panic, and a header is accepted only for its own id.
#![no_main]

use labwire_ccd::link::{check_block_header, parse_pairs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for (key, value) in parse_pairs(&text) {
        let ascii_space = |c: char| c.is_ascii_whitespace();
        assert!(!key.contains(ascii_space) && !value.contains(ascii_space));
    }
    if let Some((&id, header)) = data.split_first() {
        if check_block_header(header, id).is_ok() {
            let hex = format!("{id:02X}");
            assert!(
                header[1..3].eq_ignore_ascii_case(hex.as_bytes()),
                "{header:?} for {id}"
            );
        }
    }
});
