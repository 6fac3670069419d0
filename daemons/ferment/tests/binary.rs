//! The real `labwire-ferment` binary in simulation: the simulated chamber's w1 tree is
//! read by the real reader, settings survive a restart, SIGTERM stops it cleanly and
//! removes the simulated tree, and ferment-specific flags are checked (the flags every
//! daemon shares are tested for all of them in `tests/tests/cli.rs`).

use labwire_testkit::{connect as client, run_to_end, status_where, Process, TempDir, WAIT};

const FERMENT: &str = env!("CARGO_BIN_EXE_labwire-ferment");

fn start(state: &str) -> Process {
    Process::start(
        FERMENT,
        &[
            "--state-file",
            state,
            "--simulate",
            "--listen",
            "127.0.0.1:0",
            "--poll-interval",
            "0.1",
            "--name",
            "ferment9",
        ],
    )
}

#[tokio::test]
async fn simulated_chamber_settings_survive_a_restart() {
    let dir = TempDir::new("ferment-binary");
    let state = dir.path().join("ferment.state");
    let state = state.to_str().unwrap();
    let mut daemon = start(state);
    let c = client(daemon.addr).await;
    let id = c.call("get_id").await.unwrap();
    assert_eq!(
        (id.get("name"), id.get("type")),
        (Some("ferment9"), Some("ferment"))
    );
    let status = status_where(&c, "probes read", |s| {
        s.get("beer_temperature").is_some_and(|t| !t.is_empty())
    })
    .await;
    assert_eq!(status.get("alarm_probe_fault"), Some("0"), "{status}");
    assert!(status
        .get("chamber_temperature")
        .is_some_and(|t| !t.is_empty()));
    for line in [
        "set_setpoint value=12.5",
        "set_band value=0.2",
        "set_mode mode=constant",
    ] {
        let reply = c.call(line).await.unwrap();
        assert!(reply.error_code().is_none(), "{line} -> {reply}");
    }
    status_where(&c, "cooler waiting", |s| {
        s.get("setpoint") == Some("12.5") && s.get("cooler") == Some("0")
    })
    .await;
    let tree = std::env::temp_dir().join(format!("labwire-ferment-sim-{}-0", daemon.pid()));
    assert!(
        tree.join("28-00000a1b2c3d").join("w1_slave").exists(),
        "{tree:?}"
    );
    let exit = daemon.terminate(WAIT).expect("SIGTERM stops it");
    assert_eq!(exit.code(), Some(0));
    assert!(!tree.exists(), "the simulated w1 tree is removed at exit");

    let mut daemon = start(state);
    let c = client(daemon.addr).await;
    let status = status_where(&c, "restored", |s| s.get("mode").is_some()).await;
    assert_eq!(
        (
            status.get("mode"),
            status.get("setpoint"),
            status.get("band")
        ),
        (Some("constant"), Some("12.5"), Some("0.2")),
        "{status}"
    );
    // A clean stop, so the simulated tree goes too (a killed daemon leaves it in /tmp).
    assert_eq!(daemon.terminate(WAIT).and_then(|exit| exit.code()), Some(0));
}

#[test]
fn bad_ferment_flags_exit_2_naming_them() {
    let dir = TempDir::new("ferment-binary-flags");
    let state = dir.path().join("unused.state");
    let state = state.to_str().unwrap();
    let id = "beer=28-00000a1b2c3d";
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--probe",
                "beer=28-1",
                "--heater-line",
                "1",
                "--cooler-line",
                "2",
            ],
            "28-1",
        ),
        (
            &[
                "--probe",
                "mash=28-00000a1b2c3d",
                "--heater-line",
                "1",
                "--cooler-line",
                "2",
            ],
            "role",
        ),
        (
            &[
                "--probe",
                id,
                "--probe",
                id,
                "--heater-line",
                "1",
                "--cooler-line",
                "2",
            ],
            "twice",
        ),
        (&["--probe", id], "--heater-line"),
        (
            &["--probe", id, "--heater-line", "3", "--cooler-line", "3"],
            "--cooler-line",
        ),
        (&["--device", "fridge:1"], "--device"),
        (&["--simulate", "--band", "0"], "--band"),
        (
            &["--simulate", "--min-setpoint", "30", "--max-setpoint", "10"],
            "--min-setpoint",
        ),
        (
            &["--simulate", "--low-limit", "5", "--high-limit", "4"],
            "--low-limit",
        ),
        (&["--simulate", "--dead-time=-1"], "--dead-time"),
        (&["--simulate", "--settle-timeout", "0"], "--settle-timeout"),
    ];
    for (args, named) in cases {
        let mut all = vec!["--state-file", state];
        all.extend_from_slice(args);
        let output = run_to_end(FERMENT, &all, WAIT);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}
