//! The real `labwire-psu` binary: in simulation, against a simulator this test runs and
//! takes away, with a supply that is not there, and with bad psu-specific flags (the
//! flags every daemon shares are tested for all of them in `tests/tests/cli.rs`). Each
//! start names a state file in a scratch directory, never the user's.

use labwire_protocol::Message;
use labwire_sim::e36300::{self, PsuControl, PsuOptions};
use labwire_sim::{Fault, SimHandle};
use labwire_testkit::{
    connect as client, number, run_to_end, status_where, ClosedPort, Process, Simulated, TempDir,
    WAIT,
};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const PSU: &str = env!("CARGO_BIN_EXE_labwire-psu");

/// A fresh state file path in `dir`.
fn state_file(dir: &TempDir) -> String {
    dir.path().join("psu.state").to_str().unwrap().to_string()
}

fn online(s: &Message) -> bool {
    s.get("hw_connected") == Some("1") && s.get("idn_model").is_some()
}

#[tokio::test]
async fn simulated_e36311a_with_limits_and_names() {
    let mut daemon = Simulated::start(
        "psu",
        &[
            "--model",
            "e36311a",
            "--poll-interval",
            "0.1",
            "--name",
            "psu9",
            "--max-voltage",
            "1=5.5",
            "--max-current",
            "2=0.5",
            "--channel-name",
            "1=detector",
            "--channel-name",
            "3=neg rail",
        ],
    );
    let c = client(daemon.addr).await;
    let id = c.call("get_id").await.unwrap();
    assert_eq!(
        (id.get("name"), id.get("type"), id.get("protocol")),
        (Some("psu9"), Some("psu"), Some("1"))
    );
    let status = status_where(&c, "online", online).await;
    assert_eq!(status.get("idn_model"), Some("E36311A"));
    assert_eq!(status.get("ch1_name"), Some("detector"));
    assert_eq!(status.get("ch2_name"), Some("ch2"));
    assert_eq!(status.get("ch3_name"), Some("neg rail"));
    assert_eq!(number(&status, "ch3_ovp_level"), -27.5);

    let refused = c.call("set_voltage ch=1 value=5.6").await.unwrap();
    assert_eq!(refused.error_code(), Some("out_of_range"));
    assert_eq!(
        refused.error_message(),
        Some("value=5.6 is above the limit of 5.5 V")
    );
    let refused = c.call("set_current ch=2 value=0.6").await.unwrap();
    assert_eq!(refused.error_code(), Some("out_of_range"));

    for (line, reply) in [
        (
            "set_voltage ch=3 value=-12",
            "ok set_voltage ch=3 value=-12",
        ),
        ("set_current 3 1", "ok set_current ch=3 value=1"),
        ("output ch=3 state=on", "ok output ch=3 state=on"),
    ] {
        assert_eq!(c.call(line).await.unwrap().to_line(), reply);
    }
    // -12 V into the simulator's 10 ohm wants 1.2 A: limited to 1 A at about -10 V.
    let status = status_where(&c, "ch3 in cc", |s| s.get("ch3_mode") == Some("cc")).await;
    assert!(
        (number(&status, "ch3_voltage") + 10.0).abs() < 0.05,
        "{status}"
    );
    assert!(
        (number(&status, "ch3_current") + 1.0).abs() < 0.01,
        "{status}"
    );
    assert_eq!(number(&status, "ch3_voltage_set"), -12.0);

    assert_eq!(c.call("exit").await.unwrap().to_line(), "ok exit");
    let exit = daemon.wait_exit(WAIT).expect("daemon exits after exit");
    assert!(exit.success());
}

async fn spawn_sim() -> SimHandle<PsuControl> {
    e36300::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), PsuOptions::default())
        .await
        .expect("simulator")
}

/// The binary with its default reconnect backoff, reaching a simulator through the VISA
/// address form; the test switches the supply off and on again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_survives_the_supply_going_away() {
    let sim = spawn_sim().await;
    let visa = format!("TCPIP::127.0.0.1::{}::SOCKET", sim.local_addr().port());
    let dir = TempDir::new("psu-binary-away");
    let mut daemon = Process::start(
        PSU,
        &[
            "--state-file",
            &state_file(&dir),
            "--device",
            &visa,
            "--listen",
            "127.0.0.1:0",
            "--poll-interval",
            "0.2",
            "--device-timeout",
            "0.5",
        ],
    );
    let c = client(daemon.addr).await;
    status_where(&c, "online", online).await;
    assert_eq!(
        c.call("set_voltage ch=2 value=3").await.unwrap().to_line(),
        "ok set_voltage ch=2 value=3"
    );
    assert_eq!(sim.control().voltage_set(2), 3.0);

    for fault in [Fault::Offline, Fault::Silent] {
        sim.set_fault(fault);
        status_where(&c, "offline", |s| s.get("hw_connected") == Some("0")).await;
        let refused = c.call("set_voltage ch=2 value=4").await.unwrap();
        assert_eq!(refused.error_code(), Some("not_connected"), "{refused}");
        // Long enough for the backoff to grow past its first steps.
        tokio::time::sleep(Duration::from_secs(2)).await;
        sim.set_fault(Fault::None);
        let healed = Instant::now();
        status_where(&c, "online again", |s| s.get("hw_connected") == Some("1")).await;
        assert!(
            healed.elapsed() < Duration::from_secs(7),
            "{fault}: took {:?}",
            healed.elapsed()
        );
    }
    assert_eq!(sim.control().voltage_set(2), 3.0, "refused while offline");

    let exit = daemon.terminate(WAIT).expect("SIGTERM stops the daemon");
    assert!(exit.success(), "{exit:?}");
    sim.shutdown();
}

#[tokio::test]
async fn a_supply_that_never_answered_has_unknown_ratings() {
    let nothing = ClosedPort::new();
    let device = nothing.addr.to_string();
    let dir = TempDir::new("psu-binary-unknown");
    let state = state_file(&dir);
    let start = |extra: &[&str]| {
        let mut args = vec!["--state-file", &state, "--device", &device];
        args.extend_from_slice(&["--listen", "127.0.0.1:0"]);
        args.extend_from_slice(extra);
        Process::start(PSU, &args)
    };
    let mut daemon = start(&[]);
    let c = client(daemon.addr).await;
    let status = c.call("get_status").await.unwrap();
    assert_eq!(status.get("hw_connected"), Some("0"));
    assert_eq!(status.get("status_age"), Some(""), "never read");
    let refused = c.call("set_voltage ch=1 value=1").await.unwrap();
    assert_eq!(refused.error_code(), Some("not_connected"));
    assert!(
        refused
            .error_message()
            .unwrap()
            .contains("ratings are unknown"),
        "{refused}"
    );
    let refused = c.call("set_voltage ch=1 value=x").await.unwrap();
    assert_eq!(refused.error_code(), Some("bad_argument"));
    let refused = c.call("all_off").await.unwrap();
    assert_eq!(refused.error_code(), Some("not_connected"));
    assert_eq!(
        c.call("set_name ch=1 name=det").await.unwrap().to_line(),
        "ok set_name ch=1 name=det"
    );
    drop(c);
    daemon.kill();

    // With --model the ratings are known before the supply ever answers.
    let mut daemon = start(&["--model", "e36312a"]);
    let c = client(daemon.addr).await;
    let refused = c.call("set_current ch=1 value=5.5").await.unwrap();
    assert_eq!(refused.error_code(), Some("out_of_range"));
    let refused = c.call("set_current ch=1 value=5").await.unwrap();
    assert_eq!(refused.error_code(), Some("not_connected"));
    let exit = daemon.terminate(WAIT).expect("SIGTERM stops the daemon");
    assert!(exit.success(), "{exit:?}");
}

/// The exit code of `labwire-psu args`, which must end on its own.
fn exit_code(args: &[&str]) -> Option<i32> {
    run_to_end(PSU, args, WAIT).status.code()
}

#[test]
fn bad_command_lines_exit_with_code_2() {
    for args in [
        &["--simulate", "--model", "e36103b"][..],
        &["--simulate", "--max-voltage", "4=1"],
        &["--simulate", "--max-voltage", "1=-2"],
        &["--simulate", "--max-voltage", "1=nan"],
        &["--simulate", "--max-current", "1"],
        &["--simulate", "--channel-name", "1="],
        &["--simulate", "--channel-name", "x=det"],
    ] {
        assert_eq!(exit_code(args), Some(2), "{args:?}");
    }
}
