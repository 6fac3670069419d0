//! `ccd-readout`: how fast a frame moves from the Archon simulator (`labwire-sim archon`)
//! into the ccd daemon (`labwire-ccd --device`), each a process of its own: LOCK, FETCH in
//! 1024-byte blocks, LOCK0, the pixels converted into the FITS file as they arrive. The
//! reference is a raw loopback TCP copy of the same number of bytes, measured in this
//! process, alternating with the readouts in the same run. The readout time is the
//! daemon's own `readout_seconds`; the peak memory of both processes is reported in
//! frames.

use crate::idle::read_memory;
use crate::procfs::{cpu_ticks, ticks_per_second};
use crate::Error;
use labwire_protocol::Message;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A child process killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `program` and take its bound address from the last word of the first stdout
/// line that contains `marker`.
fn start(program: &Path, args: &[&str], marker: &str) -> Result<(Running, String), Error> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let running = Running(child);
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if line.contains(marker) {
            let addr = line.split_whitespace().last().unwrap_or("").to_string();
            return Ok((running, addr));
        }
    }
    Err(format!("{} ended before announcing its address", program.display()).into())
}

/// One reference round: `bytes` written in 64 KiB pieces to a loopback socket and read
/// on the other side; the seconds from the first read to the last byte.
async fn raw_copy(bytes: usize) -> Result<f64, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let sender = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await?;
        let chunk = vec![0x5Au8; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            socket.write_all(&chunk[..n]).await?;
            left -= n;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut socket = TcpStream::connect(addr).await?;
    let mut buffer = vec![0u8; 256 * 1024];
    let started = Instant::now();
    let mut got = 0;
    while got < bytes {
        let n = socket.read(&mut buffer).await?;
        if n == 0 {
            return Err("the reference sender stopped early".into());
        }
        got += n;
    }
    let seconds = started.elapsed().as_secs_f64();
    sender.await??;
    Ok(seconds)
}

async fn status_value(client: &labwire_client::Client, key: &str) -> Result<String, Error> {
    let status = client.call("get_status").await?;
    Ok(status.get(key).unwrap_or("").to_string())
}

async fn wait_for(
    client: &labwire_client::Client,
    key: &str,
    want: &str,
    within: Duration,
) -> Result<(), Error> {
    let deadline = Instant::now() + within;
    while status_value(client, key).await? != want {
        if Instant::now() > deadline {
            return Err(format!("{key} never became {want}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

pub struct CcdReadout<'a> {
    pub sim_bin: &'a Path,
    pub ccd_bin: &'a Path,
    pub width: usize,
    pub height: usize,
    pub rounds: u32,
}

pub async fn run(spec: CcdReadout<'_>) -> Result<(), Error> {
    let (width, height) = (spec.width, spec.height);
    let size = format!("{width}x{height}");
    let (sim, sim_addr) = start(
        spec.sim_bin,
        &[
            "archon",
            "--listen",
            "127.0.0.1:0",
            "--sensor",
            &size,
            "--pixel-rate",
            "1e12",
        ],
        "listening on",
    )?;
    let state =
        std::env::temp_dir().join(format!("labwire-bench-ccd-{}.state", std::process::id()));
    let state_arg = state.display().to_string();
    let (ccd, ccd_addr) = start(
        spec.ccd_bin,
        &[
            "--device",
            &sim_addr,
            "--listen",
            "127.0.0.1:0",
            "--sensor",
            &size,
            "--poll-interval",
            "0.02",
            "--device-timeout",
            "5",
            "--state-file",
            &state_arg,
            "--log-level",
            "warn",
        ],
        "listening",
    )?;
    let client = labwire_client::Client::connect(
        ccd_addr.as_str(),
        labwire_client::ClientOptions::default(),
    )
    .await?;
    wait_for(&client, "hw_connected", "1", Duration::from_secs(30)).await?;
    let bytes = width * height * 2;
    let (mut readouts, mut copies) = (Vec::new(), Vec::new());
    for round in 1..=spec.rounds {
        copies.push(raw_copy(bytes).await?);
        let ticks_before = cpu_ticks(ccd.0.id())?;
        let reply = client.call("expose exptime=0 imagetype=bias").await?;
        let id = reply
            .get("frame_id")
            .ok_or_else(|| format!("expose refused: {reply:?}"))?
            .to_string();
        wait_for(&client, "frame_id", &id, Duration::from_secs(120)).await?;
        let seconds: f64 = status_value(&client, "readout_seconds").await?.parse()?;
        readouts.push(seconds);
        // The daemon's CPU over the whole round (polls included): against the readout's
        // wall time it tells a readout that waited for the CPU from one that used it.
        let cpu = (cpu_ticks(ccd.0.id())? - ticks_before) as f64 / ticks_per_second();
        let copy = copies[copies.len() - 1];
        println!(
            "round {round}: readout {seconds:.3} s ({:.0} MB/s), daemon CPU {cpu:.2} s, \
             raw loopback copy {copy:.3} s ({:.0} MB/s)",
            bytes as f64 / seconds / 1e6,
            bytes as f64 / copy / 1e6
        );
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (readout, copy) = (median(&mut readouts), median(&mut copies));
    let frame_mb = bytes as f64 / 1e6;
    let peak = |pid: u32| read_memory(pid).map_or(f64::NAN, |m| m.hwm_kb as f64 / 1e3);
    let (daemon_mb, sim_mb) = (peak(ccd.0.id()), peak(sim.0.id()));
    let fixed = |value: f64, places: usize| format!("{value:.places$}");
    let result = Message::new("result")
        .kwarg("bench", "ccd_readout")
        .kwarg("width", width.to_string())
        .kwarg("height", height.to_string())
        .kwarg("bytes", bytes.to_string())
        .kwarg("readout_s", fixed(readout, 4))
        .kwarg("raw_copy_s", fixed(copy, 4))
        .kwarg("ratio", fixed(copy / readout, 3))
        .kwarg("target", "0.5")
        .kwarg("frame_mb", fixed(frame_mb, 1))
        .kwarg("daemon_peak_mb", fixed(daemon_mb, 0))
        .kwarg("daemon_peak_frames", fixed(daemon_mb / frame_mb, 2))
        .kwarg("sim_peak_mb", fixed(sim_mb, 0))
        .kwarg("sim_peak_frames", fixed(sim_mb / frame_mb, 2));
    println!("{}", result.to_line());
    drop(ccd);
    drop(sim);
    let _ = std::fs::remove_file(&state);
    Ok(())
}
