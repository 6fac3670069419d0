//! `labwire-cryocon`: a daemon for a Cryo-con 24C or 22C cryogenic temperature
//! controller over its Ethernet port (TCP 5000). The modules live in the
//! `labwire_cryocon` library (see its layout); this is the framework's start-up, and
//! `--simulate` starts `labwire_sim::cryocon` in-process, still driven over TCP.

use labwire_cryocon::cli::{spawn_simulator, Cli};
use labwire_cryocon::device::{system_clock, Controller};
use labwire_daemon::launch::EXIT_CONFIG;
use labwire_daemon::DaemonInfo;
use std::process::ExitCode;
use std::time::Duration;

const INFO: DaemonInfo = DaemonInfo {
    default_name: "cryocon",
    version: env!("CARGO_PKG_VERSION"),
    default_port: 7021,
    default_device_port: labwire_cryocon::driver::DEFAULT_PORT,
    default_device_timeout: Duration::from_secs(2),
};

fn main() -> ExitCode {
    let cli: Cli = labwire_daemon::parse(&INFO);
    if let Err(message) = cli.check() {
        eprintln!("error: {message}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let model = cli.simulated_model();
    labwire_daemon::run(
        cli.common.clone(),
        INFO,
        move |listen| spawn_simulator(listen, model),
        move |setup| Controller::with_state(cli.config(&setup), setup.state, system_clock()),
    )
}
