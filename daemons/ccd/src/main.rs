//! `labwire-ccd`: a daemon for an STA Archon CCD controller over TCP 4242. The modules
//! live in the `labwire_ccd` library (see its layout); this is the framework's start-up,
//! and `--simulate` starts `labwire_sim::archon` in-process, still driven over TCP.

use labwire_ccd::cli::{spawn_simulator, Cli};
use labwire_ccd::Camera;
use labwire_daemon::DaemonInfo;
use std::time::Duration;

const INFO: DaemonInfo = DaemonInfo {
    default_name: "ccd",
    version: env!("CARGO_PKG_VERSION"),
    default_port: 7030,
    default_device_port: labwire_sim::archon::DEFAULT_PORT,
    default_device_timeout: Duration::from_secs(2),
};

fn main() -> std::process::ExitCode {
    let cli: Cli = labwire_daemon::parse(&INFO);
    let options = cli.simulator_options();
    let name = cli.common.name(&INFO);
    labwire_daemon::run(
        cli.common.clone(),
        INFO,
        move |listen| spawn_simulator(listen, options),
        move |setup| Camera::new(cli.config(&setup, name)?, setup.state),
    )
}
