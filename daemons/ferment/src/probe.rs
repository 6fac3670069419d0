//! DS18B20 temperature probes read through the Linux w1 driver's files:
//! `<w1-dir>/<id>/w1_slave` holds the scratchpad with the driver's CRC verdict
//! (`72 01 4b 46 7f ff 0e 10 57 : crc=57 YES`) and the temperature in milli-degrees C
//! (`72 01 4b 46 7f ff 0e 10 57 t=23125`). Every way a read goes wrong is a
//! [`ProbeFault`], never a temperature.
//!
//! A read makes the driver start a conversion and wait for it (about 750 ms at 12 bits),
//! so [`ProbeReader::read`] blocks: the daemon calls it on a blocking thread.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The power-on reset value of the temperature register: the probe answered before it
/// converted anything (it lost power, or the bus glitched), not a real 85 °C.
const POWER_ON_MILLI: i64 = 85_000;
/// The DS18B20's measuring range, in milli-degrees C.
const RANGE_MILLI: std::ops::RangeInclusive<i64> = -55_000..=125_000;
/// A `w1_slave` file is two short lines; anything longer is not one.
const MAX_FILE_BYTES: u64 = 256;

/// Why a probe gave no temperature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeFault {
    /// No directory for the probe on the bus: unplugged (or never there).
    Missing,
    /// The driver's CRC check failed (`crc=.. NO`): a garbled read.
    CrcError,
    /// 85 °C: the power-on value.
    PowerOn,
    /// An all-zero scratchpad: its CRC is 0 too, so the driver says YES, but no probe
    /// answers zeros (a shorted data line does).
    NoAnswer,
    /// Out of the DS18B20's range.
    OutOfRange(i64),
    /// The file is not what the driver writes.
    Malformed(String),
    /// The file could not be read.
    Io(String),
}

impl fmt::Display for ProbeFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeFault::Missing => write!(f, "not on the w1 bus (unplugged?)"),
            ProbeFault::CrcError => write!(f, "CRC error"),
            ProbeFault::PowerOn => write!(f, "85 C power-on value (probe reset)"),
            ProbeFault::NoAnswer => write!(f, "all-zero scratchpad (no answer)"),
            ProbeFault::OutOfRange(milli) => write!(f, "{milli} mC is out of range"),
            ProbeFault::Malformed(why) => write!(f, "unreadable w1_slave: {why}"),
            ProbeFault::Io(err) => write!(f, "cannot read: {err}"),
        }
    }
}

/// Reads one probe by its id (`28-xxxxxxxxxxxx`). Blocking.
pub trait ProbeReader: Send + Sync + 'static {
    /// The temperature in °C.
    fn read(&self, id: &str) -> Result<f64, ProbeFault>;
}

/// Probes on the Linux w1 bus, under `dir` (normally `/sys/bus/w1/devices`).
#[derive(Clone, Debug)]
pub struct W1Bus {
    dir: PathBuf,
}

impl W1Bus {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        W1Bus { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl ProbeReader for W1Bus {
    fn read(&self, id: &str) -> Result<f64, ProbeFault> {
        let probe_dir = self.dir.join(id);
        let file = match std::fs::File::open(probe_dir.join("w1_slave")) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(ProbeFault::Missing),
            Err(err) => return Err(ProbeFault::Io(err.to_string())),
        };
        let mut text = String::new();
        file.take(MAX_FILE_BYTES)
            .read_to_string(&mut text)
            .map_err(|err| match err.kind() {
                // The driver answers a read of a probe that has just gone with ENODEV/ENXIO.
                io::ErrorKind::NotFound => ProbeFault::Missing,
                _ => ProbeFault::Io(err.to_string()),
            })?;
        parse_w1_slave(&text).map(|milli| milli as f64 / 1000.0)
    }
}

/// Whether `id` is a DS18B20's w1 name: family `28`, a dash, 12 hex digits.
pub fn is_ds18b20_id(id: &str) -> bool {
    match id.strip_prefix("28-") {
        Some(serial) => serial.len() == 12 && serial.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

/// The temperature of a `w1_slave` file in milli-degrees C, or the fault it shows.
pub fn parse_w1_slave(text: &str) -> Result<i64, ProbeFault> {
    let malformed = |why: &str| ProbeFault::Malformed(why.to_string());
    let mut lines = text.lines();
    let (first, second) = match (lines.next(), lines.next()) {
        (Some(first), Some(second)) => (first, second),
        _ => return Err(malformed("expected two lines")),
    };
    let (pad, verdict) = first
        .split_once(" : crc=")
        .ok_or_else(|| malformed("no crc= on the first line"))?;
    let pad = scratchpad(pad).ok_or_else(|| malformed("bad scratchpad bytes"))?;
    match verdict.split_once(' ').map(|(_, word)| word.trim()) {
        Some("YES") => {}
        Some("NO") => return Err(ProbeFault::CrcError),
        _ => return Err(malformed("crc verdict is neither YES nor NO")),
    }
    if pad.iter().all(|&b| b == 0) {
        return Err(ProbeFault::NoAnswer);
    }
    let (_, milli) = second
        .rsplit_once(" t=")
        .ok_or_else(|| malformed("no t= on the second line"))?;
    let milli: i64 = milli
        .trim()
        .parse()
        .map_err(|_| malformed("t= is not an integer"))?;
    if milli == POWER_ON_MILLI {
        return Err(ProbeFault::PowerOn);
    }
    if !RANGE_MILLI.contains(&milli) {
        return Err(ProbeFault::OutOfRange(milli));
    }
    Ok(milli)
}

/// Nine hex bytes separated by single spaces.
fn scratchpad(text: &str) -> Option<[u8; 9]> {
    let mut pad = [0u8; 9];
    let mut bytes = text.trim().split(' ');
    for slot in pad.iter_mut() {
        let byte = bytes.next()?;
        if byte.len() != 2 {
            return None;
        }
        *slot = u8::from_str_radix(byte, 16).ok()?;
    }
    bytes.next().is_none().then_some(pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";

    #[test]
    fn reads_the_drivers_two_lines() {
        assert_eq!(parse_w1_slave(GOOD), Ok(23125));
        let negative =
            "5f ff 4b 46 7f ff 0c 10 1c : crc=1c YES\n5f ff 4b 46 7f ff 0c 10 1c t=-10062\n";
        assert_eq!(parse_w1_slave(negative), Ok(-10062));
    }

    #[test]
    fn every_fault_form_is_a_fault_never_a_temperature() {
        let crc_no = "72 05 4b 46 7f ff 0e 10 57 : crc=57 NO\n72 05 4b 46 7f ff 0e 10 57 t=87125\n";
        assert_eq!(parse_w1_slave(crc_no), Err(ProbeFault::CrcError));
        let power_on =
            "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n";
        assert_eq!(parse_w1_slave(power_on), Err(ProbeFault::PowerOn));
        let zeros = "00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n";
        assert_eq!(parse_w1_slave(zeros), Err(ProbeFault::NoAnswer));
        let hot = "d0 07 4b 46 7f ff 0c 10 00 : crc=00 YES\nd0 07 4b 46 7f ff 0c 10 00 t=127000\n";
        assert_eq!(parse_w1_slave(hot), Err(ProbeFault::OutOfRange(127000)));
        for malformed in [
            "",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n",
            "72 01 4b 46 7f ff 0e 10 57 crc=57 YES\n72 01 t=23125\n",
            "72 01 4b 46 7f ff 0e 10 : crc=57 YES\nx t=23125\n",
            "72 01 4b 46 7f ff 0e 10 zz : crc=57 YES\nx t=23125\n",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 MAYBE\nx t=23125\n",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57\n",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23.1\n",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=\n",
        ] {
            assert!(
                matches!(parse_w1_slave(malformed), Err(ProbeFault::Malformed(_))),
                "{malformed:?}: {:?}",
                parse_w1_slave(malformed)
            );
        }
    }

    #[test]
    fn a_missing_directory_is_an_unplugged_probe() {
        let dir = std::env::temp_dir().join(format!("labwire-ferment-w1-{}", std::process::id()));
        let probe = dir.join("28-000000000001");
        std::fs::create_dir_all(&probe).unwrap();
        std::fs::write(probe.join("w1_slave"), GOOD).unwrap();
        let bus = W1Bus::new(&dir);
        assert_eq!(bus.read("28-000000000001"), Ok(23.125));
        assert_eq!(bus.read("28-000000000002"), Err(ProbeFault::Missing));
        std::fs::remove_dir_all(&probe).unwrap();
        assert_eq!(bus.read("28-000000000001"), Err(ProbeFault::Missing));
        std::fs::write(dir.join("28-000000000003"), "").unwrap();
        assert!(matches!(
            bus.read("28-000000000003"),
            Err(ProbeFault::Io(_)) | Err(ProbeFault::Missing)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn probe_ids_are_ds18b20_names() {
        assert!(is_ds18b20_id("28-00000a1b2c3d"));
        for bad in [
            "28-0000",
            "10-00000a1b2c3d",
            "28-00000a1b2c3g",
            "28-00000a1b2c3d0",
            "../x",
        ] {
            assert!(!is_ds18b20_id(bad), "{bad}");
        }
    }
}
