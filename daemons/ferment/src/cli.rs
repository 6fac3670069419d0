//! The fermentation chamber's own flags beside the framework's, and their checks (each
//! mistake is an exit-2 message naming the flag).

use crate::control::Timing;
use crate::device::{Config, MAX_BAND};
use crate::gpio::GpioConfig;
use crate::probe::is_ds18b20_id;
use labwire_daemon::CommonArgs;
use std::path::PathBuf;
use std::time::Duration;

/// What `--device`'s help names instead.
pub const LOCAL_HARDWARE: &str = "--w1-dir, --probe, --gpio-chip";

#[derive(clap::Parser, Debug)]
#[command(
    name = "labwire-ferment",
    version,
    about = "labwire daemon for a fermentation chamber: DS18B20 probes (Linux w1) and heater/cooler relays on GPIO"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// The w1 bus's devices directory.
    #[arg(long, value_name = "DIR", default_value = "/sys/bus/w1/devices")]
    pub w1_dir: PathBuf,

    /// A probe and its role: beer=28-xxxxxxxxxxxx (required), chamber=28-... (optional).
    #[arg(long, value_name = "ROLE=ID")]
    pub probe: Vec<String>,

    /// The GPIO character device of the relay lines.
    #[arg(long, value_name = "PATH", default_value = "/dev/gpiochip0")]
    pub gpio_chip: PathBuf,

    /// Line offset of the heater relay on --gpio-chip.
    #[arg(long, value_name = "N")]
    pub heater_line: Option<u32>,

    /// Line offset of the cooler (fridge compressor) relay on --gpio-chip.
    #[arg(long, value_name = "N")]
    pub cooler_line: Option<u32>,

    /// The relays switch on at a low level (most relay boards).
    #[arg(long)]
    pub active_low: bool,

    /// Lowest setpoint accepted (C).
    #[arg(long, value_name = "C", default_value_t = -5.0, allow_negative_numbers = true)]
    pub min_setpoint: f64,

    /// Highest setpoint accepted (C).
    #[arg(
        long,
        value_name = "C",
        default_value_t = 40.0,
        allow_negative_numbers = true
    )]
    pub max_setpoint: f64,

    /// Hysteresis band until set_band saves another (C).
    #[arg(long, value_name = "C", default_value_t = 0.5)]
    pub band: f64,

    /// Seconds the beer may stay outside the band before alarm_setpoint_timeout.
    #[arg(long, value_name = "SECONDS", default_value_t = 14_400.0)]
    pub settle_timeout: f64,

    /// Beer temperature above which alarm_high_limit is raised (C).
    #[arg(
        long,
        value_name = "C",
        default_value_t = 30.0,
        allow_negative_numbers = true
    )]
    pub high_limit: f64,

    /// Beer temperature below which alarm_low_limit is raised (C).
    #[arg(long, value_name = "C", default_value_t = -2.0, allow_negative_numbers = true)]
    pub low_limit: f64,

    /// Shortest time the compressor stays off before it may start again (s).
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    pub min_cooler_off: f64,

    /// Shortest time the compressor runs once started (s).
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0)]
    pub min_cooler_on: f64,

    /// Shortest time the heater stays on once switched on (s).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub min_heater_on: f64,

    /// Time between the heater going off and the compressor starting, and back (s).
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    pub dead_time: f64,
}

/// Longest of the timing flags: a day.
const MAX_SECONDS: f64 = 86_400.0;

fn seconds(flag: &str, value: f64, allow_zero: bool) -> Result<Duration, String> {
    let ok =
        value.is_finite() && value <= MAX_SECONDS && (value > 0.0 || (allow_zero && value == 0.0));
    if ok {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "--{flag}: {value} is not a number of seconds in [0, {MAX_SECONDS}]"
        ))
    }
}

impl Cli {
    /// The control settings; `simulated` puts in the simulated probes' ids.
    pub fn config(&self, simulated: Option<(&str, &str)>) -> Result<Config, String> {
        let (beer_probe, chamber_probe) = match simulated {
            Some((beer, chamber)) => (beer.to_string(), Some(chamber.to_string())),
            None => self.probes()?,
        };
        let (min, max) = (self.min_setpoint, self.max_setpoint);
        if !(min.is_finite() && max.is_finite() && min < max) {
            return Err(format!(
                "--min-setpoint {min} must be below --max-setpoint {max}"
            ));
        }
        if !(self.band > 0.0 && self.band <= MAX_BAND) {
            return Err(format!(
                "--band: {} is outside (0, {MAX_BAND}] C",
                self.band
            ));
        }
        if !(self.low_limit.is_finite()
            && self.high_limit.is_finite()
            && self.low_limit < self.high_limit)
        {
            return Err(format!(
                "--low-limit {} must be below --high-limit {}",
                self.low_limit, self.high_limit
            ));
        }
        Ok(Config {
            beer_probe,
            chamber_probe,
            setpoints: min..=max,
            timing: Timing {
                min_cooler_off: seconds("min-cooler-off", self.min_cooler_off, true)?,
                min_cooler_on: seconds("min-cooler-on", self.min_cooler_on, true)?,
                min_heater_on: seconds("min-heater-on", self.min_heater_on, true)?,
                dead_time: seconds("dead-time", self.dead_time, true)?,
            },
            settle_timeout: seconds("settle-timeout", self.settle_timeout, false)?,
            high_limit: self.high_limit,
            low_limit: self.low_limit,
            band: self.band,
        })
    }

    /// `--probe beer=<id>` and the optional `--probe chamber=<id>`.
    fn probes(&self) -> Result<(String, Option<String>), String> {
        let (mut beer, mut chamber) = (None, None);
        for spec in &self.probe {
            let (role, id) = spec
                .split_once('=')
                .ok_or_else(|| format!("--probe {spec:?}: expected beer=<id> or chamber=<id>"))?;
            if !is_ds18b20_id(id) {
                return Err(format!(
                    "--probe {spec:?}: {id:?} is not a DS18B20 id (28-xxxxxxxxxxxx)"
                ));
            }
            let slot = match role {
                "beer" => &mut beer,
                "chamber" => &mut chamber,
                _ => return Err(format!("--probe {spec:?}: the role is beer or chamber")),
            };
            if slot.replace(id.to_string()).is_some() {
                return Err(format!("--probe: {role} given twice"));
            }
        }
        let beer = beer.ok_or_else(|| {
            "labwire-ferment drives local hardware, not a --device: give --probe beer=<28-id>, \
             --heater-line and --cooler-line (or --simulate)"
                .to_string()
        })?;
        Ok((beer, chamber))
    }

    /// The relay lines (real hardware only).
    pub fn gpio(&self) -> Result<GpioConfig, String> {
        let (Some(heater), Some(cooler)) = (self.heater_line, self.cooler_line) else {
            return Err("--heater-line and --cooler-line are required without --simulate".into());
        };
        if heater == cooler {
            return Err(format!("--heater-line and --cooler-line are both {heater}"));
        }
        Ok(GpioConfig {
            chip: self.gpio_chip.clone(),
            heater,
            cooler,
            active_low: self.active_low,
        })
    }
}
