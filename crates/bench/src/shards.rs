//! A fleet in shards: its members run in child processes of this bench
//! (`labwire-bench fleet-shard`, one [`crate::fleet::Fleet`] each), so a fleet of ten
//! thousand needs no more open files in one process than the system allows one process.
//! The parent talks to each shard in protocol lines over its stdin and stdout:
//!
//! ```text
//! shard -> parent, once started:  shard ports=<port>,<port>,...
//! parent -> shard:                reset             (a new period starts)
//! shard -> parent:                ok reset
//! parent -> shard:                report
//! shard -> parent:                report polls=<answered so far> min=<fewest polls of a member this period>
//!                                 max=<most> unpolled=<members not polled this period>
//!                                 gap_ms=<longest wait of a member> worst=<that member>
//! ```
//!
//! A shard ends when its stdin closes, so it never outlives the bench.

use crate::fleet::Fleet;
use crate::{procfs, Error};
use labwire_protocol::{parse_line, Message};
use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Members per shard at most (a shard holds two files per member). Smaller shards keep
/// the fleet's own stalls out of the monitor's figures: with 5000 per process, the
/// longest wait for a poll at 10 000 clients was a shard's, near 2 s; with 2500, 1.25 s.
pub const MEMBERS_PER_SHARD: usize = 2500;
/// How long a shard may take to start its members, and to answer.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Descriptors a shard keeps beyond two per member.
const SPARE_FILES: u64 = 128;

/// Raise this process's soft open-file limit as far as its hard limit allows (children
/// inherit it); answers the limit now in force.
pub fn raise_open_files_limit() -> Result<u64, Error> {
    rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|err| format!("cannot raise the open-file limit: {err}").into())
}

/// One period's worst-served member over all shards, and the spread of polls.
#[derive(Debug, Default)]
pub struct PeriodReport {
    pub polls: u64,
    pub min_member_polls: u64,
    pub max_member_polls: u64,
    pub unpolled: u64,
    pub worst_gap: Duration,
    /// The member's index in the whole fleet.
    pub worst_member: usize,
}

struct Shard {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// The index of its first member in the whole fleet.
    first: usize,
}

impl Shard {
    async fn ask(&mut self, request: &str, expect: &str) -> Result<Message, Error> {
        let line = Message::new(request).to_line() + "\n";
        self.stdin.write_all(line.as_bytes()).await?;
        self.stdin.flush().await?;
        let answer = self.answer(ANSWER_TIMEOUT).await?;
        if answer.name != expect {
            return Err(format!("a fleet shard answered {request:?} with {answer}").into());
        }
        Ok(answer)
    }

    async fn answer(&mut self, within: Duration) -> Result<Message, Error> {
        let line = tokio::time::timeout(within, self.stdout.next_line())
            .await
            .map_err(|_| "a fleet shard did not answer in time")??
            .ok_or("a fleet shard exited")?;
        Ok(parse_line(&line).map_err(|err| format!("a fleet shard's line: {err}"))?)
    }
}

/// The running shards; dropping it ends them.
pub struct ShardedFleet {
    shards: Vec<Shard>,
    members: Vec<SocketAddr>,
}

impl ShardedFleet {
    /// `count` members on `ip`, in as few shards of at most [`MEMBERS_PER_SHARD`] as
    /// hold them, each as large as the others.
    pub async fn start(ip: IpAddr, count: usize) -> Result<ShardedFleet, Error> {
        let limit = raise_open_files_limit()?;
        let fits = (limit.saturating_sub(SPARE_FILES) / 2) as usize;
        let per_shard = MEMBERS_PER_SHARD.min(fits).max(1);
        let shards = count.div_ceil(per_shard);
        let size = count.div_ceil(shards);
        let exe = std::env::current_exe()?;
        let mut fleet = ShardedFleet {
            shards: Vec::new(),
            members: Vec::with_capacity(count),
        };
        // Started all at once, then waited for: each binds its members on its own.
        for first in (0..count).step_by(size) {
            let members = size.min(count - first);
            let mut child = Command::new(&exe)
                .args(["fleet-shard", "--listen-ip", &ip.to_string()])
                .args(["--count", &members.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|err| format!("cannot start a fleet shard: {err}"))?;
            let stdin = child.stdin.take().ok_or("a shard without stdin")?;
            let stdout = BufReader::new(child.stdout.take().ok_or("a shard without stdout")?);
            fleet.shards.push(Shard {
                child,
                stdin,
                stdout: stdout.lines(),
                first,
            });
        }
        for shard in &mut fleet.shards {
            let started = shard.answer(START_TIMEOUT).await?;
            if started.name != "shard" {
                return Err(format!("a fleet shard started with {started}").into());
            }
            for port in &started.args {
                let port: u16 = port
                    .parse()
                    .map_err(|_| format!("a shard's port {port:?}"))?;
                fleet.members.push(SocketAddr::new(ip, port));
            }
        }
        if fleet.members.len() != count {
            return Err(format!(
                "the shards hold {} members, not {count}",
                fleet.members.len()
            )
            .into());
        }
        Ok(fleet)
    }

    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    pub fn addr(&self, member: usize) -> SocketAddr {
        self.members[member]
    }

    /// CPU time of every shard, in clock ticks.
    pub fn cpu_ticks(&self) -> Result<u64, Error> {
        let mut ticks = 0;
        for shard in &self.shards {
            let pid = shard.child.id().ok_or("a fleet shard has exited")?;
            ticks += procfs::cpu_ticks(pid)?;
        }
        Ok(ticks)
    }

    /// Starts a new period for [`ShardedFleet::report`].
    pub async fn reset(&mut self) -> Result<(), Error> {
        for shard in &mut self.shards {
            shard.ask("reset", "ok").await?;
        }
        Ok(())
    }

    /// The polls answered so far, and this period's spread and worst wait.
    pub async fn report(&mut self) -> Result<PeriodReport, Error> {
        let mut total = PeriodReport {
            min_member_polls: u64::MAX,
            ..PeriodReport::default()
        };
        for shard in &mut self.shards {
            let report = shard.ask("report", "report").await?;
            let number = |key: &str| -> Result<u64, Error> {
                Ok(report
                    .get(key)
                    .and_then(|text| text.parse().ok())
                    .ok_or_else(|| format!("a shard's report without {key}: {report}"))?)
            };
            total.polls += number("polls")?;
            total.min_member_polls = total.min_member_polls.min(number("min")?);
            total.max_member_polls = total.max_member_polls.max(number("max")?);
            total.unpolled += number("unpolled")?;
            let gap = Duration::from_millis(number("gap_ms")?);
            if gap >= total.worst_gap {
                total.worst_gap = gap;
                total.worst_member = shard.first + number("worst")? as usize;
            }
        }
        Ok(total)
    }

    /// A monitor.ini with every member as a client `fleet<k>`, as [`Fleet::monitor_ini`]
    /// writes it for one process.
    pub fn monitor_ini(&self, db: Option<&std::path::Path>) -> Result<String, Error> {
        crate::fleet::write_monitor_ini(&self.members, db)
    }

    /// Closes every shard's stdin and waits (bounded) for it to exit.
    pub async fn stop(mut self) {
        for shard in &mut self.shards {
            let _ = shard.stdin.shutdown().await;
        }
        for shard in &mut self.shards {
            let _ = tokio::time::timeout(Duration::from_secs(5), shard.child.wait()).await;
        }
    }
}

/// `labwire-bench fleet-shard`: the child's side.
pub async fn serve_shard(ip: IpAddr, count: usize) -> Result<(), Error> {
    raise_open_files_limit()?;
    Fleet::check_limits(count)?;
    let fleet = Fleet::start(ip, count).await?;
    let mut out = tokio::io::stdout();
    let say = |message: Message| format!("{}\n", message.to_line());
    // Its members' ports, one argument each (2500 ports are some 15 KB of line).
    let started = (0..count).fold(Message::new("shard"), |started, m| {
        started.arg(fleet.addr(m).port().to_string())
    });
    out.write_all(say(started).as_bytes()).await?;
    out.flush().await?;
    let mut period_start = fleet.polls();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let request = match parse_line(&line) {
            Ok(request) => request.name,
            Err(err) => format!("{line:?} ({err})"),
        };
        let answer = match request.as_str() {
            "reset" => {
                fleet.reset_gaps();
                period_start = fleet.polls();
                Message::new("ok").arg("reset")
            }
            "report" => {
                let now = fleet.polls();
                let period: Vec<u64> = now.iter().zip(&period_start).map(|(n, s)| n - s).collect();
                let worst = fleet.worst_gap();
                Message::new("report")
                    .kwarg("polls", now.iter().sum::<u64>().to_string())
                    .kwarg("min", period.iter().min().copied().unwrap_or(0).to_string())
                    .kwarg("max", period.iter().max().copied().unwrap_or(0).to_string())
                    .kwarg(
                        "unpolled",
                        period.iter().filter(|&&n| n == 0).count().to_string(),
                    )
                    .kwarg("gap_ms", worst.gap.as_millis().to_string())
                    .kwarg("worst", worst.member.to_string())
            }
            other => Message::new("error").kwarg("message", format!("unknown request {other:?}")),
        };
        out.write_all(say(answer).as_bytes()).await?;
        out.flush().await?;
    }
    fleet.stop().await;
    Ok(())
}
