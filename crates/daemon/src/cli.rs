//! The flags every daemon reads the same way ([`CommonArgs`]), what a daemon tells the
//! framework about itself ([`DaemonInfo`]), [`parse`] (which puts the daemon's defaults
//! into `--help`), logging, the runtime and signals. [`crate::launch::run`] uses them.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Longest accepted `--device-timeout`, in seconds.
pub const MAX_DEVICE_TIMEOUT: f64 = 60.0;
/// Longest accepted `--poll-interval`, in seconds (a day).
pub const MAX_POLL_INTERVAL: f64 = 86_400.0;

#[derive(clap::Args, Clone, Debug)]
pub struct CommonArgs {
    /// Settings file: one `key = value` per line, keys as these flags' long names
    /// (`poll_interval = 0.5`); a flag on the command line wins over the file.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

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

    /// Seconds to wait for each answer of the hardware, in (0, 60].
    #[arg(long, value_name = "SECONDS", value_parser = device_timeout_seconds)]
    pub device_timeout: Option<f64>,

    /// File holding a secret; connections must then send `auth token=<secret>`.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Where state that survives a restart is kept (JSON, replaced atomically)
    /// [default: $XDG_STATE_HOME/labwire/<name>.state, else
    /// ~/.local/state/labwire/<name>.state].
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,

    /// Seconds between hardware polls, in (0, 86400].
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, value_parser = poll_interval_seconds)]
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

/// A number of seconds in (0, `max`].
fn seconds_up_to(text: &str, max: f64) -> Result<f64, String> {
    match labwire_protocol::parse_number(text) {
        Some(seconds) if seconds > 0.0 && seconds <= max => Ok(seconds),
        _ => Err(format!("{text:?} is not a number of seconds in (0, {max}]")),
    }
}

fn device_timeout_seconds(text: &str) -> Result<f64, String> {
    seconds_up_to(text, MAX_DEVICE_TIMEOUT)
}

fn poll_interval_seconds(text: &str) -> Result<f64, String> {
    seconds_up_to(text, MAX_POLL_INTERVAL)
}

/// What a daemon binary tells the framework about itself.
#[derive(Clone, Copy, Debug)]
pub struct DaemonInfo {
    /// Default `--name`, e.g. "gauge"; also names the default state file.
    pub default_name: &'static str,
    /// The binary crate's version (`env!("CARGO_PKG_VERSION")`).
    pub version: &'static str,
    /// Default port of `--listen` (on loopback).
    pub default_port: u16,
    /// Port used when `--device` names none.
    pub default_device_port: u16,
    /// Default `--device-timeout`.
    pub default_device_timeout: Duration,
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

    pub fn device_timeout(&self, info: &DaemonInfo) -> Duration {
        self.device_timeout
            .map_or(info.default_device_timeout, Duration::from_secs_f64)
    }

    /// `--state-file`, or the default for this daemon's name
    /// ([`crate::state::default_path`]).
    pub fn state_path(&self, info: &DaemonInfo) -> PathBuf {
        self.state_file
            .clone()
            .unwrap_or_else(|| crate::state::default_path(&self.name(info)))
    }

    pub fn token(&self) -> Result<Option<String>, String> {
        self.token_file.as_deref().map(read_token_file).transpose()
    }
}

/// Parse the command line of a daemon whose flags `C` flatten [`CommonArgs`], with the
/// daemon's own defaults shown in `--help`. Like `C::parse()`: prints help and exits 0,
/// or prints the problem and exits 2.
pub fn parse<C: clap::Parser>(info: &DaemonInfo) -> C {
    parse_command(C::command(), info, false)
}

/// [`parse`] for a daemon whose hardware is local (files, character devices) rather than
/// at a network address: `--device` is no longer required without `--simulate`, and its
/// help says what to give instead. The daemon refuses a `--device` it was given;
/// [`crate::launch::run`] then hands it an empty [`crate::Setup::device_address`].
pub fn parse_local<C: clap::Parser>(info: &DaemonInfo, instead: &str) -> C {
    let command = C::command().mut_arg("device", |arg| {
        arg.required_unless_present(clap::builder::Resettable::<clap::Id>::Reset)
            .help(format!(
                "Not used: this daemon's hardware is local ({instead}), so it has no network \
             address and no default port"
            ))
    });
    parse_command(command, info, true)
}

fn parse_command<C: clap::Parser>(mut command: clap::Command, info: &DaemonInfo, local: bool) -> C {
    let defaults = [
        (
            "device",
            format!("default port {}", info.default_device_port),
        ),
        (
            "device_timeout",
            format!("default: {}", info.default_device_timeout.as_secs_f64()),
        ),
    ];
    for (id, default) in defaults {
        if local && id == "device" {
            continue;
        }
        if command.get_arguments().any(|arg| arg.get_id() == id) {
            command = command.mut_arg(id, |arg| {
                let help = arg.get_help().map(|help| help.to_string());
                arg.help(format!("{} [{default}]", help.unwrap_or_default()))
            });
        }
    }
    let words: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(path) = crate::config_file::config_path(&words) {
        command = crate::config_file::apply(command, std::path::Path::new(&path)).unwrap_or_else(
            |message| {
                eprintln!("error: {message}");
                std::process::exit(i32::from(crate::launch::EXIT_CONFIG))
            },
        );
    }
    let matches = command.get_matches_from(words);
    C::from_arg_matches(&matches).unwrap_or_else(|err| err.exit())
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

/// Log to stderr at `level` (in journald's format under systemd, see [`crate::journal`])
/// and to `subscribe log` connections as `source`.
pub fn init_logging(level: LevelFilter, source: &str) {
    let journal = crate::journal::stderr_is_journal();
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(!journal && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let console = if journal {
        console
            .event_format(crate::journal::JournalFormat)
            .with_filter(level)
            .boxed()
    } else {
        console.with_filter(level).boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(console)
        .with(crate::logbus::layer(source))
        .try_init();
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

/// Resolve on SIGINT (Ctrl-C) or SIGTERM. The signals are caught from the first poll on:
/// a process that announces itself first should use [`shutdown_signal`].
pub async fn wait_for_signal() {
    shutdown_signal().await
}

/// Catch SIGINT and SIGTERM from now on (inside the runtime); the future resolves on the
/// first. Catching before `listening` is printed means a launcher's SIGTERM right after
/// it is a clean stop, not a kill.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let caught = signal(SignalKind::interrupt()).and_then(|interrupt| {
            signal(SignalKind::terminate()).map(|terminate| (interrupt, terminate))
        });
        async move {
            match caught {
                Ok((mut interrupt, mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_outside_their_range_are_refused() {
        for bad in ["0", "-1", "61", "nan", "inf", "1s", ""] {
            assert!(device_timeout_seconds(bad).is_err(), "{bad:?}");
        }
        assert_eq!(device_timeout_seconds("60"), Ok(60.0));
        assert_eq!(device_timeout_seconds("0.05"), Ok(0.05));
        assert!(poll_interval_seconds("86401").is_err());
        assert_eq!(poll_interval_seconds("86400"), Ok(86_400.0));
    }
}
