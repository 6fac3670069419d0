//! `ccd-readout`: how fast a frame moves from the Archon simulator into the ccd daemon
//! (LOCK, FETCH in 1024-byte blocks, LOCK0, converted into the FITS file as it arrives),
//! against a raw loopback TCP copy of the same number of bytes, in alternating rounds of
//! the same run. The simulator, the daemon and the reference all run in this process;
//! the readout time is the daemon's own `readout_seconds`.

use crate::Error;
use labwire_ccd::commands::Limits;
use labwire_ccd::{Camera, Config};
use labwire_daemon::hardware::HardwareConfig;
use labwire_daemon::{Daemon, ServerConfig, StateFile};
use labwire_sim::archon::{self, ArchonOptions, SensorModel};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One reference round: `bytes` written in 64 KiB pieces to a loopback socket and read
/// on the other side; the seconds from the first write to the last byte read.
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

/// Peak resident memory of this process, from /proc/self/status (kB).
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub async fn run(width: usize, height: usize, rounds: u32) -> Result<(), Error> {
    let options = ArchonOptions {
        sensor: SensorModel {
            width,
            height,
            ..SensorModel::default()
        },
        // The controller's own readout time is not what is measured here.
        pixel_rate: 1e12,
        ..ArchonOptions::default()
    };
    let sim = archon::spawn("127.0.0.1:0".parse()?, options).await?;
    let dir = std::env::temp_dir().join(format!("labwire-bench-ccd-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let camera = Camera::new(
        Config {
            address: sim.local_addr().to_string(),
            timeout: Duration::from_secs(5),
            instrument: "bench".into(),
            limits: Limits {
                sensor_width: width,
                sensor_height: height,
                min_setpoint: -130.0,
                max_setpoint: 30.0,
            },
        },
        StateFile::open(dir.join("ccd.state"))?,
    )?;
    let server = ServerConfig {
        name: "bench-ccd".into(),
        hardware: HardwareConfig {
            poll_interval: Duration::from_millis(20),
            operation_timeout: Duration::from_secs(60),
            ..HardwareConfig::default()
        },
        ..ServerConfig::default()
    };
    let daemon = Daemon::start(TcpListener::bind("127.0.0.1:0").await?, server, camera);
    let client = labwire_client::Client::connect(
        daemon.local_addr(),
        labwire_client::ClientOptions::default(),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while status_value(&client, "hw_connected").await? != "1" {
        if Instant::now() > deadline {
            return Err("the daemon did not connect to the simulator".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let bytes = width * height * 2;
    let (mut readouts, mut copies) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        copies.push(raw_copy(bytes).await?);
        let reply = client.call("expose exptime=0 imagetype=bias").await?;
        let id = reply
            .get("frame_id")
            .ok_or_else(|| format!("expose refused: {reply:?}"))?
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(120);
        while status_value(&client, "frame_id").await? != id {
            if Instant::now() > deadline {
                return Err(format!("frame {id} was not read out").into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let seconds: f64 = status_value(&client, "readout_seconds").await?.parse()?;
        readouts.push(seconds);
        println!(
            "round {round}: readout {:.3} s ({:.0} MB/s), raw loopback copy {:.3} s ({:.0} MB/s)",
            seconds,
            bytes as f64 / seconds / 1e6,
            copies[copies.len() - 1],
            bytes as f64 / copies[copies.len() - 1] / 1e6
        );
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (readout, copy) = (median(&mut readouts), median(&mut copies));
    let ratio = copy / readout;
    let frame_mb = bytes as f64 / 1e6;
    let peak_mb = peak_rss_kb().map_or(f64::NAN, |kb| kb as f64 / 1e3);
    println!(
        "result ccd_readout width={width} height={height} bytes={bytes} readout_s={readout:.4} \
         raw_copy_s={copy:.4} ratio={ratio:.3} target=0.5 peak_rss_mb={peak_mb:.0} frame_mb={frame_mb:.1}"
    );
    daemon.shutdown_token().cancel();
    sim.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    if ratio < 0.5 {
        eprintln!("ccd-readout: below the target ratio of 0.5");
    }
    Ok(())
}
