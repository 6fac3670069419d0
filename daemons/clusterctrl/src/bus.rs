//! [`I2cBus`]: one Linux I2C bus as the drivers use it (a write transfer, or a read
//! transfer continuing from the register pointer), with the simulated boards behind the
//! same trait ([`SimBus`]). The Linux backend is in [`crate::linux`].

use labwire_sim::clusterctrl::{BusFault, Target};
use std::fmt;

/// Why a transfer failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusError {
    /// The addressed device did not acknowledge: busy, absent, or a bus in trouble.
    Nak,
    /// The bus itself is gone (a USB ClusterCTRL unplugged: `/dev/i2c-N` vanished).
    Gone(String),
    /// Anything else the kernel said.
    Io(String),
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusError::Nak => f.write_str("no acknowledge on the I2C bus"),
            BusError::Gone(why) => write!(f, "I2C bus gone: {why}"),
            BusError::Io(why) => write!(f, "I2C error: {why}"),
        }
    }
}

/// One I2C bus. Blocking: the device runs its drivers on a blocking thread.
pub trait I2cBus: Send {
    /// Write `bytes` to `address` in one transfer (`[register, values...]`).
    fn write(&mut self, address: u8, bytes: &[u8]) -> Result<(), BusError>;
    /// Read `buffer.len()` bytes from `address` in one transfer.
    fn read(&mut self, address: u8, buffer: &mut [u8]) -> Result<(), BusError>;
    /// Close what is open, so the next transfer opens the bus afresh.
    fn reset(&mut self) {}
    /// Where the bus is, for messages (`/dev/i2c-3`, `simulated stack`).
    fn describe(&self) -> String;
}

/// A simulated board or HAT on a bus of its own.
pub struct SimBus {
    target: Box<dyn Target>,
    name: String,
}

impl SimBus {
    pub fn new(target: impl Target + 'static, name: impl Into<String>) -> SimBus {
        SimBus {
            target: Box::new(target),
            name: name.into(),
        }
    }
}

fn from_fault(fault: BusFault) -> BusError {
    match fault {
        BusFault::Nak => BusError::Nak,
        BusFault::Gone => BusError::Gone("no such device".into()),
    }
}

impl I2cBus for SimBus {
    fn write(&mut self, address: u8, bytes: &[u8]) -> Result<(), BusError> {
        self.target.write(address, bytes).map_err(from_fault)
    }

    fn read(&mut self, address: u8, buffer: &mut [u8]) -> Result<(), BusError> {
        self.target.read(address, buffer).map_err(from_fault)
    }

    fn describe(&self) -> String {
        format!("simulated {}", self.name)
    }
}
