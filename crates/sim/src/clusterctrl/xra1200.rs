//! The ClusterHAT v2/v3's XRA1200(P) 8-bit I/O expander at 0x20 on the Pi's own bus:
//! IN 0x00 (pin levels), OUT 0x01, DIR 0x03 (1 = input, all inputs at power-up), PUR
//! 0x04 (pull-ups, only on the XRA1200P; the plain XRA1200 NAKs it). Bits 0-3 power Pi
//! 1-4, bit 4 the LED (v2 only), bit 5 the USB hub (enabled by 1 on v2.0, by 0 from
//! v2.1 on), bit 6 ALERT, bit 7 the HAT EEPROM's write protect.

use super::{BusFault, Target, ADDRESS};
use std::sync::{Arc, Mutex, MutexGuard};

pub const REG_IN: u8 = 0x00;
pub const REG_OUT: u8 = 0x01;
pub const REG_POLARITY: u8 = 0x02;
pub const REG_DIR: u8 = 0x03;
pub const REG_PULLUP: u8 = 0x04;

pub const BIT_LED: u8 = 4;
pub const BIT_HUB: u8 = 5;
pub const BIT_ALERT: u8 = 6;
pub const BIT_WP: u8 = 7;

/// A ClusterHAT's version as `/proc/device-tree/hat/product_ver` gives it (0x2X, 0x3X).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HatVersion {
    pub major: u8,
    pub minor: u8,
}

impl HatVersion {
    /// From the HAT EEPROM's product version; v1 (GPIO only) and others are `None`.
    pub fn from_product_ver(code: u16) -> Option<HatVersion> {
        let (major, minor) = ((code >> 4) as u8, (code & 0xF) as u8);
        (code <= 0xFF && (major == 2 || major == 3)).then_some(HatVersion { major, minor })
    }

    pub fn product_ver(self) -> u16 {
        u16::from(self.major) << 4 | u16::from(self.minor)
    }

    /// `hat-v2.0`, `hat-v2.5`, `hat-v3`, `hat-v3.1`... (a missing minor is 0).
    pub fn from_name(name: &str) -> Option<HatVersion> {
        let rest = name.strip_prefix("hat-v")?;
        let (major, minor) = match rest.split_once('.') {
            Some((major, minor)) => (major.parse().ok()?, minor.parse().ok()?),
            None => (rest.parse().ok()?, 0),
        };
        ((major == 2 || major == 3) && minor < 16).then_some(HatVersion { major, minor })
    }

    pub fn name(self) -> String {
        format!("hat-v{}.{}", self.major, self.minor)
    }

    /// Only the v2.0 enables its hub with a high bit 5.
    pub fn hub_enabled_by_high(self) -> bool {
        self.major == 2 && self.minor == 0
    }

    /// Only v2 boards have the LED bit.
    pub fn has_led(self) -> bool {
        self.major == 2
    }
}

/// What a test can read back from the HAT: what its pins do, not its registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HatSnapshot {
    pub power: [bool; 4],
    pub hub: bool,
    pub alert: bool,
    pub led: bool,
    pub write_protect: bool,
    pub configured: bool,
}

#[derive(Debug)]
struct Expander {
    version: HatVersion,
    has_pullup_register: bool,
    /// The power-on-state link: cut, the Pis come on with the HAT (their pins float high).
    pos_link_cut: bool,
    pointer: u8,
    out: u8,
    polarity: u8,
    dir: u8,
    pullup: u8,
    naks: bool,
}

impl Expander {
    /// The XRA1200's reset state: every pin an input, OUT all ones.
    fn power_up(&mut self) {
        self.pointer = 0;
        self.out = 0xFF;
        self.polarity = 0;
        self.dir = 0xFF;
        self.pullup = 0xFF;
    }

    /// The level each pin sits at: driven from OUT, or where the board's resistors
    /// (and the pull-ups) leave an input.
    fn levels(&self) -> u8 {
        let floating = if self.pos_link_cut { 0x0F } else { 0x00 } | (self.pullup & 0xF0);
        (self.out & !self.dir) | (floating & self.dir)
    }

    fn register(&self, register: u8) -> Result<u8, BusFault> {
        match register {
            REG_IN => Ok(self.levels() ^ self.polarity),
            REG_OUT => Ok(self.out),
            REG_POLARITY => Ok(self.polarity),
            REG_DIR => Ok(self.dir),
            REG_PULLUP if self.has_pullup_register => Ok(self.pullup),
            _ => Err(BusFault::Nak),
        }
    }

    fn set_register(&mut self, register: u8, value: u8) -> Result<(), BusFault> {
        match register {
            REG_IN => {}
            REG_OUT => self.out = value,
            REG_POLARITY => self.polarity = value,
            REG_DIR => self.dir = value,
            REG_PULLUP if self.has_pullup_register => self.pullup = value,
            _ => return Err(BusFault::Nak),
        }
        Ok(())
    }
}

/// A simulated ClusterHAT expander: a cheap handle, cloned by the bus and by the test.
#[derive(Clone, Debug)]
pub struct SimHat {
    inner: Arc<Mutex<Expander>>,
}

impl SimHat {
    /// A HAT just powered up with the Pi (all pins inputs), with an XRA1200P.
    pub fn new(version: HatVersion) -> SimHat {
        let mut expander = Expander {
            version,
            has_pullup_register: true,
            pos_link_cut: false,
            pointer: 0,
            out: 0,
            polarity: 0,
            dir: 0,
            pullup: 0,
            naks: false,
        };
        expander.power_up();
        SimHat {
            inner: Arc::new(Mutex::new(expander)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Expander> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn version(&self) -> HatVersion {
        self.lock().version
    }

    /// Fit the plain XRA1200 (no pull-up register) instead of the XRA1200P.
    pub fn without_pullup_register(self) -> SimHat {
        self.lock().has_pullup_register = false;
        self
    }

    /// Cut the power-on-state link and power the HAT up again: its Pis come on with it.
    pub fn power_up_with_pos_link_cut(&self, cut: bool) {
        let mut expander = self.lock();
        expander.pos_link_cut = cut;
        expander.power_up();
    }

    /// Make every transfer NAK (a bus in trouble), or stop.
    pub fn set_naks(&self, naks: bool) {
        self.lock().naks = naks;
    }

    pub fn snapshot(&self) -> HatSnapshot {
        let expander = self.lock();
        let levels = expander.levels();
        let bit = |n: u8| levels & (1 << n) != 0;
        HatSnapshot {
            power: [bit(0), bit(1), bit(2), bit(3)],
            hub: bit(BIT_HUB) == expander.version.hub_enabled_by_high(),
            alert: bit(BIT_ALERT),
            led: expander.version.has_led() && bit(BIT_LED),
            write_protect: bit(BIT_WP),
            configured: expander.dir != 0xFF,
        }
    }
}

impl Target for SimHat {
    fn write(&mut self, address: u8, bytes: &[u8]) -> Result<(), BusFault> {
        let mut expander = self.lock();
        if expander.naks || address != ADDRESS {
            return Err(BusFault::Nak);
        }
        let Some((&register, values)) = bytes.split_first() else {
            return Ok(());
        };
        expander.pointer = register;
        for value in values {
            let register = expander.pointer;
            expander.set_register(register, *value)?;
            expander.pointer = register.wrapping_add(1);
        }
        Ok(())
    }

    fn read(&mut self, address: u8, buffer: &mut [u8]) -> Result<(), BusFault> {
        let mut expander = self.lock();
        if expander.naks || address != ADDRESS {
            return Err(BusFault::Nak);
        }
        for byte in buffer {
            *byte = expander.register(expander.pointer)?;
            expander.pointer = expander.pointer.wrapping_add(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(hat: &mut SimHat, register: u8) -> Result<u8, BusFault> {
        hat.write(ADDRESS, &[register])?;
        let mut value = [0];
        hat.read(ADDRESS, &mut value)?;
        Ok(value[0])
    }

    #[test]
    fn powers_up_as_inputs_and_drives_pins_once_configured() {
        let mut hat = SimHat::new(HatVersion::from_name("hat-v3").unwrap());
        assert_eq!(read(&mut hat, REG_DIR), Ok(0xFF));
        assert_eq!(read(&mut hat, REG_IN).map(|v| v & 0x0F), Ok(0));
        hat.write(ADDRESS, &[REG_OUT, 0b0100_0011]).unwrap();
        assert!(
            !hat.snapshot().power[0],
            "OUT does nothing while pins are inputs"
        );
        hat.write(ADDRESS, &[REG_DIR, 0]).unwrap();
        let snapshot = hat.snapshot();
        assert_eq!(snapshot.power, [true, true, false, false]);
        assert!(
            snapshot.alert && snapshot.hub,
            "v3 hub is on with bit 5 low"
        );
        assert_eq!(read(&mut hat, REG_IN), Ok(0b0100_0011));
    }

    #[test]
    fn hub_polarity_follows_the_version_and_the_plain_chip_naks_pur() {
        let mut v20 = SimHat::new(HatVersion::from_name("hat-v2.0").unwrap());
        v20.write(ADDRESS, &[REG_OUT, 1 << BIT_HUB]).unwrap();
        v20.write(ADDRESS, &[REG_DIR, 0]).unwrap();
        assert!(v20.snapshot().hub);
        let mut plain =
            SimHat::new(HatVersion::from_name("hat-v2.1").unwrap()).without_pullup_register();
        assert_eq!(read(&mut plain, REG_PULLUP), Err(BusFault::Nak));
        plain.write(ADDRESS, &[REG_OUT, 1 << BIT_HUB]).unwrap();
        plain.write(ADDRESS, &[REG_DIR, 0]).unwrap();
        assert!(!plain.snapshot().hub);
        assert_eq!(
            HatVersion::from_product_ver(0x31).unwrap().name(),
            "hat-v3.1"
        );
        assert_eq!(HatVersion::from_product_ver(0x12), None);
    }

    #[test]
    fn a_cut_power_on_link_brings_the_pis_up_with_the_hat() {
        let mut hat = SimHat::new(HatVersion::from_name("hat-v2.5").unwrap());
        hat.power_up_with_pos_link_cut(true);
        assert_eq!(hat.snapshot().power, [true; 4]);
        assert_eq!(read(&mut hat, REG_IN).map(|v| v & 0x0F), Ok(0x0F));
    }
}
