//! `labwire-gauge`: a daemon for a Pfeiffer TPG 36x vacuum gauge controller on its own
//! Ethernet command port (TCP 8000), or on its RS-485 interface through a converter
//! (`--rs485`). The modules live in the `labwire_gauge` library (see its layout); this is
//! the framework's start-up, and `--simulate` starts `labwire_sim::gauge` in-process,
//! still talked to through the real TCP driver.
//!
//! Status variables: `pressure` (mbar, converted from whatever unit the controller
//! displays; empty when the gauge has no valid reading or in Volt mode), `voltage` (V,
//! the gauge's signal, only in Volt mode), `measurement` (`pressure` or `voltage`: which
//! of the two the controller's unit fills), `gauge_status` (0 ok, 1 underrange,
//! 2 overrange, 3 sensor error, 4 sensor off, 5 no sensor, 6 identification error),
//! `gauge_status_text`, `unit` (the controller's display unit), `gauge_type`, plus the
//! framework's `hw_connected`, `status_age` (s) and `errors`.

use labwire_daemon::DaemonInfo;
use labwire_gauge::cli::{spawn_simulator, Cli};
use labwire_gauge::device::Gauge;
use std::process::ExitCode;
use std::time::Duration;

const INFO: DaemonInfo = DaemonInfo {
    default_name: "gauge",
    version: env!("CARGO_PKG_VERSION"),
    default_port: 7011,
    // The TPG 36x's Ethernet command port.
    default_device_port: 8000,
    default_device_timeout: Duration::from_secs(1),
};

fn main() -> ExitCode {
    let cli: Cli = labwire_daemon::parse(&INFO);
    let line_end = cli.line_end();
    labwire_daemon::run(
        cli.common,
        INFO,
        move |listen| spawn_simulator(listen, line_end),
        move |setup| {
            Ok(Gauge::new(
                setup.device_address,
                setup.device_timeout,
                line_end,
            ))
        },
    )
}
