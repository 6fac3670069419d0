//! The gauge as a labwire [`Device`]: what it reports and which commands it takes.

use crate::driver::{status_text, Reading, Tpg36x, Unit};
use labwire_daemon::{Args, CommandSpec, Device, Error, Kwargs, StatusBuilder};
use labwire_protocol::{format_number, Message};
use std::time::Duration;
use tokio::net::TcpStream;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "set_unit",
        synopsis:
            "unit=<mbar|torr|pa> (the controller's display unit; status pressure stays in mbar)",
    },
    CommandSpec {
        name: "measure",
        synopsis: "(read the gauge now; answers pressure=<mbar> gauge_status=<0-6>)",
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

pub struct Gauge {
    address: String,
    timeout: Duration,
    driver: Option<Tpg36x<TcpStream>>,
    gauge_type: String,
    unit: Unit,
}

impl Gauge {
    pub fn new(address: String, timeout: Duration) -> Self {
        Gauge {
            address,
            timeout,
            driver: None,
            gauge_type: String::new(),
            unit: Unit::Mbar,
        }
    }

    fn driver(&mut self) -> Result<&mut Tpg36x<TcpStream>, Error> {
        self.driver
            .as_mut()
            .ok_or_else(|| Error::not_connected("gauge not connected"))
    }

    async fn read(&mut self) -> Result<Reading, Error> {
        self.driver()?.read_pressure().await
    }

    fn pressure_mbar(&self, reading: &Reading) -> Option<f64> {
        reading
            .value
            .map(|value| significant(value * self.unit.to_mbar(), GAUGE_DIGITS))
    }
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
        let mut driver = Tpg36x::connect(&self.address, self.timeout).await?;
        driver.quiet().await?;
        self.gauge_type = driver.gauge_type().await?;
        self.unit = driver.unit().await?;
        self.driver = Some(driver);
        Ok(())
    }

    async fn disconnect(&mut self) {
        self.driver = None;
    }

    async fn poll(&mut self, status: &mut StatusBuilder) -> Result<(), Error> {
        let reading = self.read().await?;
        match self.pressure_mbar(&reading) {
            Some(mbar) => status.number("pressure", mbar),
            None => status.missing("pressure"),
        };
        status
            .number("gauge_status", f64::from(reading.status))
            .text("gauge_status_text", status_text(reading.status))
            .text("unit", self.unit.name())
            .text("gauge_type", self.gauge_type.clone());
        Ok(())
    }

    async fn execute(&mut self, command: Command) -> Result<Kwargs, Error> {
        match command {
            Command::SetUnit(unit) => {
                let now = self.driver()?.set_unit(unit).await?;
                self.unit = now;
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
                let reading = self.read().await?;
                let pressure = self
                    .pressure_mbar(&reading)
                    .map(format_number)
                    .unwrap_or_default();
                Ok(vec![
                    ("pressure".into(), pressure),
                    ("gauge_status".into(), reading.status.to_string()),
                    (
                        "gauge_status_text".into(),
                        status_text(reading.status).into(),
                    ),
                ])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::significant;

    #[test]
    fn conversions_keep_the_gauge_precision() {
        assert_eq!(significant(504.0 * 1.333_223_684, 5), 671.94);
        assert_eq!(significant(1.2345678e-7, 5), 1.2346e-7);
        assert_eq!(significant(0.0, 5), 0.0);
    }
}
