//! The simulated chamber's relay lines ([`labwire_sim::ferment`]) behind the same
//! [`RelayLines`] trait as the GPIO chip. Its probes need nothing here: the plant writes
//! a real w1 tree that [`crate::probe::W1Bus`] reads.

use crate::relays::{Drive, Lines, RelayLines};
use labwire_daemon::Error;
use labwire_sim::ferment::{FermentControl, FermentSim, Relay};

pub struct SimulatedChip {
    control: FermentControl,
    open: bool,
    /// The running chamber, when the chip is what keeps it alive (the daemon binary).
    _sim: Option<FermentSim>,
}

impl SimulatedChip {
    /// The lines of a chamber someone else keeps running (tests).
    pub fn new(control: FermentControl) -> Self {
        SimulatedChip {
            control,
            open: false,
            _sim: None,
        }
    }

    /// The lines of `sim`, which runs as long as the chip does.
    pub fn owning(sim: FermentSim) -> Self {
        SimulatedChip {
            control: sim.control(),
            open: false,
            _sim: Some(sim),
        }
    }
}

impl RelayLines for SimulatedChip {
    fn open(&mut self) -> Result<Lines, Error> {
        self.open = true;
        self.read()
    }

    fn read(&mut self) -> Result<Lines, Error> {
        if !self.open {
            return Err(Error::not_connected("simulated lines not requested"));
        }
        Ok(Lines {
            heater: self.control.line(Relay::Heater),
            cooler: self.control.line(Relay::Cooler),
        })
    }

    fn write(&mut self, drive: Drive) -> Result<(), Error> {
        if !self.open {
            return Err(Error::not_connected("simulated lines not requested"));
        }
        // Off first, so even two separate writes never close both contacts.
        let (first, second) = if drive.heater() {
            ((Relay::Cooler, false), (Relay::Heater, true))
        } else {
            ((Relay::Heater, false), (Relay::Cooler, drive.cooler()))
        };
        self.control.drive(first.0, first.1);
        self.control.drive(second.0, second.1);
        Ok(())
    }

    fn close(&mut self) {
        self.open = false;
    }
}
