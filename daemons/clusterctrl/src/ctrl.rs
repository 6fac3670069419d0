//! One ClusterCTRL board's driver. The board is an emulated register device at 0x20:
//! a command is its argument written to DATA0 (DATA1...), then its code to CMD; CMD
//! reads non-zero while the firmware runs it and every write is NAKed meanwhile, so the
//! driver waits (bounded) until CMD reads 0, then reads STATUS and the DATA registers.

use crate::board::BoardType;
use crate::bus::{BusError, I2cBus};
use std::fmt;
use std::time::{Duration, Instant};

pub const ADDRESS: u8 = 0x20;
pub const REG_VERSION: u8 = 0x00;
pub const REG_ORDER: u8 = 0x02;
pub const REG_DATA7: u8 = 0x05;
pub const REG_DATA0: u8 = 0x0C;
pub const REG_CMD: u8 = 0x0D;

/// The register layout this driver speaks.
pub const LAYOUT_VERSION: u8 = 2;
/// The order every board leaves the factory (and SAVEDEFAULTS) with.
pub const FACTORY_ORDER: u8 = 20;

pub mod cmd {
    pub const ON: u8 = 0x03;
    pub const OFF: u8 = 0x04;
    pub const ALERT_ON: u8 = 0x05;
    pub const ALERT_OFF: u8 = 0x06;
    pub const HUB_CYCLE: u8 = 0x07;
    pub const LED_EN: u8 = 0x0A;
    pub const LED_DIS: u8 = 0x0B;
    pub const PWR_ON: u8 = 0x0C;
    pub const RESET: u8 = 0x0E;
    pub const GET_PSTATUS: u8 = 0x0F;
    pub const FAN: u8 = 0x10;
    pub const USBBOOT_EN: u8 = 0x12;
    pub const USBBOOT_DIS: u8 = 0x13;
    pub const GET_USTATUS: u8 = 0x14;
    pub const SET_ORDER: u8 = 0x15;
    pub const SAVE: u8 = 0xF0;
    pub const SAVEDEFAULTS: u8 = 0xF1;
    pub const GET_DATA: u8 = 0xF2;
    pub const SAVEORDER: u8 = 0xF3;
    pub const SAVEUSBBOOT: u8 = 0xF4;
    pub const SAVEPOS: u8 = 0xF5;
    pub const SAVELED: u8 = 0xF6;
}

/// GET_DATA's sub-commands (in DATA0).
mod data {
    pub const VERSION: u8 = 0;
    pub const ADC_COUNT: u8 = 1;
    pub const ADC_READ: u8 = 2;
    pub const TEMPERATURE: u8 = 3;
    pub const FAN_STATUS: u8 = 4;
}

/// How long a command may keep the board busy (HUB_CYCLE with its shortest off time
/// takes 100 ms; the longest it can be asked for, 2.55 s).
pub const BUSY_LIMIT: Duration = Duration::from_secs(3);
const BUSY_POLL: Duration = Duration::from_millis(1);

/// What the board said about itself at connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub board: BoardType,
    pub max_pi: u8,
    pub order: u8,
    /// (major, minor) from GET_DATA 0.
    pub firmware: (u8, u8),
    pub adcs: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtrlError {
    Bus(BusError),
    /// CMD kept reading busy (or writes kept being NAKed) past [`BUSY_LIMIT`].
    Busy {
        command: u8,
    },
    /// STATUS after a command: 1 unsupported/error, 2 no such Pi, 3 unknown command, 4
    /// should have reset.
    Status {
        command: u8,
        status: u8,
    },
    /// Refused before writing: the board lacks what was asked for.
    Lacks(String),
    /// The board is not a ClusterCTRL this driver understands.
    Unknown(String),
}

impl fmt::Display for CtrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CtrlError::Bus(err) => err.fmt(f),
            CtrlError::Busy { command } => write!(
                f,
                "command 0x{command:02X} kept the board busy for more than {} s",
                BUSY_LIMIT.as_secs()
            ),
            CtrlError::Status { command, status } => {
                let meaning = match status {
                    1 => "unsupported or failed",
                    2 => "no such Pi",
                    3 => "unknown command",
                    4 => "the board should have reset",
                    _ => "unknown status",
                };
                write!(
                    f,
                    "command 0x{command:02X} answered STATUS {status} ({meaning})"
                )
            }
            CtrlError::Lacks(what) | CtrlError::Unknown(what) => f.write_str(what),
        }
    }
}

impl From<BusError> for CtrlError {
    fn from(err: BusError) -> Self {
        CtrlError::Bus(err)
    }
}

/// One ClusterCTRL board on its bus.
pub struct Ctrl {
    bus: Box<dyn I2cBus>,
    identity: Option<Identity>,
    /// Transfers that failed (busy NAKs waited out are not failures).
    pub i2c_errors: u64,
}

impl Ctrl {
    pub fn new(bus: Box<dyn I2cBus>) -> Ctrl {
        Ctrl {
            bus,
            identity: None,
            i2c_errors: 0,
        }
    }

    pub fn describe(&self) -> String {
        self.bus.describe()
    }

    /// Known after [`Ctrl::connect`].
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    fn identified(&self) -> Result<&Identity, CtrlError> {
        self.identity
            .as_ref()
            .ok_or_else(|| CtrlError::Bus(BusError::Gone("not connected".into())))
    }

    fn counted<T>(&mut self, result: Result<T, BusError>) -> Result<T, CtrlError> {
        if result.is_err() {
            self.i2c_errors += 1;
        }
        Ok(result?)
    }

    /// Read registers from `register` on (auto-increment). Moving the pointer is a
    /// write, NAKed while the board is busy: waited out like any other.
    fn read_registers(&mut self, register: u8, buffer: &mut [u8]) -> Result<(), CtrlError> {
        self.write_when_idle(&[register], 0, Instant::now() + BUSY_LIMIT)?;
        let result = self.bus.read(ADDRESS, buffer);
        self.counted(result)
    }

    /// A write, retried while the board NAKs it for being busy.
    fn write_when_idle(
        &mut self,
        bytes: &[u8],
        command: u8,
        until: Instant,
    ) -> Result<(), CtrlError> {
        loop {
            match self.bus.write(ADDRESS, bytes) {
                Ok(()) => return Ok(()),
                Err(BusError::Nak) if Instant::now() < until => std::thread::sleep(BUSY_POLL),
                Err(BusError::Nak) => {
                    self.i2c_errors += 1;
                    return Err(CtrlError::Busy { command });
                }
                Err(err) => return self.counted(Err(err)),
            }
        }
    }

    /// Wait until CMD reads 0; STATUS then.
    fn wait_done(&mut self, command: u8, until: Instant) -> Result<u8, CtrlError> {
        loop {
            self.write_when_idle(&[REG_CMD], command, until)?;
            let mut cmd_status = [0; 2];
            let read = self.bus.read(ADDRESS, &mut cmd_status);
            self.counted(read)?;
            if cmd_status[0] == 0 {
                return Ok(cmd_status[1]);
            }
            if Instant::now() >= until {
                return Err(CtrlError::Busy { command });
            }
            std::thread::sleep(BUSY_POLL);
        }
    }

    /// Run `command` with `args` in DATA0, DATA1...; the DATA registers afterwards
    /// (`[DATA0, DATA1, ... DATA7]`) if STATUS is 0.
    pub fn command(&mut self, command: u8, args: &[u8]) -> Result<[u8; 8], CtrlError> {
        let status = self.command_status(command, args)?;
        if status != 0 && command != cmd::HUB_CYCLE {
            return Err(CtrlError::Status { command, status });
        }
        self.data()
    }

    /// Run `command` and return STATUS whatever it is (HUB_CYCLE leaves it as it was).
    fn command_status(&mut self, command: u8, args: &[u8]) -> Result<u8, CtrlError> {
        let until = Instant::now() + BUSY_LIMIT;
        self.wait_done(command, until)?;
        if !args.is_empty() {
            // DATA1 sits just below DATA0: one transfer from the highest DATA given.
            let first = REG_DATA0 + 1 - args.len() as u8;
            let mut bytes = vec![first];
            bytes.extend(args.iter().rev());
            self.write_when_idle(&bytes, command, until)?;
        }
        self.write_when_idle(&[REG_CMD, command], command, until)?;
        self.wait_done(command, Instant::now() + BUSY_LIMIT)
    }

    fn data(&mut self) -> Result<[u8; 8], CtrlError> {
        let mut registers = [0; 8];
        self.read_registers(REG_DATA7, &mut registers)?;
        registers.reverse();
        Ok(registers)
    }

    /// Read the identity registers, the firmware version and the ADC count.
    pub fn connect(&mut self) -> Result<&Identity, CtrlError> {
        self.identity = None;
        self.bus.reset();
        let mut registers = [0; 5];
        self.read_registers(REG_VERSION, &mut registers)?;
        let [version, max_pi, order, _mode, type_code] = registers;
        if version != LAYOUT_VERSION {
            return Err(CtrlError::Unknown(format!(
                "{}: register layout VERSION {version}, this driver speaks {LAYOUT_VERSION}",
                self.describe()
            )));
        }
        let board = BoardType::identify(type_code, max_pi).ok_or_else(|| {
            CtrlError::Unknown(format!(
                "{}: unknown board TYPE {type_code} (MAXPI {max_pi})",
                self.describe()
            ))
        })?;
        let firmware = self.command(cmd::GET_DATA, &[data::VERSION])?;
        let adcs = self.command(cmd::GET_DATA, &[data::ADC_COUNT])?[0];
        self.identity = Some(Identity {
            board,
            max_pi,
            order,
            firmware: (firmware[1], firmware[0]),
            adcs,
        });
        self.identified()
    }

    fn check_pi(&self, pi: u8) -> Result<(), CtrlError> {
        let identity = self.identified()?;
        if (1..=identity.max_pi).contains(&pi) {
            Ok(())
        } else {
            Err(CtrlError::Lacks(format!(
                "the {} at order {} has Pis 1..{}, not {pi}",
                identity.board.name(),
                identity.order,
                identity.max_pi
            )))
        }
    }

    fn lacks(&self, what: &str) -> CtrlError {
        match self.identity.as_ref() {
            Some(identity) => CtrlError::Lacks(format!(
                "the {} at order {} has no {what}",
                identity.board.name(),
                identity.order
            )),
            None => CtrlError::Bus(BusError::Gone("not connected".into())),
        }
    }

    fn board(&self) -> Result<BoardType, CtrlError> {
        Ok(self.identified()?.board)
    }

    pub fn set_power(&mut self, pi: u8, on: bool) -> Result<(), CtrlError> {
        self.check_pi(pi)?;
        self.command(if on { cmd::ON } else { cmd::OFF }, &[pi])?;
        Ok(())
    }

    pub fn power(&mut self, pi: u8) -> Result<bool, CtrlError> {
        self.check_pi(pi)?;
        Ok(self.command(cmd::GET_PSTATUS, &[pi])?[0] == 1)
    }

    pub fn set_usbboot(&mut self, pi: u8, on: bool) -> Result<(), CtrlError> {
        self.check_pi(pi)?;
        if !self.board()?.has_usbboot() {
            return Err(self.lacks("USB boot"));
        }
        let command = if on {
            cmd::USBBOOT_EN
        } else {
            cmd::USBBOOT_DIS
        };
        self.command(command, &[pi])?;
        Ok(())
    }

    /// `None` where the board has no usbboot (GET_USTATUS answers 0xFF).
    pub fn usbboot(&mut self, pi: u8) -> Result<Option<bool>, CtrlError> {
        self.check_pi(pi)?;
        if !self.board()?.has_usbboot() {
            return Ok(None);
        }
        let value = self.command(cmd::GET_USTATUS, &[pi])?[0];
        Ok((value != 0xFF).then_some(value == 1))
    }

    pub fn set_alert(&mut self, on: bool) -> Result<(), CtrlError> {
        self.identified()?;
        self.command(if on { cmd::ALERT_ON } else { cmd::ALERT_OFF }, &[])?;
        Ok(())
    }

    /// One Pi's LED, or (`None`) every LED and the power LED.
    pub fn set_led(&mut self, pi: Option<u8>, on: bool) -> Result<(), CtrlError> {
        let command = if on { cmd::LED_EN } else { cmd::LED_DIS };
        match pi {
            Some(pi) => {
                self.check_pi(pi)?;
                self.command(command, &[pi])?;
            }
            None if on && self.board()?.led_all_powers_pis() => {
                self.command(cmd::PWR_ON, &[])?;
                for pi in 1..=self.identified()?.max_pi {
                    self.command(command, &[pi])?;
                }
            }
            None => {
                self.command(command, &[0])?;
            }
        }
        Ok(())
    }

    pub fn set_fan(&mut self, on: bool) -> Result<(), CtrlError> {
        if !self.board()?.has_fan() {
            return Err(self.lacks("fan"));
        }
        self.command(cmd::FAN, &[u8::from(on)])?;
        Ok(())
    }

    /// (switched on, measured turning) where the board reads its fan back.
    pub fn fan_status(&mut self) -> Result<Option<(bool, bool)>, CtrlError> {
        if !self.board()?.has_fan_status() {
            return Ok(None);
        }
        let value = self.command(cmd::GET_DATA, &[data::FAN_STATUS])?[0];
        Ok(Some((value & 1 != 0, value & 2 != 0)))
    }

    /// Hub off for 100 ms, then on again (the firmware has no plain on or off).
    pub fn cycle_hub(&mut self) -> Result<(), CtrlError> {
        if !self.board()?.has_hub() {
            return Err(self.lacks("USB hub"));
        }
        self.command(cmd::HUB_CYCLE, &[10])?;
        Ok(())
    }

    /// The board's temperature (°C), `None` where it has no sensor (STATUS 1).
    pub fn temperature(&mut self) -> Result<Option<f64>, CtrlError> {
        self.identified()?;
        match self.command(cmd::GET_DATA, &[data::TEMPERATURE]) {
            Ok(data) if data[0] == 2 => {
                let raw = f64::from(u16::from_le_bytes([data[1], data[2]]));
                Ok(Some((raw - 247.0) / 1.22))
            }
            Ok(_) | Err(CtrlError::Status { status: 1, .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// ADC `n` (1-based) in volts, by the ADC's type; `None` for an unknown type.
    pub fn adc_voltage(&mut self, n: u8) -> Result<Option<f64>, CtrlError> {
        let adcs = self.identified()?.adcs;
        if !(1..=adcs).contains(&n) {
            return Err(self.lacks(&format!("ADC {n}")));
        }
        let data = self.command(cmd::GET_DATA, &[data::ADC_READ, n])?;
        let raw = f64::from(u16::from_le_bytes([data[1], data[2]]));
        Ok(match data[0] {
            1 => Some(raw * 6.4453125e-3),
            2 => Some(raw * 33.3409e-3),
            _ => None,
        })
    }

    /// The ORDER register now (another tool may have changed it).
    pub fn read_order(&mut self) -> Result<u8, CtrlError> {
        let mut order = [0];
        self.read_registers(REG_ORDER, &mut order)?;
        if let Some(identity) = self.identity.as_mut() {
            identity.order = order[0];
        }
        Ok(order[0])
    }

    /// SET_ORDER (not saved: [`Ctrl::save`] with SAVEORDER keeps it).
    pub fn set_order(&mut self, order: u8) -> Result<(), CtrlError> {
        self.identified()?;
        self.command(cmd::SET_ORDER, &[order])?;
        self.read_order()?;
        Ok(())
    }

    /// One of SAVE, SAVEORDER, SAVEPOS, SAVELED, SAVEUSBBOOT, SAVEDEFAULTS.
    pub fn save(&mut self, command: u8) -> Result<(), CtrlError> {
        if command == cmd::SAVEUSBBOOT && !self.board()?.has_usbboot() {
            return Err(self.lacks("USB boot"));
        }
        self.identified()?;
        self.command(command, &[])?;
        Ok(())
    }

    /// RESET: the board reboots from its EEPROM (the Pis it had saved as powered come
    /// on again). Waits (bounded) until it answers again.
    pub fn reset(&mut self) -> Result<(), CtrlError> {
        self.identified()?;
        let until = Instant::now() + BUSY_LIMIT;
        self.wait_done(cmd::RESET, until)?;
        self.write_when_idle(&[REG_CMD, cmd::RESET], cmd::RESET, until)?;
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            std::thread::sleep(Duration::from_millis(20));
            match self.connect() {
                Ok(_) => return Ok(()),
                Err(CtrlError::Bus(_)) if Instant::now() < until => continue,
                Err(err) => return Err(err),
            }
        }
    }
}
