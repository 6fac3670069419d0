//! `labwire-psu`: a daemon for a Keysight E36311A, E36312A or E36313A triple-output power
//! supply, driven by SCPI over a raw TCP socket (port 5025).
//!
//! Layout (the modules live in the `labwire_psu` library so tests can use them):
//! - `driver`: the instrument's SCPI: identification and ratings per model, the one
//!   chained query that reads every output, settings followed by the error queue.
//! - `device`: the labwire `Device`: commands, validation against the model's ratings
//!   and the command line's limits, status variables.
//! - `main`: the command line; `--simulate` starts `labwire_sim::e36300` in-process and
//!   still talks to it through the real TCP driver.
//!
//! Units: volts (V) and amperes (A) everywhere. Status variables, for each output N in
//! 1..3:
//! - `chN_name`: the label from `--channel-name` or `set_name` (default `chN`);
//! - `chN_output`: 0/1, whether the output is on;
//! - `chN_voltage_set` (V), `chN_current_set` (A): voltage setpoint and current limit;
//! - `chN_voltage` (V), `chN_current` (A): measured at the output terminals;
//! - `chN_mode`: `off`, `cv` (constant voltage) or `cc` (constant current: the output
//!   delivers at least 99 % of its current limit, below 99 % of its voltage setpoint);
//! - `chN_ovp_level` (V): over-voltage protection level; `chN_ovp_tripped`: 0/1;
//! - `chN_ocp_enabled`, `chN_ocp_tripped`: 0/1, over-current protection.
//!
//! and `idn_model`, `idn_serial`, `idn_firmware` from `*IDN?`, plus the framework's
//! `hw_connected`, `status_age` (s) and `errors`. The E36311A's output 3 is a -25 V
//! output: its voltages and its protection level are negative.
//!
//! Commands (volts and amperes): `set_voltage ch= value=`, `set_current ch= value=`,
//! `output ch= state=on|off`, `all_off`, `set_ovp ch= value=`, `set_ocp ch= state=on|off`,
//! `clear_protection ch=`, `set_name ch= name=` and the framework's `reconnect`; see
//! README.md.

use clap::Parser;
use labwire_daemon::{transport, CommonArgs, DaemonInfo};
use labwire_psu::device::{self, Config, Limits, Psu};
use labwire_psu::driver::{Model, CHANNELS};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// The E36300's SCPI socket port.
const DEFAULT_DEVICE_PORT: u16 = 5025;

#[derive(Parser, Debug)]
#[command(
    name = "labwire-psu",
    version,
    about = "labwire daemon for Keysight E36311A/E36312A/E36313A power supplies (SCPI over TCP)",
    after_help = "--device takes HOST, HOST:PORT (default port 5025) or TCPIP::HOST::5025::SOCKET."
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,

    /// With --simulate, the model to simulate (default e36313a). With --device, the model
    /// the instrument must identify as; its ratings then apply before the first connect.
    #[arg(long, value_name = "e36311a|e36312a|e36313a", value_parser = parse_model)]
    model: Option<Model>,

    /// Highest voltage magnitude allowed on an output, tighter than its rating, as
    /// CH=VOLTS (repeatable: --max-voltage 1=5.5 --max-voltage 2=12).
    #[arg(long, value_name = "CH=VOLTS", value_parser = parse_limit)]
    max_voltage: Vec<(usize, f64)>,

    /// Highest current limit allowed on an output, tighter than its rating, as CH=AMPS
    /// (repeatable).
    #[arg(long, value_name = "CH=AMPS", value_parser = parse_limit)]
    max_current: Vec<(usize, f64)>,

    /// A label for an output, reported as chN_name, as CH=NAME (repeatable).
    #[arg(long, value_name = "CH=NAME", value_parser = parse_channel_name)]
    channel_name: Vec<(usize, String)>,

    /// Seconds to wait for each answer of the instrument.
    #[arg(long, default_value_t = 2.0, value_parser = parse_timeout)]
    device_timeout: f64,
}

fn parse_model(text: &str) -> Result<Model, String> {
    text.parse()
}

fn parse_channel(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(ch) if (1..=CHANNELS).contains(&ch) => Ok(ch),
        _ => Err(format!("{text:?} is not an output number 1..{CHANNELS}")),
    }
}

fn parse_limit(text: &str) -> Result<(usize, f64), String> {
    let (ch, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected CH=VALUE, e.g. 1=5.5"))?;
    let ch = parse_channel(ch)?;
    match labwire_protocol::parse_number(value.trim()) {
        Some(limit) if limit > 0.0 => Ok((ch, limit)),
        _ => Err(format!("{value:?} is not a positive number")),
    }
}

fn parse_channel_name(text: &str) -> Result<(usize, String), String> {
    let (ch, name) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected CH=NAME, e.g. 1=detector"))?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > device::MAX_NAME_CHARS {
        return Err(format!(
            "a name has 1 to {} characters",
            device::MAX_NAME_CHARS
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("a name must not contain control characters".into());
    }
    Ok((parse_channel(ch)?, name.to_string()))
}

fn parse_timeout(text: &str) -> Result<f64, String> {
    match labwire_protocol::parse_number(text) {
        Some(seconds) if seconds > 0.0 && seconds <= 60.0 => Ok(seconds),
        _ => Err(format!("{text:?} is not a number of seconds in (0, 60]")),
    }
}

impl Cli {
    fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        for &(ch, volts) in &self.max_voltage {
            limits.max_voltage[ch - 1] = Some(volts);
        }
        for &(ch, amps) in &self.max_current {
            limits.max_current[ch - 1] = Some(amps);
        }
        limits
    }

    fn names(&self) -> [String; CHANNELS] {
        let mut names = device::default_names();
        for (ch, name) in &self.channel_name {
            names[ch - 1] = name.clone();
        }
        names
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let info = DaemonInfo {
        default_name: "psu",
        version: env!("CARGO_PKG_VERSION"),
        default_port: 7001,
    };
    let limits = cli.limits();
    let names = cli.names();
    let timeout = Duration::from_secs_f64(cli.device_timeout);
    let model = cli.model;
    // A malformed --device is a configuration error (exit 2), found before anything starts.
    let device_address = match (&cli.common.device, cli.common.simulate) {
        (Some(spec), false) => match transport::tcp_address(spec, DEFAULT_DEVICE_PORT) {
            Ok(address) => Some(address),
            Err(err) => {
                eprintln!("error: --device: {}", err.message);
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    labwire_daemon::run(cli.common, info, move |common| async move {
        let (address, expected_model) = match device_address {
            Some(address) => (address, model),
            None => {
                debug_assert!(common.simulate);
                let model = model.unwrap_or(Model::E36313A);
                (start_simulator(model).await?, Some(model))
            }
        };
        Ok(Psu::new(Config {
            address,
            timeout,
            expected_model,
            limits,
            names,
        }))
    })
}

/// Start the simulated supply on a free loopback port; returns its address.
async fn start_simulator(model: Model) -> Result<String, String> {
    use labwire_sim::e36300;
    let options = e36300::PsuOptions {
        model: model.name().parse().map_err(|err| format!("{err}"))?,
        ..e36300::PsuOptions::default()
    };
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let sim = e36300::spawn(listen, options)
        .await
        .map_err(|err| format!("cannot start the {model} simulator: {err}"))?;
    tracing::info!("simulated {model} on {}", sim.local_addr());
    Ok(sim.local_addr().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_names_on_the_command_line() {
        let cli = Cli::try_parse_from([
            "labwire-psu",
            "--simulate",
            "--max-voltage",
            "1=5.5",
            "--max-voltage",
            "3=12",
            "--max-current",
            " 2 = 0.5 ",
            "--channel-name",
            "1=detector bias",
            "--model",
            "E36311A",
        ])
        .unwrap();
        assert_eq!(
            cli.limits(),
            Limits {
                max_voltage: [Some(5.5), None, Some(12.0)],
                max_current: [None, Some(0.5), None],
            }
        );
        assert_eq!(cli.names(), ["detector bias", "ch2", "ch3"]);
        assert_eq!(cli.model, Some(Model::E36311A));
        assert_eq!(cli.device_timeout, 2.0);
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in ["", "1", "=5", "0=5", "4=5", "1=0", "1=-3", "1=inf", "1=5V"] {
            assert!(parse_limit(bad).is_err(), "{bad:?}");
        }
        for bad in ["1=", "1", "9=x", &format!("1={}", "x".repeat(65))] {
            assert!(parse_channel_name(bad).is_err(), "{bad:?}");
        }
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("61").is_err());
        assert!(parse_model("e36103b").unwrap_err().contains("e36103b"));
    }
}
