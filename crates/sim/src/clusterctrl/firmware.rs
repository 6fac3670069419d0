//! One ClusterCTRL board's firmware as seen over I2C: registers 0x00..0x0E of the
//! emulated device at 0x20, commands run asynchronously (CMD reads non-zero until done,
//! and every write transfer is NAKed meanwhile, reads are not), the EEPROM image the
//! firmware boots from (kept in a file when one is given, so saves survive a restart).

use super::{BusFault, Target, ADDRESS};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const REG_VERSION: u8 = 0x00;
pub const REG_MAXPI: u8 = 0x01;
pub const REG_ORDER: u8 = 0x02;
pub const REG_MODE: u8 = 0x03;
pub const REG_TYPE: u8 = 0x04;
/// DATA7 is 0x05 and DATA0 is 0x0C: DATAk lives at `REG_DATA0 - k`.
pub const REG_DATA0: u8 = 0x0C;
pub const REG_CMD: u8 = 0x0D;
pub const REG_STATUS: u8 = 0x0E;

/// The register layout version this firmware reports.
pub const STRUCT_VERSION: u8 = 2;
/// The order the EEPROM holds after SAVEDEFAULTS.
pub const FACTORY_ORDER: u8 = 20;

/// GET_DATA 3 answers this type in DATA0 (the AVR's internal sensor).
pub const TEMPERATURE_SENSOR: u8 = 2;

/// How long an ordinary command keeps the board busy (long enough for a driver to see
/// the busy state, short enough for tests).
pub const COMMAND_TIME: Duration = Duration::from_millis(2);

// EEPROM locations, as the firmware lays them out.
const EE_ORDER: usize = 0x01;
const EE_PWR_LED: usize = 0x02;
const EE_ACT_LED: usize = 0x03;
const EE_LED: usize = 0x10;
const EE_POWER: usize = 0x30;
const EE_USBBOOT: usize = 0x50;
const EEPROM_SIZE: usize = 256;

/// The boards of the ClusterCTRL family and what each one's firmware is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BoardKind {
    Da,
    Triple,
    Phat,
    APlus6,
    Single,
    Stack,
}

impl BoardKind {
    pub const ALL: [BoardKind; 6] = [
        BoardKind::Da,
        BoardKind::Triple,
        BoardKind::Phat,
        BoardKind::APlus6,
        BoardKind::Single,
        BoardKind::Stack,
    ];

    /// The name `--boards` takes.
    pub fn name(self) -> &'static str {
        match self {
            BoardKind::Da => "da",
            BoardKind::Triple => "triple",
            BoardKind::Phat => "phat",
            BoardKind::APlus6 => "aplus6",
            BoardKind::Single => "single",
            BoardKind::Stack => "stack",
        }
    }

    pub fn from_name(name: &str) -> Option<BoardKind> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(name))
    }

    /// The TYPE register (the A+6 and the Single share 3; MAXPI tells them apart).
    pub fn type_code(self) -> u8 {
        match self {
            BoardKind::Da => 0,
            BoardKind::Triple => 1,
            BoardKind::Phat => 2,
            BoardKind::APlus6 | BoardKind::Single => 3,
            BoardKind::Stack => 4,
        }
    }

    pub fn max_pi(self) -> u8 {
        match self {
            BoardKind::Da => 32,
            BoardKind::Triple => 3,
            BoardKind::Phat => 2,
            BoardKind::APlus6 | BoardKind::Stack => 5,
            BoardKind::Single => 1,
        }
    }

    /// The type of each ADC (1: raw x 6.4453125 mV, 2: VIN, raw x 33.3409 mV).
    pub fn adc_types(self) -> &'static [u8] {
        match self {
            BoardKind::Triple => &[1],
            BoardKind::APlus6 => &[1, 1],
            BoardKind::Stack => &[1, 2],
            _ => &[],
        }
    }

    pub fn has_usbboot(self) -> bool {
        matches!(self, BoardKind::Triple | BoardKind::Single)
    }

    pub fn has_fan(self) -> bool {
        matches!(self, BoardKind::APlus6 | BoardKind::Stack)
    }

    pub fn has_fan_status(self) -> bool {
        self == BoardKind::Stack
    }

    pub fn has_act_led(self) -> bool {
        self != BoardKind::Da
    }

    /// Whether saved-as-powered Pis come on one second apart at boot with ALERT lit.
    pub fn boots_in_sequence(self) -> bool {
        matches!(self, BoardKind::APlus6 | BoardKind::Phat | BoardKind::Stack)
    }
}

/// A command the firmware is running: CMD keeps reading `cmd` until `done_at`.
#[derive(Debug)]
struct Pending {
    done_at: Instant,
    /// The STATUS it leaves, or `None` (HUB_CYCLE leaves STATUS as it was).
    status: Option<u8>,
}

/// The EEPROM image and the file it is kept in.
#[derive(Debug)]
struct Eeprom {
    bytes: [u8; EEPROM_SIZE],
    file: Option<PathBuf>,
}

impl Eeprom {
    fn defaults(max_pi: u8) -> [u8; EEPROM_SIZE] {
        let mut bytes = [0xFF; EEPROM_SIZE];
        bytes[EE_ORDER] = FACTORY_ORDER;
        bytes[EE_PWR_LED] = 1;
        bytes[EE_ACT_LED] = 1;
        for y in 0..bit_bytes(max_pi) {
            bytes[EE_LED + y] = 0xFF;
            bytes[EE_POWER + y] = 0x00;
            bytes[EE_USBBOOT + y] = 0xFF;
        }
        bytes
    }

    fn load(file: Option<PathBuf>, max_pi: u8) -> Eeprom {
        let saved = file
            .as_ref()
            .and_then(|path| std::fs::read(path).ok())
            .filter(|bytes| bytes.len() == EEPROM_SIZE);
        let mut eeprom = Eeprom {
            bytes: Self::defaults(max_pi),
            file,
        };
        match saved {
            Some(bytes) => eeprom.bytes.copy_from_slice(&bytes),
            None => eeprom.persist(),
        }
        eeprom
    }

    fn persist(&self) {
        if let Some(path) = &self.file {
            if let Err(err) = std::fs::write(path, self.bytes) {
                tracing::warn!("simulated EEPROM {}: {err}", path.display());
            }
        }
    }

    fn bits(&self, base: usize, count: u8) -> Vec<bool> {
        (0..count as usize)
            .map(|i| self.bytes[base + i / 8] & (1 << (i % 8)) != 0)
            .collect()
    }

    fn store_bits(&mut self, base: usize, bits: &[bool]) {
        for y in 0..bits.len().div_ceil(8) {
            let mut byte = 0u8;
            for (bit, on) in bits.iter().skip(y * 8).take(8).enumerate() {
                if *on {
                    byte |= 1 << bit;
                }
            }
            self.bytes[base + y] = byte;
        }
    }
}

fn bit_bytes(max_pi: u8) -> usize {
    (max_pi as usize).div_ceil(8)
}

/// What a test can read back from a board (what the hardware shows, not the registers).
#[derive(Clone, Debug, PartialEq)]
pub struct BoardSnapshot {
    pub power: Vec<bool>,
    pub led: Vec<bool>,
    pub usbboot: Vec<bool>,
    pub alert: bool,
    pub pwr_led: bool,
    pub fan: bool,
    pub hub: bool,
    pub order: u8,
    pub busy: bool,
    pub hub_cycles: u32,
    pub resets: u32,
}

#[derive(Debug)]
struct Firmware {
    kind: BoardKind,
    firmware_version: (u8, u8),
    pointer: u8,
    order: u8,
    mode: u8,
    data: [u8; 8],
    cmd: u8,
    status: u8,
    pending: Option<Pending>,
    power: Vec<bool>,
    led: Vec<bool>,
    usbboot: Vec<bool>,
    alert: bool,
    pwr_led: bool,
    act_led: bool,
    fan: bool,
    hub: bool,
    boot_queue: Vec<(Instant, usize)>,
    boot_interval: Duration,
    eeprom: Eeprom,
    adc_volts: Vec<f64>,
    temperature: f64,
    fan_turning: bool,
    plugged: bool,
    naks: bool,
    stuck_busy: bool,
    hub_cycles: u32,
    resets: u32,
}

impl Firmware {
    fn boot(&mut self, now: Instant) {
        let max_pi = self.kind.max_pi();
        self.pointer = 0;
        self.order = self.eeprom.bytes[EE_ORDER];
        self.mode = 0;
        self.data = [0; 8];
        self.cmd = 0;
        self.status = 0;
        self.pending = None;
        self.pwr_led = self.eeprom.bytes[EE_PWR_LED] == 1;
        self.act_led = self.eeprom.bytes[EE_ACT_LED] == 1;
        self.led = self.eeprom.bits(EE_LED, max_pi);
        self.usbboot = if self.kind.has_usbboot() {
            self.eeprom.bits(EE_USBBOOT, max_pi)
        } else {
            vec![false; max_pi as usize]
        };
        self.alert = false;
        self.fan = false;
        self.hub = true;
        let saved_power = self.eeprom.bits(EE_POWER, max_pi);
        self.power = vec![false; max_pi as usize];
        self.boot_queue.clear();
        if self.kind.boots_in_sequence() {
            let mut at = now;
            for (i, _) in saved_power.iter().enumerate().filter(|(_, on)| **on) {
                at += self.boot_interval;
                self.boot_queue.push((at, i));
            }
            self.alert = !self.boot_queue.is_empty();
        } else {
            self.power = saved_power;
        }
    }

    /// Let time pass: finish a command whose time has come, power the next Pi of the
    /// boot sequence.
    fn advance(&mut self, now: Instant) {
        if !self.stuck_busy {
            if let Some(pending) = self.pending.take_if(|p| p.done_at <= now) {
                self.cmd = 0;
                self.hub = true;
                if let Some(status) = pending.status {
                    self.status = status;
                }
            }
        }
        if !self.boot_queue.is_empty() {
            let (due, waiting): (Vec<_>, Vec<_>) =
                self.boot_queue.iter().partition(|(at, _)| *at <= now);
            for (_, pi) in due {
                self.power[pi] = true;
            }
            self.boot_queue = waiting;
            if self.boot_queue.is_empty() {
                self.alert = false;
            }
        }
    }

    fn register(&self, register: u8) -> u8 {
        match register {
            REG_VERSION => STRUCT_VERSION,
            REG_MAXPI => self.kind.max_pi(),
            REG_ORDER => self.order,
            REG_MODE => self.mode,
            REG_TYPE => self.kind.type_code(),
            0x05..=REG_DATA0 => self.data[(REG_DATA0 - register) as usize],
            REG_CMD => self.cmd,
            REG_STATUS => self.status,
            _ => 0xFF,
        }
    }

    fn set_register(&mut self, register: u8, value: u8, now: Instant) {
        match register {
            REG_ORDER => self.order = value.max(1),
            REG_MODE => self.mode = value,
            0x05..=REG_DATA0 => self.data[(REG_DATA0 - register) as usize] = value,
            REG_CMD if value != 0 => self.start(value, now),
            _ => {}
        }
    }

    /// A Pi number in DATA0, if the board has that Pi (0-based).
    fn pi(&self) -> Option<usize> {
        let x = self.data[0];
        (1..=self.kind.max_pi())
            .contains(&x)
            .then(|| x as usize - 1)
    }

    fn start(&mut self, cmd: u8, now: Instant) {
        self.cmd = cmd;
        let mut busy_for = COMMAND_TIME;
        let status = match cmd {
            0x03 | 0x04 => {
                if let Some(pi) = self.pi() {
                    self.power[pi] = cmd == 0x03;
                }
                Some(0)
            }
            0x05 | 0x06 => {
                self.alert = cmd == 0x05;
                Some(0)
            }
            0x07 => {
                self.data[0] = self.data[0].max(10);
                busy_for = Duration::from_millis(10 * u64::from(self.data[0]));
                self.hub = false;
                self.hub_cycles += 1;
                None
            }
            0x0A | 0x0B => {
                let on = cmd == 0x0A;
                // The pHAT's firmware (GPIOD build) drives its two Pis by name: "all LEDs
                // on" there also powers both Pis, and one Pi's LED is only enabled while
                // that Pi is on. The other boards only touch the LED flags.
                let phat = self.kind == BoardKind::Phat;
                if self.data[0] == 0 {
                    self.pwr_led = on;
                    self.led.iter_mut().for_each(|led| *led = on);
                    if on && phat {
                        self.power.iter_mut().for_each(|power| *power = true);
                    }
                } else if let Some(pi) = self.pi() {
                    if !(on && phat && !self.power[pi]) {
                        self.led[pi] = on;
                    }
                }
                Some(0)
            }
            0x0C | 0x0D => {
                self.pwr_led = cmd == 0x0C;
                Some(0)
            }
            0x0E => {
                self.resets += 1;
                self.boot(now);
                return;
            }
            0x0F => match self.pi() {
                Some(pi) => {
                    self.data[0] = u8::from(self.power[pi]);
                    Some(0)
                }
                None => {
                    self.data[0] = 0xFF;
                    Some(2)
                }
            },
            0x10 if self.kind.has_fan() => {
                self.fan = self.data[0] == 1;
                self.fan_turning = self.fan;
                Some(0)
            }
            // The Stack's nodes hang off no hub of the board (built with NOPATHS): every
            // GETPATH fails there, as one past MAXPI does elsewhere.
            0x11 => match self.data[0] {
                x if x <= self.kind.max_pi() && self.kind != BoardKind::Stack => {
                    self.data = [0xFF; 8];
                    self.data[0] = 1;
                    if x > 0 {
                        self.data[1] = x;
                    }
                    Some(0)
                }
                _ => {
                    self.data = [0xFF; 8];
                    Some(1)
                }
            },
            0x12 | 0x13 if self.kind.has_usbboot() => {
                if let Some(pi) = self.pi() {
                    self.usbboot[pi] = cmd == 0x12;
                }
                Some(0)
            }
            0x14 => {
                self.data[0] = match self.pi() {
                    Some(pi) if self.kind.has_usbboot() => u8::from(self.usbboot[pi]),
                    _ => 0xFF,
                };
                Some(0)
            }
            0x15 => match self.data[0] {
                0 => Some(1),
                order => {
                    self.order = order;
                    Some(0)
                }
            },
            0x16 | 0x17 if self.kind.has_act_led() => {
                self.act_led = cmd == 0x16;
                Some(0)
            }
            0xF0 => {
                self.save_order();
                self.save_led();
                self.save_power();
                self.save_usbboot();
                self.eeprom.persist();
                Some(0)
            }
            0xF1 => {
                self.eeprom.bytes = Eeprom::defaults(self.kind.max_pi());
                self.eeprom.persist();
                Some(0)
            }
            0xF2 => self.get_data(),
            0xF3 => {
                self.save_order();
                self.eeprom.persist();
                Some(0)
            }
            // SAVEUSBBOOT exists on every board; without usbboot it saves nothing.
            0xF4 => {
                self.save_usbboot();
                self.eeprom.persist();
                Some(0)
            }
            0xF5 => {
                self.save_power();
                self.eeprom.persist();
                Some(0)
            }
            0xF6 => {
                self.save_led();
                self.eeprom.persist();
                Some(0)
            }
            // INIT, RESCAN, HUB_ON, HUB_OFF, PING are defined but not implemented, and a
            // feature this board lacks is an unknown command too.
            _ => Some(3),
        };
        self.pending = Some(Pending {
            done_at: now + busy_for,
            status,
        });
    }

    fn get_data(&mut self) -> Option<u8> {
        let adcs = self.kind.adc_types();
        match self.data[0] {
            0 => {
                self.data = [0xFF; 8];
                (self.data[1], self.data[0]) = self.firmware_version;
                Some(0)
            }
            1 => {
                self.data[0] = adcs.len() as u8;
                Some(0)
            }
            2 => {
                let n = self.data[1] as usize;
                if n == 0 || n > adcs.len() {
                    return Some(1);
                }
                let kind = adcs[n - 1];
                let step = if kind == 2 { 33.3409 } else { 6.4453125 };
                let raw = (self.adc_volts[n - 1] * 1000.0 / step).round() as u16;
                self.data[0] = kind;
                [self.data[1], self.data[2]] = raw.to_le_bytes();
                Some(0)
            }
            3 => {
                // DATA0 carries the sensor's type (2: the AVR's own sensor), as the
                // vendor's tool checks before it converts.
                let raw = (self.temperature * 1.22 + 247.0).round() as u16;
                self.data[0] = TEMPERATURE_SENSOR;
                [self.data[1], self.data[2]] = raw.to_le_bytes();
                Some(0)
            }
            4 if self.kind.has_fan_status() => {
                self.data[0] = u8::from(self.fan) | (u8::from(self.fan_turning) << 1);
                Some(0)
            }
            _ => Some(1),
        }
    }

    fn save_order(&mut self) {
        self.eeprom.bytes[EE_ORDER] = self.order;
    }

    fn save_led(&mut self) {
        self.eeprom.bytes[EE_PWR_LED] = u8::from(self.pwr_led);
        self.eeprom.bytes[EE_ACT_LED] = u8::from(self.act_led);
        let led = self.led.clone();
        self.eeprom.store_bits(EE_LED, &led);
    }

    fn save_power(&mut self) {
        let power = self.power.clone();
        self.eeprom.store_bits(EE_POWER, &power);
    }

    fn save_usbboot(&mut self) {
        if self.kind.has_usbboot() {
            let usbboot = self.usbboot.clone();
            self.eeprom.store_bits(EE_USBBOOT, &usbboot);
        }
    }

    fn reachable(&self, address: u8) -> Result<(), BusFault> {
        if !self.plugged {
            return Err(BusFault::Gone);
        }
        if self.naks || address != ADDRESS {
            return Err(BusFault::Nak);
        }
        Ok(())
    }
}

/// A simulated ClusterCTRL board: a cheap handle, cloned by the bus and by the test.
#[derive(Clone, Debug)]
pub struct SimBoard {
    inner: Arc<Mutex<Firmware>>,
}

impl SimBoard {
    /// A board of `kind`, booted from the EEPROM in `eeprom_file` (created with the
    /// factory defaults when missing), or from factory defaults kept in memory.
    pub fn new(kind: BoardKind, eeprom_file: Option<PathBuf>) -> SimBoard {
        let max_pi = kind.max_pi();
        let adc_volts = kind
            .adc_types()
            .iter()
            .map(|kind| if *kind == 2 { 12.0 } else { 5.1 })
            .collect();
        let mut firmware = Firmware {
            kind,
            firmware_version: (1, 4),
            pointer: 0,
            order: 0,
            mode: 0,
            data: [0; 8],
            cmd: 0,
            status: 0,
            pending: None,
            power: Vec::new(),
            led: Vec::new(),
            usbboot: Vec::new(),
            alert: false,
            pwr_led: true,
            act_led: true,
            fan: false,
            hub: true,
            boot_queue: Vec::new(),
            boot_interval: Duration::from_secs(1),
            eeprom: Eeprom::load(eeprom_file, max_pi),
            adc_volts,
            temperature: 31.5,
            fan_turning: false,
            plugged: true,
            naks: false,
            stuck_busy: false,
            hub_cycles: 0,
            resets: 0,
        };
        firmware.boot(Instant::now());
        SimBoard {
            inner: Arc::new(Mutex::new(firmware)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Firmware> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn kind(&self) -> BoardKind {
        self.lock().kind
    }

    /// Unplug the board (`false`: every transfer fails as on a vanished bus) or plug it
    /// back, which powers it up again from its EEPROM.
    pub fn set_plugged(&self, plugged: bool) {
        let mut firmware = self.lock();
        if plugged && !firmware.plugged {
            firmware.boot(Instant::now());
        }
        firmware.plugged = plugged;
    }

    /// Make every transfer NAK (a bus in trouble), or stop.
    pub fn set_naks(&self, naks: bool) {
        self.lock().naks = naks;
    }

    /// Keep the board busy: a command started from now on never finishes.
    pub fn set_stuck_busy(&self, stuck: bool) {
        self.lock().stuck_busy = stuck;
    }

    /// The gap between Pis of the boot power-on sequence (1 s as on the hardware).
    pub fn set_boot_interval(&self, interval: Duration) {
        self.lock().boot_interval = interval;
    }

    /// Set the order register as if another tool had (not saved).
    pub fn set_order(&self, order: u8) {
        self.lock().order = order.max(1);
    }

    pub fn snapshot(&self) -> BoardSnapshot {
        let mut firmware = self.lock();
        firmware.advance(Instant::now());
        BoardSnapshot {
            power: firmware.power.clone(),
            led: firmware.led.clone(),
            usbboot: firmware.usbboot.clone(),
            alert: firmware.alert,
            pwr_led: firmware.pwr_led,
            fan: firmware.fan,
            hub: firmware.hub,
            order: firmware.order,
            busy: firmware.cmd != 0,
            hub_cycles: firmware.hub_cycles,
            resets: firmware.resets,
        }
    }

    /// The EEPROM's saved order (0x01).
    pub fn saved_order(&self) -> u8 {
        self.lock().eeprom.bytes[EE_ORDER]
    }

    /// The Pis the EEPROM powers at boot.
    pub fn saved_power(&self) -> Vec<bool> {
        let firmware = self.lock();
        firmware.eeprom.bits(EE_POWER, firmware.kind.max_pi())
    }
}

impl Target for SimBoard {
    fn write(&mut self, address: u8, bytes: &[u8]) -> Result<(), BusFault> {
        let mut firmware = self.lock();
        firmware.reachable(address)?;
        let now = Instant::now();
        firmware.advance(now);
        if firmware.cmd != 0 {
            return Err(BusFault::Nak);
        }
        let Some((&register, values)) = bytes.split_first() else {
            return Ok(());
        };
        firmware.pointer = register;
        for value in values {
            let register = firmware.pointer;
            firmware.set_register(register, *value, now);
            firmware.pointer = register.wrapping_add(1);
        }
        Ok(())
    }

    fn read(&mut self, address: u8, buffer: &mut [u8]) -> Result<(), BusFault> {
        let mut firmware = self.lock();
        firmware.reachable(address)?;
        firmware.advance(Instant::now());
        for byte in buffer {
            *byte = firmware.register(firmware.pointer);
            firmware.pointer = firmware.pointer.wrapping_add(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(board: &mut SimBoard, cmd: u8, data0: u8) -> (u8, [u8; 8]) {
        board.write(ADDRESS, &[REG_DATA0, data0]).unwrap();
        board.write(ADDRESS, &[REG_CMD, cmd]).unwrap();
        loop {
            if board.write(ADDRESS, &[REG_CMD]).is_ok() {
                let mut cmd_status = [0; 2];
                board.read(ADDRESS, &mut cmd_status).unwrap();
                if cmd_status[0] == 0 {
                    let mut data = [0; 8];
                    board.write(ADDRESS, &[0x05]).unwrap();
                    board.read(ADDRESS, &mut data).unwrap();
                    data.reverse();
                    return (cmd_status[1], data);
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn identity_registers_auto_increment_and_unknown_ones_read_ff() {
        let mut board = SimBoard::new(BoardKind::Stack, None);
        board.write(ADDRESS, &[REG_VERSION]).unwrap();
        let mut regs = [0; 5];
        board.read(ADDRESS, &mut regs).unwrap();
        assert_eq!(regs, [2, 5, FACTORY_ORDER, 0, 4]);
        board.write(ADDRESS, &[0x40]).unwrap();
        let mut unknown = [0; 1];
        board.read(ADDRESS, &mut unknown).unwrap();
        assert_eq!(unknown, [0xFF]);
        board.write(ADDRESS, &[REG_ORDER, 0]).unwrap();
        assert_eq!(board.snapshot().order, 1, "writing order 0 stores 1");
        assert_eq!(board.write(0x21, &[0]), Err(BusFault::Nak));
    }

    #[test]
    fn writes_are_naked_while_a_command_runs_and_reads_are_not() {
        let mut board = SimBoard::new(BoardKind::Triple, None);
        board.write(ADDRESS, &[REG_DATA0, 10]).unwrap();
        board.write(ADDRESS, &[REG_CMD, 0x07]).unwrap();
        assert_eq!(board.write(ADDRESS, &[REG_CMD]), Err(BusFault::Nak));
        let mut status = [0; 1];
        board.read(ADDRESS, &mut status).unwrap();
        assert!(!board.snapshot().hub);
    }

    #[test]
    fn status_codes_as_the_firmware_sets_them() {
        let mut board = SimBoard::new(BoardKind::Phat, None);
        assert_eq!(
            run(&mut board, 0x03, 9).0,
            0,
            "a bad Pi on ON is a silent no-op"
        );
        assert_eq!(board.snapshot().power, vec![false, false]);
        let (status, data) = run(&mut board, 0x0F, 9);
        assert_eq!((status, data[0]), (2, 0xFF));
        assert_eq!(run(&mut board, 0x12, 1).0, 3, "no usbboot on a pHAT");
        assert_eq!(run(&mut board, 0x14, 1).1[0], 0xFF);
        assert_eq!(run(&mut board, 0x15, 0).0, 1);
        assert_eq!(run(&mut board, 0x90, 0).0, 3);
        assert_eq!(run(&mut board, 0x03, 2).0, 0);
        assert_eq!(run(&mut board, 0x0F, 2), (0, [1, 0, 0, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn saves_survive_a_restart_and_boot_powers_in_sequence() {
        let dir = std::env::temp_dir().join(format!("labwire-sim-ee-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("stack.eeprom");
        let _ = std::fs::remove_file(&file);
        let mut board = SimBoard::new(BoardKind::Stack, Some(file.clone()));
        run(&mut board, 0x03, 2);
        run(&mut board, 0x15, 7);
        run(&mut board, 0xF0, 0);
        drop(board);
        let again = SimBoard::new(BoardKind::Stack, Some(file.clone()));
        assert_eq!(again.snapshot().order, 7);
        let booting = again.snapshot();
        assert!(booting.alert && !booting.power[1], "Pis come on one by one");
        again.set_boot_interval(Duration::ZERO);
        again.set_plugged(false);
        again.set_plugged(true);
        let booted = again.snapshot();
        assert!(booted.power[1] && !booted.alert);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
