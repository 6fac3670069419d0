//! ClusterCTRL boards and the ClusterHAT's XRA1200 expander, modelled at the register
//! level (8086 consultancy's firmware, `burtyb/ClusterCTRL` `src/main.c`). The daemon
//! reaches these in-process through its own I2C bus trait, so the simulator models what
//! one I2C transfer does and nothing else.
//!
//! - [`firmware`]: one ClusterCTRL board (Single, Triple, A+6, Stack, pHAT, DA): the
//!   emulated device at 0x20, auto-increment, asynchronous commands with writes NAKed
//!   while busy, STATUS codes, its EEPROM image kept in a file, the boot sequence.
//! - [`xra1200`]: the ClusterHAT v2/v3 I/O expander (IN, OUT, DIR, PUR).
//! - [`bridge`]: `labwire-sim clusterctrl`, the simulated buses as a register console
//!   over TCP, for poking at the model by hand.
//!
//! Both are shared handles ([`SimBoard`], [`SimHat`]): the daemon's bus adapter and a
//! test hold clones, so a test can pull a board out, make its bus NAK or keep it busy
//! while the daemon runs.

pub mod bridge;
pub mod firmware;
pub mod xra1200;

pub use firmware::{BoardKind, SimBoard};
pub use xra1200::{HatVersion, SimHat};

/// The emulated device's (and the expander's) 7-bit address.
pub const ADDRESS: u8 = 0x20;

/// What a transfer to a simulated target can meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusFault {
    /// The addressed device did not acknowledge (busy, absent address, a NAKing bus).
    Nak,
    /// The bus itself is gone (the USB board was unplugged: `/dev/i2c-N` vanished).
    Gone,
}

/// One I2C target as a bus sees it: `write` is `[register, values...]` (a lone register
/// only moves the pointer), `read` continues from the pointer, auto-incrementing.
pub trait Target: Send {
    fn write(&mut self, address: u8, bytes: &[u8]) -> Result<(), BusFault>;
    fn read(&mut self, address: u8, buffer: &mut [u8]) -> Result<(), BusFault>;
}
