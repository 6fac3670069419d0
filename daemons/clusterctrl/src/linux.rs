//! The Linux I2C backend: `/dev/i2c-N` through the `i2cdev` crate (the rust-embedded
//! team's safe wrapper of the kernel's i2c-dev interface; no ioctls of our own). The
//! device is opened at the first transfer and again after [`I2cBus::reset`], so a USB
//! ClusterCTRL that comes back under the same name is found again.

use crate::bus::{BusError, I2cBus};
use i2cdev::core::I2CDevice;
use i2cdev::linux::{LinuxI2CDevice, LinuxI2CError};
use std::io::ErrorKind;
use std::path::PathBuf;

pub struct LinuxBus {
    path: PathBuf,
    open: Option<(u8, LinuxI2CDevice)>,
}

impl LinuxBus {
    pub fn new(path: impl Into<PathBuf>) -> LinuxBus {
        LinuxBus {
            path: path.into(),
            open: None,
        }
    }

    fn device(&mut self, address: u8) -> Result<&mut LinuxI2CDevice, BusError> {
        if self.open.as_ref().is_none_or(|(open, _)| *open != address) {
            let device = LinuxI2CDevice::new(&self.path, u16::from(address))
                .map_err(|err| classify(&err, true))?;
            self.open = Some((address, device));
        }
        Ok(&mut self.open.as_mut().expect("just opened").1)
    }

    fn transfer<T>(
        &mut self,
        address: u8,
        run: impl FnOnce(&mut LinuxI2CDevice) -> Result<T, LinuxI2CError>,
    ) -> Result<T, BusError> {
        let result = run(self.device(address)?).map_err(|err| classify(&err, false));
        if matches!(result, Err(BusError::Gone(_))) {
            self.open = None;
        }
        result
    }
}

/// ENXIO / EREMOTEIO / EIO are the adapters' ways of saying NAK; a vanished USB adapter
/// answers ENODEV (or the node is missing: ENOENT).
fn classify(err: &LinuxI2CError, opening: bool) -> BusError {
    let io = match err {
        LinuxI2CError::Io(io) => io.raw_os_error().map(|code| (code, io.kind())),
        LinuxI2CError::Errno(code) => Some((*code, ErrorKind::Other)),
    };
    const ENOENT: i32 = 2;
    const EIO: i32 = 5;
    const ENXIO: i32 = 6;
    const ENODEV: i32 = 19;
    const EREMOTEIO: i32 = 121;
    match io {
        Some((ENOENT | ENODEV, _)) => BusError::Gone(err.to_string()),
        Some((ENXIO | EREMOTEIO | EIO, _)) if !opening => BusError::Nak,
        Some((_, ErrorKind::NotFound)) => BusError::Gone(err.to_string()),
        _ => BusError::Io(err.to_string()),
    }
}

impl I2cBus for LinuxBus {
    fn write(&mut self, address: u8, bytes: &[u8]) -> Result<(), BusError> {
        self.transfer(address, |device| device.write(bytes))
    }

    fn read(&mut self, address: u8, buffer: &mut [u8]) -> Result<(), BusError> {
        self.transfer(address, |device| device.read(buffer))
    }

    fn reset(&mut self) {
        self.open = None;
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}
