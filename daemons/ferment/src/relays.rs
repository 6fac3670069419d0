//! The heater and cooler relays: what the daemon can ask of them ([`Drive`], which has
//! no "both on"), what their lines read back ([`Lines`], which can show anything), and
//! the hardware behind them ([`RelayLines`]: GPIO in [`crate::gpio`], the simulated
//! chamber in [`crate::sim`]).

use labwire_daemon::Error;

/// What the relays are driven to. Heater and cooler on together cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drive {
    Off,
    Heat,
    Cool,
}

impl Drive {
    pub fn heater(self) -> bool {
        self == Drive::Heat
    }

    pub fn cooler(self) -> bool {
        self == Drive::Cool
    }

    pub fn lines(self) -> Lines {
        Lines {
            heater: self.heater(),
            cooler: self.cooler(),
        }
    }
}

/// The two lines as read back (logical: on means the relay is energised).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lines {
    pub heater: bool,
    pub cooler: bool,
}

impl Lines {
    /// The drive these lines show; `None` when both are on (no drive of ours does that).
    pub fn drive(self) -> Option<Drive> {
        match (self.heater, self.cooler) {
            (false, false) => Some(Drive::Off),
            (true, false) => Some(Drive::Heat),
            (false, true) => Some(Drive::Cool),
            (true, true) => None,
        }
    }
}

/// Two relay lines. Implementations are quick (an ioctl, a lock), so they run on the
/// hardware task directly.
pub trait RelayLines: Send + 'static {
    /// Take hold of the lines WITHOUT changing them and report their state: starting a
    /// daemon never switches a relay.
    fn open(&mut self) -> Result<Lines, Error>;

    /// Read the lines back (the state they are in, whoever set it).
    fn read(&mut self) -> Result<Lines, Error>;

    /// Set both lines to `drive`, switching off before switching on. Only
    /// [`crate::control::Controller`] calls this, from its one writing function.
    fn write(&mut self, drive: Drive) -> Result<(), Error>;

    /// Let go of the lines (after switching them off, see the device).
    fn close(&mut self);
}
