//! The flags every daemon reads the same way, logging, signals, and [`run`], which a
//! daemon's `main` calls with its device.

use crate::device::Device;
use crate::hardware::HardwareConfig;
use crate::server::{Daemon, ServerConfig};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{error, info};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

#[derive(clap::Args, Clone, Debug)]
pub struct CommonArgs {
    /// Address to serve the line protocol on; loopback unless you say otherwise
    /// (e.g. 0.0.0.0:7001). Port 0 picks a free port, printed on stdout.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,

    /// Name reported by get_id and used as the log source (default: the device type).
    #[arg(long)]
    pub name: Option<String>,

    /// The hardware to drive: HOST[:PORT], or for TCP instruments the VISA form
    /// TCPIP::<host>::<port>::SOCKET.
    #[arg(
        long,
        value_name = "HOST[:PORT]",
        required_unless_present = "simulate",
        conflicts_with = "simulate"
    )]
    pub device: Option<String>,

    /// Run the device's simulator in-process and drive it through the real driver.
    #[arg(long)]
    pub simulate: bool,

    /// File holding a secret; connections must then send `auth token=<secret>`.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Seconds between hardware polls.
    #[arg(long, default_value_t = 1.0, value_parser = positive_seconds)]
    pub poll_interval: f64,

    /// Most connections served at once; more are answered `error code=busy`.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,

    /// Longest accepted request line in bytes.
    #[arg(long, default_value_t = labwire_protocol::DEFAULT_MAX_LINE)]
    pub max_line: usize,

    /// error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    pub log_level: LevelFilter,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match labwire_protocol::parse_number(text) {
        Some(seconds) if seconds > 0.0 && seconds <= 86_400.0 => Ok(seconds),
        _ => Err(format!("{text:?} is not a number of seconds in (0, 86400]")),
    }
}

/// What a daemon binary tells the framework about itself.
#[derive(Clone, Copy, Debug)]
pub struct DaemonInfo {
    /// Default `--name`, e.g. "gauge".
    pub default_name: &'static str,
    /// The binary crate's version (`env!("CARGO_PKG_VERSION")`).
    pub version: &'static str,
    pub default_port: u16,
}

impl CommonArgs {
    pub fn name(&self, info: &DaemonInfo) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| info.default_name.to_string())
    }

    pub fn listen_addr(&self, info: &DaemonInfo) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, info.default_port)))
    }

    pub fn token(&self) -> Result<Option<String>, String> {
        self.token_file.as_deref().map(read_token_file).transpose()
    }
}

/// Read a token file: one secret, surrounding blanks and newlines ignored.
pub fn read_token_file(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("{}: cannot read token file: {err}", path.display()))?;
    match text.trim() {
        "" => Err(format!("{}: token file is empty", path.display())),
        token => Ok(token.to_string()),
    }
}

pub fn init_logging(level: LevelFilter, source: &str) {
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(level);
    let _ = tracing_subscriber::registry()
        .with(console)
        .with(crate::logbus::layer(source))
        .try_init();
}

/// Run a daemon until `exit`, SIGINT or SIGTERM. `make_device` runs inside the runtime
/// (so it may start an in-process simulator). Exit codes: 0 clean stop, 2 bad
/// configuration, 1 anything else.
pub fn run<D, F, Fut>(common: CommonArgs, info: DaemonInfo, make_device: F) -> ExitCode
where
    D: Device,
    F: FnOnce(CommonArgs) -> Fut,
    Fut: Future<Output = Result<D, String>>,
{
    let name = common.name(&info);
    init_logging(common.log_level, &name);
    let token = match common.token() {
        Ok(token) => token,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    block_on(async move {
        let listen = common.listen_addr(&info);
        let listener = match TcpListener::bind(listen).await {
            Ok(listener) => listener,
            Err(err) => {
                error!("cannot listen on {listen}: {err}");
                return ExitCode::FAILURE;
            }
        };
        let config = ServerConfig {
            name,
            version: info.version.to_string(),
            token,
            max_connections: common.max_connections,
            max_line: common.max_line,
            hardware: HardwareConfig {
                poll_interval: Duration::from_secs_f64(common.poll_interval),
                ..HardwareConfig::default()
            },
            ..ServerConfig::default()
        };
        let device = match make_device(common).await {
            Ok(device) => device,
            Err(message) => {
                error!("{message}");
                return ExitCode::FAILURE;
            }
        };
        let daemon = Daemon::start(listener, config, device);
        // Tests and launch scripts read the bound address from stdout.
        println!("listening {}", daemon.local_addr());
        info!("listening on {}", daemon.local_addr());
        let stop = daemon.shutdown_token();
        tokio::spawn(async move {
            wait_for_signal().await;
            info!("signal received, stopping");
            stop.cancel();
        });
        daemon.wait().await;
        info!("stopped");
        ExitCode::SUCCESS
    })
    .unwrap_or_else(|code| code)
}

/// Run `main` on the multi-thread runtime every labwire binary uses. Tasks still running
/// when it returns get a second to finish. `Err` (with the message printed) when no
/// runtime could be started.
pub fn block_on<T>(main: impl Future<Output = T>) -> Result<T, ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            eprintln!("error: cannot start the runtime: {err}");
            ExitCode::FAILURE
        })?;
    let outcome = runtime.block_on(main);
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(outcome)
}

/// Resolve on SIGINT (Ctrl-C) or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
