//! `labwire-clusterctrl`: the Pi cluster daemon (see the library's documentation and
//! docs/daemons/clusterctrl.md).
//!
//! `main` checks the daemon's own flags and the boards' orders (exit 2 naming the
//! mistake), then runs the framework. The hardware is local I2C, so it takes no
//! `--device`. `--simulate` builds the `--boards` from `labwire_sim::clusterctrl`
//! in-process, behind the same bus trait and drivers as real buses.

use labwire_clusterctrl::cli::{Cli, LOCAL_HARDWARE};
use labwire_clusterctrl::device::ClusterDevice;
use labwire_daemon::DaemonInfo;
use std::process::ExitCode;
use std::time::Duration;

const INFO: DaemonInfo = DaemonInfo {
    default_name: "clusterctrl",
    version: env!("CARGO_PKG_VERSION"),
    default_port: 7041,
    // Unused: the hardware is local.
    default_device_port: 0,
    default_device_timeout: Duration::from_secs(2),
};

fn main() -> ExitCode {
    let cli: Cli = labwire_daemon::cli::parse_local(&INFO, LOCAL_HARDWARE);
    let cluster = if cli.common.device.is_some() {
        Err(format!(
            "--device: labwire-clusterctrl's hardware is local ({LOCAL_HARDWARE})"
        ))
    } else if cli.common.simulate {
        cli.simulated_cluster(&cli.common.state_path(&INFO))
    } else {
        cli.real_cluster()
    };
    let cluster = match cluster {
        Ok(cluster) => cluster,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(labwire_daemon::launch::EXIT_CONFIG);
        }
    };
    // The simulated boards are already built (in `cluster`); no network device to start.
    let simulator = |listen| async move { Ok::<_, String>(listen) };
    labwire_daemon::run(cli.common, INFO, simulator, move |_setup| {
        Ok(ClusterDevice::new(cluster))
    })
}
