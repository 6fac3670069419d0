//! labwire's end-to-end tests, which start the real binaries (build them first:
//! `cargo build --workspace --bins`). The tests are in `tests/`:
//!
//! - `cli.rs`: every daemon binary's command line: the shared flags' errors exit 2 with
//!   a message, `--help` exits 0.
//! - `state.rs`: state that survives a restart (the psu's output names).
//! - `help.rs`: every command `help` lists is answered, by every daemon and the monitor.
//! - `monitor.rs`: the monitor end to end, with daemons in simulation and fake daemons.
//! - `web.rs`: the web page in a real browser (Chromium through chromedriver).
//! - `frames.rs`: camera frames through the monitor: keywords from another daemon in the
//!   header, the file stored and indexed, the frame routes.
//! - `device_alarms.rs`: alarms raised by a daemon, through the real monitor: listed with
//!   the daemon's message, stored, acknowledged at the daemon, cleared.
