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

use clap::Parser;
use labwire_daemon::{transport, CommonArgs, DaemonInfo};
use labwire_gauge::device;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// The port serial-to-Ethernet servers commonly expose; used when --device has none.
const DEFAULT_DEVICE_PORT: u16 = 8000;

#[derive(Parser, Debug)]
#[command(
    name = "labwire-gauge",
    version,
    about = "labwire daemon for Pfeiffer TPG 36x vacuum gauges"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,

    /// Seconds to wait for each answer of the gauge.
    #[arg(long, default_value_t = 1.0)]
    device_timeout: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let info = DaemonInfo {
        default_name: "gauge",
        version: env!("CARGO_PKG_VERSION"),
        default_port: 7011,
    };
    let timeout = Duration::from_secs_f64(cli.device_timeout.clamp(0.01, 60.0));
    labwire_daemon::run(cli.common, info, move |common| async move {
        let address = if common.simulate {
            let listen = SocketAddr::from(([127, 0, 0, 1], 0));
            let sim =
                labwire_sim::gauge::spawn(listen, labwire_sim::gauge::GaugeOptions::default())
                    .await
                    .map_err(|err| format!("cannot start the gauge simulator: {err}"))?;
            tracing::info!("simulated gauge on {}", sim.local_addr());
            sim.local_addr().to_string()
        } else {
            let spec = common.device.as_deref().unwrap_or_default();
            transport::tcp_address(spec, DEFAULT_DEVICE_PORT).map_err(|err| err.message)?
        };
        Ok(device::Gauge::new(address, timeout))
    })
}
