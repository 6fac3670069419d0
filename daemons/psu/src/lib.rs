//! The pieces of `labwire-psu` (see the binary's documentation for the status variables
//! and units), public so that tests can run the daemon in-process against a simulator
//! whose faults they control.
//!
//! - [`cli`]: the psu's own command-line flags and what they become.
//! - [`driver`]: the Keysight E36300 series' SCPI over a byte link.
//! - [`device`]: the labwire `Device` built on it.

pub mod cli;
pub mod device;
pub mod driver;
