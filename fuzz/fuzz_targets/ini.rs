//! The monitor's INI reader on any text: a section tree or a `ConfigError`, never a
//! panic.
//!
//! The reader's source file is compiled here on its own: it needs only std, nom and
//! labwire-protocol, while depending on the monitor crate would build its whole web and
//! database stack for one function. When the reader moves to `monitor/src/ini.rs`, point
//! the path there and call `ini::parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../monitor/src/config.rs"]
#[allow(dead_code)]
mod config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = config::parse_ini(text);
    }
});
