//! The Pfeiffer TPG 36x gauge daemon as a library, so tests can run its device in-process
//! against a simulator whose faults they control. The binary is `src/main.rs`.
//!
//! - [`driver`]: the controller's mnemonic protocol (ACK/NAK/ENQ) over a byte link, with
//!   the line end of its interface (CR LF, or CR alone on RS-485).
//! - [`units`]: the six display units (`UNI` 0-5) and their factors to mbar.
//! - [`device`]: the labwire `Device`: status variables and commands.
//! - [`cli`]: the daemon's own flags and the in-process simulator of `--simulate`.

pub mod cli;
pub mod device;
pub mod driver;
pub mod units;
