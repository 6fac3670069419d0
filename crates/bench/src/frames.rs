//! `frames`: how fast camera frames move from a labwire-ccd (simulating its Archon) into
//! the monitor's frames directory, as a ratio to a raw loopback TCP copy of the same
//! bytes measured in the same run; and the monitor's command-port round trip (`clients`,
//! ping-pong) and page load (`GET /`) while the frames move, against the same with
//! nothing moving.
//!
//! The monitor's rates are its own measurements, read from its `/metrics` after each
//! frame: a frame's bytes over its seconds from `get_frame` written to the last byte off
//! the socket (the daemon serving it and loopback TCP: the frame moving, the figure the
//! target is for), and to its last byte in the file (the frames directory's disk as
//! well), the median over the frames. After each frame, the reference copies the same
//! number of bytes from one socket to another in this process, in 1 MiB writes, and
//! writes them to a file in the frames directory; the medians count. Interleaved, the two
//! see the same moments of a shared machine. Peak memory (VmHWM) of the monitor and the
//! camera daemon is reported in frames.

use crate::idle::read_memory;
use crate::monitor::TempDir;
use crate::stats::{median, Histogram};
use crate::{ratio, us, Error};
use labwire_protocol::{format_number, parse_line, Message};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const START_TIMEOUT: Duration = Duration::from_secs(20);
const FRAME_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
pub struct FramesSpec {
    pub monitor_bin: PathBuf,
    pub ccd_bin: PathBuf,
    pub frames: u32,
    /// `WIDTHxHEIGHT`.
    pub sensor: String,
    pub copies: u32,
    pub idle_seconds: f64,
    /// Where the monitor's frames directory is made; `None`: in the run's temp dir.
    pub frames_dir: Option<PathBuf>,
}

/// A child process announcing its addresses on stdout (`<prefix><addr>` lines); killed
/// when dropped.
pub(crate) struct Announced {
    child: Child,
    pub(crate) addrs: Vec<SocketAddr>,
}

impl Announced {
    pub(crate) fn start(bin: &Path, args: &[&str], prefixes: &[&str]) -> Result<Announced, Error> {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| {
                format!(
                    "cannot start {} (build it with `cargo build --release`): {err}",
                    bin.display()
                )
            })?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut running = Announced {
            child,
            addrs: Vec::new(),
        };
        let (lines, read) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        for prefix in prefixes {
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let line = read
                    .recv_timeout(left)
                    .map_err(|_| format!("{} did not print `{prefix}<addr>`", bin.display()))?;
                if let Some(addr) = line.strip_prefix(prefix) {
                    running.addrs.push(addr.trim().parse()?);
                    break;
                }
            }
        }
        Ok(running)
    }
}

impl Drop for Announced {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One ping-pong protocol connection.
pub(crate) struct Line {
    reader: AsyncBufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Line {
    pub(crate) async fn connect(addr: SocketAddr) -> Result<Line, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (read, writer) = stream.into_split();
        Ok(Line {
            reader: AsyncBufReader::new(read),
            writer,
        })
    }

    pub(crate) async fn ask(&mut self, request: &str) -> Result<Message, Error> {
        let line = parse_line(request)?.to_line() + "\n";
        self.writer.write_all(line.as_bytes()).await?;
        let mut reply = String::new();
        if self.reader.read_line(&mut reply).await? == 0 {
            return Err("the connection closed".into());
        }
        Ok(parse_line(reply.trim_end())?)
    }
}

/// `GET path` on a connection of its own; the whole answer, head and body.
pub(crate) async fn http_get(http: SocketAddr, path: &str) -> Result<Vec<u8>, Error> {
    let mut stream = TcpStream::connect(http).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(answer)
}

/// The monitor's `/metrics` samples without labels.
async fn metrics(http: SocketAddr) -> Result<Vec<(String, f64)>, Error> {
    let answer = http_get(http, "/metrics").await?;
    let text = String::from_utf8_lossy(&answer);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok(body
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.split_once(' ')?;
            Some((name.to_string(), value.trim().parse().ok()?))
        })
        .collect())
}

fn metric(samples: &[(String, f64)], name: &str) -> f64 {
    samples
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0.0, |(_, v)| *v)
}

/// Round trips of `clients` on `addr` until `stop`.
pub(crate) async fn ping(addr: SocketAddr, stop: CancellationToken) -> Result<Histogram, Error> {
    let mut line = Line::connect(addr).await?;
    let mut histogram = Histogram::default();
    while !stop.is_cancelled() {
        let started = Instant::now();
        line.ask("clients").await?;
        histogram.record(started.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(histogram)
}

/// Loads of the page (`GET /`, a new connection each) until `stop`.
async fn page_ping(http: SocketAddr, stop: CancellationToken) -> Result<Histogram, Error> {
    let mut histogram = Histogram::default();
    while !stop.is_cancelled() {
        let started = Instant::now();
        let page = http_get(http, "/").await?;
        if !page.starts_with(b"HTTP/1.1 200") {
            let head = String::from_utf8_lossy(&page[..page.len().min(40)]).into_owned();
            return Err(format!("the page: {head}").into());
        }
        histogram.record(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(histogram)
}

/// Seconds to copy `bytes` from one loopback socket to another, in 1 MiB writes.
async fn raw_copy(bytes: u64) -> Result<f64, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let sender = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await?;
        let chunk = vec![0x5au8; 1 << 20];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            stream.write_all(&chunk[..n]).await?;
            left -= n as u64;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut stream = TcpStream::connect(addr).await?;
    let started = Instant::now();
    let mut buffer = vec![0u8; 1 << 20];
    let mut got = 0u64;
    while got < bytes {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Err("the reference copy ended early".into());
        }
        got += n as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    sender.await??;
    Ok(seconds)
}

/// Seconds to write `bytes` to a new file in `dir` in 4 MiB writes, as the monitor does,
/// and remove it: what the frames directory's disk allows without any network.
fn raw_file_write(bytes: u64, dir: &Path) -> Result<f64, Error> {
    use std::io::Write;
    let path = dir.join("labwire-bench-reference.fits");
    let piece = vec![0x5au8; 4 << 20];
    let started = Instant::now();
    let mut file = std::fs::File::create(&path)?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(piece.len() as u64) as usize;
        file.write_all(&piece[..n])?;
        left -= n as u64;
    }
    drop(file);
    let seconds = started.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(seconds)
}

pub async fn run(spec: &FramesSpec) -> Result<(), Error> {
    let dir = TempDir::new()?;
    let frames_parent = match &spec.frames_dir {
        Some(parent) => TempDir::new_in(parent)?,
        None => TempDir::new()?,
    };
    let frames_dir = frames_parent.path().to_path_buf();
    let state = dir.path().join("cam.state");
    let camera = Announced::start(
        &spec.ccd_bin,
        &[
            "--simulate",
            "--listen",
            "127.0.0.1:0",
            "--name",
            "cam",
            "--sensor",
            &spec.sensor,
            "--sim-pixel-rate",
            "1e9",
            "--poll-interval",
            "0.05",
            "--state-file",
            state.to_str().ok_or("a non-UTF-8 temp dir")?,
        ],
        &["listening "],
    )?;
    let config = dir.path().join("monitor.ini");
    std::fs::write(
        &config,
        format!(
            "name = bench\npoll_interval = 0.05\ndb = history.sqlite\nframes_dir = {}\n\
             [cam]\nhost = 127.0.0.1\nport = {}\n",
            frames_dir.display(),
            camera.addrs[0].port()
        ),
    )?;
    let config_text = config.to_str().ok_or("a non-UTF-8 temp dir")?;
    let monitor = Announced::start(
        &spec.monitor_bin,
        &["--config", config_text, "--port", "0", "--http-port", "0"],
        &["listening ", "http "],
    )?;
    let (port, http) = (monitor.addrs[0], monitor.addrs[1]);

    let mut cam = Line::connect(camera.addrs[0]).await?;
    let mut command = Line::connect(port).await?;
    let ready = Instant::now() + START_TIMEOUT;
    loop {
        let status = cam.ask("get_status").await?;
        let clients = command.ask("clients").await?;
        if status.get("hw_connected") == Some("1")
            && status.get("state") == Some("idle")
            && clients.get("cam") == Some("1")
        {
            break;
        }
        if Instant::now() > ready {
            return Err("the camera or the monitor did not get ready".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(command);

    // The command port with nothing moving, then while frames move.
    let stop = CancellationToken::new();
    let idle = tokio::spawn(ping(port, stop.clone()));
    let idle_page = tokio::spawn(page_ping(http, stop.clone()));
    tokio::time::sleep(Duration::from_secs_f64(spec.idle_seconds)).await;
    stop.cancel();
    let idle = idle.await??;
    let idle_page = idle_page.await??;

    let stop = CancellationToken::new();
    let busy = tokio::spawn(ping(port, stop.clone()));
    let busy_page = tokio::spawn(page_ping(http, stop.clone()));
    let started = Instant::now();
    // Each frame's own seconds (deltas of the monitor's counters), and the references
    // measured between the frames, so that both see the same moments of a noisy machine.
    let (mut receives, mut transfers) = (Vec::new(), Vec::new());
    let (mut copies, mut writes) = (Vec::new(), Vec::new());
    let (mut received_before, mut transferred_before) = (0.0, 0.0);
    let mut per_frame = 0u64;
    for n in 1..=spec.frames {
        let deadline = Instant::now() + FRAME_TIMEOUT;
        loop {
            if cam.ask("get_status").await?.get("state") == Some("idle") {
                break;
            }
            if Instant::now() > deadline {
                return Err("the camera stayed busy".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let expose = cam
            .ask("expose exptime=0 imagetype=bias shutter=closed")
            .await?;
        if expose.name != "ok" {
            return Err(format!("expose: {expose}").into());
        }
        loop {
            let samples = metrics(http).await?;
            if metric(&samples, "labwire_frame_failures_total") > 0.0 {
                return Err("the monitor failed to store a frame".into());
            }
            if metric(&samples, "labwire_frames_stored_total") >= f64::from(n) {
                let received = metric(&samples, "labwire_frame_receive_seconds_total");
                let transferred = metric(&samples, "labwire_frame_transfer_seconds_total");
                receives.push(received - received_before);
                transfers.push(transferred - transferred_before);
                (received_before, transferred_before) = (received, transferred);
                let bytes = metric(&samples, "labwire_frame_bytes_total");
                per_frame = (bytes / f64::from(n)) as u64;
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("frame {n} did not reach the monitor").into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for _ in 0..spec.copies.max(1) {
            copies.push(raw_copy(per_frame).await?);
            writes.push(raw_file_write(per_frame, &frames_dir)?);
        }
    }
    let wall = started.elapsed();
    stop.cancel();
    let busy = busy.await??;
    let busy_page = busy_page.await??;

    let stored = receives.len();
    let monitor_rate = per_frame as f64 / median(transfers);
    let receive_rate = per_frame as f64 / median(receives);
    let peak_mb = |announced: &Announced| {
        read_memory(announced.child.id()).map_or(f64::NAN, |m| m.hwm_kb as f64 / 1e3)
    };
    let frame_mb = per_frame as f64 / 1e6;
    let (monitor_frames, camera_frames) =
        (peak_mb(&monitor) / frame_mb, peak_mb(&camera) / frame_mb);
    let raw_rate = per_frame as f64 / median(copies);
    let disk_rate = per_frame as f64 / median(writes);
    let frame_ratio = monitor_rate / raw_rate;
    let receive_ratio = receive_rate / raw_rate;
    // A frame cannot be stored faster than the slower of the network and the disk.
    let bound_ratio = monitor_rate / raw_rate.min(disk_rate);
    let mb = |rate: f64| format_number((rate / 1e6).round());
    println!(
        "frames: {} frames of {} bytes ({}) daemon -> monitor at {} MB/s (get_frame to the \
         last byte received), raw loopback copy {} MB/s: ratio {} (target >= 0.5); {} s wall \
         for the sequence",
        stored,
        per_frame,
        spec.sensor,
        mb(receive_rate),
        mb(raw_rate),
        ratio(receive_ratio),
        format_number((wall.as_secs_f64() * 100.0).round() / 100.0),
    );
    println!(
        "frames directory {}: writing a frame's bytes alone {} MB/s; into the file (get_frame \
         to the last byte written) {} MB/s, ratio {} to the raw copy and {} to the slower of \
         the raw copy and that write",
        frames_dir.display(),
        mb(disk_rate),
        mb(monitor_rate),
        ratio(frame_ratio),
        ratio(bound_ratio),
    );
    println!(
        "peak memory in frames of {} MB: monitor {:.2}, camera daemon {:.2} (its simulator \
         in-process)",
        format_number(frame_mb.round()),
        monitor_frames,
        camera_frames,
    );
    println!(
        "command port (clients, ping-pong): idle p50 {} us p99 {} us; while frames move p50 {} us p99 {} us max {} us ({} round trips)",
        us(idle.quantile(0.5)),
        us(idle.quantile(0.99)),
        us(busy.quantile(0.5)),
        us(busy.quantile(0.99)),
        us(busy.max()),
        busy.count(),
    );
    println!(
        "the page (GET /, a new connection each): idle p50 {} us p99 {} us; while frames move p50 {} us p99 {} us max {} us ({} loads)",
        us(idle_page.quantile(0.5)),
        us(idle_page.quantile(0.99)),
        us(busy_page.quantile(0.5)),
        us(busy_page.quantile(0.99)),
        us(busy_page.max()),
        busy_page.count(),
    );
    let result = Message::new("result")
        .kwarg("bench", "frames")
        .kwarg("frames", stored.to_string())
        .kwarg("frame_bytes", per_frame.to_string())
        .kwarg("receive_mb_s", mb(receive_rate))
        .kwarg("raw_mb_s", mb(raw_rate))
        .kwarg("ratio", ratio(receive_ratio))
        .kwarg("file_mb_s", mb(monitor_rate))
        .kwarg("file_ratio", ratio(frame_ratio))
        .kwarg("disk_mb_s", mb(disk_rate))
        .kwarg("ratio_to_slower_of_copy_and_disk", ratio(bound_ratio))
        .kwarg("idle_p50_us", us(idle.quantile(0.5)))
        .kwarg("idle_p99_us", us(idle.quantile(0.99)))
        .kwarg("busy_p50_us", us(busy.quantile(0.5)))
        .kwarg("busy_p99_us", us(busy.quantile(0.99)))
        .kwarg("busy_max_us", us(busy.max()))
        .kwarg("page_idle_p50_us", us(idle_page.quantile(0.5)))
        .kwarg("page_busy_p50_us", us(busy_page.quantile(0.5)))
        .kwarg("page_busy_p99_us", us(busy_page.quantile(0.99)))
        .kwarg("monitor_peak_frames", format!("{monitor_frames:.2}"))
        .kwarg("camera_peak_frames", format!("{camera_frames:.2}"));
    println!("{}", result.to_line());
    drop(monitor);
    drop(camera);
    Ok(())
}
