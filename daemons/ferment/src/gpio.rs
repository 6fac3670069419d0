//! Heater and cooler relays on two lines of a Linux GPIO character device
//! (`/dev/gpiochipN`), through the `gpiocdev` crate (uAPI v2 ioctls, no `unsafe` here).
//!
//! Taking hold of the lines never changes them: they are requested "as-is" (no
//! direction flag, so the kernel leaves direction and level alone) and read; gpiocdev
//! documents this as the way to learn an output's state. A line is made an output only
//! when the daemon first writes it, with the value written, so a relay found on stays on
//! until the control decides otherwise. With `--active-low`, "on" is a low level and the
//! kernel does the inversion (values here are always logical).

use crate::relays::{Drive, Lines, RelayLines};
use gpiocdev::line::{Offset, Value, Values};
use gpiocdev::request::{Config, Request};
use labwire_daemon::Error;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct GpioConfig {
    pub chip: PathBuf,
    pub heater: Offset,
    pub cooler: Offset,
    pub active_low: bool,
}

/// The two lines, once requested.
pub struct GpioRelays {
    config: GpioConfig,
    request: Option<Request>,
    /// Whether the lines have been made outputs by us yet.
    outputs: bool,
}

impl GpioRelays {
    pub fn new(config: GpioConfig) -> Self {
        GpioRelays {
            config,
            request: None,
            outputs: false,
        }
    }

    fn request(&self) -> Result<&Request, Error> {
        self.request
            .as_ref()
            .ok_or_else(|| Error::not_connected("GPIO lines not requested"))
    }

    fn failed(&self, what: &str, err: gpiocdev::Error) -> Error {
        Error::not_connected(format!("{} {what}: {err}", self.config.chip.display()))
    }
}

fn value(on: bool) -> Value {
    if on {
        Value::Active
    } else {
        Value::Inactive
    }
}

impl RelayLines for GpioRelays {
    fn open(&mut self) -> Result<Lines, Error> {
        let GpioConfig { heater, cooler, .. } = self.config;
        let mut builder = Request::builder();
        builder
            .on_chip(&self.config.chip)
            .with_consumer("labwire-ferment")
            .with_lines(&[heater, cooler])
            .as_is();
        if self.config.active_low {
            builder.as_active_low();
        }
        let request = builder
            .request()
            .map_err(|err| self.failed("request", err))?;
        self.request = Some(request);
        self.outputs = false;
        self.read()
    }

    fn read(&mut self) -> Result<Lines, Error> {
        let GpioConfig { heater, cooler, .. } = self.config;
        let request = self.request()?;
        let mut values = Values::from_offsets(&[heater, cooler]);
        request
            .values(&mut values)
            .map_err(|err| self.failed("read", err))?;
        let on = |offset| values.get(offset) == Some(Value::Active);
        Ok(Lines {
            heater: on(heater),
            cooler: on(cooler),
        })
    }

    fn write(&mut self, drive: Drive) -> Result<(), Error> {
        let GpioConfig { heater, cooler, .. } = self.config;
        let request = self.request()?;
        // One ioctl sets both lines, so there is no moment with both on.
        let written = if self.outputs {
            let mut values = Values::default();
            values
                .set(heater, value(drive.heater()))
                .set(cooler, value(drive.cooler()));
            request.set_values(&values)
        } else {
            let mut config: Config = request.config();
            config.with_line(heater).as_output(value(drive.heater()));
            config.with_line(cooler).as_output(value(drive.cooler()));
            request.reconfigure(&config)
        };
        written.map_err(|err| self.failed("write", err))?;
        self.outputs = true;
        Ok(())
    }

    fn close(&mut self) {
        self.request = None;
        self.outputs = false;
    }
}
