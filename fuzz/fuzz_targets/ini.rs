//! The monitor's INI reader on any text: a section tree or a `ConfigError`, never a
//! panic.
//!
//! The reader's source file is compiled here on its own: it needs only std, nom and
//! labwire-protocol, while depending on the monitor crate would build its whole web and
//! database stack for one function.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../monitor/src/ini.rs"]
#[allow(dead_code)]
mod ini;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ini::parse(text);
    }
});
