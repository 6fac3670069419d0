//! Every daemon binary's command line, through the shared flags: each mistake exits 2
//! with a message naming it on stderr, before anything is served; `--help` and
//! `--version` exit 0; a clean stop exits 0. Settings come from a `--config` file as
//! well, flags winning, with the same exit 2 for a bad one; under systemd the log lines
//! are in journald's format.

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

/// A settings file in `dir`, one `key = value` line each.
fn settings_file(dir: &TempDir, name: &str, lines: &[&str]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path.to_str().expect("a UTF-8 path").to_string()
}

/// A daemon's `get_id` reply line, over a plain socket.
fn get_id(addr: std::net::SocketAddr) -> String {
    use std::io::{BufRead, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(b"get_id\n").unwrap();
    let mut reply = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut reply)
        .unwrap();
    reply
}

#[test]
fn settings_come_from_a_config_file_and_flags_win() {
    let dir = TempDir::new("cli-config");
    let state = dir.path().join("daemon.state");
    let state = state.to_str().unwrap();
    let config = settings_file(
        &dir,
        "d.conf",
        &[
            "# as in /etc/labwire/<instance>.conf",
            "simulate = true",
            "listen = 127.0.0.1:0   ; any free port",
            "name = from_file",
            "poll-interval = 0.5",
        ],
    );
    for daemon in daemons() {
        let daemon = daemon.as_str();
        for (extra, name) in [
            (&[][..], "from_file"),
            (&["--name", "flag_wins"][..], "flag_wins"),
        ] {
            let mut args = vec!["--state-file", state, "--config", &config];
            args.extend_from_slice(extra);
            let mut process = Process::start(binary(daemon), &args);
            let reply = get_id(process.addr);
            assert!(
                reply.contains(&format!("name={name} ")),
                "{daemon} {args:?}: {reply}"
            );
            assert_eq!(process.terminate(WAIT).and_then(|s| s.code()), Some(0));
        }
    }
}

#[test]
fn a_bad_config_file_exits_2_naming_its_line() {
    let dir = TempDir::new("cli-bad-config");
    let state = dir.path().join("unused.state");
    let cases = [
        (
            settings_file(&dir, "unknown.conf", &["simulate = true", "hots = lab3"]),
            "unknown.conf:2: unknown key 'hots'",
        ),
        (
            settings_file(
                &dir,
                "range.conf",
                &["simulate = true", "", "poll_interval = 0"],
            ),
            "range.conf:3: poll_interval",
        ),
        (
            settings_file(&dir, "flag.conf", &["simulate = maybe"]),
            "flag.conf:1: simulate",
        ),
        (
            settings_file(&dir, "syntax.conf", &["simulate"]),
            "syntax.conf:1: expected `key = value`",
        ),
        (
            settings_file(&dir, "listen.conf", &["simulate = 1", "listen = nowhere"]),
            "listen.conf:2: listen",
        ),
        (
            dir.path().join("missing.conf").display().to_string(),
            "missing.conf",
        ),
    ];
    for daemon in daemons() {
        let daemon = daemon.as_str();
        for (config, named) in &cases {
            let args = ["--config", config.as_str()];
            assert_refused(daemon, &run(daemon, &state, &args), &args, named);
        }
    }
    assert!(!state.exists(), "a refused start writes no state");
}

#[test]
fn under_systemd_log_lines_carry_journal_priorities() {
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("cli-journal");
    let state = dir.path().join("daemon.state");
    for daemon in daemons() {
        let log = dir.path().join(format!("{daemon}.log"));
        let stderr = std::fs::File::create(&log).unwrap();
        let meta = stderr.metadata().unwrap();
        let mut child = std::process::Command::new(binary(&daemon))
            .args(["--simulate", "--listen", "127.0.0.1:0", "--state-file"])
            .arg(&state)
            .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut first,
        )
        .unwrap();
        assert!(first.starts_with("listening "), "{daemon}: {first}");
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        assert_eq!(child.wait().unwrap().code(), Some(0));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.lines()
                .any(|l| l.starts_with("<6>") && l.contains("listening on")),
            "{daemon}: {text}"
        );
        assert!(
            text.lines().all(|l| l.starts_with('<')),
            "{daemon}: every line has its priority: {text}"
        );
        assert!(!text.contains('\x1b'), "{daemon}: no colours: {text}");
        assert!(!text.contains(" INFO "), "{daemon}: no level words: {text}");
    }
}
