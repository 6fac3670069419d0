//! `archive-load`: the MONITOR's command-port latency (`clients`, ping-pong) with nothing
//! else going on, and again during a bounded burst of concurrent archive queries (the
//! log filtered by text, the alarm history, the state at a time, a day's plot, and the
//! command port's own `logs`), reported as burst / idle ratios of p50 and p99 measured
//! in the same run; and, as a control, during as many requests of the live status (HTTP
//! alone, no archive read).
//!
//! The archive is seeded before the monitor reads it: the monitor creates its database,
//! is stopped, and this writes rows straight into its tables (`variables`, `samples`,
//! `logs`, `alarms`; monitor/src/store/schema.rs), then starts it again on that file.

use crate::frames::{ping, Announced, Line};
use crate::monitor::TempDir;
use crate::stats::Histogram;
use crate::{ratio, us, Error};
use labwire_protocol::{format_number, parse_line, Message, PAYLOAD_KEY};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const QUERY_TIMEOUT: Duration = Duration::from_secs(120);
/// The archive's span: a day before now.
const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug)]
pub struct ArchiveLoadSpec {
    pub monitor_bin: PathBuf,
    /// Log lines seeded.
    pub logs: u32,
    /// Alarms seeded.
    pub alarms: u32,
    /// Variables seeded, and samples of each (spread over the last day).
    pub variables: u32,
    pub samples: u32,
    /// Archive queries in each round's burst; and how many at once.
    pub queries: u32,
    pub concurrency: u32,
    /// Seconds of idle round trips in each round, before its burst.
    pub idle_seconds: f64,
    /// Rounds of idle, archive burst and control.
    pub rounds: u32,
}

/// Write the archive into the database the monitor created; blocking.
fn seed(db: &std::path::Path, spec: &ArchiveLoadSpec) -> Result<(), Error> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let mut conn = rusqlite::Connection::open(db)?;
    let tx = conn.transaction()?;
    {
        let mut variable = tx.prepare("INSERT INTO variables (client, key) VALUES (?1, ?2)")?;
        let mut sample =
            tx.prepare("INSERT INTO samples (var_id, t, value) VALUES (?1, ?2, ?3)")?;
        let step = DAY_MS / i64::from(spec.samples.max(1));
        for v in 0..spec.variables {
            variable.execute(("lab", format!("v{v}")))?;
            let id = tx.last_insert_rowid();
            for n in 0..i64::from(spec.samples) {
                let value = (n as f64 / 500.0 + f64::from(v)).sin();
                sample.execute((id, now - DAY_MS + n * step, value))?;
            }
        }
        let mut log =
            tx.prepare("INSERT INTO logs (t, level, source, message) VALUES (?1, ?2, ?3, ?4)")?;
        let levels = ["debug", "info", "info", "info", "warning", "error"];
        let step = DAY_MS / i64::from(spec.logs.max(1));
        for n in 0..spec.logs {
            let i = n as usize;
            let message = if i.is_multiple_of(97) {
                format!("pump {} makes a noise", i % 7)
            } else {
                format!("line {n}: all quiet on channel {}", i % 13)
            };
            log.execute((
                now - DAY_MS + i64::from(n) * step,
                levels[i % levels.len()],
                format!("dev{}", i % 10),
                message,
            ))?;
        }
        let mut alarm = tx.prepare(
            "INSERT INTO alarms (client, key, state, value, raised_at, cleared_at, acked_at, message) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '')",
        )?;
        let step = DAY_MS / i64::from(spec.alarms.max(1));
        for n in 0..spec.alarms {
            let raised = now - DAY_MS + i64::from(n) * step;
            alarm.execute((
                "lab",
                format!("v{}", n % spec.variables.max(1)),
                if n.is_multiple_of(2) { "high" } else { "low" },
                1.5,
                raised,
                raised + step / 2,
                raised + step / 4,
            ))?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// `GET path`: the status, once the whole answer is read.
async fn get(http: SocketAddr, path: &str) -> Result<u16, Error> {
    let answer = tokio::time::timeout(QUERY_TIMEOUT, crate::frames::http_get(http, path)).await??;
    let head = String::from_utf8_lossy(&answer[..answer.len().min(12)]).into_owned();
    Ok(head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// One `logs` request on its own connection, its payload read whole: ok or not.
async fn command_logs(port: SocketAddr, request: &str) -> Result<bool, Error> {
    let stream = TcpStream::connect(port).await?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write
        .write_all(format!("{}\n", parse_line(request)?.to_line()).as_bytes())
        .await?;
    let mut line = String::new();
    tokio::time::timeout(QUERY_TIMEOUT, reader.read_line(&mut line)).await??;
    let reply = parse_line(line.trim_end())?;
    if let Some(bytes) = reply.get(PAYLOAD_KEY).and_then(|n| n.parse::<usize>().ok()) {
        let mut payload = vec![0; bytes];
        reader.read_exact(&mut payload).await?;
    }
    Ok(reply.name == "ok")
}

/// The burst's queries, taken in turn.
fn query(n: u32) -> (&'static str, String) {
    match n % 5 {
        0 => (
            "logs",
            "/monitor/logs?text=pump&level=warning&limit=1000".into(),
        ),
        1 => (
            "alarms",
            "/monitor/alarms?name=v1&state=cleared&limit=1000".into(),
        ),
        2 => ("status_at", format!("/monitor/status?at=-{}", 3600 + n)),
        3 => (
            "plot",
            format!("/monitor/plot?var=lab.v{}&from=-86400&width=1200", n % 7),
        ),
        _ => (
            "command_logs",
            "logs text=quiet source=dev3 limit=1000".into(),
        ),
    }
}

pub async fn run(spec: &ArchiveLoadSpec) -> Result<(), Error> {
    let dir = TempDir::new()?;
    let config = dir.path().join("monitor.ini");
    std::fs::write(&config, "name = bench\ndb = history.sqlite\n")?;
    let config_text = config.to_str().ok_or("a non-UTF-8 temp dir")?;
    let args = ["--config", config_text, "--port", "0", "--http-port", "0"];
    // The monitor makes its database; stopped, the archive is written into it.
    drop(Announced::start(
        &spec.monitor_bin,
        &args,
        &["listening ", "http "],
    )?);
    let seeding = Instant::now();
    let db = dir.path().join("history.sqlite");
    let seed_spec = spec.clone();
    tokio::task::spawn_blocking(move || seed(&db, &seed_spec)).await??;
    println!(
        "archive: {} log lines, {} alarms, {} variables x {} samples over a day, written in {:.1} s",
        spec.logs,
        spec.alarms,
        spec.variables,
        spec.samples,
        seeding.elapsed().as_secs_f64()
    );
    let monitor = Announced::start(&spec.monitor_bin, &args, &["listening ", "http "])?;
    let (port, http) = (monitor.addrs[0], monitor.addrs[1]);
    Line::connect(port).await?.ask("clients").await?;

    // Rounds of the three phases in turn, so that the machine's other load falls on all
    // three alike.
    let (mut idle, mut archive, mut control) =
        (Histogram::default(), Burst::default(), Burst::default());
    for _ in 0..spec.rounds {
        let stop = CancellationToken::new();
        let pinging = tokio::spawn(ping(port, stop.clone()));
        tokio::time::sleep(Duration::from_secs_f64(spec.idle_seconds)).await;
        stop.cancel();
        idle.merge(&pinging.await??);
        let round = burst(spec, port, http, query, None).await?;
        // The control: the live status (no archive read), as many at once, for as long.
        let lasting = Duration::from_secs_f64(round.seconds);
        archive.add(round);
        control.add(
            burst(
                spec,
                port,
                http,
                |_| ("status", "/monitor/status".into()),
                Some(lasting),
            )
            .await?,
        );
    }
    drop(monitor);
    let Burst {
        answered,
        refused,
        queries,
        seconds: burst_seconds,
        ping: busy,
    } = archive;

    let p = |h: &Histogram, q: f64| h.quantile(q).as_secs_f64().max(1e-9);
    let p50_ratio = p(&busy, 0.5) / p(&idle, 0.5);
    let p99_ratio = p(&busy, 0.99) / p(&idle, 0.99);
    println!(
        "command port (clients, ping-pong): idle p50 {} us p99 {} us ({} round trips); \
         during the burst p50 {} us p99 {} us max {} us ({} round trips)",
        us(idle.quantile(0.5)),
        us(idle.quantile(0.99)),
        idle.count(),
        us(busy.quantile(0.5)),
        us(busy.quantile(0.99)),
        us(busy.max()),
        busy.count()
    );
    println!(
        "burst: {} rounds of {} archive queries, {} at once, in {:.2} s ({} answered, {} refused or failed); \
         a query's p50 {} us p99 {} us",
        spec.rounds,
        spec.queries,
        spec.concurrency,
        burst_seconds,
        answered,
        refused,
        us(queries.quantile(0.5)),
        us(queries.quantile(0.99)),
    );
    println!(
        "burst / idle: p50 x{}, p99 x{}",
        ratio(p50_ratio),
        ratio(p99_ratio)
    );
    let control_p50 = p(&control.ping, 0.5) / p(&idle, 0.5);
    let control_p99 = p(&control.ping, 0.99) / p(&idle, 0.99);
    println!(
        "control: {} requests of the live /monitor/status, {} at once, in {:.2} s; command port \
         p50 {} us p99 {} us: control / idle p50 x{}, p99 x{}",
        control.answered + control.refused,
        spec.concurrency,
        control.seconds,
        us(control.ping.quantile(0.5)),
        us(control.ping.quantile(0.99)),
        ratio(control_p50),
        ratio(control_p99)
    );
    let result = Message::new("result")
        .kwarg("bench", "archive-load")
        .kwarg("idle_p50_us", us(idle.quantile(0.5)))
        .kwarg("idle_p99_us", us(idle.quantile(0.99)))
        .kwarg("burst_p50_us", us(busy.quantile(0.5)))
        .kwarg("burst_p99_us", us(busy.quantile(0.99)))
        .kwarg("p50_ratio", ratio(p50_ratio))
        .kwarg("p99_ratio", ratio(p99_ratio))
        .kwarg("queries", (spec.queries * spec.rounds).to_string())
        .kwarg("answered", answered.to_string())
        .kwarg(
            "burst_seconds",
            format_number((burst_seconds * 1000.0).round() / 1000.0),
        )
        .kwarg("control_p50_ratio", ratio(control_p50))
        .kwarg("control_p99_ratio", ratio(control_p99));
    println!("{}", result.to_line());
    if refused + control.refused > 0 {
        return Err(format!("{} queries were not answered", refused + control.refused).into());
    }
    Ok(())
}

/// What one burst did (or several, added): its queries and the command port's round
/// trips meanwhile.
#[derive(Default)]
struct Burst {
    answered: u32,
    refused: u32,
    queries: Histogram,
    seconds: f64,
    ping: Histogram,
}

impl Burst {
    fn add(&mut self, other: Burst) {
        self.answered += other.answered;
        self.refused += other.refused;
        self.queries.merge(&other.queries);
        self.seconds += other.seconds;
        self.ping.merge(&other.ping);
    }
}

/// Requests from `pick`, `spec.concurrency` at once, while `clients` round trips are
/// timed on the command port: `spec.queries` of them, or as many as `lasting` takes.
async fn burst(
    spec: &ArchiveLoadSpec,
    port: SocketAddr,
    http: SocketAddr,
    pick: fn(u32) -> (&'static str, String),
    lasting: Option<Duration>,
) -> Result<Burst, Error> {
    let stop = CancellationToken::new();
    let pinging = tokio::spawn(ping(port, stop.clone()));
    let next = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..spec.concurrency {
        let (next, total) = (next.clone(), spec.queries);
        workers.push(tokio::spawn(async move {
            let (mut answered, mut refused, mut latencies) = (0u32, 0u32, Histogram::default());
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let over = match lasting {
                    Some(lasting) => started.elapsed() >= lasting,
                    None => n >= total,
                };
                if over {
                    break;
                }
                let (kind, target) = pick(n);
                let asked = Instant::now();
                let ok = if kind == "command_logs" {
                    command_logs(port, &target).await?
                } else {
                    get(http, &target).await? == 200
                };
                latencies.record(asked.elapsed());
                if ok {
                    answered += 1;
                } else {
                    refused += 1;
                }
            }
            Ok::<_, Error>((answered, refused, latencies))
        }));
    }
    let mut done = Burst::default();
    for worker in workers {
        let (answered, refused, latencies) = worker.await??;
        done.answered += answered;
        done.refused += refused;
        done.queries.merge(&latencies);
    }
    done.seconds = started.elapsed().as_secs_f64();
    stop.cancel();
    done.ping = pinging.await??;
    Ok(done)
}
