//! The real `labwire-clusterctrl` binary in simulation: the simulated boards' EEPROMs
//! live in files, so orders and saved power survive a restart; two boards found with one
//! order stop it at start (exit 2); clusterctrl's own flags are checked (the flags every
//! daemon shares are tested for all of them in `tests/tests/cli.rs`).

use labwire_testkit::{connect as client, run_to_end, status_where, Process, TempDir, WAIT};
use std::path::Path;
use std::time::Duration;

const CLUSTERCTRL: &str = env!("CARGO_BIN_EXE_labwire-clusterctrl");

fn start(dir: &Path, boards: &str) -> Process {
    let state = dir.join("cluster.state");
    let eeproms = dir.join("eeproms");
    Process::start(
        CLUSTERCTRL,
        &[
            "--state-file",
            state.to_str().unwrap(),
            "--simulate",
            "--listen",
            "127.0.0.1:0",
            "--poll-interval",
            "0.1",
            "--boards",
            boards,
            "--sim-eeprom-dir",
            eeproms.to_str().unwrap(),
            "--power-delay",
            "0.1",
        ],
    )
}

#[tokio::test]
async fn orders_and_saved_power_survive_a_restart() {
    let dir = TempDir::new("clusterctrl-binary");
    let mut daemon = start(dir.path(), "hat-v3,triple,single");
    let c = client(daemon.addr).await;
    let id = c.call("get_id").await.unwrap();
    assert_eq!(id.get("type"), Some("clusterctrl"));
    let status = status_where(&c, "connected", |s| s.get("hw_connected") == Some("1")).await;
    assert_eq!(
        (status.get("board1_order"), status.get("board2_order")),
        (Some("1"), Some("2")),
        "factory orders replaced: {status}"
    );
    for line in ["power_on pi=1.2", "power_on pi=2.1", "save what=power"] {
        let reply = c.call(line).await.unwrap();
        assert!(reply.error_code().is_none(), "{line} -> {reply}");
    }
    drop(c);
    assert_eq!(daemon.terminate(WAIT).and_then(|s| s.code()), Some(0));

    let mut again = start(dir.path(), "hat-v3,triple,single");
    let c = client(again.addr).await;
    let status = status_where(&c, "connected again", |s| {
        s.get("hw_connected") == Some("1")
    })
    .await;
    assert_eq!(status.get("board1_type"), Some("triple"), "{status}");
    assert_eq!(status.get("board1_order"), Some("1"));
    assert_eq!(
        status.get("pi6_power"),
        Some("1"),
        "the Triple's Pi 2, as saved"
    );
    assert_eq!(
        status.get("pi8_power"),
        Some("1"),
        "the Single's Pi, as saved"
    );
    assert_eq!(status.get("pi5_power"), Some("0"));
    drop(c);
    assert_eq!(again.terminate(WAIT).and_then(|s| s.code()), Some(0));
}

#[tokio::test]
async fn two_boards_with_one_order_stop_it_at_start() {
    let dir = TempDir::new("clusterctrl-conflict");
    let mut first = start(dir.path(), "stack,triple");
    let c = client(first.addr).await;
    status_where(&c, "orders given", |s| s.get("board2_order") == Some("2")).await;
    drop(c);
    first.terminate(WAIT);
    // Give the Triple the Stack's order, as another tool might have.
    let triple = dir.path().join("eeproms").join("board2-triple.eeprom");
    let mut eeprom = std::fs::read(&triple).unwrap();
    eeprom[1] = 1;
    std::fs::write(&triple, eeprom).unwrap();
    let state = dir.path().join("cluster.state");
    let eeproms = dir.path().join("eeproms");
    let output = run_to_end(
        CLUSTERCTRL,
        &[
            "--state-file",
            state.to_str().unwrap(),
            "--simulate",
            "--listen",
            "127.0.0.1:0",
            "--boards",
            "stack,triple",
            "--sim-eeprom-dir",
            eeproms.to_str().unwrap(),
        ],
        WAIT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("both have order 1"), "{stderr}");
}

#[test]
fn bad_clusterctrl_flags_exit_2_naming_them() {
    let dir = TempDir::new("clusterctrl-flags");
    let state = dir.path().join("x.state");
    let state = state.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--simulate", "--boards", "hat-v3,toaster"], "--boards"),
        (&["--simulate", "--boards", "hat-v1"], "--boards"),
        (&["--simulate", "--boards", "hat-v2,hat-v3"], "--boards"),
        (&["--simulate", "--bus", "/dev/i2c-3"], "--bus"),
        (&["--simulate", "--power-delay", "9"], "--power-delay"),
        (&["--bus", "/dev/i2c-3", "--boards", "stack"], "--boards"),
        (&["--bus", "/dev/i2c-3", "--bus", "/dev/i2c-3"], "--bus"),
        (
            &["--hat", "/dev/i2c-1", "--hat-version", "1.2"],
            "--hat-version",
        ),
        (
            &[
                "--hat",
                "/dev/i2c-1",
                "--hat-product-ver",
                "/nonexistent/ver",
            ],
            "--hat-product-ver",
        ),
        (&[], "--bus"),
    ];
    for (args, named) in cases {
        let mut all = vec!["--state-file", state];
        all.extend_from_slice(args);
        let output = run_to_end(CLUSTERCTRL, &all, Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}
