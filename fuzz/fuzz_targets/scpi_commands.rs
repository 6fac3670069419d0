//! The simulator's SCPI command parser, through the whole simulated E36300: any line
//! gets a reply or an error queued, never a panic. Lines are split at LF, as the socket
//! side frames them.
#![no_main]

use std::time::{Duration, Instant};

use labwire_sim::e36300::{Instrument, PsuOptions};
use labwire_sim::scpi;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut instrument = Instrument::new(&PsuOptions::default());
    let start = Instant::now();
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        for unit in scpi::split_units(line).unwrap_or_default() {
            let _ = scpi::parse_unit(unit);
            let _ = scpi::parse_numeric(unit, "V");
            let _ = scpi::parse_bool(unit);
            let _ = scpi::parse_channel_list(unit);
        }
        let _ = instrument.execute_line(line, start + Duration::from_millis(10 * i as u64));
    }
});
