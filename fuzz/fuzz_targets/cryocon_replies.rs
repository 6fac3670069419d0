//! The cryocon driver's parsers of the controller's replies (`*IDN?`, the chained poll of
//! either model, single fields): an `Error` for garbage, never a panic.
#![no_main]

use labwire_cryocon::reply::{
    parse_input, parse_loop_type, parse_number, parse_on_off, parse_temperature, split_fields,
};
use labwire_cryocon::{parse_idn, parse_poll_reply, Model};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_idn(&text);
    for model in [Model::Cryocon24C, Model::Cryocon22C] {
        let _ = parse_poll_reply(&text, model);
        let _ = parse_input("LOOP 1:SOUR?", &text, model);
    }
    for field in split_fields(&text) {
        let _ = parse_number("INP A:TEMP?", field);
        let _ = parse_temperature("INP A:TEMP?", field);
        let _ = parse_on_off("CONT?", field);
        let _ = parse_loop_type("LOOP 1:TYP?", field);
    }
});
