//! The real `labwire-cryocon` binary in simulation: a profile survives the daemon being
//! killed and started again (same `--state-file`) and resumes where it should be by then;
//! the daemon's own flags are checked before anything is served. Each start names a state
//! file in a scratch directory, never the user's.

use labwire_daemon::profile::format_time;
use labwire_protocol::Message;
use labwire_testkit::{connect, number, run_to_end, status_where, Process, TempDir, WAIT};
use std::time::{Duration, SystemTime};

const CRYOCON: &str = env!("CARGO_BIN_EXE_labwire-cryocon");

fn start(state: &str) -> Process {
    Process::start(
        CRYOCON,
        &[
            "--state-file",
            state,
            "--simulate",
            "--model",
            "22c",
            "--listen",
            "127.0.0.1:0",
            "--poll-interval",
            "0.2",
        ],
    )
}

fn online(s: &Message) -> bool {
    s.get("hw_connected") == Some("1") && s.get("loop1_profile").is_some()
}

/// Halfway through `0s:290,1h:200` (started 30 minutes ago) the setpoint is 245 K.
fn halfway(s: &Message) -> bool {
    online(s)
        && s.get("loop1_profile") == Some("running")
        && (number(s, "loop1_setpoint") - 245.0).abs() < 0.5
}

#[tokio::test]
async fn a_profile_resumes_after_the_daemon_is_killed_and_restarted() {
    let dir = TempDir::new("cryocon-binary-resume");
    let state = dir.path().join("cryocon.state");
    let state = state.to_str().unwrap();
    let mut daemon = start(state);
    let c = connect(daemon.addr).await;
    status_where(&c, "online", online).await;
    let reply = c
        .call("profile_load loop=1 points=\"0s:290,1h:200\"")
        .await
        .unwrap();
    assert_eq!(reply.to_line(), "ok profile_load loop=1 points=2");
    let started = format_time(SystemTime::now() - Duration::from_secs(1800));
    let reply = c
        .call(&format!("profile_start loop=1 at={started}"))
        .await
        .unwrap();
    assert_eq!(reply.get("profile"), Some("running"), "{reply}");
    status_where(&c, "the profile driving loop 1", halfway).await;
    drop(c);
    daemon.kill();

    // A new daemon with a fresh simulated controller (setpoint back at 295 K).
    let daemon = start(state);
    let c = connect(daemon.addr).await;
    let status = status_where(&c, "the profile resumed", halfway).await;
    assert!(number(&status, "loop1_profile_elapsed") >= 1800.0);
    assert_eq!(status.get("loop2_profile"), Some("idle"));
    let reply = c.call("profile_status loop=1").await.unwrap();
    assert_eq!(reply.get("profile_points"), Some("0s:290,1h:200"));
}

#[test]
fn contradictory_or_bad_flags_exit_2_naming_them() {
    let dir = TempDir::new("cryocon-binary-flags");
    let state = dir.path().join("x.state");
    let state = state.to_str().unwrap();
    for (args, named) in [
        (
            &["--min-setpoint", "300", "--max-setpoint", "200"][..],
            "--min-setpoint",
        ),
        (
            &["--low-limit", "300", "--high-limit", "200"],
            "--low-limit",
        ),
        (&["--unit", "f"], "--unit"),
        (&["--model", "32b"], "--model"),
        (&["--settle-band", "0"], "--settle-band"),
    ] {
        let mut all = vec!["--state-file", state, "--simulate"];
        all.extend_from_slice(args);
        let output = run_to_end(CRYOCON, &all, WAIT);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

#[test]
fn a_saved_profile_outside_new_limits_stops_the_start_naming_the_file() {
    let dir = TempDir::new("cryocon-binary-limits");
    let state = dir.path().join("cryo.state");
    std::fs::write(
        &state,
        r#"{"profiles": [{"profile": {"points": [{"at": {"secs": 0, "nanos": 0}, "setpoint": 150.0}]}}]}"#,
    )
    .unwrap();
    let output = run_to_end(
        CRYOCON,
        &[
            "--state-file",
            state.to_str().unwrap(),
            "--simulate",
            "--min-setpoint",
            "200",
        ],
        WAIT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cryo.state") && stderr.contains("loop 1"),
        "{stderr}"
    );
}
