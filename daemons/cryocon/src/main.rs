//! `labwire-cryocon`: a daemon for a Cryo-con 24C or 22C cryogenic temperature
//! controller over its Ethernet port (TCP 5000). The modules live in the
//! `labwire_cryocon` library (see its layout); this is the framework's start-up, and
//! `--simulate` starts `labwire_sim::cryocon` in-process, still driven over TCP.

use labwire_cryocon::cli::Cli;
use labwire_cryocon::device::{system_clock, Controller};
use labwire_cryocon::Model;
use labwire_daemon::launch::EXIT_CONFIG;
use labwire_daemon::DaemonInfo;
use labwire_sim::cryocon::{self, CryoconOptions};
use std::process::ExitCode;
use std::time::Duration;

const INFO: DaemonInfo = DaemonInfo {
    default_name: "cryocon",
    version: env!("CARGO_PKG_VERSION"),
    default_port: 7021,
    default_device_port: cryocon::DEFAULT_PORT,
    default_device_timeout: Duration::from_secs(2),
};

fn main() -> ExitCode {
    let cli: Cli = labwire_daemon::parse(&INFO);
    if let Err(message) = cli.check() {
        eprintln!("error: {message}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let simulated = cli.model.unwrap_or(Model::Cryocon24C);
    let simulator = move |listen| async move {
        let model = match simulated {
            Model::Cryocon24C => cryocon::Model::Cryocon24C,
            Model::Cryocon22C => cryocon::Model::Cryocon22C,
        };
        let options = CryoconOptions {
            model,
            ..CryoconOptions::default()
        };
        cryocon::spawn(listen, options)
            .await
            .map(|sim| sim.local_addr())
    };
    let common = cli.common.clone();
    labwire_daemon::run(common, INFO, simulator, move |setup| {
        let config = cli.config(&setup, simulated);
        Controller::with_state(config, setup.state, system_clock())
    })
}
