//! The psu driver's parsers of the E36300's replies (`*IDN?`, the chained state query with
//! its CV/CC condition registers, `SYST:ERR?`, numbers): an `Error` for garbage, never a
//! panic.
#![no_main]

use labwire_psu::driver::{parse_state, scpi_number, Identity, InstrumentError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Identity::parse(&text);
    let _ = parse_state(&text);
    let _ = InstrumentError::parse(&text);
    let _ = scpi_number(&text);
});
