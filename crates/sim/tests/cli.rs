//! The `labwire-sim` binary: command line, announced address, clean stop on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Client;

const BIN: &str = env!("CARGO_BIN_EXE_labwire-sim");

/// Kills the child if a test fails before it stopped it, so no process outlives a test.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on port 0 and reads the announced address from its first line.
fn start(args: &[&str]) -> (Running, SocketAddr) {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start labwire-sim");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    // Read on a thread so a binary that never announces fails the test instead of
    // hanging it; killing the child (on drop) then ends the thread's read.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("labwire-sim did not announce its address");
    assert!(line.contains(" listening on "), "{line:?}");
    let addr = line.split_whitespace().last().unwrap().parse().unwrap();
    (running, addr)
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "labwire-sim did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_command_lines_exit_with_2() {
    for args in [
        &["toaster"][..],
        &[][..],
        &["gauge", "--fault", "sometimes"][..],
        &["e36313a", "--listen", "nowhere"][..],
    ] {
        let status = Command::new(BIN)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(2), "{args:?}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn psu_answers_and_stops_cleanly_on_sigterm() {
    let (mut running, addr) = start(&["e36311a"]);
    let mut client = Client::connect(addr).await;
    assert!(client.query("*IDN?").await.contains(",E36311A,"));
    let pid = running.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    assert_eq!(wait_exit(&mut running.0).code(), Some(0));
}

#[cfg(unix)]
#[tokio::test]
async fn gauge_starts_with_the_requested_fault() {
    let (mut running, addr) = start(&["gauge", "--fault", "nak"]);
    let mut client = Client::connect(addr).await;
    client.send(b"PR1\r\n").await;
    assert_eq!(client.read_until(b"\r\n").await, b"\x15\r\n");
    let pid = running.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    assert_eq!(wait_exit(&mut running.0).code(), Some(0));
}
