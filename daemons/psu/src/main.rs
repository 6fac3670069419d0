//! `labwire-psu`: a daemon for a Keysight E36311A, E36312A or E36313A triple-output power
//! supply, driven by SCPI over a raw TCP socket (port 5025) or VXI-11
//! (`--device TCPIP::<host>::inst0::INSTR`, `vxi11://<host>`).
//!
//! Layout (the modules live in the `labwire_psu` library so tests can use them):
//! - `driver`: the instrument's SCPI: identification and ratings per model, the one
//!   chained query that reads every output, settings followed by the error queue.
//! - `device`: the labwire `Device`: commands, validation against the model's ratings
//!   and the command line's limits, status variables.
//! - `cli`: the psu's own flags (model, limits, names) beside the framework's.
//! - `main`: the framework's start-up; `--simulate` starts `labwire_sim::e36300`
//!   in-process and still talks to it through the real TCP driver.
//!
//! Units: volts (V) and amperes (A) everywhere. Status variables, for each output N in
//! 1..3:
//! - `chN_name`: the label from `--channel-name` or `set_name` (default `chN`); names set
//!   with `set_name` are saved in the state file (`--state-file`) and shown again after a
//!   restart, unless `--channel-name` gives that output another;
//! - `chN_output`: 0/1, whether the output is on;
//! - `chN_voltage_set` (V), `chN_current_set` (A): voltage setpoint and current limit;
//! - `chN_voltage` (V), `chN_current` (A): measured at the output terminals;
//! - `chN_mode`: `off`, `cv` (constant voltage), `cc` (constant current) or
//!   `unregulated`, as the supply itself reports it (`STAT:QUES:INST:ISUM<n>:COND?`, read
//!   in the same round trip as everything else);
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

use labwire_daemon::{DaemonInfo, Transports};
use labwire_psu::cli::Cli;
use labwire_psu::device::{Config, Psu};
use labwire_psu::driver::Model;
use labwire_sim::e36300::{spawn, PsuOptions};
use std::process::ExitCode;
use std::time::Duration;

const INFO: DaemonInfo = DaemonInfo {
    default_name: "psu",
    version: env!("CARGO_PKG_VERSION"),
    default_port: 7001,
    // The E36300's SCPI socket port.
    default_device_port: 5025,
    default_device_timeout: Duration::from_secs(2),
};

fn main() -> ExitCode {
    let cli: Cli = labwire_daemon::parse(&INFO);
    let simulated_model = cli.model.unwrap_or(Model::E36313A);
    let simulator = move |listen| async move {
        let model = simulated_model
            .name()
            .parse()
            .map_err(|err| format!("{err}"))?;
        let options = PsuOptions {
            model,
            ..PsuOptions::default()
        };
        let sim = spawn(listen, options)
            .await
            .map_err(|err| err.to_string())?;
        Ok::<_, String>(sim.local_addr())
    };
    let (limits, names) = (cli.limits(), cli.names());
    labwire_daemon::run_over(
        Transports::SocketOrVxi11,
        cli.common,
        INFO,
        simulator,
        move |setup| {
            let config = Config {
                address: setup.device_address,
                timeout: setup.device_timeout,
                expected_model: if setup.simulated {
                    Some(simulated_model)
                } else {
                    cli.model
                },
                limits,
                names,
            };
            Psu::with_state(config, setup.state)
        },
    )
}
