//! The load loop. Each connection is one task over a raw `TcpStream` that keeps `depth`
//! copies of the same request line in flight and counts reply lines by their `\n`: every
//! request gets exactly one reply and the server sends nothing else, so no parsing is
//! needed. A FIFO of send instants gives each reply its latency.
//!
//! Reads and writes are interleaved with non-blocking `try_read`/`try_write`, so a deep
//! pipeline can never deadlock with the server (both sides blocked writing while neither
//! reads).

use crate::stats::Histogram;
use crate::Error;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, Instant};

/// A server silent this long with requests outstanding is declared stuck.
const STALL_LIMIT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_BUFFER: usize = 16 * 1024;
/// Largest pre-encoded burst of requests per run (`depth + 1` request lines).
const BURST_LIMIT: usize = 64 * 1024 * 1024;
/// Longest probe reply accepted: a monitor's status line for thousands of clients fits.
const PROBE_LIMIT: usize = 16 * 1024 * 1024;
/// Longest one [`batch`] may keep sending.
const BATCH_LIMIT: Duration = Duration::from_secs(60);

/// What to run: the same for the target and for the reference.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub connections: usize,
    pub depth: usize,
    /// One encoded request line, with its `\n`.
    pub request: Vec<u8>,
    pub warmup: Duration,
    pub duration: Duration,
    /// Cap on measured requests over all connections.
    pub max_requests: Option<u64>,
}

impl LoadSpec {
    /// Refuses a spec whose pre-encoded burst of requests would be unreasonably large.
    pub fn check(&self) -> Result<(), Error> {
        let burst_len = self.request.len().saturating_mul(self.depth + 1);
        if burst_len > BURST_LIMIT {
            return Err(format!(
                "depth {} of {}-byte requests needs {burst_len} bytes of buffer (limit {BURST_LIMIT})",
                self.depth,
                self.request.len()
            )
            .into());
        }
        Ok(())
    }
}

/// What a run measured (warm-up excluded).
#[derive(Debug)]
pub struct Report {
    pub elapsed: Duration,
    /// One entry per measured request.
    pub latency: Histogram,
}

impl Report {
    pub fn requests(&self) -> u64 {
        self.latency.count()
    }

    pub fn rate(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Shared by every connection of one run.
struct Plan {
    depth: usize,
    line_len: usize,
    /// The request line `depth + 1` times, so any `depth` lines starting at any offset
    /// within a line are one contiguous slice.
    burst: Vec<u8>,
    measure_from: Instant,
    stop_sending_at: Instant,
    tickets: Option<AtomicU64>,
}

impl Plan {
    /// How many of `want` requests may still be sent under `--requests`.
    fn claim(&self, want: usize) -> usize {
        let Some(tickets) = &self.tickets else {
            return want;
        };
        let mut granted = 0;
        let _ = tickets.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            granted = left.min(want as u64);
            Some(left - granted)
        });
        granted as usize
    }
}

/// One exchange on a fresh connection: the reply line (without terminator) to `request`.
pub async fn probe(addr: SocketAddr, request: &[u8]) -> Result<String, Error> {
    let mut stream = connect(addr).await?;
    stream.write_all(request).await?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    let read_line = async {
        // Only new bytes are searched, so a megabyte-long status line stays cheap.
        let mut searched = 0;
        loop {
            if let Some(at) = reply[searched..].iter().position(|&b| b == b'\n') {
                reply.truncate(searched + at);
                return Ok::<_, Error>(());
            }
            searched = reply.len();
            if reply.len() > PROBE_LIMIT {
                return Err(
                    format!("no line end in the first {PROBE_LIMIT} bytes of the reply").into(),
                );
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err("the server closed the connection without replying".into());
            }
            reply.extend_from_slice(&chunk[..n]);
        }
    };
    timeout(STALL_LIMIT, read_line)
        .await
        .map_err(|_| format!("no reply within {} s", STALL_LIMIT.as_secs()))??;
    if reply.last() == Some(&b'\r') {
        reply.pop();
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// Opens every connection, then loads them all at once.
pub async fn run(addr: SocketAddr, spec: &LoadSpec) -> Result<Report, Error> {
    spec.check()?;
    let mut streams = Vec::with_capacity(spec.connections);
    for _ in 0..spec.connections {
        streams.push(connect(addr).await?);
    }
    let start = Instant::now();
    let measure_from = start + spec.warmup;
    let plan = Arc::new(Plan {
        depth: spec.depth,
        line_len: spec.request.len(),
        burst: spec.request.repeat(spec.depth + 1),
        measure_from,
        stop_sending_at: measure_from + spec.duration,
        tickets: spec.max_requests.map(AtomicU64::new),
    });
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|stream| {
            let plan = plan.clone();
            tokio::spawn(async move { drive(&stream, &plan).await })
        })
        .collect();
    let mut latency = Histogram::default();
    let mut last_reply = measure_from;
    for task in tasks {
        let done = task
            .await
            .map_err(|err| format!("connection task failed: {err}"))??;
        latency.merge(&done.latency);
        last_reply = last_reply.max(done.last_reply);
    }
    if latency.count() == 0 {
        return Err("no request completed in the measured period".into());
    }
    Ok(Report {
        elapsed: last_reply - measure_from,
        latency,
    })
}

/// `count` ping-pong requests on an open connection, all measured. Callers that
/// interleave batches on long-lived connections use this, so two servers can be compared
/// under the same machine noise without paying a connection set-up per batch.
pub async fn batch(stream: &TcpStream, request: &[u8], count: u64) -> Result<Histogram, Error> {
    let now = Instant::now();
    let plan = Plan {
        depth: 1,
        line_len: request.len(),
        burst: request.repeat(2),
        measure_from: now,
        // A cap, not a goal: the ticket count ends the batch long before.
        stop_sending_at: now + BATCH_LIMIT,
        tickets: Some(AtomicU64::new(count)),
    };
    Ok(drive(stream, &plan).await?.latency)
}

pub async fn connect(addr: SocketAddr) -> Result<TcpStream, Error> {
    let stream = timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connecting to {addr} timed out"))?
        .map_err(|err| format!("cannot connect to {addr}: {err}"))?;
    // Small request lines must leave at once, as any latency-minded client sends them.
    stream.set_nodelay(true)?;
    Ok(stream)
}

struct ConnectionReport {
    last_reply: Instant,
    latency: Histogram,
}

async fn drive(stream: &TcpStream, plan: &Plan) -> Result<ConnectionReport, Error> {
    let mut report = ConnectionReport {
        last_reply: plan.measure_from,
        latency: Histogram::default(),
    };
    let mut sent_at: VecDeque<Instant> = VecDeque::with_capacity(plan.depth);
    let mut buffer = vec![0u8; READ_BUFFER];
    // Bytes queued but not yet written, and where in the line the next one starts.
    let mut unwritten = 0;
    let mut phase = 0;
    let mut sending = true;
    let mut last_progress = Instant::now();
    // One timer for the whole run, re-armed only when it fires: cheaper than a timeout
    // around every read.
    let mut stall = pin!(sleep_until(last_progress + STALL_LIMIT));
    loop {
        if sending {
            let now = Instant::now();
            let room = plan.depth - sent_at.len();
            let granted = if now >= plan.stop_sending_at {
                0
            } else if now >= plan.measure_from {
                plan.claim(room)
            } else {
                room
            };
            if now >= plan.stop_sending_at || (granted == 0 && room > 0) {
                sending = false;
            }
            sent_at.extend(std::iter::repeat_n(now, granted));
            unwritten += granted * plan.line_len;
        }
        if unwritten > 0 {
            write_some(stream, plan, &mut unwritten, &mut phase)?;
        }
        if sent_at.is_empty() {
            return Ok(report);
        }
        let interest = if unwritten > 0 {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let ready = tokio::select! {
            biased;
            ready = stream.ready(interest) => ready?,
            _ = &mut stall => {
                let deadline = last_progress + STALL_LIMIT;
                if Instant::now() >= deadline {
                    return Err(format!(
                        "{} replies outstanding and none for {} s",
                        sent_at.len(),
                        STALL_LIMIT.as_secs()
                    )
                    .into());
                }
                stall.as_mut().reset(deadline);
                continue;
            }
        };
        if ready.is_readable() {
            let n = match stream.try_read(&mut buffer) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
                Err(err) => return Err(err.into()),
            };
            let replies = buffer[..n].iter().filter(|&&b| b == b'\n').count();
            if replies > 0 {
                let now = Instant::now();
                last_progress = now;
                for _ in 0..replies {
                    let sent = sent_at.pop_front().ok_or(
                        "more reply lines than requests: the server sends unsolicited or multi-line replies",
                    )?;
                    if sent >= plan.measure_from {
                        report.latency.record(now - sent);
                        report.last_reply = now;
                    }
                }
            }
        }
    }
}

/// Writes what the socket takes now, without waiting.
fn write_some(
    stream: &TcpStream,
    plan: &Plan,
    unwritten: &mut usize,
    phase: &mut usize,
) -> Result<(), Error> {
    while *unwritten > 0 {
        match stream.try_write(&plan.burst[*phase..*phase + *unwritten]) {
            Ok(n) => {
                *unwritten -= n;
                *phase = (*phase + n) % plan.line_len;
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}
