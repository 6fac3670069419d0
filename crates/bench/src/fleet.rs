//! A fleet of real daemons in this process, for loading a MONITOR with many clients
//! without many processes. Each member is the framework's own server loop and hardware
//! task (what `Daemon::start` runs) around a tiny in-memory [`Device`] of type `fleet`,
//! each on its own loopback port.
//!
//! The one difference from `Daemon::start`: the real [`DeviceService`] is wrapped in a
//! [`CountingService`] that counts the `get_status` requests it answers, with the longest
//! gap between two of them. The device never sees those requests (they are answered from
//! the cache), and counting them where they are answered is the only honest measure of
//! the polls a monitor makes.
//!
//! Members can be stopped and started again on the same port ([`Fleet::stop_member`],
//! [`Fleet::restart_member`]), as a daemon killed and restarted would be; a member's
//! counters live across its restarts. For the soak, [`Fleet::start_reporting_polls`] adds
//! the running poll count to every status reply ([`POLLS_KEY`]), so every poll answered
//! carries a value the monitor has not seen before and stores.

use crate::{procfs, Error};
use labwire_daemon::hardware::HardwareConfig;
use labwire_daemon::server::serve;
use labwire_daemon::status::StatusBuilder;
use labwire_daemon::{Args, CommandSpec, Device, DeviceService, Kwargs, ServerConfig, Service};
use labwire_protocol::Message;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often each member reads its "hardware", and how often the written configuration
/// asks the monitor to poll.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Descriptors each member holds here: its listener and the monitor's connection.
const FILES_PER_DAEMON: u64 = 2;
/// Descriptors kept free for everything else (probes, relay connections, the runtime).
const SPARE_FILES: u64 = 64;
/// Longest `set_label` text, so a script cannot grow every status line without bound.
const MAX_LABEL: usize = 64;
/// The status key carrying the member's poll count, with [`Fleet::start_reporting_polls`].
pub const POLLS_KEY: &str = "polls";
/// How long a restart keeps trying to bind its port again (a port can be briefly taken).
const REBIND_FOR: Duration = Duration::from_secs(5);
const REBIND_RETRY: Duration = Duration::from_millis(20);
/// How long stopping a member waits for its tasks (listener, connections, hardware).
const STOP_WAIT: Duration = Duration::from_secs(3);

const COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "set_label",
    synopsis: "text=<text, at most 64 characters>",
}];

/// The in-memory device: `value` drifts around a per-member base, `counter` counts its
/// polls, `label` is whatever `set_label` last set. Two of three variables change on
/// every poll, so a monitor stores two samples per member per poll.
struct FleetDevice {
    base: f64,
    value: f64,
    counter: u64,
    label: String,
    rng: u64,
}

enum FleetCommand {
    SetLabel(String),
}

impl FleetDevice {
    fn new(index: usize) -> Self {
        let base = 20.0 + (index % 10) as f64;
        FleetDevice {
            base,
            value: base,
            counter: 0,
            label: format!("fleet{index}"),
            // Any odd seed keeps xorshift away from its fixed point at zero.
            rng: (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    /// Uniform in [-0.5, 0.5).
    fn noise(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
}

impl Device for FleetDevice {
    type Command = FleetCommand;

    fn kind(&self) -> &'static str {
        "fleet"
    }

    fn commands(&self) -> &'static [CommandSpec] {
        COMMANDS
    }

    fn parse_command(&self, request: &Message) -> Result<FleetCommand, labwire_daemon::Error> {
        let mut args = Args::new(request);
        let command = match request.name.as_str() {
            "set_label" => {
                let text = args.text("text")?;
                if text.chars().count() > MAX_LABEL {
                    return Err(labwire_daemon::Error::out_of_range(format!(
                        "a label has at most {MAX_LABEL} characters"
                    )));
                }
                FleetCommand::SetLabel(text.to_string())
            }
            other => {
                return Err(labwire_daemon::Error::bad_argument(format!(
                    "not a fleet command: {other}"
                )))
            }
        };
        args.finish()?;
        Ok(command)
    }

    async fn connect(&mut self) -> Result<(), labwire_daemon::Error> {
        Ok(())
    }

    async fn disconnect(&mut self) {}

    async fn poll(&mut self, status: &mut StatusBuilder) -> Result<(), labwire_daemon::Error> {
        // Mean-reverting, so a long run stays near the base instead of wandering off.
        let step = 0.05 * self.noise() - 0.1 * (self.value - self.base);
        self.value = ((self.value + step) * 1e4).round() / 1e4;
        self.counter += 1;
        status
            .number("value", self.value)
            .text("counter", self.counter.to_string())
            .text("label", self.label.clone());
        Ok(())
    }

    async fn execute(&mut self, command: FleetCommand) -> Result<Kwargs, labwire_daemon::Error> {
        match command {
            FleetCommand::SetLabel(text) => {
                self.label = text.clone();
                Ok(vec![("label".into(), text)])
            }
        }
    }
}

/// The `get_status` requests one member answered, over all its restarts.
#[derive(Default)]
struct PollCounter {
    count: AtomicU64,
    /// Nanoseconds after the fleet's epoch of the last one; 0 before the first.
    last_ns: AtomicU64,
    /// Longest gap between two, since the last reset.
    max_gap_ns: AtomicU64,
    /// Connections opened to the member.
    connections: AtomicU64,
    /// When the member was last restarted, while no poll has come since; 0 otherwise.
    restarted_ns: AtomicU64,
    /// Restarts followed by a poll, and the longest wait for that poll.
    restarts_polled: AtomicU64,
    max_restart_wait_ns: AtomicU64,
}

impl PollCounter {
    /// Counts one poll; returns the count including it.
    fn record(&self, epoch: Instant) -> u64 {
        let now = (epoch.elapsed().as_nanos() as u64).max(1);
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let last = self.last_ns.swap(now, Ordering::Relaxed);
        if last != 0 {
            self.max_gap_ns
                .fetch_max(now.saturating_sub(last), Ordering::Relaxed);
        }
        let restarted = self.restarted_ns.swap(0, Ordering::Relaxed);
        if restarted != 0 {
            self.restarts_polled.fetch_add(1, Ordering::Relaxed);
            self.max_restart_wait_ns
                .fetch_max(now.saturating_sub(restarted), Ordering::Relaxed);
        }
        count
    }
}

/// A service that counts the `get_status` requests it answers, passing everything to
/// the service it wraps.
struct CountingService<S> {
    inner: S,
    polls: Arc<PollCounter>,
    epoch: Instant,
    report_polls: bool,
}

impl<S: Service> CountingService<S> {
    /// The inner service's status reply with the poll count added.
    fn reply_with_count(&self, request: &Message, count: u64) -> Message {
        let mut reply = self.inner.status_reply(request);
        if !reply.is_error() {
            reply.set(POLLS_KEY, count.to_string());
        }
        reply
    }
}

impl<S: Service> Service for CountingService<S> {
    fn kind(&self) -> &str {
        self.inner.kind()
    }

    fn commands(&self) -> &[CommandSpec] {
        self.inner.commands()
    }

    fn write_status(&self, out: &mut Vec<u8>, request: &Message) {
        let count = self.polls.record(self.epoch);
        if self.report_polls {
            out.extend_from_slice(self.reply_with_count(request, count).to_line().as_bytes());
            out.push(b'\n');
        } else {
            self.inner.write_status(out, request);
        }
    }

    fn status_reply(&self, request: &Message) -> Message {
        let count = self.polls.record(self.epoch);
        if self.report_polls {
            self.reply_with_count(request, count)
        } else {
            self.inner.status_reply(request)
        }
    }

    fn status_synopsis(&self) -> &'static str {
        self.inner.status_synopsis()
    }

    fn accepts_payload(&self, command: &str) -> bool {
        self.inner.accepts_payload(command)
    }

    fn subscribe(&self, topic: &str) -> Option<broadcast::Receiver<Arc<str>>> {
        self.inner.subscribe(topic)
    }

    async fn handle(&self, request: Message, peer: SocketAddr) -> Message {
        self.inner.handle(request, peer).await
    }

    fn connection_changed(&self, peer: SocketAddr, open: bool) {
        if open {
            self.polls.connections.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.connection_changed(peer, open);
    }
}

struct Member {
    addr: SocketAddr,
    polls: Arc<PollCounter>,
    /// `None` while stopped.
    running: Mutex<Option<Running>>,
}

/// One start of a member: its server and hardware tasks, and what stops them.
struct Running {
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(STOP_WAIT, self.tracker.wait()).await;
    }
}

/// The running fleet; dropping it stops every member.
pub struct Fleet {
    members: Vec<Member>,
    epoch: Instant,
    shutdown: CancellationToken,
    report_polls: bool,
}

/// One member's counters, read at one instant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberCounts {
    /// `get_status` requests answered, over all restarts.
    pub polls: u64,
    /// Connections opened to the member, over all restarts.
    pub connections: u64,
    /// Restarts that a poll has followed, and the longest wait for that poll.
    pub restarts_polled: u64,
    pub max_restart_wait: Duration,
    /// Restarted and not polled since.
    pub waiting_since_restart: bool,
}

/// How a restart went: how often binding the port failed before it worked.
#[derive(Debug)]
pub struct Restarted {
    pub failed_binds: u32,
}

/// The worst-served member in a period.
#[derive(Debug)]
pub struct Gap {
    pub member: usize,
    pub gap: Duration,
}

impl Fleet {
    /// Refuses a fleet the open-file limit cannot hold, before opening anything.
    pub fn check_limits(count: usize) -> Result<(), Error> {
        let Some(limit) = procfs::open_files_limit() else {
            return Ok(());
        };
        let open = procfs::open_files(std::process::id()).unwrap_or(0) as u64;
        let needed = open + SPARE_FILES + FILES_PER_DAEMON * count as u64;
        if needed > limit {
            let fits = limit.saturating_sub(open + SPARE_FILES) / FILES_PER_DAEMON;
            return Err(format!(
                "{count} daemons need about {needed} open files, but the limit is {limit} \
                 (ulimit -n): use --count {fits} or less, or raise the limit"
            )
            .into());
        }
        Ok(())
    }

    pub async fn start(ip: IpAddr, count: usize) -> Result<Fleet, Error> {
        Self::start_with(ip, count, false).await
    }

    /// A fleet whose status replies carry [`POLLS_KEY`], the member's poll count.
    pub async fn start_reporting_polls(ip: IpAddr, count: usize) -> Result<Fleet, Error> {
        Self::start_with(ip, count, true).await
    }

    async fn start_with(ip: IpAddr, count: usize, report_polls: bool) -> Result<Fleet, Error> {
        let mut fleet = Fleet {
            members: Vec::with_capacity(count),
            epoch: Instant::now(),
            shutdown: CancellationToken::new(),
            report_polls,
        };
        // Members started so far are stopped by `fleet`'s drop if a later one fails.
        for index in 0..count {
            let listener = TcpListener::bind((ip, 0))
                .await
                .map_err(|err| format!("fleet{index}: cannot listen on {ip}: {err}"))?;
            let polls = Arc::new(PollCounter::default());
            let addr = listener.local_addr()?;
            let running = fleet.start_member(index, listener, &polls);
            fleet.members.push(Member {
                addr,
                polls,
                running: Mutex::new(Some(running)),
            });
        }
        Ok(fleet)
    }

    fn start_member(
        &self,
        index: usize,
        listener: TcpListener,
        polls: &Arc<PollCounter>,
    ) -> Running {
        let stop = self.shutdown.child_token();
        let tracker = TaskTracker::new();
        let config = ServerConfig {
            name: format!("fleet{index}"),
            version: env!("CARGO_PKG_VERSION").into(),
            hardware: HardwareConfig {
                poll_interval: POLL_INTERVAL,
                ..HardwareConfig::default()
            },
            ..ServerConfig::default()
        };
        let device = DeviceService::start(
            FleetDevice::new(index),
            config.hardware.clone(),
            stop.clone(),
            &tracker,
        );
        let service = CountingService {
            inner: device,
            polls: polls.clone(),
            epoch: self.epoch,
            report_polls: self.report_polls,
        };
        serve(listener, config, service, stop.clone(), &tracker);
        Running { stop, tracker }
    }

    /// Stops one member as a killed daemon stops: its listener closes and its connections
    /// drop. Returns its poll count once it has stopped (nothing answered after that), or
    /// `None` when it was not running.
    pub async fn stop_member(&self, member: usize) -> Option<u64> {
        let running = self.members[member]
            .running
            .lock()
            .expect("member lock")
            .take()?;
        running.stop().await;
        Some(self.members[member].polls.count.load(Ordering::Relaxed))
    }

    /// Starts a stopped member again on its own address, retrying the bind for a short
    /// while if the port is taken. A member already running is left alone.
    pub async fn restart_member(&self, member: usize) -> Result<Restarted, Error> {
        let idle = Restarted { failed_binds: 0 };
        if self.members[member]
            .running
            .lock()
            .expect("member lock")
            .is_some()
        {
            return Ok(idle);
        }
        let addr = self.members[member].addr;
        let started = Instant::now();
        let mut failed_binds = 0;
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(listener) => break listener,
                Err(err) if started.elapsed() >= REBIND_FOR => {
                    return Err(format!(
                        "fleet{member}: cannot listen on {addr} again after {failed_binds} tries: {err}"
                    )
                    .into())
                }
                Err(_) => {
                    failed_binds += 1;
                    tokio::time::sleep(REBIND_RETRY).await;
                }
            }
        };
        let polls = &self.members[member].polls;
        let mut running = self.members[member].running.lock().expect("member lock");
        if running.is_some() {
            return Ok(idle);
        }
        let now = (self.epoch.elapsed().as_nanos() as u64).max(1);
        polls.restarted_ns.store(now, Ordering::Relaxed);
        *running = Some(self.start_member(member, listener, polls));
        Ok(Restarted { failed_binds })
    }

    pub fn counts(&self) -> Vec<MemberCounts> {
        self.members
            .iter()
            .map(|m| {
                let p = &m.polls;
                MemberCounts {
                    polls: p.count.load(Ordering::Relaxed),
                    connections: p.connections.load(Ordering::Relaxed),
                    restarts_polled: p.restarts_polled.load(Ordering::Relaxed),
                    max_restart_wait: Duration::from_nanos(
                        p.max_restart_wait_ns.load(Ordering::Relaxed),
                    ),
                    waiting_since_restart: p.restarted_ns.load(Ordering::Relaxed) != 0,
                }
            })
            .collect()
    }

    pub fn addr(&self, member: usize) -> SocketAddr {
        self.members[member].addr
    }

    /// Lowest and highest port, for the report (ports are not contiguous).
    pub fn port_span(&self) -> (u16, u16) {
        let ports = self.members.iter().map(|m| m.addr.port());
        (ports.clone().min().unwrap_or(0), ports.max().unwrap_or(0))
    }

    /// `get_status` requests answered so far, per member.
    pub fn polls(&self) -> Vec<u64> {
        self.members
            .iter()
            .map(|m| m.polls.count.load(Ordering::Relaxed))
            .collect()
    }

    pub fn total_polls(&self) -> u64 {
        self.polls().iter().sum()
    }

    /// Starts a new period for [`Fleet::worst_gap`].
    pub fn reset_gaps(&self) {
        for member in &self.members {
            member.polls.max_gap_ns.store(0, Ordering::Relaxed);
        }
    }

    /// The longest any member went without a `get_status` since [`Fleet::reset_gaps`],
    /// counting the wait since its last one up to now (a member polled never since is
    /// waiting still).
    pub fn worst_gap(&self) -> Gap {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let mut worst = Gap {
            member: 0,
            gap: Duration::ZERO,
        };
        for (index, member) in self.members.iter().enumerate() {
            let counter = &member.polls;
            let waiting = now.saturating_sub(counter.last_ns.load(Ordering::Relaxed));
            let gap = Duration::from_nanos(counter.max_gap_ns.load(Ordering::Relaxed).max(waiting));
            if gap > worst.gap {
                worst = Gap { member: index, gap };
            }
        }
        worst
    }

    /// A monitor.ini (docs/monitor.md, "monitor.ini") with every member as a client
    /// `fleet<k>`, polled at [`POLL_INTERVAL`], storing into `db` when given.
    pub fn monitor_ini(&self, db: Option<&Path>) -> Result<String, Error> {
        let members: Vec<SocketAddr> = self.members.iter().map(|m| m.addr).collect();
        write_monitor_ini(&members, db)
    }

    /// Stops every member and waits (bounded) for their tasks.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        let wait_all = async {
            for member in &self.members {
                let running = member.running.lock().expect("member lock").take();
                if let Some(running) = running {
                    running.stop().await;
                }
            }
        };
        let _ = tokio::time::timeout(STOP_WAIT, wait_all).await;
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A monitor.ini (docs/monitor.md, "monitor.ini") with each of `members` as a client
/// `fleet<k>`, polled at [`POLL_INTERVAL`], storing into `db` when given.
pub fn write_monitor_ini(members: &[SocketAddr], db: Option<&Path>) -> Result<String, Error> {
    let mut ini = format!(
        "; {} labwire-bench fleet daemons, written by labwire-bench\n",
        members.len()
    );
    let _ = writeln!(ini, "poll_interval = {:?}", POLL_INTERVAL.as_secs_f64());
    if let Some(db) = db {
        let text = db
            .to_str()
            .filter(|text| ini_safe(text))
            .ok_or_else(|| format!("cannot write the path {db:?} into an INI file"))?;
        let _ = writeln!(ini, "db = {text}");
    }
    for (index, member) in members.iter().enumerate() {
        let _ = write!(
            ini,
            "\n[fleet{index}]\nhost = {}\nport = {}\n",
            member.ip(),
            member.port()
        );
    }
    Ok(ini)
}

/// A value the configobj reader takes bare: no comment or list characters, no quotes,
/// no blanks at the ends.
fn ini_safe(text: &str) -> bool {
    !text.is_empty()
        && text.trim() == text
        && !text
            .chars()
            .any(|c| matches!(c, ';' | '#' | ',' | '"' | '\'') || c.is_control())
}

/// Fleet members listen on loopback only: this is a load test.
pub fn loopback_ip(text: &str) -> Result<IpAddr, Error> {
    let ip: IpAddr = text
        .parse()
        .map_err(|_| format!("--listen-ip {text:?} is not an IP address"))?;
    if !ip.is_loopback() {
        return Err(format!("--listen-ip {ip} is not a loopback address").into());
    }
    Ok(ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load;
    use labwire_protocol::parse_line;

    async fn ask(addr: SocketAddr, line: &str) -> Message {
        let reply = load::probe(addr, format!("{line}\n").as_bytes())
            .await
            .unwrap();
        parse_line(&reply).unwrap()
    }

    async fn status_when(addr: SocketAddr, holds: impl Fn(&Message) -> bool) -> Message {
        for _ in 0..200 {
            let status = ask(addr, "get_status").await;
            if holds(&status) {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the status never reached the expected state");
    }

    #[tokio::test]
    async fn members_are_daemons_that_count_their_polls() {
        let fleet = Fleet::start("127.0.0.1".parse().unwrap(), 3).await.unwrap();
        let id = ask(fleet.addr(2), "get_id").await;
        assert_eq!(id.get("name"), Some("fleet2"));
        assert_eq!(id.get("type"), Some("fleet"));
        assert_eq!(id.get("protocol"), Some("1"));

        // The hardware task polls on its own schedule; wait for it rather than guess.
        let status = status_when(fleet.addr(1), |s| s.get("hw_connected") == Some("1")).await;
        assert_eq!(status.get("label"), Some("fleet1"));
        assert!(status.get("value").is_some() && status.get("counter").is_some());
        assert!(fleet.polls()[1] >= 1);
        assert_eq!(fleet.polls()[0], 0, "get_id is not a poll");

        let set = ask(fleet.addr(1), "set_label text=\"bench A\"").await;
        assert_eq!(set.to_line(), "ok set_label label=\"bench A\"");
        status_when(fleet.addr(1), |s| s.get("label") == Some("bench A")).await;
        let too_long = format!("set_label text={}", "x".repeat(MAX_LABEL + 1));
        assert_eq!(
            ask(fleet.addr(1), &too_long).await.error_code(),
            Some("out_of_range")
        );
        let asked = fleet.polls()[1];
        ask(fleet.addr(1), "get_status").await;
        assert_eq!(fleet.polls()[1], asked + 1);
        assert_eq!(fleet.total_polls(), asked + 1);
        fleet.stop().await;
    }

    #[tokio::test]
    async fn a_member_restarts_on_its_own_port_and_keeps_counting() {
        let fleet = Fleet::start_reporting_polls("127.0.0.1".parse().unwrap(), 2)
            .await
            .unwrap();
        let addr = fleet.addr(1);
        assert_eq!(ask(addr, "get_status").await.get(POLLS_KEY), Some("1"));
        assert_eq!(ask(addr, "get_status").await.get(POLLS_KEY), Some("2"));
        // A connection held across the kill is dropped by it, as a killed daemon's are.
        let mut held = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert_eq!(fleet.stop_member(1).await, Some(2));
        assert_eq!(fleet.stop_member(1).await, None, "already stopped");
        let mut byte = [0u8; 1];
        let read = tokio::io::AsyncReadExt::read(&mut held, &mut byte).await;
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());

        // Rebinding at once, with the old connections' sockets in TIME_WAIT, works.
        fleet.restart_member(1).await.unwrap();
        assert!(fleet.counts()[1].waiting_since_restart);
        assert_eq!(ask(addr, "get_status").await.get(POLLS_KEY), Some("3"));
        let counts = &fleet.counts()[1];
        assert!(!counts.waiting_since_restart);
        assert_eq!(counts.restarts_polled, 1);
        assert!(counts.connections >= 3, "{counts:?}");
        assert_eq!(fleet.counts()[0], MemberCounts::default());
        // Restarting a running member changes nothing.
        fleet.restart_member(0).await.unwrap();
        assert!(!fleet.counts()[0].waiting_since_restart);
        fleet.stop().await;
    }

    #[tokio::test]
    async fn worst_gap_counts_members_never_polled() {
        let fleet = Fleet::start("127.0.0.1".parse().unwrap(), 2).await.unwrap();
        fleet.reset_gaps();
        tokio::time::sleep(Duration::from_millis(30)).await;
        ask(fleet.addr(0), "get_status").await;
        let worst = fleet.worst_gap();
        assert_eq!(worst.member, 1);
        assert!(worst.gap >= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn monitor_ini_lists_every_member() {
        let fleet = Fleet::start("127.0.0.1".parse().unwrap(), 2).await.unwrap();
        let ini = fleet
            .monitor_ini(Some(Path::new("/tmp/x/bench.sqlite")))
            .unwrap();
        let expected = format!(
            "poll_interval = 1.0\ndb = /tmp/x/bench.sqlite\n\n[fleet0]\nhost = 127.0.0.1\nport = {}\n\n[fleet1]\nhost = 127.0.0.1\nport = {}\n",
            fleet.addr(0).port(),
            fleet.addr(1).port()
        );
        assert!(ini.ends_with(&expected), "{ini}");
        assert!(fleet.monitor_ini(Some(Path::new("/tmp/a;b"))).is_err());
    }

    #[test]
    fn only_loopback_addresses() {
        assert!(loopback_ip("127.0.0.1").is_ok());
        assert!(loopback_ip("::1").is_ok());
        assert!(loopback_ip("0.0.0.0").is_err());
        assert!(loopback_ip("localhost").is_err());
    }

    #[tokio::test]
    async fn the_value_drifts_near_its_base() {
        let mut device = FleetDevice::new(3);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let mut status = StatusBuilder::new();
            device.poll(&mut status).await.unwrap();
            let value: f64 = status.get("value").unwrap().parse().unwrap();
            assert!((value - 23.0).abs() < 1.0, "{value}");
            seen.insert(status.get("value").unwrap().to_string());
        }
        assert!(seen.len() > 100, "the value should keep changing");
        assert_eq!(device.counter, 1000);
    }
}
