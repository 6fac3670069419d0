//! The gauge driver's parsers of the TPG 36x's data lines (`PR1`, `UNI`): an `Error` or
//! `None` for garbage, never a panic.
#![no_main]

use labwire_gauge::driver::{parse_reading, Unit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_reading(&text);
    let _ = Unit::from_code(&text);
});
