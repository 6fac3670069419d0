//! The STA Archon CCD controller: its wire, the frames as FITS files, and the labwire
//! daemon built on them (`labwire-ccd`, docs/daemons/ccd.md).
//!
//! - [`link`]: the Archon's `>xx` command wire with rolling ids, `?xx` refusals, late
//!   replies skipped, and FETCH's binary blocks streamed to a sink.
//! - [`frame`]: a frame's metadata, its FITS header, and the stored file.
//! - [`commands`]: the commands and their validation before anything is sent.
//! - [`device`]: the labwire `Device`: connect (read only), poll (STATUS, FETCHLOG,
//!   FRAME, readout), the exposure state machine and the commands.
//! - [`cli`]: the daemon's own flags and the in-process simulator for `--simulate`.

pub mod cli;
pub mod commands;
pub mod device;
pub mod frame;
pub mod link;

pub use device::{Camera, Config};
