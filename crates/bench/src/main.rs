//! `labwire-bench`: a load generator for any labwire line-protocol server on loopback.
//!
//! Figures are reported as ratios against a reference measured in the same run (a bare
//! tokio echo server), because the machines are shared and noisy.
//!
//! Layout:
//! - `main.rs`: the command line (`run`, `echo`, `idle`, `fleet`, `monitor-load`,
//!   `relay`, `soak`, `ccd-readout`, `frames`, `archive-load`) and the reports of the
//!   first four.
//! - [`ccd`]: `ccd-readout`, Archon simulator process -> ccd daemon process frame
//!   readout against a raw loopback copy.
//! - [`load`]: the hot loop: N raw TCP connections, `depth` requests in flight each,
//!   replies counted by `\n`, latencies from a FIFO of send instants.
//! - [`stats`]: a fixed-memory latency histogram and its percentiles.
//! - [`echo`]: the reference echo server, and running it as a child process.
//! - [`idle`]: idle connections and a process's memory from `/proc`.
//! - [`procfs`]: a process's CPU time, threads and open files from `/proc`.
//! - [`fleet`]: many real daemons in this process, counting the polls they answer.
//! - [`monitor`]: `monitor-load`, a MONITOR child polling a fleet, and its costs.
//! - [`shards`]: a fleet in child processes (`fleet-shard`), for more members than one
//!   process may hold files for.
//! - [`relay`]: direct against relayed round trips, in alternating batches.
//! - [`frames`]: camera frames from labwire-ccd into the monitor against a raw loopback
//!   copy, and the monitor's command port while they move.
//! - [`archive_load`]: `archive-load`, the monitor's command port idle and during a burst
//!   of archive queries.
//! - [`soak`]: `soak`, a monitor polling a fleet under faults for a long time, and its
//!   report; [`chaos`]: the faults (members killed and restarted, clients dropping);
//!   [`history`]: what the monitor stored, against what the fleet answered.
//!
//! The request line is built by `labwire-protocol` (parsed, then encoded) like every line
//! labwire writes; the machine-readable `result` line is a protocol line too.

mod archive_load;
mod ccd;
mod chaos;
mod echo;
mod fleet;
mod frames;
mod history;
mod idle;
mod load;
mod monitor;
mod procfs;
mod relay;
mod shards;
mod soak;
mod stats;

use clap::{Args, Parser, Subcommand};
use labwire_protocol::{format_number, parse_line, Message, PAYLOAD_KEY};
use load::{LoadSpec, Report};
use stats::micros;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Load generator for labwire line-protocol servers, measured against a bare tokio echo
/// server started in the same run.
#[derive(Parser, Debug)]
#[command(name = "labwire-bench", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Measure request rate and latency of a server, then of the reference echo server
    /// with identical settings, and print the ratio.
    ///
    /// Every request must get exactly one reply line and the server must send nothing
    /// else (no `subscribe`, no binary payloads in replies).
    Run(RunArgs),
    /// Run the bare tokio echo server used as the reference. Prints `listening <addr>`
    /// first, then echoes every byte back until stopped.
    Echo(EchoArgs),
    /// Hold idle connections open to a server and report the memory of its process.
    Idle(IdleArgs),
    /// Run many real daemons (type `fleet`) in this process and write a monitor.ini
    /// listing them. Prints `listening <first daemon>` first.
    ///
    /// Each daemon holds two files here (its listener and the monitor's connection): with
    /// a hard open-file limit of 20000 (the soft one is raised to it), about 9900 fit.
    Fleet(FleetArgs),
    /// Start a fleet, run a MONITOR binary polling all of it, and measure the monitor's
    /// CPU and memory against the fleet's own CPU, with the polls the fleet answered; at
    /// `--reference-count` clients first, then at `--count`, and compare per client.
    /// The fleet runs in child processes of this bench, the open-file limit raised.
    MonitorLoad(MonitorLoadArgs),
    /// One shard of a fleet, run by `monitor-load` (see crates/bench/src/shards.rs).
    #[command(hide = true)]
    FleetShard(FleetShardArgs),
    /// Median round trip of one command sent directly to a daemon and relayed through a
    /// monitor (`send <client> <command>`), in alternating batches.
    Relay(RelayArgs),
    /// Run a MONITOR polling a fleet for a long time while members are killed and
    /// restarted (gaps of 0, 50 ms, 1 s, 10 s and random, in turn) and clients connect to
    /// its command port and drop; report its memory over time, the reconnects, the samples
    /// stored against the polls answered, and the longest wait for a poll after a restart.
    Soak(SoakArgs),
    /// Read a frame (4096x4096 16-bit by default) from the Archon simulator process into
    /// the ccd daemon process, against a raw loopback TCP copy of the same bytes.
    CcdReadout(CcdReadoutArgs),
    /// Frames (4096 x 4096, 16-bit by default) from a labwire-ccd simulating its Archon
    /// into a MONITOR's frames directory, as a ratio to a raw loopback TCP copy of the same
    /// bytes in this run; and the monitor's command-port round trip while they move.
    Frames(FramesArgs),
    /// A MONITOR's command-port round trip (`clients`) idle and during a bounded burst of
    /// concurrent archive queries (filtered log, alarm history, state at a time, a day's
    /// plot, the command port's `logs`) on an archive seeded first; burst / idle ratios.
    ArchiveLoad(ArchiveLoadArgs),
}

#[derive(Args, Debug)]
struct ArchiveLoadArgs {
    /// The monitor binary.
    #[arg(
        long,
        default_value = "target/release/labwire-monitor",
        value_name = "PATH"
    )]
    monitor_bin: PathBuf,
    /// Log lines in the archive.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    logs: u32,
    /// Alarms in the archive.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    alarms: u32,
    /// Variables in the archive ...
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    variables: u32,
    /// ... and samples of each, over the last day.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    samples: u32,
    /// Archive queries in each round's burst.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    queries: u32,
    /// Archive queries at once (the monitor's pool queues 64 beyond its workers).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    concurrency: u32,
    /// Seconds of command-port round trips with nothing else going on, in each round.
    #[arg(long, default_value_t = 2.0, value_parser = positive_seconds)]
    idle_seconds: f64,
    /// Rounds of idle, archive burst, and control (the live status for as long), in turn.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
}

#[derive(Args, Debug)]
struct CcdReadoutArgs {
    /// The simulator binary, run as `<bin> archon --sensor WxH ...`.
    #[arg(
        long,
        default_value = "target/release/labwire-sim",
        value_name = "PATH"
    )]
    sim_bin: PathBuf,
    /// The ccd daemon binary, run as `<bin> --device <simulator> ...`.
    #[arg(
        long,
        default_value = "target/release/labwire-ccd",
        value_name = "PATH"
    )]
    ccd_bin: PathBuf,
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=16384))]
    width: u32,
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=16384))]
    height: u32,
    /// Alternating rounds of readout and reference copy; medians are reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
}

#[derive(Args, Debug)]
struct FramesArgs {
    /// The monitor binary.
    #[arg(
        long,
        default_value = "target/release/labwire-monitor",
        value_name = "PATH"
    )]
    monitor_bin: PathBuf,
    /// The camera daemon binary (run with --simulate).
    #[arg(
        long,
        default_value = "target/release/labwire-ccd",
        value_name = "PATH"
    )]
    ccd_bin: PathBuf,
    /// Frames taken (bias frames, back to back).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    frames: u32,
    /// The simulated sensor, WIDTHxHEIGHT.
    #[arg(long, default_value = "4096x4096")]
    sensor: String,
    /// Raw loopback copies of one frame's bytes after each frame, for the reference (the
    /// median of all counts), and as many file writes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    copies: u32,
    /// Seconds of command-port round trips with nothing moving, first.
    #[arg(long, default_value_t = 2.0, value_parser = positive_seconds)]
    idle_seconds: f64,
    /// The monitor's frames directory (a fresh one is made inside it); default: a
    /// temporary directory. On tmpfs (`/dev/shm`) the disk leaves the measurement.
    #[arg(long, value_name = "DIR")]
    frames_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Address of the server to load.
    #[arg(long, value_name = "HOST:PORT")]
    addr: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    connections: u32,
    /// Requests kept in flight per connection (1 = ping-pong; more = pipelining).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    depth: u32,
    /// The request, as a protocol line (quote it for the shell: --command 'get_status').
    #[arg(long, default_value = "get_status")]
    command: String,
    /// Measured period in seconds (after the warm-up).
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS", value_parser = positive_seconds)]
    duration: f64,
    /// Stop after this many measured requests over all connections, even before the
    /// duration is up.
    #[arg(long, value_name = "MAX_TOTAL", value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// Warm-up in seconds, run before measuring and not counted.
    #[arg(long, default_value_t = 0.5, value_name = "SECONDS", value_parser = seconds)]
    warmup: f64,
    /// Measure only the target; skip the reference echo server and the ratio.
    #[arg(long)]
    no_reference: bool,
}

#[derive(Args, Debug)]
struct EchoArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "HOST:PORT")]
    listen: String,
    /// Exit when stdin reaches end of file (how `run` makes sure its reference child never
    /// outlives it).
    #[arg(long)]
    exit_with_stdin: bool,
}

#[derive(Args, Debug)]
struct IdleArgs {
    /// Address of the server.
    #[arg(long, value_name = "HOST:PORT")]
    addr: String,
    /// Idle connections to open.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    connections: u32,
    /// Process id of the server, whose /proc/PID/status is read.
    #[arg(long)]
    pid: u32,
    /// Seconds to hold the connections before reading the memory.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS", value_parser = seconds)]
    hold: f64,
}

#[derive(Args, Debug)]
struct FleetArgs {
    /// Daemons to start.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    count: u32,
    /// Loopback address every daemon listens on (each on a free port).
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    listen_ip: String,
    /// Where the monitor.ini listing the daemons is written.
    #[arg(long, default_value = "fleet.ini", value_name = "PATH")]
    config_out: PathBuf,
    /// Stop after this many seconds (or at Ctrl-C).
    #[arg(long, default_value_t = 3600.0, value_parser = positive_seconds)]
    seconds: f64,
}

#[derive(Args, Debug)]
struct FleetShardArgs {
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    count: u32,
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    listen_ip: String,
}

#[derive(Args, Debug)]
struct MonitorLoadArgs {
    /// The monitor binary; it is run as `<bin> --config <ini> --port 0 --http-port 0`.
    #[arg(
        long,
        default_value = "target/release/labwire-monitor",
        value_name = "PATH"
    )]
    monitor_bin: PathBuf,
    /// Daemons in the fleet, all clients of the monitor, polled at 1 Hz.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    count: u32,
    /// Measured first in the same run, as the reference for the costs per client at
    /// `--count`; 0 (or the same count) measures `--count` alone.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    reference_count: u32,
    /// Rounds of reference then `--count`, each compared on its own; the ratios' medians
    /// are reported, so that a burst of load from elsewhere on a shared machine moves one
    /// round, not the result.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    rounds: u32,
    /// Loopback address the fleet listens on.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    listen_ip: String,
    /// Measured period in seconds.
    #[arg(long, default_value_t = 20.0, value_name = "SECONDS", value_parser = positive_seconds)]
    seconds: f64,
    /// Seconds between every client connected and the start of the measurement.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS", value_parser = seconds)]
    warmup: f64,
    /// Longest wait for the monitor to report every client connected.
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS", value_parser = positive_seconds)]
    connect_timeout: f64,
    /// Afterwards, measure what relaying `get_status` to fleet0 through the monitor adds
    /// to the median round trip (as `relay` does), with the monitor still under load.
    #[arg(long)]
    relay: bool,
    /// Relayed (and as many direct) requests for `--relay`.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    relay_requests: u64,
    /// Longest relay measurement in seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = positive_seconds)]
    relay_seconds: f64,
    /// Write the monitor's stderr (its log) to this file instead of discarding it.
    #[arg(long, value_name = "PATH")]
    monitor_log: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RelayArgs {
    /// The monitor's command port.
    #[arg(long, value_name = "HOST:PORT")]
    monitor: String,
    /// The client's name in the monitor's configuration.
    #[arg(long, value_name = "NAME")]
    client: String,
    /// The same client's daemon, asked directly.
    #[arg(long, value_name = "HOST:PORT")]
    direct: String,
    /// The command, as a protocol line; relayed as `send <client> <command>`.
    #[arg(long, default_value = "get_status")]
    command: String,
    /// Measured requests per path (direct and relayed).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    requests: u64,
    /// Longest measurement in seconds, even before `--requests` per path.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = positive_seconds)]
    seconds: f64,
    /// Requests per batch before switching to the other path.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,
}

#[derive(Args, Debug)]
struct SoakArgs {
    /// The monitor binary; it is run as `<bin> --config <ini> --port 0 --http-port 0`.
    #[arg(
        long,
        default_value = "target/release/labwire-monitor",
        value_name = "PATH"
    )]
    monitor_bin: PathBuf,
    /// Daemons in the fleet, all clients of the monitor, polled at 1 Hz.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    count: u32,
    /// How long the faults go on, in minutes (then a bounded settle, then the report).
    #[arg(long, default_value_t = 30.0, value_parser = positive_minutes)]
    minutes: f64,
    /// Seconds between two kills (each of a random member that is up).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS", value_parser = positive_seconds)]
    restart_every: f64,
    /// Seconds between two client sessions on the monitor's command port.
    #[arg(long, default_value_t = 0.2, value_name = "SECONDS", value_parser = positive_seconds)]
    client_every: f64,
    /// Seconds between two readings of the monitor's VmRSS.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = positive_seconds)]
    sample_every: f64,
    /// Seed of the choice of members and random gaps (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Longest wait for the monitor to report every client connected.
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS", value_parser = positive_seconds)]
    connect_timeout: f64,
    /// Loopback address the fleet listens on.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    listen_ip: String,
    /// Write the monitor's stderr (its log) to this file instead of discarding it.
    #[arg(long, value_name = "PATH")]
    monitor_log: Option<PathBuf>,
}

fn positive_minutes(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of minutes"))?;
    positive_seconds(&(value * 60.0).to_string()).map(|seconds| seconds / 60.0)
}

/// Longest period any option may ask for: every run ends by itself.
const MAX_SECONDS: f64 = 24.0 * 3600.0;

fn seconds(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(0.0..=MAX_SECONDS).contains(&value) {
        return Err(format!("must be between 0 and {MAX_SECONDS} seconds"));
    }
    Ok(value)
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    let value = seconds(text)?;
    if value > 0.0 {
        Ok(value)
    } else {
        Err("must be more than 0 seconds".into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Echo(args) = &cli.command {
        if args.exit_with_stdin {
            echo::exit_with_stdin();
        }
    }
    // Multi-threaded like the daemons, so the reference runs the way they do.
    let outcome = labwire_daemon::cli::block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Echo(args) => echo::serve(&args.listen).await,
            Command::Idle(args) => idle(args).await,
            Command::Fleet(args) => fleet(args).await,
            Command::FleetShard(args) => {
                let ip = fleet::loopback_ip(&args.listen_ip);
                match ip {
                    Ok(ip) => shards::serve_shard(ip, args.count as usize).await,
                    Err(err) => Err(err),
                }
            }
            // Interrupted, these drop their guards: the monitor child is killed, the
            // fleet stopped, the scratch directory removed.
            Command::MonitorLoad(args) => until_interrupted(monitor::run(&args)).await,
            Command::Relay(args) => until_interrupted(relay(args)).await,
            Command::Soak(args) => until_interrupted(soak::run(&args)).await,
            Command::CcdReadout(args) => {
                until_interrupted(ccd::run(ccd::CcdReadout {
                    sim_bin: &args.sim_bin,
                    ccd_bin: &args.ccd_bin,
                    width: args.width as usize,
                    height: args.height as usize,
                    rounds: args.rounds,
                }))
                .await
            }
            Command::Frames(args) => {
                let spec = frames::FramesSpec {
                    monitor_bin: args.monitor_bin,
                    ccd_bin: args.ccd_bin,
                    frames: args.frames,
                    sensor: args.sensor,
                    copies: args.copies,
                    idle_seconds: args.idle_seconds,
                    frames_dir: args.frames_dir,
                };
                until_interrupted(frames::run(&spec)).await
            }
            Command::ArchiveLoad(args) => {
                let spec = archive_load::ArchiveLoadSpec {
                    monitor_bin: args.monitor_bin,
                    logs: args.logs,
                    alarms: args.alarms,
                    variables: args.variables,
                    samples: args.samples,
                    queries: args.queries,
                    concurrency: args.concurrency,
                    idle_seconds: args.idle_seconds,
                    rounds: args.rounds,
                };
                until_interrupted(archive_load::run(&spec)).await
            }
        }
    });
    match outcome {
        Err(code) => code,
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn until_interrupted(
    work: impl std::future::Future<Output = Result<(), Error>>,
) -> Result<(), Error> {
    tokio::select! {
        outcome = work => outcome,
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
    }
}

async fn resolve(addr: &str) -> Result<SocketAddr, Error> {
    tokio::net::lookup_host(addr)
        .await
        .map_err(|err| format!("cannot resolve {addr}: {err}"))?
        .next()
        .ok_or_else(|| format!("{addr} resolves to no address").into())
}

/// The request line as it goes on the wire, through the one encoder.
fn request_line(command: &str) -> Result<Vec<u8>, Error> {
    let request = parse_line(command).map_err(|err| format!("--command {command:?}: {err}"))?;
    if request.get(PAYLOAD_KEY).is_some() {
        return Err("--command cannot carry a binary payload".into());
    }
    let mut line = request.to_line().into_bytes();
    line.push(b'\n');
    Ok(line)
}

async fn run(args: RunArgs) -> Result<(), Error> {
    let target = resolve(&args.addr).await?;
    let spec = LoadSpec {
        connections: args.connections as usize,
        depth: args.depth as usize,
        request: request_line(&args.command)?,
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
        max_requests: args.requests,
    };
    spec.check()?;
    println!(
        "load: {:?}, {} connection(s), depth {}, {} s (+{} s warm-up){}",
        shorten(String::from_utf8_lossy(&spec.request).trim_end(), 100),
        spec.connections,
        spec.depth,
        args.duration,
        args.warmup,
        args.requests
            .map(|max| format!(", at most {max} requests"))
            .unwrap_or_default(),
    );
    let target_report = measure("target", target, &spec).await?;
    let echo_report = if args.no_reference {
        None
    } else {
        let child = echo::EchoChild::start().await?;
        println!(
            "reference: echo server pid {} on {}",
            child.pid(),
            child.addr
        );
        // `child` is killed at the end of this block, before anything is reported.
        Some(measure("echo", child.addr, &spec).await?)
    };

    // Headline figures first, in a fixed order, for scripts that read this line.
    let latency = &target_report.latency;
    let mut result = Message::new("result").kwarg("target_rps", rounded(target_report.rate()));
    let mut extra = Vec::new();
    if let Some(echo_report) = &echo_report {
        let rate_ratio = target_report.rate() / echo_report.rate();
        let p50_ratio = latency.quantile(0.5).as_secs_f64()
            / echo_report.latency.quantile(0.5).as_secs_f64().max(1e-9);
        println!("ratio target/echo: rate {rate_ratio:.3}, latency p50 {p50_ratio:.3}");
        result.set("echo_rps", rounded(echo_report.rate()));
        result.set("ratio", ratio(rate_ratio));
        extra.push(("echo_p50_us", us(echo_report.latency.quantile(0.5))));
        extra.push(("p50_ratio", ratio(p50_ratio)));
    }
    result.set("p50_us", us(latency.quantile(0.5)));
    result.set("p99_us", us(latency.quantile(0.99)));
    result.set("max_us", us(latency.max()));
    result.set("requests", target_report.requests().to_string());
    for (key, value) in extra {
        result.set(key, value);
    }
    println!("{}", result.to_line());
    Ok(())
}

/// A rate or size with one decimal.
fn rounded(value: f64) -> String {
    format_number((value * 10.0).round() / 10.0)
}

fn ratio(value: f64) -> String {
    format_number((value * 1e4).round() / 1e4)
}

fn us(duration: Duration) -> String {
    format_number(micros(duration))
}

async fn measure(label: &str, addr: SocketAddr, spec: &LoadSpec) -> Result<Report, Error> {
    let reply = load::probe(addr, &spec.request)
        .await
        .map_err(|err| format!("{label} {addr}: {err}"))?;
    println!("{label} {addr}: first reply {}", shorten(&reply, 100));
    match parse_line(&reply) {
        Ok(message) if message.get(PAYLOAD_KEY).is_some() => {
            return Err(format!(
                "{label} replies carry binary payloads, which the load loop cannot count"
            )
            .into());
        }
        Ok(message) if message.is_error() => {
            println!("warning: {label} answers with an error; measuring it anyway");
        }
        _ => {}
    }
    let report = load::run(addr, spec)
        .await
        .map_err(|err| format!("{label} {addr}: {err}"))?;
    println!(
        "{label}: {} requests in {:.3} s = {:.1} req/s; latency p50 {} us, p99 {} us, max {} us",
        report.requests(),
        report.elapsed.as_secs_f64(),
        report.rate(),
        micros(report.latency.quantile(0.5)),
        micros(report.latency.quantile(0.99)),
        micros(report.latency.max()),
    );
    Ok(report)
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

async fn idle(args: IdleArgs) -> Result<(), Error> {
    let target = resolve(&args.addr).await?;
    let before = idle::read_memory(args.pid)?;
    let held = idle::Held::open(target, args.connections as usize).await?;
    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    let open = held.still_open();
    let after = idle::read_memory(args.pid)?;
    let mb = |kb: u64| kb as f64 / 1024.0;
    let per_connection_kb =
        (after.rss_kb as f64 - before.rss_kb as f64) / f64::from(args.connections);
    println!(
        "idle: {} connections to {target} held {} s, {open} still open",
        args.connections, args.hold
    );
    println!(
        "pid {}: VmRSS {} kB ({:.1} MB), VmHWM {} kB ({:.1} MB); before: VmRSS {} kB, {:+.1} kB per connection",
        args.pid,
        after.rss_kb,
        mb(after.rss_kb),
        after.hwm_kb,
        mb(after.hwm_kb),
        before.rss_kb,
        per_connection_kb,
    );
    let result = Message::new("result")
        .kwarg("connections", args.connections.to_string())
        .kwarg("open", open.to_string())
        .kwarg("vm_rss_kb", after.rss_kb.to_string())
        .kwarg("vm_hwm_kb", after.hwm_kb.to_string())
        .kwarg("vm_rss_mb", rounded(mb(after.rss_kb)))
        .kwarg("vm_hwm_mb", rounded(mb(after.hwm_kb)))
        .kwarg("rss_before_kb", before.rss_kb.to_string())
        .kwarg("per_connection_kb", rounded(per_connection_kb));
    println!("{}", result.to_line());
    drop(held);
    Ok(())
}

async fn fleet(args: FleetArgs) -> Result<(), Error> {
    let ip = fleet::loopback_ip(&args.listen_ip)?;
    shards::raise_open_files_limit()?;
    let count = args.count as usize;
    fleet::Fleet::check_limits(count)?;
    let fleet = fleet::Fleet::start(ip, count).await?;
    // The first line, as every labwire server prints it, for scripts and the harness.
    println!("listening {}", fleet.addr(0));
    std::fs::write(&args.config_out, fleet.monitor_ini(None)?)
        .map_err(|err| format!("cannot write {}: {err}", args.config_out.display()))?;
    let (low, high) = fleet.port_span();
    println!(
        "fleet: {count} daemons of type fleet on {ip}, ports {low}..{high}; monitor config in {}",
        args.config_out.display()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.seconds);
    let every = Duration::from_secs(10);
    let mut last = (
        tokio::time::Instant::now(),
        fleet.total_polls(),
        own_cpu_ticks(),
    );
    let interrupted = loop {
        let next = (last.0 + every).min(deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = tokio::signal::ctrl_c() => break true,
        }
        let now = (
            tokio::time::Instant::now(),
            fleet.total_polls(),
            own_cpu_ticks(),
        );
        let seconds = (now.0 - last.0).as_secs_f64().max(1e-9);
        println!(
            "fleet: {:.1} polls/s answered, {:.2} % of one core",
            (now.1 - last.1) as f64 / seconds,
            (now.2 - last.2) as f64 / procfs::ticks_per_second() / seconds * 100.0,
        );
        last = now;
        if last.0 >= deadline {
            break false;
        }
    };
    println!(
        "fleet: {}, stopping",
        if interrupted {
            "interrupted"
        } else {
            "time is up"
        }
    );
    fleet.stop().await;
    Ok(())
}

fn own_cpu_ticks() -> u64 {
    procfs::cpu_ticks(std::process::id()).unwrap_or(0)
}

async fn relay(args: RelayArgs) -> Result<(), Error> {
    let command =
        parse_line(&args.command).map_err(|err| format!("--command {:?}: {err}", args.command))?;
    let spec = relay::RelaySpec {
        monitor: resolve(&args.monitor).await?,
        client: args.client,
        direct: resolve(&args.direct).await?,
        command,
        requests: args.requests,
        duration: Duration::from_secs_f64(args.seconds),
        batch: args.batch,
    };
    let report = relay::measure(&spec).await?;
    relay::print(&report);
    let mut result = Message::new("result");
    for (key, value) in report.kwargs("") {
        result.set(key, value);
    }
    println!("{}", result.to_line());
    Ok(())
}
