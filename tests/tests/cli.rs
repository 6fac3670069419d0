//! Every daemon binary's command line, through the shared flags: each mistake exits 2
//! with a message naming it on stderr, before anything is served; `--help` and
//! `--version` exit 0; a clean stop exits 0.

use labwire_testkit::{binary, run_to_end, Process, TempDir, DAEMONS, WAIT};
use std::path::Path;
use std::process::Output;

/// Every daemon binary (testkit's [`DAEMONS`]: a new daemon is one line there).
fn daemons() -> impl Iterator<Item = String> {
    DAEMONS.iter().map(|name| format!("labwire-{name}"))
}

/// `daemon` with `args`, after `--state-file <state>` so no test touches the user's.
fn run(daemon: &str, state: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--state-file", state.to_str().expect("a UTF-8 path")];
    all.extend_from_slice(args);
    run_to_end(binary(daemon), &all, WAIT)
}

fn assert_refused(daemon: &str, output: &Output, args: &[&str], named: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{daemon} {args:?}: {stderr}");
    assert!(
        stderr.contains("error") && stderr.contains(named),
        "{daemon} {args:?}: stderr does not name {named:?}: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains("listening"),
        "{daemon} {args:?} served: {stdout}"
    );
}

#[test]
fn bad_shared_flags_exit_2_naming_the_problem() {
    let dir = TempDir::new("cli-bad-flags");
    let state = dir.path().join("unused.state");
    let cases: &[(&[&str], &str)] = &[
        (&["--simulate", "--no-such-flag"], "--no-such-flag"),
        (&[], "--device"),
        (&["--simulate", "--device", "h"], "--device"),
        (&["--device", ""], "--device"),
        (&["--device", "TCPIP::lab::hislip0::INSTR"], "--device"),
        (&["--device", "TCPIP::lab::port::SOCKET"], "--device"),
        (&["--device", "lab:port"], "--device"),
        (&["--device", "lab:99999"], "--device"),
        (&["--device", ":5025"], "--device"),
        (&["--simulate", "--device-timeout", "0"], "--device-timeout"),
        (
            &["--simulate", "--device-timeout", "61"],
            "--device-timeout",
        ),
        (
            &["--simulate", "--device-timeout", "nan"],
            "--device-timeout",
        ),
        (&["--simulate", "--poll-interval", "0"], "--poll-interval"),
        (&["--simulate", "--poll-interval=-1"], "--poll-interval"),
        (
            &["--simulate", "--poll-interval", "86401"],
            "--poll-interval",
        ),
        (&["--simulate", "--listen", "nowhere"], "--listen"),
        (&["--simulate", "--log-level", "loud"], "--log-level"),
        (
            &["--simulate", "--token-file", "/nonexistent/token"],
            "/nonexistent/token",
        ),
    ];
    for daemon in daemons() {
        let daemon = daemon.as_str();
        for (args, named) in cases {
            assert_refused(daemon, &run(daemon, &state, args), args, named);
        }
    }
    assert!(!state.exists(), "a refused start writes no state");
}

#[test]
fn a_corrupt_or_unreadable_state_file_exits_2_naming_it_and_is_kept() {
    let dir = TempDir::new("cli-bad-state");
    let corrupt = dir.path().join("corrupt.state");
    std::fs::write(&corrupt, "names = ch1\n").unwrap();
    let unreadable = dir.path().join("a-directory.state");
    std::fs::create_dir(&unreadable).unwrap();
    for daemon in daemons() {
        let daemon = daemon.as_str();
        for state in [&corrupt, &unreadable] {
            let output = run(daemon, state, &["--simulate", "--listen", "127.0.0.1:0"]);
            let name = state.file_name().unwrap().to_str().unwrap();
            assert_refused(daemon, &output, &["--state-file", name], name);
        }
    }
    assert_eq!(std::fs::read_to_string(&corrupt).unwrap(), "names = ch1\n");
}

#[test]
fn help_and_version_exit_0() {
    let dir = TempDir::new("cli-help");
    let state = dir.path().join("unused.state");
    for daemon in daemons() {
        let daemon = daemon.as_str();
        let help = run(daemon, &state, &["--help"]);
        let text = String::from_utf8_lossy(&help.stdout);
        assert_eq!(help.status.code(), Some(0), "{daemon} --help: {text}");
        for flag in ["--device", "--simulate", "--device-timeout", "--state-file"] {
            assert!(text.contains(flag), "{daemon} --help lacks {flag}: {text}");
        }
        assert!(text.contains("default port"), "{daemon}: {text}");
        let version = run(daemon, &state, &["--version"]);
        assert_eq!(version.status.code(), Some(0), "{daemon} --version");
        assert!(String::from_utf8_lossy(&version.stdout).contains(daemon));
    }
}

#[test]
fn a_simulated_daemon_starts_and_sigterm_stops_it_with_0() {
    let dir = TempDir::new("cli-clean-stop");
    let state = dir.path().join("daemon.state");
    let state = state.to_str().unwrap();
    for daemon in daemons() {
        let daemon = daemon.as_str();
        let mut process = Process::start(
            binary(daemon),
            &[
                "--state-file",
                state,
                "--simulate",
                "--listen",
                "127.0.0.1:0",
            ],
        );
        let exit = process.terminate(WAIT).expect("SIGTERM stops the daemon");
        assert_eq!(exit.code(), Some(0), "{daemon}");
    }
}
