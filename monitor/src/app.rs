//! Putting the monitor together: the command line, configuration, store, hub, one poller
//! per client, the command port and the web page; and stopping it all cleanly.

use crate::config::{self, MonitorConfig};
use crate::hub::{Hub, SlotSpec};
use crate::poller::{self, PollSettings};
use crate::service::MonitorService;
use crate::store::{Store, StoreOptions};
use crate::web::{self, Web};
use labwire_daemon::cli::{read_token_file, wait_for_signal};
use labwire_daemon::server::{serve, ServerConfig};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info};
use tracing_subscriber::filter::LevelFilter;

#[derive(clap::Parser, Debug)]
#[command(
    name = "labwire-monitor",
    version,
    about = "Polls every labwire daemon, stores their history, relays commands and serves the web page"
)]
pub struct Cli {
    /// The configuration file. Without this flag, monitor.ini is read if it exists.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Command port (overrides `port` in the configuration); 0 picks a free one.
    #[arg(long)]
    pub port: Option<u16>,

    /// Web page port (overrides `http_port`); 0 picks a free one.
    #[arg(long)]
    pub http_port: Option<u16>,

    /// Address to listen on (overrides `listen`); loopback unless you say otherwise.
    #[arg(long)]
    pub listen: Option<IpAddr>,

    /// History database (overrides `db`).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Seconds between polls of each client (overrides `poll_interval`).
    #[arg(long)]
    pub poll_interval: Option<f64>,

    /// Monitor name reported by get_id (overrides `name`).
    #[arg(long)]
    pub name: Option<String>,

    /// File holding a secret; connections must then send `auth token=<secret>`.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    pub log_level: LevelFilter,

    /// Clients to add, or to move to another host and port: `name=host:port`.
    #[arg(value_name = "NAME=HOST:PORT")]
    pub clients: Vec<String>,
}

/// Read the configuration the command line asks for and apply its overrides.
pub fn configuration(cli: &Cli) -> Result<MonitorConfig, String> {
    let mut config = match &cli.config {
        Some(path) => config::load(path).map_err(|err| err.to_string())?,
        None if std::path::Path::new("monitor.ini").exists() => {
            config::load(std::path::Path::new("monitor.ini")).map_err(|err| err.to_string())?
        }
        None => MonitorConfig::default(),
    };
    config
        .apply_client_overrides(&cli.clients)
        .map_err(|err| err.to_string())?;
    if let Some(port) = cli.port {
        config.port = port;
    }
    if let Some(port) = cli.http_port {
        config.http_port = port;
    }
    if let Some(listen) = cli.listen {
        config.listen = listen;
    }
    if let Some(db) = &cli.db {
        config.db = db.clone();
    }
    if let Some(name) = &cli.name {
        if !labwire_protocol::is_valid_name(name) {
            return Err(format!(
                "--name {name:?}: letters, digits, '_', '-', '.' only"
            ));
        }
        config.name = name.clone();
    }
    if let Some(seconds) = cli.poll_interval {
        if !(seconds > 0.0 && seconds <= 86_400.0) {
            return Err(format!("--poll-interval {seconds}: seconds in (0, 86400]"));
        }
        config.poll_interval = Duration::from_secs_f64(seconds);
    }
    Ok(config)
}

fn token(cli: &Cli) -> Result<Option<String>, String> {
    cli.token_file.as_deref().map(read_token_file).transpose()
}

/// Run the monitor until `exit`, SIGINT or SIGTERM.
pub fn main(cli: Cli) -> ExitCode {
    let (config, token) = match configuration(&cli)
        .and_then(|c| Ok((c, token(&cli)?)))
        .and_then(|(config, token)| {
            if let Some(mqtt) = &config.mqtt {
                crate::mqtt::settings::check_token(mqtt, token.as_deref())?;
            }
            Ok((config, token))
        }) {
        Ok(ready) => ready,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    labwire_daemon::cli::init_logging(cli.log_level, &config.name);
    labwire_daemon::cli::block_on(run(config, token)).unwrap_or_else(|code| code)
}

async fn run(config: MonitorConfig, token: Option<String>) -> ExitCode {
    let clients = config.clients.iter().filter(|c| c.enabled).count();
    let store_options = StoreOptions {
        retention: config.retention,
        rollup_retention: config.rollup_retention,
        monitor: config.name.clone(),
        ..StoreOptions::default().for_clients(clients)
    };
    let store = match Store::open(&config.db, store_options) {
        Ok(store) => store,
        Err(err) => {
            error!(
                "cannot open the history database {}: {err}",
                config.db.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let command_addr = SocketAddr::new(config.listen, config.port);
    let listener = match TcpListener::bind(command_addr).await {
        Ok(listener) => listener,
        Err(err) => {
            error!("cannot listen on {command_addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let http_addr = SocketAddr::new(config.listen, config.http_port);
    let http_listener = match TcpListener::bind(http_addr).await {
        Ok(listener) => listener,
        Err(err) => {
            error!("cannot listen on {http_addr} (web page): {err}");
            return ExitCode::FAILURE;
        }
    };
    let enabled: Vec<_> = config.clients.iter().filter(|c| c.enabled).collect();
    let hub = Hub::new(
        config.name.clone(),
        enabled.iter().map(|c| SlotSpec {
            name: c.name.clone(),
            address: format!("{}:{}", c.host, c.port),
            token: c.token.clone(),
        }),
        Some(store),
        config.store_interval,
    );
    for client in &enabled {
        hub.set_alarm_limits(&client.name, client.alarms.clone());
    }
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    for client in &enabled {
        let slot = hub
            .slot(&client.name)
            .expect("every enabled client has a slot")
            .clone();
        let settings =
            PollSettings::with_interval(client.poll_interval.unwrap_or(config.poll_interval));
        tracker.spawn(poller::run(hub.clone(), slot, settings, shutdown.clone()));
    }
    let server_config = ServerConfig {
        name: config.name.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        token: token.clone(),
        ..ServerConfig::default()
    };
    let web = Web::new(hub.clone(), &config, token.clone(), shutdown.clone());
    // Archive reads of the command port go through the web side's pool, as the page's do.
    let service =
        MonitorService::new(hub.clone(), token.is_some()).with_archive(web.blocking.clone());
    let bound = serve(listener, server_config, service, shutdown.clone(), &tracker);
    // Tests and launch scripts read the bound addresses from stdout.
    println!("listening {bound}");
    if let Some(mqtt) = &config.mqtt {
        let counters =
            crate::mqtt::start(mqtt, web.clone(), token.clone(), shutdown.clone(), &tracker);
        let _ = hub.counters.mqtt.set(counters);
    }
    tracker.spawn(crate::frames::watch::run(
        hub.clone(),
        web.frames.clone(),
        shutdown.clone(),
        tracker.clone(),
    ));
    match web::serve(http_listener, web, shutdown.clone(), &tracker) {
        Ok(http_bound) => println!("http {http_bound}"),
        Err(err) => {
            error!("web page: {err}");
            shutdown.cancel();
        }
    }
    info!("command port on {bound}, {} clients", enabled.len());
    hub.log(
        labwire_protocol::LogLevel::Info,
        "monitor",
        &format!("monitor started with {} clients", enabled.len()),
    );

    let stop = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        stop.cancel();
    });
    shutdown.cancelled().await;
    info!("stopping");
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .is_err()
    {
        error!("some tasks did not stop within 5 s");
    }
    // Dropping the hub drops the store, whose writer thread commits what is queued.
    drop(hub);
    ExitCode::SUCCESS
}
