//! The ccd daemon's own flags (beyond the framework's [`CommonArgs`]) and the in-process
//! simulator `--simulate` starts.

use crate::commands::Limits;
use crate::device::Config;
use labwire_daemon::{CommonArgs, Setup};
use labwire_sim::archon::{self, ArchonOptions, SensorModel};
use std::net::SocketAddr;

/// `--simulate`: the Archon simulator with `options` on `listen`; the address it bound.
pub async fn spawn_simulator(
    listen: SocketAddr,
    options: ArchonOptions,
) -> std::io::Result<SocketAddr> {
    Ok(archon::spawn(listen, options).await?.local_addr())
}

#[derive(clap::Parser, Debug)]
#[command(
    name = "labwire-ccd",
    version,
    about = "labwire daemon for STA Archon CCD controllers (TCP port 4242), frames as FITS"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// The sensor's size in pixels, WIDTHxHEIGHT: the limits of set_roi (and, with
    /// --simulate, the simulated sensor).
    #[arg(long, value_name = "WxH", default_value = "4096x4096", value_parser = parse_size)]
    pub sensor: (usize, usize),

    /// Lowest cooler setpoint accepted, degC.
    #[arg(long, value_name = "DEGC", default_value_t = -130.0, allow_hyphen_values = true)]
    pub min_setpoint: f64,

    /// Highest cooler setpoint accepted, degC.
    #[arg(
        long,
        value_name = "DEGC",
        default_value_t = 30.0,
        allow_hyphen_values = true
    )]
    pub max_setpoint: f64,

    /// With --simulate: pixels the simulated controller reads out per second.
    #[arg(long, value_name = "PIXELS", default_value_t = 4.0e6, value_parser = parse_rate)]
    pub sim_pixel_rate: f64,
}

fn parse_size(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("{text:?} is not WIDTHxHEIGHT (e.g. 4096x4096, each 1-16384)");
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let w: usize = w.trim().parse().map_err(|_| bad())?;
    let h: usize = h.trim().parse().map_err(|_| bad())?;
    if !(1..=16384).contains(&w) || !(1..=16384).contains(&h) {
        return Err(bad());
    }
    Ok((w, h))
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match labwire_protocol::parse_number(text.trim()) {
        Some(rate) if rate > 0.0 => Ok(rate),
        _ => Err(format!("{text:?} is not a positive number")),
    }
}

impl Cli {
    pub fn limits(&self) -> Limits {
        Limits {
            sensor_width: self.sensor.0,
            sensor_height: self.sensor.1,
            min_setpoint: self.min_setpoint,
            max_setpoint: self.max_setpoint,
        }
    }

    pub fn simulator_options(&self) -> ArchonOptions {
        ArchonOptions {
            sensor: SensorModel {
                width: self.sensor.0,
                height: self.sensor.1,
                ..SensorModel::default()
            },
            pixel_rate: self.sim_pixel_rate,
            ..ArchonOptions::default()
        }
    }

    /// The device's configuration once the framework has resolved the hardware.
    pub fn config(&self, setup: &Setup, instrument: String) -> Result<Config, String> {
        if self.min_setpoint >= self.max_setpoint {
            return Err(format!(
                "--min-setpoint {} is not below --max-setpoint {}",
                self.min_setpoint, self.max_setpoint
            ));
        }
        Ok(Config {
            address: setup.device_address.clone(),
            timeout: setup.device_timeout,
            instrument,
            limits: self.limits(),
        })
    }
}
