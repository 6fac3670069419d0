//! labwire's end-to-end tests, which start the real binaries (build them first:
//! `cargo build --workspace --bins`). The tests are in `tests/`:
//!
//! - `cli.rs`: every daemon binary's command line: the shared flags' errors exit 2 with
//!   a message, `--help` exits 0.
//! - `state.rs`: state that survives a restart (the psu's output names).
//! - `device_alarms.rs`: alarms raised by a daemon, through the real monitor: listed with
//!   the daemon's message, stored, acknowledged at the daemon, cleared.
