//! `soak`: a MONITOR polling a fleet for a long time while the fleet's members are killed
//! and restarted and clients come and go ([`crate::chaos`]). Sampled as it runs: the
//! monitor's VmRSS. Afterwards, once every restarted member has been polled again (or a
//! bounded settle time has passed), the fleet is stopped, then the monitor (SIGTERM, so it
//! flushes its history), and the database is read ([`crate::history`]) to hold the
//! samples stored against the polls each member answered.

use crate::chaos::{self, ClientLog, RestartLog, GAP_KINDS};
use crate::fleet::{Fleet, MemberCounts};
use crate::history::{self, Tally};
use crate::monitor::{describe_exit, exit_code, mb, monitor_status, wait_connected};
use crate::monitor::{MonitorChild, TempDir};
use crate::{idle, ratio, rounded, Error, SoakArgs};
use labwire_protocol::Message;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Longest wait after the chaos for every restarted member to be polled again: more than
/// the monitor's longest reconnect backoff (10 s) plus a poll interval.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
const SETTLE_CHECK: Duration = Duration::from_millis(200);

/// The monitor's VmRSS at one instant.
struct Rss {
    at: Duration,
    kb: u64,
}

/// The monitor's VmRSS at the first sample, the one nearest the middle, the last, and
/// the highest.
struct Memory {
    start: Rss,
    middle: Rss,
    end: Rss,
    max_kb: u64,
}

impl Memory {
    fn of(samples: &[Rss]) -> Option<Memory> {
        let (first, last) = (samples.first()?, samples.last()?);
        let half = (first.at + last.at) / 2;
        let middle = samples
            .iter()
            .min_by_key(|s| s.at.abs_diff(half))
            .unwrap_or(first);
        let copy = |s: &Rss| Rss { at: s.at, kb: s.kb };
        Some(Memory {
            start: copy(first),
            middle: copy(middle),
            end: copy(last),
            max_kb: samples.iter().map(|s| s.kb).max().unwrap_or(0),
        })
    }
}

pub async fn run(args: &SoakArgs) -> Result<(), Error> {
    let ip = crate::fleet::loopback_ip(&args.listen_ip)?;
    let count = args.count as usize;
    if !args.monitor_bin.is_file() {
        return Err(format!(
            "no monitor at {}: build it with `cargo build --release -p labwire-monitor`",
            args.monitor_bin.display()
        )
        .into());
    }
    Fleet::check_limits(count)?;
    let fleet = Arc::new(Fleet::start_reporting_polls(ip, count).await?);
    let dir = TempDir::new()?;
    let ini = dir.path().join("monitor.ini");
    let db = dir.path().join("soak.sqlite");
    std::fs::write(&ini, fleet.monitor_ini(Some(&db))?)
        .map_err(|err| format!("cannot write {}: {err}", ini.display()))?;
    let mut monitor =
        MonitorChild::start(&args.monitor_bin, &ini, args.monitor_log.as_deref()).await?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |since| since.as_nanos() as u64)
    });
    println!(
        "soak: {count} daemons, monitor pid {} on {}; seed {seed}",
        monitor.pid(),
        monitor.addr
    );
    let connect_time = wait_connected(
        &mut monitor,
        count as u64,
        Duration::from_secs_f64(args.connect_timeout),
    )
    .await?;
    let duration = Duration::from_secs_f64(args.minutes * 60.0);
    println!(
        "soak: all connected after {:.1} s; {:.1} min of a restart every {} s and a client every {} s",
        connect_time.as_secs_f64(),
        args.minutes,
        args.restart_every,
        args.client_every
    );

    let started = Instant::now();
    let until = started + duration;
    let restarts = tokio::spawn(chaos::restarts(
        fleet.clone(),
        count,
        Duration::from_secs_f64(args.restart_every),
        until,
        seed,
    ));
    let clients = tokio::spawn(chaos::clients(
        monitor.addr,
        Duration::from_secs_f64(args.client_every),
        until,
    ));
    let sample_every = Duration::from_secs_f64(args.sample_every);
    let mut samples = Vec::new();
    let mut next = started;
    while next <= until {
        tokio::time::sleep_until(next).await;
        next += sample_every;
        monitor.check_running()?;
        let kb = idle::read_memory(monitor.pid())?.rss_kb;
        let counts = fleet.counts();
        let connections: u64 = counts.iter().map(|c| c.connections).sum();
        let restarted: u64 = counts.iter().map(|c| c.restarts_polled).sum();
        println!(
            "  {:7.1} s: monitor VmRSS {:.1} MB; {} polls; {restarted} restarts polled again; {} connections to the fleet",
            started.elapsed().as_secs_f64(),
            mb(kb),
            counts.iter().map(|c| c.polls).sum::<u64>(),
            connections,
        );
        samples.push(Rss {
            at: started.elapsed(),
            kb,
        });
    }
    let mut restart_log = restarts.await?;
    let client_log = clients.await?;
    let settle = settle(&fleet).await;
    let status = monitor_status(monitor.addr).await?;

    // Stopping the members is the run's last kill: the last poll each answered may have
    // been in flight.
    for member in 0..count {
        if let Some(polls) = fleet.stop_member(member).await {
            restart_log.kill_counts[member].push(polls);
        }
    }
    let counts = fleet.counts();
    let stopped = tokio::task::block_in_place(|| monitor.stop())?;
    let db_bytes = dir.bytes_of("soak.sqlite");
    let stored = tokio::task::spawn_blocking(move || history::read(&db)).await??;

    let mut total = Tally::default();
    for (member, counted) in counts.iter().enumerate() {
        let tally = Tally::of(
            counted.polls,
            stored.counts.get(&format!("fleet{member}")),
            &restart_log.kill_counts[member],
        );
        total.add(&tally);
    }
    let memory = Memory::of(&samples).ok_or("no memory sample")?;
    let report = Report {
        members: count,
        seconds: started.elapsed().as_secs_f64(),
        memory,
        restart_log: &restart_log,
        client_log: &client_log,
        counts: &counts,
        total,
        unexpected: stored.unexpected,
        settle,
        connected: status.nconnected,
        monitor_exit: stopped.map_or_else(|| "hung".into(), |(exit, _)| exit_code(exit)),
        monitor_exit_text: stopped.map_or_else(
            || "still running after SIGTERM; killed".into(),
            |(exit, took)| {
                format!(
                    "stopped by SIGTERM with {} after {:.2} s",
                    describe_exit(exit),
                    took.as_secs_f64()
                )
            },
        ),
        db_mb: db_bytes as f64 / 1e6,
    };
    report.print();
    fleet.stop().await;
    Ok(())
}

/// Waits until no restarted member is still waiting for its first poll, at most
/// [`SETTLE_LIMIT`]; returns how long that took.
async fn settle(fleet: &Fleet) -> Duration {
    let started = Instant::now();
    while started.elapsed() < SETTLE_LIMIT && fleet.counts().iter().any(|c| c.waiting_since_restart)
    {
        tokio::time::sleep(SETTLE_CHECK).await;
    }
    started.elapsed()
}

struct Report<'a> {
    members: usize,
    seconds: f64,
    memory: Memory,
    restart_log: &'a RestartLog,
    client_log: &'a ClientLog,
    counts: &'a [MemberCounts],
    total: Tally,
    unexpected: u64,
    settle: Duration,
    connected: u64,
    monitor_exit: String,
    monitor_exit_text: String,
    db_mb: f64,
}

impl Report<'_> {
    fn print(&self) {
        let memory = &self.memory;
        let restarts = self.restart_log.restarts();
        let connections: u64 = self.counts.iter().map(|c| c.connections).sum();
        let reconnects = connections.saturating_sub(self.members as u64);
        let polled_again: u64 = self.counts.iter().map(|c| c.restarts_polled).sum();
        let never_polled_again = self
            .counts
            .iter()
            .filter(|c| c.waiting_since_restart)
            .count();
        let longest_wait = self
            .counts
            .iter()
            .map(|c| c.max_restart_wait)
            .max()
            .unwrap_or_default();
        let total = &self.total;
        let stored_ratio = total.stored as f64 / total.polled.max(1) as f64;
        let rss_ratio = memory.end.kb as f64 / memory.start.kb.max(1) as f64;
        println!(
            "memory: monitor VmRSS {:.1} MB at {:.0} s, {:.1} MB at {:.0} s, {:.1} MB at {:.0} s (end/start {:.3}); highest {:.1} MB",
            mb(memory.start.kb),
            memory.start.at.as_secs_f64(),
            mb(memory.middle.kb),
            memory.middle.at.as_secs_f64(),
            mb(memory.end.kb),
            memory.end.at.as_secs_f64(),
            rss_ratio,
            mb(memory.max_kb),
        );
        let by_kind: Vec<String> = GAP_KINDS
            .iter()
            .zip(self.restart_log.by_kind)
            .map(|(kind, n)| format!("{n} after {}", kind.name()))
            .collect();
        println!(
            "restarts: {restarts} ({}); {} failed binds retried, {} restarts failed, {} skipped (all down)",
            by_kind.join(", "),
            self.restart_log.failed_binds,
            self.restart_log.failed_restarts.len(),
            self.restart_log.skipped,
        );
        for failure in &self.restart_log.failed_restarts {
            println!("restart failed: {failure}");
        }
        println!(
            "reconnects: {reconnects} by the monitor to the fleet (reconnects/restarts {:.3})",
            reconnects as f64 / restarts.max(1) as f64
        );
        println!(
            "after a restart: {polled_again}/{restarts} polled again, {never_polled_again} members never; longest wait {:.2} s (settled {:.1} s after the chaos)",
            longest_wait.as_secs_f64(),
            self.settle.as_secs_f64(),
        );
        println!(
            "history: {} polls answered, {} stored (stored/polled {:.5}); lost {} in flight at a kill, {} while up; {} stored values never answered, {} other rows",
            total.polled,
            total.stored,
            stored_ratio,
            total.lost_at_kill,
            total.lost_while_up,
            total.invented,
            self.unexpected,
        );
        let clients = self.client_log;
        println!(
            "clients: {} sessions ({} answered, {} waited in vain, {} skipped at the cap)",
            clients.sessions, clients.answered, clients.unanswered, clients.skipped
        );
        println!(
            "monitor: {}/{} connected at the end; {}; database {:.1} MB",
            self.connected, self.members, self.monitor_exit_text, self.db_mb
        );
        let result = Message::new("result")
            .kwarg("rss_start_mb", rounded(mb(memory.start.kb)))
            .kwarg("rss_mid_mb", rounded(mb(memory.middle.kb)))
            .kwarg("rss_end_mb", rounded(mb(memory.end.kb)))
            .kwarg("rss_ratio", ratio(rss_ratio))
            .kwarg("restarts", restarts.to_string())
            .kwarg("reconnects", reconnects.to_string())
            .kwarg("polled", total.polled.to_string())
            .kwarg("stored", total.stored.to_string())
            .kwarg("stored_ratio", format!("{stored_ratio:.6}"))
            .kwarg("lost_at_kill", total.lost_at_kill.to_string())
            .kwarg("lost_while_up", total.lost_while_up.to_string())
            .kwarg("invented", total.invented.to_string())
            .kwarg("other_rows", self.unexpected.to_string())
            .kwarg("kills", self.kills().to_string())
            .kwarg("polled_again", polled_again.to_string())
            .kwarg("never_polled_again", never_polled_again.to_string())
            .kwarg("max_restart_wait_s", ratio(longest_wait.as_secs_f64()))
            .kwarg("rss_max_mb", rounded(mb(memory.max_kb)))
            .kwarg("rss_start_kb", memory.start.kb.to_string())
            .kwarg("rss_end_kb", memory.end.kb.to_string())
            .kwarg("failed_binds", self.restart_log.failed_binds.to_string())
            .kwarg(
                "failed_restarts",
                self.restart_log.failed_restarts.len().to_string(),
            )
            .kwarg("client_sessions", clients.sessions.to_string())
            .kwarg("client_answered", clients.answered.to_string())
            .kwarg("client_unanswered", clients.unanswered.to_string())
            .kwarg("members", self.members.to_string())
            .kwarg("connected", self.connected.to_string())
            .kwarg("seconds", rounded(self.seconds))
            .kwarg("db_mb", rounded(self.db_mb))
            .kwarg("monitor_exit", self.monitor_exit.clone());
        println!("{}", result.to_line());
    }

    /// Kills counted for the tally: the chaos's and the final stop of every member.
    fn kills(&self) -> usize {
        self.restart_log.kill_counts.iter().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_picks_the_sample_nearest_the_middle() {
        let rss = |s: u64, kb: u64| Rss {
            at: Duration::from_secs(s),
            kb,
        };
        let memory = Memory::of(&[rss(0, 10), rss(4, 30), rss(6, 20), rss(10, 15)]).unwrap();
        assert_eq!(
            (memory.start.kb, memory.middle.kb, memory.end.kb),
            (10, 30, 15)
        );
        assert_eq!(memory.max_kb, 30);
        assert!(Memory::of(&[]).is_none());
    }
}
