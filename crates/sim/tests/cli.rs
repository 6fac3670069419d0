//! The `labwire-sim` binary: command line, announced address, clean stop on SIGTERM.

use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use labwire_testkit::{LineConn, Process};

const BIN: &str = env!("CARGO_BIN_EXE_labwire-sim");

/// Starts the binary on port 0 and reads the address it announces
/// (`... listening on ADDR`); the process is killed on drop.
fn start(args: &[&str]) -> Process {
    let mut all = args.to_vec();
    all.extend(["--listen", "127.0.0.1:0", "--log-level", "warn"]);
    Process::start_announced(BIN, &all, |line| {
        line.split_once(" listening on ")?.1.trim().parse().ok()
    })
}

fn wait_exit(running: &mut Process) -> ExitStatus {
    running
        .wait_exit(Duration::from_secs(10))
        .expect("labwire-sim did not exit")
}

#[test]
fn bad_command_lines_exit_with_2() {
    for args in [
        &["toaster"][..],
        &[][..],
        &["gauge", "--fault", "sometimes"][..],
        &["e36313a", "--listen", "nowhere"][..],
        &["gauge", "--vxi11"][..],
        &["e36313a", "--portmapper-port", "0"][..],
        &["e36313a", "--vxi11", "--portmapper-port", "x"][..],
        &["clusterctrl", "--boards", "stack,toaster"][..],
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
    let mut running = start(&["e36311a"]);
    let mut client = LineConn::connect(running.addr).await;
    assert!(client.query("*IDN?").await.contains(",E36311A,"));
    let pid = running.pid().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    assert_eq!(wait_exit(&mut running).code(), Some(0));
}

#[cfg(unix)]
#[tokio::test]
async fn gauge_starts_with_the_requested_fault() {
    let mut running = start(&["gauge", "--fault", "nak"]);
    let mut client = LineConn::connect(running.addr).await;
    client.send(b"PR1\r\n").await;
    assert_eq!(client.read_until(b"\r\n").await, b"\x15\r\n");
    let pid = running.pid().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    assert_eq!(wait_exit(&mut running).code(), Some(0));
}

#[tokio::test]
async fn clusterctrl_serves_its_register_console() {
    let mut running = start(&["clusterctrl", "--boards", "hat-v2.0,triple"]);
    let mut client = LineConn::connect(running.addr).await;
    assert_eq!(client.query("buses").await, "ok 0=hat-v2.0 1=triple");
    assert_eq!(client.query("1 w 00").await, "ok");
    assert_eq!(client.query("1 r 5").await, "ok 02 03 14 00 01");
    assert_eq!(client.query("0 w 03").await, "ok");
    assert_eq!(
        client.query("0 r 1").await,
        "ok ff",
        "the HAT powers up as inputs"
    );
    running.kill();
}
