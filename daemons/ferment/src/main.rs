//! `labwire-ferment`: the fermentation chamber daemon (see the library's documentation
//! and docs/daemons/ferment.md).
//!
//! `main` checks the daemon's own flags (exit 2 naming the mistake), then runs the
//! framework. Its hardware is local, so it takes no `--device`. `--simulate` starts
//! `labwire_sim::ferment` in-process: the real w1 reader reads the plant's w1 tree in a
//! temporary directory, and the relays are the plant's simulated lines.

use labwire_daemon::DaemonInfo;
use labwire_ferment::cli::{Cli, LOCAL_HARDWARE};
use labwire_ferment::device::{Ferment, SystemClock};
use labwire_ferment::gpio::GpioRelays;
use labwire_ferment::probe::W1Bus;
use labwire_ferment::relays::RelayLines;
use labwire_ferment::sim::SimulatedChip;
use labwire_sim::ferment::{self, FermentOptions, FermentSim};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const INFO: DaemonInfo = DaemonInfo {
    default_name: "ferment",
    version: env!("CARGO_PKG_VERSION"),
    default_port: 7031,
    // Unused: the hardware is local.
    default_device_port: 0,
    default_device_timeout: Duration::from_secs(2),
};

fn main() -> ExitCode {
    let cli: Cli = labwire_daemon::cli::parse_local(&INFO, LOCAL_HARDWARE);
    let simulate = cli.common.simulate;
    let checked = if cli.common.device.is_some() {
        Err(format!(
            "--device: labwire-ferment's hardware is local ({LOCAL_HARDWARE})"
        ))
    } else if simulate {
        cli.config(Some((ferment::BEER_PROBE, ferment::CHAMBER_PROBE)))
            .map(|config| (config, None))
    } else {
        cli.config(None)
            .and_then(|config| Ok((config, Some(cli.gpio()?))))
    };
    let (config, gpio) = match checked {
        Ok(checked) => checked,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(labwire_daemon::launch::EXIT_CONFIG);
        }
    };
    // The simulator lives as long as the daemon; the device takes its handle.
    let plant: Arc<Mutex<Option<FermentSim>>> = Arc::default();
    let started = plant.clone();
    let simulator = move |listen| async move {
        let sim = ferment::spawn(FermentOptions::default()).map_err(|err| err.to_string())?;
        *started.lock().unwrap_or_else(|e| e.into_inner()) = Some(sim);
        // Not a network device: the address is only logged.
        Ok::<_, String>(listen)
    };
    let w1_dir = cli.w1_dir.clone();
    labwire_daemon::run(cli.common, INFO, simulator, move |setup| {
        let held = plant.lock().unwrap_or_else(|e| e.into_inner()).take();
        let (lines, probes): (Box<dyn RelayLines>, W1Bus) = match (held, gpio) {
            (Some(sim), _) if setup.simulated => {
                let probes = W1Bus::new(sim.control().w1_dir());
                (Box::new(SimulatedChip::owning(sim)), probes)
            }
            (_, Some(gpio)) => (Box::new(GpioRelays::new(gpio)), W1Bus::new(&w1_dir)),
            _ => return Err("no hardware: give --probe and the relay lines, or --simulate".into()),
        };
        Ferment::new(
            config,
            lines,
            Arc::new(probes),
            Box::<SystemClock>::default(),
            setup.state,
        )
    })
}
