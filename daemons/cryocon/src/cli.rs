//! The cryocon daemon's own flags (beyond the framework's [`CommonArgs`]) and the
//! [`Config`] they become with the framework's [`Setup`].

use crate::alarms::AlarmSettings;
use crate::commands::SetpointLimits;
use crate::device::Config;
use crate::model::Model;
use crate::units::ReportUnit;
use labwire_daemon::{CommonArgs, Setup};
use labwire_sim::cryocon::{self, CryoconOptions};
use std::net::SocketAddr;
use std::time::Duration;

/// `--simulate`: the controller simulator of `model` on `listen`; the address it bound.
pub async fn spawn_simulator(listen: SocketAddr, model: Model) -> std::io::Result<SocketAddr> {
    let model = match model {
        Model::Cryocon24C => cryocon::Model::Cryocon24C,
        Model::Cryocon22C => cryocon::Model::Cryocon22C,
    };
    let options = CryoconOptions {
        model,
        ..CryoconOptions::default()
    };
    Ok(cryocon::spawn(listen, options).await?.local_addr())
}

#[derive(clap::Parser, Debug)]
#[command(
    name = "labwire-cryocon",
    version,
    about = "labwire daemon for Cryo-con 24C/22C cryogenic temperature controllers (TCP port 5000)"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Unit of every temperature the daemon reports and takes: k (kelvin) or c (degrees
    /// Celsius). The controller's own display units are read, never changed.
    #[arg(long, value_name = "k|c", default_value = "k", value_parser = parse_unit)]
    pub unit: ReportUnit,

    /// With --simulate, the model to simulate (default 24c). With --device, the model the
    /// controller must identify as; its loops and inputs are then known before the first
    /// connection (without it, commands naming a loop wait for the identification).
    #[arg(long, value_name = "24c|22c", value_parser = parse_model)]
    pub model: Option<Model>,

    /// Highest setpoint accepted (also for profile points), in --unit; tighter than the
    /// controller's own MAXSet.
    #[arg(long, value_name = "TEMP", allow_hyphen_values = true, value_parser = parse_temperature)]
    pub max_setpoint: Option<f64>,

    /// Lowest setpoint accepted (also for profile points), in --unit.
    #[arg(long, value_name = "TEMP", allow_hyphen_values = true, value_parser = parse_temperature)]
    pub min_setpoint: Option<f64>,

    /// How close (in kelvin) a loop's input must come to its setpoint to count as
    /// settled, for the setpoint_timeout alarm.
    #[arg(long, value_name = "KELVIN", default_value_t = 0.5, value_parser = parse_positive)]
    pub settle_band: f64,

    /// Seconds a loop's input may take to come within --settle-band of a new setpoint
    /// (a command or a profile point) before the setpoint_timeout alarm is raised.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800.0, value_parser = parse_positive)]
    pub settle_timeout: f64,

    /// Raise the high_limit alarm when an input reads above this, in --unit.
    #[arg(long, value_name = "TEMP", allow_hyphen_values = true, value_parser = parse_temperature)]
    pub high_limit: Option<f64>,

    /// Raise the low_limit alarm when an input reads below this, in --unit.
    #[arg(long, value_name = "TEMP", allow_hyphen_values = true, value_parser = parse_temperature)]
    pub low_limit: Option<f64>,
}

fn parse_unit(text: &str) -> Result<ReportUnit, String> {
    text.parse()
}

fn parse_model(text: &str) -> Result<Model, String> {
    Model::from_idn(text).ok_or_else(|| format!("unknown model {text:?}: expected 24c or 22c"))
}

fn parse_temperature(text: &str) -> Result<f64, String> {
    labwire_protocol::parse_number(text.trim())
        .ok_or_else(|| format!("{text:?} is not a finite number"))
}

fn parse_positive(text: &str) -> Result<f64, String> {
    match labwire_protocol::parse_number(text.trim()) {
        Some(value) if value > 0.0 => Ok(value),
        _ => Err(format!("{text:?} is not a positive number")),
    }
}

impl Cli {
    /// The model simulated under `--simulate`.
    pub fn simulated_model(&self) -> Model {
        self.model.unwrap_or(Model::Cryocon24C)
    }

    /// The command line's contradictions, found before anything starts.
    pub fn check(&self) -> Result<(), String> {
        if let (Some(min), Some(max)) = (self.min_setpoint, self.max_setpoint) {
            if min > max {
                return Err(format!(
                    "--min-setpoint {min} is above --max-setpoint {max}"
                ));
            }
        }
        if let (Some(low), Some(high)) = (self.low_limit, self.high_limit) {
            if low >= high {
                return Err(format!(
                    "--low-limit {low} is not below --high-limit {high}"
                ));
            }
        }
        Ok(())
    }

    pub fn limits(&self) -> SetpointLimits {
        SetpointLimits {
            min: self.min_setpoint,
            max: self.max_setpoint,
        }
    }

    pub fn settle_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.settle_timeout)
    }

    /// The device's configuration once the framework has resolved the hardware.
    pub fn config(&self, setup: &Setup) -> Config {
        Config {
            address: setup.device_address.clone(),
            timeout: setup.device_timeout,
            unit: self.unit,
            expected_model: if setup.simulated {
                Some(self.simulated_model())
            } else {
                self.model
            },
            limits: self.limits(),
            alarms: AlarmSettings {
                settle_band: self.settle_band,
                settle_timeout: self.settle_timeout(),
                high_limit: self.high_limit,
                low_limit: self.low_limit,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn flags_and_their_checks() {
        let cli = Cli::try_parse_from([
            "labwire-cryocon",
            "--simulate",
            "--unit",
            "C",
            "--model",
            "22C",
            "--max-setpoint",
            "30",
            "--min-setpoint",
            "-150",
        ])
        .unwrap();
        assert_eq!(cli.unit, ReportUnit::Celsius);
        assert_eq!(cli.model, Some(Model::Cryocon22C));
        assert_eq!(cli.limits().max, Some(30.0));
        assert!(cli.check().is_ok());
        for bad in [
            &["--unit", "f"][..],
            &["--model", "32b"],
            &["--max-setpoint", "hot"],
            &["--settle-band", "0"],
            &["--settle-timeout", "-5"],
        ] {
            let mut args = vec!["labwire-cryocon", "--simulate"];
            args.extend_from_slice(bad);
            assert!(Cli::try_parse_from(&args).is_err(), "{bad:?}");
        }
        let crossed = Cli::try_parse_from([
            "labwire-cryocon",
            "--simulate",
            "--min-setpoint",
            "300",
            "--max-setpoint",
            "200",
        ])
        .unwrap();
        assert!(crossed.check().unwrap_err().contains("--min-setpoint"));
    }
}
