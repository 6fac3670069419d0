//! The ClusterHAT v2/v3 driver: an XRA1200(P) expander at 0x20 on the Pi's own bus,
//! driven through IN (0x00, pin levels), OUT (0x01) and DIR (0x03, 1 = input). Bits 0-3
//! power Pi 1-4, bit 4 is the LED switch (v2 only), bit 5 the USB hub (enabled high on
//! v2.0, low from v2.1 on), bit 6 ALERT, bit 7 the HAT EEPROM's write protect.
//!
//! At power-up every pin is an input and the Pis sit where the power-on-state link
//! leaves them. The first configuration drives the pins as they read, so Pis that are
//! on stay on; a later start finds DIR already 0 and changes nothing.

use crate::bus::{BusError, I2cBus};
use labwire_sim::clusterctrl::HatVersion;

pub const ADDRESS: u8 = 0x20;
const REG_IN: u8 = 0x00;
const REG_OUT: u8 = 0x01;
const REG_DIR: u8 = 0x03;
const REG_PULLUP: u8 = 0x04;
const BIT_LED: u8 = 4;
const BIT_HUB: u8 = 5;
const BIT_ALERT: u8 = 6;
const BIT_WP: u8 = 7;

/// The HAT's Pis.
pub const PIS: u8 = 4;

/// What the pins show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HatState {
    pub power: [bool; 4],
    pub hub: bool,
    pub alert: bool,
    /// `None` on v3 (no LED switch).
    pub led: Option<bool>,
}

pub struct Hat {
    bus: Box<dyn I2cBus>,
    version: HatVersion,
    /// An XRA1200P (it has the pull-up register), found at connect.
    pub pullup_register: bool,
    pub i2c_errors: u64,
}

impl Hat {
    pub fn new(bus: Box<dyn I2cBus>, version: HatVersion) -> Hat {
        Hat {
            bus,
            version,
            pullup_register: false,
            i2c_errors: 0,
        }
    }

    pub fn version(&self) -> HatVersion {
        self.version
    }

    pub fn describe(&self) -> String {
        format!(
            "ClusterHAT {} on {}",
            self.version.name(),
            self.bus.describe()
        )
    }

    fn counted<T>(&mut self, result: Result<T, BusError>) -> Result<T, BusError> {
        if result.is_err() {
            self.i2c_errors += 1;
        }
        result
    }

    fn read(&mut self, register: u8) -> Result<u8, BusError> {
        let mut value = [0];
        let result = self
            .bus
            .write(ADDRESS, &[register])
            .and_then(|()| self.bus.read(ADDRESS, &mut value));
        self.counted(result).map(|()| value[0])
    }

    fn write(&mut self, register: u8, value: u8) -> Result<(), BusError> {
        let result = self.bus.write(ADDRESS, &[register, value]);
        self.counted(result)
    }

    /// The hub bit's value that enables (`on`) or disables the hub on this version.
    fn hub_bit(&self, on: bool) -> bool {
        on == self.version.hub_enabled_by_high()
    }

    /// Find the expander; configure it if this is the first start since power-up.
    pub fn connect(&mut self) -> Result<(), BusError> {
        self.bus.reset();
        let dir = self.read(REG_DIR)?;
        // The plain XRA1200 has no PUR and NAKs it: not an error.
        self.pullup_register = {
            let mut value = [0];
            self.bus
                .write(ADDRESS, &[REG_PULLUP])
                .and_then(|()| self.bus.read(ADDRESS, &mut value))
                .is_ok()
        };
        if dir == 0xFF {
            let levels = self.read(REG_IN)?;
            let mut out = levels & 0x0F;
            if self.version.has_led() {
                out |= 1 << BIT_LED;
            }
            if self.hub_bit(true) {
                out |= 1 << BIT_HUB;
            }
            out |= 1 << BIT_WP;
            self.write(REG_OUT, out)?;
            self.write(REG_DIR, 0)?;
        }
        Ok(())
    }

    fn set_bit(&mut self, bit: u8, value: bool) -> Result<(), BusError> {
        let out = self.read(REG_OUT)?;
        let next = if value {
            out | (1 << bit)
        } else {
            out & !(1 << bit)
        };
        if next == out {
            return Ok(());
        }
        self.write(REG_OUT, next)
    }

    /// Pi `pi` (1-4) on or off.
    pub fn set_power(&mut self, pi: u8, on: bool) -> Result<(), BusError> {
        debug_assert!((1..=PIS).contains(&pi));
        self.set_bit(pi - 1, on)
    }

    pub fn set_alert(&mut self, on: bool) -> Result<(), BusError> {
        self.set_bit(BIT_ALERT, on)
    }

    /// The LED switch; `false` where the HAT has none (v3), having written nothing.
    pub fn set_led(&mut self, on: bool) -> Result<bool, BusError> {
        if !self.version.has_led() {
            return Ok(false);
        }
        self.set_bit(BIT_LED, on).map(|()| true)
    }

    pub fn set_hub(&mut self, on: bool) -> Result<(), BusError> {
        let bit = self.hub_bit(on);
        self.set_bit(BIT_HUB, bit)
    }

    pub fn state(&mut self) -> Result<HatState, BusError> {
        let levels = self.read(REG_IN)?;
        let bit = |n: u8| levels & (1 << n) != 0;
        Ok(HatState {
            power: [bit(0), bit(1), bit(2), bit(3)],
            hub: bit(BIT_HUB) == self.version.hub_enabled_by_high(),
            alert: bit(BIT_ALERT),
            led: self.version.has_led().then(|| bit(BIT_LED)),
        })
    }
}
