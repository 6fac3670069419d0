//! `labwire-gauge`: a daemon for a Pfeiffer TPG 36x vacuum gauge controller reached as a
//! TCP byte stream (usually through a serial-to-Ethernet server).
//!
//! Layout:
//! - [`driver`]: the controller's mnemonic protocol (ACK/NAK/ENQ) over a byte link.
//! - [`device`]: the labwire `Device`: status variables and commands.
//! - `main`: the command line; `--simulate` starts `labwire_sim::gauge` in-process and
//!   still talks to it through the real TCP driver.
//!
//! Status variables: `pressure` (mbar, whatever unit the controller displays; empty when
//! the gauge has no valid reading), `gauge_status` (0 ok, 1 underrange, 2 overrange,
//! 3 sensor error, 4 sensor off, 5 no sensor, 6 identification error),
//! `gauge_status_text`, `unit` (the controller's display unit), `gauge_type`, plus the
//! framework's `hw_connected`, `status_age` (s) and `errors`.

use labwire_daemon::{CommonArgs, DaemonInfo};
use labwire_gauge::device::Gauge;
use labwire_sim::gauge::{spawn, GaugeOptions};
use std::process::ExitCode;
use std::time::Duration;

const INFO: DaemonInfo = DaemonInfo {
    default_name: "gauge",
    version: env!("CARGO_PKG_VERSION"),
    default_port: 7011,
    // The port serial-to-Ethernet servers commonly expose.
    default_device_port: 8000,
    default_device_timeout: Duration::from_secs(1),
};

#[derive(clap::Parser, Debug)]
#[command(
    name = "labwire-gauge",
    version,
    about = "labwire daemon for Pfeiffer TPG 36x vacuum gauges"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let cli: Cli = labwire_daemon::parse(&INFO);
    let simulator = |listen| async move {
        let sim = spawn(listen, GaugeOptions::default()).await;
        sim.map(|sim| sim.local_addr())
    };
    labwire_daemon::run(cli.common, INFO, simulator, |setup| {
        Ok(Gauge::new(setup.device_address, setup.device_timeout))
    })
}
