//! [`run`]: the whole life of a device daemon binary, from its parsed command line to
//! its exit code. Everything the command line can get wrong is found before the runtime
//! starts; the daemon supplies only its simulator and its device constructor.

use crate::cli::{block_on, init_logging, shutdown_signal, CommonArgs, DaemonInfo};
use crate::device::Device;
use crate::hardware::HardwareConfig;
use crate::server::{Daemon, ServerConfig};
use crate::state::StateFile;
use crate::transport;
use std::fmt::Display;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{error, info};

/// Exit code of a bad command line or configuration (as clap uses for usage errors).
pub const EXIT_CONFIG: u8 = 2;

/// What a daemon's device constructor gets from the framework.
#[derive(Debug)]
pub struct Setup {
    /// `host:port` of the hardware: from `--device` (with the daemon's default port), or
    /// the in-process simulator's address under `--simulate`; empty for local hardware
    /// ([`crate::cli::parse_local`]). A daemon started with [`run_over`] and
    /// [`Transports::SocketOrVxi11`] may get `vxi11://host:port/device` instead:
    /// [`transport::InstrumentLink::connect_to`] reaches either.
    pub device_address: String,
    /// Whether `device_address` is the in-process simulator.
    pub simulated: bool,
    /// `--device-timeout`, or the daemon's default: the deadline for each answer.
    pub device_timeout: Duration,
    /// The daemon's state file, already read ([`StateFile::load`] what was saved).
    pub state: StateFile,
}

/// The transports a daemon's device is reached by, which decides the `--device` forms
/// accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transports {
    /// A raw TCP socket only: `host[:port]`, `TCPIP::<host>::<port>::SOCKET`.
    Socket,
    /// The socket forms, and VXI-11: `TCPIP[n]::<host>[::inst0]::INSTR`, `vxi11://host`.
    SocketOrVxi11,
}

/// Where the hardware is, as resolved from the command line.
enum Hardware {
    At(String),
    Simulated,
    /// No `--device`: local hardware the daemon finds itself ([`crate::cli::parse_local`]).
    Local,
}

/// Everything taken from the command line, checked before the runtime starts.
struct Checked {
    name: String,
    listen: SocketAddr,
    token: Option<String>,
    hardware: Hardware,
    device_timeout: Duration,
    state: StateFile,
}

fn check(
    common: &CommonArgs,
    info: &DaemonInfo,
    transports: Transports,
) -> Result<Checked, String> {
    let port = info.default_device_port;
    let hardware = match (&common.device, common.simulate) {
        (Some(spec), false) => Hardware::At(
            match transports {
                Transports::Socket => transport::tcp_address(spec, port),
                Transports::SocketOrVxi11 => {
                    transport::DeviceAddress::parse(spec, port).map(|address| address.to_string())
                }
            }
            .map_err(|err| format!("--device: {}", err.message))?,
        ),
        (None, false) => Hardware::Local,
        (_, true) => Hardware::Simulated,
    };
    Ok(Checked {
        name: common.name(info),
        listen: common.listen_addr(info),
        token: common.token()?,
        hardware,
        device_timeout: common.device_timeout(info),
        state: StateFile::open(common.state_path(info))?,
    })
}

/// Run a daemon until `exit`, SIGINT or SIGTERM.
///
/// `simulator` starts the device's simulator in-process (only under `--simulate`) on the
/// loopback address it is given (port 0) and returns the address it bound; `make_device` builds the device from the [`Setup`], reading its
/// saved state; its error is a configuration error. Exit codes: 0 clean stop, 2 bad
/// command line or configuration (the message on stderr), 1 anything else.
pub fn run<D, S, SimFut, SimError, M>(
    common: CommonArgs,
    info: DaemonInfo,
    simulator: S,
    make_device: M,
) -> ExitCode
where
    D: Device,
    S: FnOnce(SocketAddr) -> SimFut,
    SimFut: Future<Output = Result<SocketAddr, SimError>>,
    SimError: Display,
    M: FnOnce(Setup) -> Result<D, String>,
{
    run_over(Transports::Socket, common, info, simulator, make_device)
}

/// [`run`] for a device reached over any of `transports`.
pub fn run_over<D, S, SimFut, SimError, M>(
    transports: Transports,
    common: CommonArgs,
    info: DaemonInfo,
    simulator: S,
    make_device: M,
) -> ExitCode
where
    D: Device,
    S: FnOnce(SocketAddr) -> SimFut,
    SimFut: Future<Output = Result<SocketAddr, SimError>>,
    SimError: Display,
    M: FnOnce(Setup) -> Result<D, String>,
{
    init_logging(common.log_level, &common.name(&info));
    let checked = match check(&common, &info, transports) {
        Ok(checked) => checked,
        Err(message) => return configuration_error(&message),
    };
    block_on(async move {
        let (device_address, simulated) = match checked.hardware {
            Hardware::At(address) => (address, false),
            Hardware::Local => (String::new(), false),
            Hardware::Simulated => {
                match simulator(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await {
                    Ok(address) => {
                        info!("simulated {} on {address}", info.default_name);
                        (address.to_string(), true)
                    }
                    Err(message) => {
                        error!("cannot start the simulator: {message}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        };
        let device = match make_device(Setup {
            device_address,
            simulated,
            device_timeout: checked.device_timeout,
            state: checked.state,
        }) {
            Ok(device) => device,
            Err(message) => return configuration_error(&message),
        };
        let listener = match TcpListener::bind(checked.listen).await {
            Ok(listener) => listener,
            Err(err) => {
                error!("cannot listen on {}: {err}", checked.listen);
                return ExitCode::FAILURE;
            }
        };
        let config = ServerConfig {
            name: checked.name,
            version: info.version.to_string(),
            token: checked.token,
            max_connections: common.max_connections,
            max_line: common.max_line,
            hardware: HardwareConfig {
                poll_interval: Duration::from_secs_f64(common.poll_interval),
                ..HardwareConfig::default()
            },
            ..ServerConfig::default()
        };
        serve(Daemon::start(listener, config, device)).await
    })
    .unwrap_or_else(|code| code)
}

fn configuration_error(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_CONFIG)
}

/// Announce the address, then serve until `exit` or a signal.
async fn serve(daemon: Daemon) -> ExitCode {
    let signal = shutdown_signal();
    let stop = daemon.shutdown_token();
    tokio::spawn(async move {
        signal.await;
        info!("signal received, stopping");
        stop.cancel();
    });
    // Tests and launch scripts read the bound address from stdout.
    println!("listening {}", daemon.local_addr());
    info!("listening on {}", daemon.local_addr());
    daemon.wait().await;
    info!("stopped");
    ExitCode::SUCCESS
}
