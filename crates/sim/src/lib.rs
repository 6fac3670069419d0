//! Simulated lab hardware that speaks the real instruments' own wire protocols over TCP,
//! so a daemon's real driver can be tested without the hardware. These are not labwire
//! protocol servers.
//!
//! Layout:
//! - [`server`]: the shared TCP accept loop, [`Fault`] injection and the [`SimHandle`]
//!   every `spawn` returns.
//! - [`gauge`]: Pfeiffer TPG 361/362 vacuum gauge controllers (ASCII mnemonics, ACK/ENQ).
//! - [`scpi`]: SCPI parsing helpers: headers, `;` chains and tree paths, numbers,
//!   booleans, channel lists, standard error numbers.
//! - [`cryocon`]: Cryo-con 24C/22C temperature controllers (SCPI-style, with a thermal
//!   plant and the controller's own PID and ramp).
//! - [`e36300`]: Keysight E36311A/E36312A/E36313A power supplies over SCPI.
//! - [`clusterctrl`]: ClusterCTRL boards and the ClusterHAT's expander at the I2C
//!   register level (no TCP: the daemon's bus trait reaches them in-process).
//! - [`ferment`]: a fermentation chamber: wort and fridge plant, DS18B20 probes as a real
//!   Linux w1 directory tree, heater and compressor relay lines.
//! - `number`, `rng`: the instruments' exponential number format and a tiny seeded PRNG
//!   for noise and junk bytes.
//!
//! The binary (`src/main.rs`) runs one simulator as a stand-alone server.

pub mod clusterctrl;
pub mod cryocon;
pub mod e36300;
pub mod ferment;
pub mod gauge;
mod number;
mod rng;
pub mod scpi;
pub mod server;

pub use number::format_exponential;
pub use server::{Fault, ParseFaultError, SimHandle, MAX_CONNECTIONS};
