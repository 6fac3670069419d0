//! `monitor-load`: what polling a fleet costs the MONITOR. The fleet runs in this process
//! ([`crate::fleet`]), the monitor binary as a child on a configuration listing every
//! member; once the monitor reports all of them connected and a warm-up has passed, its
//! CPU time and memory are read from `/proc` over the measured period, with this
//! process's CPU time (the fleet answering those polls) as the reference, and the polls
//! the fleet answered as the check that the monitor really did its work.

use crate::fleet::POLL_INTERVAL;
use crate::idle::{self, Memory};
use crate::relay::{self, RelaySpec};
use crate::shards::{PeriodReport, ShardedFleet};
use crate::stats::median;
use crate::{load, procfs, ratio, request_line, rounded, shorten, Error, MonitorLoadArgs};
use labwire_protocol::{parse_line, Message};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::time::sleep_until;

/// How long the monitor may take to print `listening <addr>`.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the monitor may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Requests per batch when `--relay` alternates direct and relayed ones.
const RELAY_BATCH: u64 = 500;
const TARGET_CPU_PCT: f64 = 10.0;
const TARGET_RSS_MB: f64 = 40.0;

/// The monitor binary as a child process; killed when dropped, whatever happened.
pub struct MonitorChild {
    child: Child,
    pub addr: SocketAddr,
}

impl MonitorChild {
    /// Runs `<bin> --config <config> --port 0 --http-port 0` and reads the command port's
    /// address from its first stdout line. Its stderr goes to `log`, or nowhere.
    pub async fn start(bin: &Path, config: &Path, log: Option<&Path>) -> Result<Self, Error> {
        let stderr = match log {
            Some(path) => Stdio::from(
                File::create(path)
                    .map_err(|err| format!("cannot create {}: {err}", path.display()))?,
            ),
            None => Stdio::null(),
        };
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(config)
            .args(["--port", "0", "--http-port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("the monitor has no stdout")?;
        // From here on, dropping `running` kills the monitor, whatever goes wrong.
        let mut running = MonitorChild {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let (first_line, first_line_read) = oneshot::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = first_line.send(lines.next().and_then(Result::ok));
            // Drained to the end, so the monitor never blocks on a full pipe.
            for _ in lines.map_while(Result::ok) {}
        });
        let hint = if log.is_some() {
            ""
        } else {
            " (--monitor-log FILE keeps its stderr)"
        };
        let line = match tokio::time::timeout(START_TIMEOUT, first_line_read).await {
            Err(_) => {
                return Err(format!(
                    "the monitor printed nothing within {} s{hint}",
                    START_TIMEOUT.as_secs()
                )
                .into())
            }
            Ok(Ok(Some(line))) => line,
            Ok(_) => {
                // Its stdout closed: it has exited or is about to.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let status = running.child.try_wait().ok().flatten();
                return Err(format!(
                    "the monitor exited before printing its address ({}){hint}",
                    status.map_or("still running".into(), describe_exit)
                )
                .into());
            }
        };
        running.addr = line
            .trim_end()
            .strip_prefix("listening ")
            .and_then(|addr| addr.trim().parse().ok())
            .ok_or_else(|| {
                format!(
                    "the monitor's first line is not `listening <addr>`: {:?}",
                    shorten(&line, 200)
                )
            })?;
        Ok(running)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error if the monitor has exited.
    pub fn check_running(&mut self) -> Result<(), Error> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!("the monitor exited ({})", describe_exit(status)).into()),
        }
    }

    /// SIGTERM, then up to [`STOP_TIMEOUT`] for it to exit. Returns its exit status, or
    /// `None` when it did not stop (it is killed when dropped).
    pub fn stop(&mut self) -> Result<Option<(ExitStatus, Duration)>, Error> {
        let asked = Instant::now();
        if let Some(status) = self.child.try_wait()? {
            return Ok(Some((status, Duration::ZERO)));
        }
        Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .map_err(|err| format!("cannot run kill: {err}"))?;
        while asked.elapsed() < STOP_TIMEOUT {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some((status, asked.elapsed())));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(None)
    }
}

impl Drop for MonitorChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `0`, `1`, `signal9`: short enough for a `result` value.
pub(crate) fn exit_code(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code.to_string(),
        (None, Some(signal)) => format!("signal{signal}"),
        (None, None) => "unknown".into(),
    }
}

pub(crate) fn describe_exit(status: ExitStatus) -> String {
    format!("exit status {}", exit_code(status))
}

/// What the monitor's `get_status` said, and what asking cost.
#[derive(Debug)]
pub struct MonitorStatus {
    pub nclients: Option<u64>,
    pub nconnected: u64,
    pub bytes: usize,
    pub took: Duration,
}

/// The counts from the first page of the monitor's status (`get_status page=0`): the
/// whole status of ten thousand clients is megabytes, the first page a bounded line.
pub async fn monitor_status(addr: SocketAddr) -> Result<MonitorStatus, Error> {
    let asked = Instant::now();
    let reply = load::probe(addr, &request_line("get_status page=0")?).await?;
    let took = asked.elapsed();
    let message = parse_line(&reply)
        .map_err(|err| format!("the monitor's status line does not parse: {err}"))?;
    read_status(&message, reply.len(), took)
}

fn read_status(message: &Message, bytes: usize, took: Duration) -> Result<MonitorStatus, Error> {
    if message.name != "status" {
        return Err(format!(
            "the monitor answers get_status with {:?}",
            shorten(&message.to_line(), 200)
        )
        .into());
    }
    let count = |key: &str| message.get(key).and_then(|text| text.parse::<u64>().ok());
    Ok(MonitorStatus {
        nclients: count("nclients"),
        nconnected: count("nconnected").ok_or("the monitor's status has no nconnected=<count>")?,
        bytes,
        took,
    })
}

/// Polls the monitor until it reports `want` clients connected; returns how long it took.
pub(crate) async fn wait_connected(
    monitor: &mut MonitorChild,
    want: u64,
    within: Duration,
) -> Result<Duration, Error> {
    let started = Instant::now();
    let mut last_shown = (u64::MAX, started);
    loop {
        monitor.check_running()?;
        let status = monitor_status(monitor.addr).await?;
        if status.nconnected >= want {
            return Ok(started.elapsed());
        }
        let first = last_shown.0 == u64::MAX;
        let news = status.nconnected != last_shown.0;
        // Progress at most once a second: a thousand clients connect in many small steps.
        if first || (news && last_shown.1.elapsed() >= Duration::from_secs(1)) {
            println!(
                "monitor: {}/{want} clients connected after {:.1} s",
                status.nconnected,
                started.elapsed().as_secs_f64()
            );
            last_shown = (status.nconnected, Instant::now());
        }
        if started.elapsed() >= within {
            return Err(format!(
                "only {} of {want} clients connected after {} s",
                status.nconnected,
                within.as_secs_f64()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// CPU clocks and poll counters at one instant.
struct Sample {
    at: Instant,
    monitor_ticks: u64,
    fleet_ticks: u64,
    polls: u64,
}

impl Sample {
    async fn take(monitor_pid: u32, fleet: &mut ShardedFleet) -> Result<Sample, Error> {
        let polls = fleet.report().await?.polls;
        Ok(Sample {
            at: Instant::now(),
            monitor_ticks: procfs::cpu_ticks(monitor_pid)?,
            fleet_ticks: fleet.cpu_ticks()?,
            polls,
        })
    }

    /// CPU use of the monitor and of the fleet since `earlier`, in % of one core, and the
    /// polls answered per second.
    fn since(&self, earlier: &Sample) -> (f64, f64, f64) {
        let seconds = (self.at - earlier.at).as_secs_f64().max(1e-9);
        let pct = |ticks: u64| ticks as f64 / procfs::ticks_per_second() / seconds * 100.0;
        let polls = self.polls - earlier.polls;
        (
            pct(self.monitor_ticks - earlier.monitor_ticks),
            pct(self.fleet_ticks - earlier.fleet_ticks),
            polls as f64 / seconds,
        )
    }
}

/// The measured period.
struct Window {
    elapsed: Duration,
    monitor_cpu_pct: f64,
    fleet_cpu_pct: f64,
    polls_per_s: f64,
    /// The spread of polls over the members, and the longest wait of one.
    period: PeriodReport,
    /// At the end of the period.
    memory: Memory,
    /// Highest VmRSS seen at the per-second samples.
    peak_rss_kb: u64,
    /// The monitor's threads and their CPU use, busiest first.
    threads: Vec<(String, f64)>,
}

async fn observe(
    monitor: &mut MonitorChild,
    fleet: &mut ShardedFleet,
    duration: Duration,
) -> Result<Window, Error> {
    let pid = monitor.pid();
    fleet.reset().await?;
    let threads_before = procfs::thread_cpu(pid)?;
    let first = Sample::take(pid, fleet).await?;
    let mut previous = Sample::take(pid, fleet).await?;
    let mut peak_rss_kb = 0;
    let end = first.at + duration;
    let memory = loop {
        let next = (previous.at + SAMPLE_EVERY).min(end);
        sleep_until(next.into()).await;
        monitor.check_running()?;
        let sample = Sample::take(pid, fleet).await?;
        let memory = idle::read_memory(pid)?;
        peak_rss_kb = peak_rss_kb.max(memory.rss_kb);
        let (monitor_cpu, fleet_cpu, polls) = sample.since(&previous);
        println!(
            "  {:5.1} s: monitor {monitor_cpu:5.1} % CPU, VmRSS {:.1} MB; fleet {fleet_cpu:5.1} % CPU; {polls:.0} polls/s",
            (sample.at - first.at).as_secs_f64(),
            memory.rss_kb as f64 / 1024.0,
        );
        previous = sample;
        if previous.at >= end {
            break memory;
        }
    };
    let threads = thread_shares(
        &threads_before,
        &procfs::thread_cpu(pid)?,
        &previous,
        &first,
    );
    let (monitor_cpu_pct, fleet_cpu_pct, polls_per_s) = previous.since(&first);
    let period = fleet.report().await?;
    Ok(Window {
        elapsed: previous.at - first.at,
        monitor_cpu_pct,
        fleet_cpu_pct,
        polls_per_s,
        period,
        memory,
        peak_rss_kb,
        threads,
    })
}

/// Each monitor thread's CPU use over the period, in % of one core, busiest first.
/// Threads that started during the period count from zero.
fn thread_shares(
    before: &[procfs::ThreadCpu],
    after: &[procfs::ThreadCpu],
    end: &Sample,
    start: &Sample,
) -> Vec<(String, f64)> {
    let seconds = (end.at - start.at).as_secs_f64().max(1e-9);
    let mut shares: Vec<(String, f64)> = after
        .iter()
        .map(|thread| {
            let earlier = before
                .iter()
                .find(|b| b.tid == thread.tid)
                .map_or(0, |b| b.ticks);
            let ticks = thread.ticks.saturating_sub(earlier);
            let pct = ticks as f64 / procfs::ticks_per_second() / seconds * 100.0;
            (format!("{}[{}]", thread.name, thread.tid), pct)
        })
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    shares
}

/// A scratch directory for the configuration and the database, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Result<TempDir, Error> {
        TempDir::new_in(&std::env::temp_dir())
    }

    /// A fresh directory inside `parent`, removed on drop.
    pub(crate) fn new_in(parent: &Path) -> Result<TempDir, Error> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.subsec_nanos())
            .unwrap_or(0);
        let path = parent.join(format!("labwire-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path)
            .map_err(|err| format!("cannot create {}: {err}", path.display()))?;
        Ok(TempDir(path))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Bytes in files whose name starts with `prefix` (a database and its WAL).
    pub(crate) fn bytes_of(&self, prefix: &str) -> u64 {
        let Ok(entries) = std::fs::read_dir(&self.0) else {
            return 0;
        };
        entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(prefix))
            .filter_map(|entry| entry.metadata().ok())
            .map(|meta| meta.len())
            .sum()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// `monitor-load`: the monitor under `--reference-count` clients, then under `--count`,
/// in this one run, and how its costs per client compare.
pub async fn run(args: &MonitorLoadArgs) -> Result<(), Error> {
    let ip = crate::fleet::loopback_ip(&args.listen_ip)?;
    if !args.monitor_bin.is_file() {
        return Err(format!(
            "no monitor at {}: build it with `cargo build --release -p labwire-monitor`",
            args.monitor_bin.display()
        )
        .into());
    }
    let limit = crate::shards::raise_open_files_limit()?;
    println!("open-file limit: {limit} (raised to the hard limit for this run)");
    let mut counts = vec![args.count as usize];
    if args.reference_count != 0 && args.reference_count != args.count {
        counts.insert(0, args.reference_count as usize);
    }
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        let mut runs = Vec::new();
        for (at, &count) in counts.iter().enumerate() {
            println!("== {count} clients (round {round} of {}) ==", args.rounds);
            let relay = args.relay && round == args.rounds && at + 1 == counts.len();
            runs.push(measure(args, ip, count, relay).await?);
        }
        if let Ok([reference, scaled]) = <[Measured; 2]>::try_from(runs) {
            let round_scaling = Scaling { reference, scaled };
            println!("round {round}: {}", round_scaling.describe());
            rounds.push(round_scaling);
        }
    }
    if !rounds.is_empty() {
        println!("{}", compare(&rounds).to_line());
    }
    Ok(())
}

/// What one count cost, for the comparison.
struct Measured {
    clients: usize,
    cpu_pct: f64,
    peak_rss_kb: u64,
    polls_per_s: f64,
    max_gap_s: f64,
}

impl Measured {
    fn cpu_pct_per_client(&self) -> f64 {
        self.cpu_pct / self.clients as f64
    }

    fn kb_per_client(&self) -> f64 {
        self.peak_rss_kb as f64 / self.clients as f64
    }
}

/// One round: what both counts cost.
struct Scaling {
    reference: Measured,
    scaled: Measured,
}

impl Scaling {
    fn cpu_ratio(&self) -> f64 {
        self.scaled.cpu_pct_per_client() / self.reference.cpu_pct_per_client().max(1e-12)
    }

    fn kb_ratio(&self) -> f64 {
        self.scaled.kb_per_client() / self.reference.kb_per_client().max(1e-12)
    }

    fn describe(&self) -> String {
        let (reference, scaled) = (&self.reference, &self.scaled);
        format!(
            "per client: CPU {:.5} % at {} and {:.5} % at {} (ratio {:.2}); memory {:.1} kB and {:.1} kB (ratio {:.2}); longest poll gap {:.2} s and {:.2} s",
            reference.cpu_pct_per_client(),
            reference.clients,
            scaled.cpu_pct_per_client(),
            scaled.clients,
            self.cpu_ratio(),
            reference.kb_per_client(),
            scaled.kb_per_client(),
            self.kb_ratio(),
            reference.max_gap_s,
            scaled.max_gap_s,
        )
    }
}

/// The `scaling` line over every round: medians of the costs per client and of each
/// round's ratio (scaled over reference; at most 1 means no worse per client), every
/// round's CPU ratio, and the longest poll gaps of all.
fn compare(rounds: &[Scaling]) -> Message {
    let median_of = |read: fn(&Scaling) -> f64| median(rounds.iter().map(read).collect());
    let longest = |read: fn(&Scaling) -> f64| rounds.iter().map(read).fold(0.0, f64::max);
    let cpu_ratios: Vec<String> = rounds.iter().map(|r| ratio(r.cpu_ratio())).collect();
    Message::new("scaling")
        .kwarg("reference_clients", rounds[0].reference.clients.to_string())
        .kwarg("clients", rounds[0].scaled.clients.to_string())
        .kwarg("rounds", rounds.len().to_string())
        .kwarg(
            "reference_polls_per_s",
            rounded(median_of(|r| r.reference.polls_per_s)),
        )
        .kwarg("polls_per_s", rounded(median_of(|r| r.scaled.polls_per_s)))
        .kwarg(
            "reference_max_poll_gap_s",
            ratio(longest(|r| r.reference.max_gap_s)),
        )
        .kwarg("max_poll_gap_s", ratio(longest(|r| r.scaled.max_gap_s)))
        .kwarg(
            "reference_cpu_pct_per_client",
            format!("{:.5}", median_of(|r| r.reference.cpu_pct_per_client())),
        )
        .kwarg(
            "cpu_pct_per_client",
            format!("{:.5}", median_of(|r| r.scaled.cpu_pct_per_client())),
        )
        .kwarg("cpu_per_client_ratio", ratio(median_of(Scaling::cpu_ratio)))
        .kwarg("cpu_per_client_ratios", cpu_ratios.join(","))
        .kwarg(
            "reference_kb_per_client",
            rounded(median_of(|r| r.reference.kb_per_client())),
        )
        .kwarg(
            "kb_per_client",
            rounded(median_of(|r| r.scaled.kb_per_client())),
        )
        .kwarg("kb_per_client_ratio", ratio(median_of(Scaling::kb_ratio)))
}

async fn measure(
    args: &MonitorLoadArgs,
    ip: std::net::IpAddr,
    count: usize,
    relay: bool,
) -> Result<Measured, Error> {
    let mut fleet = ShardedFleet::start(ip, count).await?;
    let dir = TempDir::new()?;
    let ini = dir.0.join("monitor.ini");
    let db = dir.0.join("bench.sqlite");
    std::fs::write(&ini, fleet.monitor_ini(Some(&db))?)
        .map_err(|err| format!("cannot write {}: {err}", ini.display()))?;
    println!(
        "fleet: {count} daemons on {ip} in {} processes, hardware polled every {} s; config {}",
        fleet.shards(),
        POLL_INTERVAL.as_secs_f64(),
        ini.display()
    );

    let mut monitor =
        MonitorChild::start(&args.monitor_bin, &ini, args.monitor_log.as_deref()).await?;
    println!(
        "monitor: pid {}, command port {}",
        monitor.pid(),
        monitor.addr
    );
    let connect_time = wait_connected(
        &mut monitor,
        count as u64,
        Duration::from_secs_f64(args.connect_timeout),
    )
    .await?;
    println!(
        "monitor: all {count} clients connected after {:.1} s; warm-up {} s, then measuring {} s",
        connect_time.as_secs_f64(),
        args.warmup,
        args.seconds
    );
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    monitor.check_running()?;
    let window = observe(
        &mut monitor,
        &mut fleet,
        Duration::from_secs_f64(args.seconds),
    )
    .await?;
    // Read after the period, so its own cost is not in the figures.
    let threads = procfs::threads(monitor.pid()).unwrap_or(0);
    let resident = procfs::resident(monitor.pid()).unwrap_or_default();
    let files = procfs::open_files(monitor.pid()).unwrap_or(0);
    let status = monitor_status(monitor.addr).await?;

    let expected = count as f64 / POLL_INTERVAL.as_secs_f64();
    let cpu_ratio = window.monitor_cpu_pct / window.fleet_cpu_pct.max(1e-9);
    println!(
        "monitor: {:.2} % of one core; VmRSS {:.1} MB (highest sampled {:.1} MB, VmHWM {:.1} MB); {threads} threads, {files} open files",
        window.monitor_cpu_pct,
        mb(window.memory.rss_kb),
        mb(window.peak_rss_kb),
        mb(window.memory.hwm_kb),
    );
    println!(
        "monitor: VmRSS is {:.1} MB heap and other anonymous memory, {:.1} MB mapped files, {:.1} MB shared memory",
        mb(resident.anon_kb),
        mb(resident.file_kb),
        mb(resident.shmem_kb),
    );
    let by_thread: Vec<String> = window
        .threads
        .iter()
        .map(|(name, pct)| format!("{name} {pct:.2} %"))
        .collect();
    println!("monitor threads: {}", by_thread.join(", "));
    println!(
        "fleet (reference): {:.2} % of one core answering the polls; monitor/fleet CPU {:.2}",
        window.fleet_cpu_pct, cpu_ratio
    );
    println!(
        "polls: {:.1}/s over {:.1} s (expected {expected:.0}/s, ratio {:.3}); per client {}..{}, {} never polled; longest wait fleet{} {:.2} s",
        window.polls_per_s,
        window.elapsed.as_secs_f64(),
        window.polls_per_s / expected,
        window.period.min_member_polls,
        window.period.max_member_polls,
        window.period.unpolled,
        window.period.worst_member,
        window.period.worst_gap.as_secs_f64(),
    );
    println!(
        "monitor get_status page=0: {}/{} connected, {} bytes, answered in {:.1} ms",
        status.nconnected,
        status
            .nclients
            .map_or_else(|| "?".to_string(), |n| n.to_string()),
        status.bytes,
        status.took.as_secs_f64() * 1e3
    );
    let peak_mb = mb(window.peak_rss_kb);
    println!(
        "targets: CPU {:.2} % {} {TARGET_CPU_PCT} %; resident {peak_mb:.1} MB {} {TARGET_RSS_MB} MB",
        window.monitor_cpu_pct,
        if window.monitor_cpu_pct < TARGET_CPU_PCT { "<" } else { ">=" },
        if peak_mb < TARGET_RSS_MB { "<" } else { ">=" },
    );

    let relay_report = if relay {
        println!("relay: fleet0 directly and through the monitor");
        let spec = RelaySpec {
            monitor: monitor.addr,
            client: "fleet0".into(),
            direct: fleet.addr(0),
            command: parse_line("get_status")?,
            requests: args.relay_requests,
            duration: Duration::from_secs_f64(args.relay_seconds),
            batch: RELAY_BATCH,
        };
        let report = relay::measure(&spec).await?;
        relay::print(&report);
        Some(report)
    } else {
        None
    };

    monitor.check_running()?;
    let db_bytes = dir.bytes_of("bench.sqlite");
    let wal_bytes = dir.bytes_of("bench.sqlite-wal");
    let stopped = monitor.stop()?;
    match &stopped {
        Some((exit, took)) => println!(
            "monitor: stopped by SIGTERM with {} after {:.2} s; database {:.1} MB before, of which {:.1} MB WAL",
            describe_exit(*exit),
            took.as_secs_f64(),
            db_bytes as f64 / 1e6,
            wal_bytes as f64 / 1e6,
        ),
        None => println!(
            "monitor: still running {} s after SIGTERM; killed",
            STOP_TIMEOUT.as_secs()
        ),
    }

    let mut result = Message::new("result")
        .kwarg("monitor_cpu_pct", ratio(window.monitor_cpu_pct))
        .kwarg("monitor_rss_mb", rounded(mb(window.memory.rss_kb)))
        .kwarg("fleet_cpu_pct", ratio(window.fleet_cpu_pct))
        .kwarg("clients", status.nconnected.to_string())
        .kwarg("polls_per_s", rounded(window.polls_per_s))
        .kwarg("cpu_ratio", ratio(cpu_ratio))
        .kwarg("monitor_peak_rss_mb", rounded(peak_mb))
        .kwarg("monitor_hwm_mb", rounded(mb(window.memory.hwm_kb)))
        .kwarg("monitor_anon_mb", rounded(mb(resident.anon_kb)))
        .kwarg("expected_polls_per_s", rounded(expected))
        .kwarg(
            "min_client_polls",
            window.period.min_member_polls.to_string(),
        )
        .kwarg(
            "max_client_polls",
            window.period.max_member_polls.to_string(),
        )
        .kwarg("unpolled", window.period.unpolled.to_string())
        .kwarg(
            "max_poll_gap_s",
            ratio(window.period.worst_gap.as_secs_f64()),
        )
        .kwarg("connect_s", rounded(connect_time.as_secs_f64()))
        .kwarg("seconds", rounded(window.elapsed.as_secs_f64()))
        .kwarg("monitor_threads", threads.to_string())
        .kwarg("monitor_fds", files.to_string())
        .kwarg("status_bytes", status.bytes.to_string())
        .kwarg("status_ms", rounded(status.took.as_secs_f64() * 1e3))
        .kwarg("db_mb", rounded(db_bytes as f64 / 1e6))
        .kwarg("wal_mb", rounded(wal_bytes as f64 / 1e6))
        .kwarg(
            "monitor_exit",
            stopped.map_or_else(|| "hung".to_string(), |(exit, _)| exit_code(exit)),
        );
    if let Some(report) = &relay_report {
        for (key, value) in report.kwargs("relay_") {
            result.set(key, value);
        }
    }
    println!("{}", result.to_line());
    fleet.stop().await;
    Ok(Measured {
        clients: count,
        cpu_pct: window.monitor_cpu_pct,
        peak_rss_kb: window.peak_rss_kb,
        polls_per_s: window.polls_per_s,
        max_gap_s: window.period.worst_gap.as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(clients: usize, cpu_pct: f64, max_gap_s: f64) -> Measured {
        Measured {
            clients,
            cpu_pct,
            peak_rss_kb: clients as u64 * 20,
            polls_per_s: clients as f64,
            max_gap_s,
        }
    }

    /// The rounds are compared one by one, and the line reports the median of their
    /// ratios (not the ratio of medians), with every round's and the longest gap of all.
    #[test]
    fn the_scaling_line_takes_the_median_of_the_rounds_ratios() {
        let rounds = [(6.0, 66.0, 1.1), (6.0, 54.0, 1.0), (4.0, 200.0, 1.7)].map(
            |(reference, scaled, gap)| Scaling {
                reference: measured(1000, reference, 1.0),
                scaled: measured(10000, scaled, gap),
            },
        );
        let line = compare(&rounds);
        assert_eq!(line.get("rounds"), Some("3"));
        let number = |key: &str| line.get(key).and_then(|text| text.parse::<f64>().ok());
        assert_eq!(number("cpu_per_client_ratio"), Some(1.1));
        let each: Vec<f64> = line
            .get("cpu_per_client_ratios")
            .unwrap()
            .split(',')
            .map(|text| text.parse().unwrap())
            .collect();
        assert_eq!(each, [1.1, 0.9, 5.0]);
        assert_eq!(number("max_poll_gap_s"), Some(1.7));
        assert_eq!(number("kb_per_client_ratio"), Some(1.0));
    }

    #[test]
    fn reads_the_monitors_status_line() {
        let line = "status nclients=2 nconnected=1 fleet0=1 fleet0.value=20.1 fleet1=0";
        let status = read_status(&parse_line(line).unwrap(), line.len(), Duration::ZERO).unwrap();
        assert_eq!(status.nclients, Some(2));
        assert_eq!(status.nconnected, 1);
        let error = parse_line("error get_status code=internal message=x").unwrap();
        assert!(read_status(&error, 0, Duration::ZERO).is_err());
        let bare = parse_line("status nclients=2").unwrap();
        assert!(read_status(&bare, 0, Duration::ZERO).is_err());
    }

    #[tokio::test]
    async fn a_monitor_that_fails_at_start_is_reported() {
        let dir = TempDir::new().unwrap();
        let ini = dir.0.join("monitor.ini");
        // `false` ignores its arguments and exits 1 without printing anything.
        let error = MonitorChild::start(Path::new("/bin/false"), &ini, None)
            .await
            .err()
            .expect("must fail")
            .to_string();
        assert!(error.contains("exited before printing"), "{error}");
        let echo = MonitorChild::start(Path::new("/bin/echo"), &ini, None)
            .await
            .err()
            .expect("must fail")
            .to_string();
        assert!(echo.contains("not `listening <addr>`"), "{echo}");
    }
}
