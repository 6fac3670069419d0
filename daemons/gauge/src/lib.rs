//! The Pfeiffer TPG 36x gauge daemon as a library, so tests can run its device in-process
//! against a simulator whose faults they control. The binary is `src/main.rs`.
//!
//! - [`driver`]: the controller's mnemonic protocol (ACK/NAK/ENQ) over a byte link.
//! - [`device`]: the labwire `Device`: status variables and commands.

pub mod device;
pub mod driver;
