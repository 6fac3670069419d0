//! The soak's faults: fleet members killed and restarted at random, with every kind of gap
//! in turn ([`GapKind`]), and clients that connect to the monitor's command port and drop
//! in four ways. Each runs until its deadline and keeps a log of what it did: the restarts
//! log has, per member, its poll count at every kill, which is how the report tells polls
//! in flight at a kill from polls lost while the member was up.

use crate::fleet::Fleet;
use crate::{request_line, Error};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How long a member stays down between its kill and its restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapKind {
    /// Restarted at once, as systemd's `Restart=always` does.
    None,
    Short,
    Second,
    Long,
    /// Anywhere from nothing to [`RANDOM_GAP_MAX`].
    Random,
}

pub const GAP_KINDS: [GapKind; 5] = [
    GapKind::None,
    GapKind::Short,
    GapKind::Second,
    GapKind::Long,
    GapKind::Random,
];
const RANDOM_GAP_MAX: Duration = Duration::from_secs(5);

impl GapKind {
    pub fn name(self) -> &'static str {
        match self {
            GapKind::None => "0",
            GapKind::Short => "50ms",
            GapKind::Second => "1s",
            GapKind::Long => "10s",
            GapKind::Random => "random",
        }
    }

    fn gap(self, rng: &mut Rng) -> Duration {
        match self {
            GapKind::None => Duration::ZERO,
            GapKind::Short => Duration::from_millis(50),
            GapKind::Second => Duration::from_secs(1),
            GapKind::Long => Duration::from_secs(10),
            GapKind::Random => RANDOM_GAP_MAX.mul_f64(rng.unit()),
        }
    }
}

/// xorshift64: reproducible from `--seed`, and no dependency for a coin.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Any odd state keeps xorshift away from its fixed point at zero.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// What the restarts did.
#[derive(Debug, Default)]
pub struct RestartLog {
    /// Per member: its poll count at each kill (the last poll it answered before it).
    pub kill_counts: Vec<Vec<u64>>,
    /// Completed restarts per gap kind, in [`GAP_KINDS`] order.
    pub by_kind: [u64; 5],
    /// Binds of a restart's port that failed before one worked.
    pub failed_binds: u64,
    /// Restarts that never got their port back (the member stays down); with the error.
    pub failed_restarts: Vec<String>,
    /// Restarts skipped because every member was already down.
    pub skipped: u64,
}

impl RestartLog {
    pub fn restarts(&self) -> u64 {
        self.by_kind.iter().sum()
    }
}

/// Every `every`, kills a random member that is up (and has been polled since its last
/// restart) and restarts it after the next gap kind in turn, until `until`; then waits for the restarts under way to finish.
pub async fn restarts(
    fleet: Arc<Fleet>,
    members: usize,
    every: Duration,
    until: Instant,
    seed: u64,
) -> RestartLog {
    let log = Arc::new(Mutex::new(RestartLog {
        kill_counts: vec![Vec::new(); members],
        ..RestartLog::default()
    }));
    let down = Arc::new(Mutex::new(vec![false; members]));
    let mut rng = Rng::new(seed);
    let mut tasks = JoinSet::new();
    let mut next = Instant::now() + every;
    let mut turn = 0;
    while next < until {
        tokio::time::sleep_until(next).await;
        next += every;
        while tasks.try_join_next().is_some() {}
        // A member restarted but not polled since is left alone: killing it again would
        // fold two restarts into one reconnect, and the count would no longer say whether
        // the monitor came back after each.
        let counts = fleet.counts();
        let up: Vec<usize> = {
            let down = down.lock().expect("down lock");
            (0..members)
                .filter(|&m| !down[m] && !counts[m].waiting_since_restart)
                .collect()
        };
        if up.is_empty() {
            log.lock().expect("log lock").skipped += 1;
            continue;
        }
        let member = up[rng.below(up.len())];
        let kind_index = turn % GAP_KINDS.len();
        turn += 1;
        let gap = GAP_KINDS[kind_index].gap(&mut rng);
        down.lock().expect("down lock")[member] = true;
        let (fleet, log, down) = (fleet.clone(), log.clone(), down.clone());
        tasks.spawn(async move {
            if let Some(count) = fleet.stop_member(member).await {
                log.lock().expect("log lock").kill_counts[member].push(count);
            }
            tokio::time::sleep(gap).await;
            let outcome = fleet.restart_member(member).await;
            let mut log = log.lock().expect("log lock");
            match outcome {
                Ok(restarted) => {
                    log.by_kind[kind_index] += 1;
                    log.failed_binds += u64::from(restarted.failed_binds);
                    down.lock().expect("down lock")[member] = false;
                }
                // The member stays marked down: it is not killed again.
                Err(err) => log.failed_restarts.push(err.to_string()),
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Arc::try_unwrap(log)
        .map(|log| log.into_inner().expect("log lock"))
        .unwrap_or_else(|_| unreachable!("every restart task has ended"))
}

/// What the dropping clients did.
#[derive(Debug, Default)]
pub struct ClientLog {
    pub sessions: u64,
    /// Sessions that waited for the monitor's reply and got a `status` line.
    pub answered: u64,
    /// Sessions that waited for a reply and got something else, nothing, or an error.
    pub unanswered: u64,
    /// Sessions not started because [`MAX_CLIENTS`] were still open.
    pub skipped: u64,
}

/// Client sessions open at once, at most.
const MAX_CLIENTS: usize = 32;
const CLIENT_REPLY_WAIT: Duration = Duration::from_secs(5);

/// The ways a client leaves the monitor's command port.
#[derive(Clone, Copy)]
enum Leave {
    /// Asks `get_status`, reads the reply, closes.
    AfterReply,
    /// Asks and closes without reading.
    WithoutReading,
    /// Sends half a request line and closes.
    MidLine,
    /// Connects and closes.
    AtOnce,
}

const LEAVES: [Leave; 4] = [
    Leave::AfterReply,
    Leave::WithoutReading,
    Leave::MidLine,
    Leave::AtOnce,
];

/// Every `every`, one client session against `monitor`, leaving in the next way in turn,
/// until `until`. Clients never relay to a daemon, so every poll the fleet counts is
/// the monitor's own.
pub async fn clients(monitor: SocketAddr, every: Duration, until: Instant) -> ClientLog {
    let log = Arc::new(Mutex::new(ClientLog::default()));
    let open = Arc::new(Semaphore::new(MAX_CLIENTS));
    let request = Arc::new(request_line("get_status").expect("a valid request"));
    let mut tasks = JoinSet::new();
    let mut next = Instant::now();
    let mut turn = 0;
    while next < until {
        tokio::time::sleep_until(next).await;
        next += every;
        while tasks.try_join_next().is_some() {}
        let Ok(permit) = open.clone().try_acquire_owned() else {
            log.lock().expect("log lock").skipped += 1;
            continue;
        };
        let leave = LEAVES[turn % LEAVES.len()];
        turn += 1;
        let (log, request) = (log.clone(), request.clone());
        tasks.spawn(async move {
            let answered = session(monitor, leave, &request).await;
            let mut log = log.lock().expect("log lock");
            log.sessions += 1;
            match (leave, answered) {
                (Leave::AfterReply, Ok(true)) => log.answered += 1,
                (Leave::AfterReply, _) => log.unanswered += 1,
                _ => {}
            }
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    Arc::try_unwrap(log)
        .map(|log| log.into_inner().expect("log lock"))
        .unwrap_or_else(|_| unreachable!("every client task has ended"))
}

/// One session; `Ok(true)` when it waited for a reply and got a `status` line.
async fn session(monitor: SocketAddr, leave: Leave, request: &[u8]) -> Result<bool, Error> {
    let mut stream = TcpStream::connect(monitor).await?;
    match leave {
        Leave::AtOnce => Ok(false),
        Leave::MidLine => {
            stream.write_all(&request[..request.len() / 2]).await?;
            Ok(false)
        }
        Leave::WithoutReading => {
            stream.write_all(request).await?;
            Ok(false)
        }
        Leave::AfterReply => {
            stream.write_all(request).await?;
            let mut reply = String::new();
            let mut reader = BufReader::new(stream);
            tokio::time::timeout(CLIENT_REPLY_WAIT, reader.read_line(&mut reply)).await??;
            Ok(reply.starts_with("status "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_what_their_names_say() {
        let mut rng = Rng::new(7);
        assert_eq!(GapKind::None.gap(&mut rng), Duration::ZERO);
        assert_eq!(GapKind::Short.gap(&mut rng), Duration::from_millis(50));
        assert_eq!(GapKind::Long.gap(&mut rng), Duration::from_secs(10));
        for _ in 0..100 {
            assert!(GapKind::Random.gap(&mut rng) < RANDOM_GAP_MAX);
        }
        let names: Vec<&str> = GAP_KINDS.iter().map(|k| k.name()).collect();
        assert_eq!(names, ["0", "50ms", "1s", "10s", "random"]);
    }

    #[tokio::test]
    async fn restarts_take_every_gap_kind_in_turn() {
        let fleet = Arc::new(Fleet::start("127.0.0.1".parse().unwrap(), 3).await.unwrap());
        // Three turns (at 20, 40, 60 ms), so the 10 s gap never comes.
        let until = Instant::now() + Duration::from_millis(70);
        let log = restarts(fleet.clone(), 3, Duration::from_millis(20), until, 1).await;
        assert_eq!(log.by_kind, [1, 1, 1, 0, 0], "{log:?}");
        assert_eq!(log.kill_counts.iter().map(Vec::len).sum::<usize>(), 3);
        assert!(log.failed_restarts.is_empty(), "{log:?}");
        fleet.stop().await;
    }
}
