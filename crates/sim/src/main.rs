//! `labwire-sim`: runs one simulated instrument as a stand-alone TCP server, for
//! developing against a device you do not have.
//!
//! Parses the command line (clap exits with 2 on a bad one), spawns the simulator from
//! the `labwire_sim` library, prints the bound address on stdout and serves until
//! Ctrl-C or SIGTERM (exit 0). A failure to bind exits with 1.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use labwire_sim::archon::{self, ArchonOptions};
use labwire_sim::clusterctrl::bridge::{self, Console};
use labwire_sim::cryocon::{self, CryoconOptions};
use labwire_sim::e36300::{self, Model, PsuOptions};
use labwire_sim::gauge::{self, GaugeOptions};
use labwire_sim::{Fault, SimHandle};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// Pfeiffer TPG 361 vacuum gauge (default listen 127.0.0.1:8000)
    Gauge,
    /// Pfeiffer TPG 362 two-channel vacuum gauge (default listen 127.0.0.1:8000)
    Gauge362,
    /// Keysight E36311A power supply (default listen 127.0.0.1:5025)
    E36311a,
    /// Keysight E36312A power supply (default listen 127.0.0.1:5025)
    E36312a,
    /// Keysight E36313A power supply (default listen 127.0.0.1:5025)
    E36313a,
    /// Cryo-con 24C temperature controller (default listen 127.0.0.1:5000)
    Cryocon,
    /// Cryo-con 22C temperature controller (default listen 127.0.0.1:5000)
    Cryocon22,
    /// ClusterCTRL boards and a ClusterHAT as a register console (default listen
    /// 127.0.0.1:5041; see --boards)
    Clusterctrl,
    /// STA Archon CCD controller, 4096x4096 sensor (default listen 127.0.0.1:4242)
    Archon,
}

impl Kind {
    fn default_port(self) -> u16 {
        match self {
            Kind::Gauge | Kind::Gauge362 => gauge::DEFAULT_PORT,
            Kind::Cryocon | Kind::Cryocon22 => cryocon::DEFAULT_PORT,
            Kind::Clusterctrl => bridge::DEFAULT_PORT,
            Kind::Archon => archon::DEFAULT_PORT,
            _ => e36300::DEFAULT_PORT,
        }
    }

    fn cryocon_model(self) -> Option<cryocon::Model> {
        match self {
            Kind::Cryocon => Some(cryocon::Model::Cryocon24C),
            Kind::Cryocon22 => Some(cryocon::Model::Cryocon22C),
            _ => None,
        }
    }

    fn model(self) -> Option<Model> {
        match self {
            Kind::Gauge
            | Kind::Gauge362
            | Kind::Cryocon
            | Kind::Cryocon22
            | Kind::Clusterctrl
            | Kind::Archon => None,
            Kind::E36311a => Some(Model::E36311A),
            Kind::E36312a => Some(Model::E36312A),
            Kind::E36313a => Some(Model::E36313A),
        }
    }
}

/// Simulated lab hardware speaking the real devices' wire protocols over TCP.
#[derive(Debug, Parser)]
#[command(name = "labwire-sim", version)]
struct Cli {
    /// Which instrument to simulate.
    #[arg(value_enum)]
    kind: Kind,

    /// Address to listen on [default: 127.0.0.1:8000 for gauge, 127.0.0.1:5025 for the
    /// supplies, 127.0.0.1:5000 for the Cryo-cons, 127.0.0.1:4242 for the Archon]; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// Fault to inject from the start: none, offline, silent, slow=<ms>, garbage,
    /// disconnect or nak.
    #[arg(long, value_name = "FAULT", default_value = "none")]
    fault: Fault,

    /// archon: the sensor's size in pixels, WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH", default_value = "4096x4096", value_parser = parse_size)]
    sensor: (usize, usize),

    /// archon: pixels read out per second.
    #[arg(long, value_name = "PIXELS", default_value_t = 4.0e6)]
    pixel_rate: f64,

    /// Supplies only: serve VXI-11 too (`TCPIP::<host>::inst0::INSTR`), a portmapper on
    /// --portmapper-port of the listen address and the core channel on a free port.
    #[arg(long)]
    vxi11: bool,

    /// With --vxi11, the portmapper's port (111 on a real instrument, which takes
    /// privileges; 0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = e36300::PORTMAPPER_PORT, requires = "vxi11")]
    portmapper_port: u16,

    /// Seed of measurement noise, for reproducible runs.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// clusterctrl: the buses, e.g. hat-v3,stack,triple (hat-vX.Y, da, triple, phat,
    /// aplus6, single, stack).
    #[arg(long, value_name = "LIST", default_value = "hat-v3,stack,triple")]
    boards: String,

    /// clusterctrl: keep the boards' EEPROMs in files in this directory.
    #[arg(long, value_name = "DIR")]
    eeprom_dir: Option<std::path::PathBuf>,

    /// Log level: error, warn, info, debug or trace (logs go to stderr).
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log_level: tracing::Level,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.vxi11 && cli.kind.model().is_none() {
        eprintln!("labwire-sim: error: --vxi11: only the supplies speak VXI-11");
        return ExitCode::from(2);
    }
    tracing_subscriber::fmt()
        .with_max_level(cli.log_level)
        .with_writer(std::io::stderr)
        .init();
    if cli.kind == Kind::Clusterctrl {
        if let Err(err) = Console::new(&cli.boards, None) {
            eprintln!("labwire-sim: --boards: {err}");
            return ExitCode::from(2);
        }
    }
    let listen = cli.listen.unwrap_or_else(|| {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), cli.kind.default_port())
    });
    match run(&cli, listen).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("labwire-sim: cannot listen on {listen}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli, listen: SocketAddr) -> std::io::Result<()> {
    if cli.kind == Kind::Clusterctrl {
        let console =
            Console::new(&cli.boards, cli.eeprom_dir.as_deref()).expect("--boards checked in main");
        announce("clusterctrl", bridge::spawn(listen, console).await?);
        return wait_for_signal().await;
    }
    if cli.kind == Kind::Archon {
        let options = ArchonOptions {
            sensor: archon::SensorModel {
                width: cli.sensor.0,
                height: cli.sensor.1,
                ..archon::SensorModel::default()
            },
            pixel_rate: cli.pixel_rate,
            seed: cli.seed,
            ..ArchonOptions::default()
        };
        let handle = archon::spawn(listen, options).await?;
        return serve("archon", handle, cli.fault).await;
    }
    if let Some(model) = cli.kind.cryocon_model() {
        let options = CryoconOptions {
            model,
            seed: cli.seed,
            ..CryoconOptions::default()
        };
        let handle = cryocon::spawn(listen, options).await?;
        return serve(&format!("cryocon {model}"), handle, cli.fault).await;
    }
    match cli.kind.model() {
        None => {
            let options = GaugeOptions {
                seed: cli.seed,
                model: match cli.kind {
                    Kind::Gauge362 => gauge::Model::Tpg362,
                    _ => gauge::Model::Tpg361,
                },
                ..GaugeOptions::default()
            };
            let name = if cli.kind == Kind::Gauge362 {
                "gauge362"
            } else {
                "gauge"
            };
            serve(name, gauge::spawn(listen, options).await?, cli.fault).await
        }
        Some(model) => {
            let options = PsuOptions {
                model,
                seed: cli.seed,
                ..PsuOptions::default()
            };
            let handle = e36300::spawn(listen, options).await?;
            if !cli.vxi11 {
                return serve(model.idn_model(), handle, cli.fault).await;
            }
            let portmapper = SocketAddr::new(listen.ip(), cli.portmapper_port);
            let vxi11 = e36300::spawn_vxi11(handle.control(), portmapper, cli.seed)
                .await
                .map_err(|err| {
                    std::io::Error::new(err.kind(), format!("portmapper {portmapper}: {err}"))
                })?;
            vxi11.set_fault(cli.fault);
            println!(
                "labwire-sim {} vxi11 portmapper on {} (core channel {})",
                model.idn_model(),
                vxi11.portmapper_addr(),
                vxi11.core_addr()
            );
            let result = serve(model.idn_model(), handle, cli.fault).await;
            vxi11.shutdown();
            vxi11.stopped().await;
            result
        }
    }
}

fn parse_size(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("{text:?} is not WIDTHxHEIGHT, each 1-16384");
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let size: (usize, usize) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    let fits = |n: usize| (1..=16384).contains(&n);
    (fits(size.0) && fits(size.1))
        .then_some(size)
        .ok_or_else(bad)
}

async fn serve<C>(name: &str, handle: SimHandle<C>, fault: Fault) -> std::io::Result<()> {
    handle.set_fault(fault);
    announce(name, handle.local_addr());
    let result = wait_for_signal().await;
    handle.shutdown();
    handle.stopped().await;
    result
}

/// Scripts and tests read the port from this line (its last word is the address).
fn announce(name: &str, addr: SocketAddr) {
    println!("labwire-sim {name} listening on {addr}");
}

#[cfg(unix)]
async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}
