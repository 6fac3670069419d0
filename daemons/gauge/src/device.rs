//! The gauge as a labwire [`Device`]: what it reports and which commands it takes.

use crate::driver::{status_text, LineEnd, Reading, Tpg36x};
use crate::units::Unit;
use labwire_daemon::{Args, CommandSpec, Device, Error, Kwargs, StatusBuilder};
use labwire_protocol::{format_number, Message};
use std::time::Duration;
use tokio::net::TcpStream;
use tracing::{info, warn};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "set_unit",
        synopsis: "unit=<mbar|torr|pa|micron|hpa|volt> (the controller's display unit; \
                   status pressure stays in mbar, volt shows the gauge's signal instead)",
    },
    CommandSpec {
        name: "measure",
        synopsis: "(read the gauge now; answers pressure=<mbar> voltage=<V> unit=<unit> \
                   gauge_status=<0-6> gauge_status_text=<word>)",
    },
];

/// The controller reports 5 significant digits; a unit conversion must not add more.
const GAUGE_DIGITS: usize = 5;

fn significant(value: f64, digits: usize) -> f64 {
    // Going through decimal text rounds exactly as a person reading the value would.
    format!("{value:.prec$e}", prec = digits.saturating_sub(1))
        .parse()
        .unwrap_or(value)
}

pub enum Command {
    SetUnit(Unit),
    Measure,
}

/// One reading with the unit it came in, and what it means for labwire.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    pub unit: Unit,
    pub status: u8,
    /// In mbar; `None` in Volt mode and unless the status is 0.
    pub pressure_mbar: Option<f64>,
    /// The gauge's signal in Volt mode; `None` otherwise and unless the status is 0.
    pub voltage: Option<f64>,
}

impl Measurement {
    pub fn new(unit: Unit, reading: Reading) -> Measurement {
        let (pressure_mbar, voltage) = match unit.to_mbar() {
            Some(factor) => (
                reading
                    .value
                    .map(|value| significant(value * factor, GAUGE_DIGITS)),
                None,
            ),
            None => (None, reading.value),
        };
        Measurement {
            unit,
            status: reading.status,
            pressure_mbar,
            voltage,
        }
    }

    /// What `measurement` reports: which of `pressure` and `voltage` the controller fills.
    pub fn kind(&self) -> &'static str {
        match self.unit {
            Unit::Volt => "voltage",
            _ => "pressure",
        }
    }
}

pub struct Gauge {
    address: String,
    timeout: Duration,
    line_end: LineEnd,
    driver: Option<Tpg36x<TcpStream>>,
    gauge_type: String,
    /// The unit last read from the controller; `None` before the first connection.
    unit: Option<Unit>,
}

impl Gauge {
    pub fn new(address: String, timeout: Duration, line_end: LineEnd) -> Self {
        Gauge {
            address,
            timeout,
            line_end,
            driver: None,
            gauge_type: String::new(),
            unit: None,
        }
    }

    fn driver(&mut self) -> Result<&mut Tpg36x<TcpStream>, Error> {
        self.driver
            .as_mut()
            .ok_or_else(|| Error::not_connected("gauge not connected"))
    }

    /// Notes the controller's unit, saying so when it changed behind the daemon's back
    /// (front panel, another client) or when it leaves no pressure to report.
    fn note_unit(&mut self, unit: Unit, by_set_unit: bool) {
        if self.unit == Some(unit) {
            return;
        }
        if let Some(before) = self.unit.filter(|_| !by_set_unit) {
            info!(
                "the controller's unit changed from {} to {} (not by set_unit)",
                before.name(),
                unit.name()
            );
        }
        if unit == Unit::Volt {
            warn!(
                "the controller is in Volt mode: it reports the gauge's signal (status \
                 variable voltage) and no pressure; set_unit mbar to read pressures again"
            );
        }
        self.unit = Some(unit);
    }

    /// The unit, then the reading in it: the unit is read every time, because the front
    /// panel can change it at any moment and a stale unit would misreport the pressure by
    /// orders of magnitude.
    async fn measure(&mut self) -> Result<Measurement, Error> {
        let driver = self.driver()?;
        let unit = driver.unit().await?;
        let reading = driver.read_pressure().await?;
        self.note_unit(unit, false);
        Ok(Measurement::new(unit, reading))
    }
}

fn optional_number(value: Option<f64>) -> String {
    value.map(format_number).unwrap_or_default()
}

impl Device for Gauge {
    type Command = Command;

    fn kind(&self) -> &'static str {
        "gauge"
    }

    fn commands(&self) -> &'static [CommandSpec] {
        COMMANDS
    }

    fn parse_command(&self, request: &Message) -> Result<Command, Error> {
        let mut args = Args::new(request);
        let command = match request.name.as_str() {
            "set_unit" => Command::SetUnit(args.choice("unit", &Unit::CHOICES)?),
            "measure" => Command::Measure,
            other => return Err(Error::bad_argument(format!("not a gauge command: {other}"))),
        };
        args.finish()?;
        Ok(command)
    }

    async fn connect(&mut self) -> Result<(), Error> {
        let mut driver = Tpg36x::connect(&self.address, self.timeout, self.line_end).await?;
        driver.quiet().await?;
        self.gauge_type = driver.gauge_type().await?;
        let unit = driver.unit().await?;
        self.driver = Some(driver);
        self.note_unit(unit, false);
        Ok(())
    }

    async fn disconnect(&mut self) {
        self.driver = None;
    }

    async fn poll(&mut self, status: &mut StatusBuilder) -> Result<(), Error> {
        let measured = self.measure().await?;
        match measured.pressure_mbar {
            Some(mbar) => status.number("pressure", mbar),
            None => status.missing("pressure"),
        };
        match measured.voltage {
            Some(volts) => status.number("voltage", volts),
            None => status.missing("voltage"),
        };
        status
            .text("measurement", measured.kind())
            .number("gauge_status", f64::from(measured.status))
            .text("gauge_status_text", status_text(measured.status))
            .text("unit", measured.unit.name())
            .text("gauge_type", self.gauge_type.clone());
        Ok(())
    }

    async fn execute(&mut self, command: Command) -> Result<Kwargs, Error> {
        match command {
            Command::SetUnit(unit) => {
                let now = self.driver()?.set_unit(unit).await?;
                self.note_unit(now, true);
                if now != unit {
                    return Err(Error::device_error(format!(
                        "the gauge kept unit {} instead of {}",
                        now.name(),
                        unit.name()
                    )));
                }
                Ok(vec![("unit".into(), now.name().into())])
            }
            Command::Measure => {
                let measured = self.measure().await?;
                Ok(vec![
                    ("pressure".into(), optional_number(measured.pressure_mbar)),
                    ("voltage".into(), optional_number(measured.voltage)),
                    ("unit".into(), measured.unit.name().into()),
                    ("gauge_status".into(), measured.status.to_string()),
                    (
                        "gauge_status_text".into(),
                        status_text(measured.status).into(),
                    ),
                ])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_but_volt_gives_mbar() {
        let ok = |value| Reading {
            status: 0,
            value: Some(value),
        };
        let mbar = |unit, value| Measurement::new(unit, ok(value)).pressure_mbar;
        assert_eq!(mbar(Unit::Mbar, 1.23e-3), Some(1.23e-3));
        assert_eq!(mbar(Unit::Hpa, 1.23e-3), Some(1.23e-3));
        assert_eq!(mbar(Unit::Pa, 1.23e-1), Some(1.23e-3));
        assert_eq!(mbar(Unit::Torr, 7.5e-1), Some(0.99992));
        assert_eq!(mbar(Unit::Micron, 7.5e2), Some(0.99992));
        let volt = Measurement::new(Unit::Volt, ok(5.2));
        assert_eq!((volt.pressure_mbar, volt.voltage), (None, Some(5.2)));
        assert_eq!(volt.kind(), "voltage");
        let off = Measurement::new(
            Unit::Volt,
            Reading {
                status: 4,
                value: None,
            },
        );
        assert_eq!((off.pressure_mbar, off.voltage), (None, None));
    }

    #[test]
    fn conversions_keep_the_gauge_precision() {
        assert_eq!(significant(504.0 * 1.333_223_684, 5), 671.94);
        assert_eq!(significant(1.2345678e-7, 5), 1.2346e-7);
        assert_eq!(significant(0.0, 5), 0.0);
    }
}
