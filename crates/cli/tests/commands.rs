//! The one-shot commands as scripts use them: their output, `--json`, and the exit status,
//! against the real monitor and simulated daemons.

mod lab;

use lab::Lab;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

fn run(command: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("run labwire");
    (
        status.code().expect("an exit code"),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[test]
fn status_send_wait_and_exit_codes() {
    let lab = Lab::start();

    let (code, out, _) = run(lab.labwire().arg("status"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 of 2 clients connected"), "{out}");
    let gauge_row = out
        .lines()
        .find(|l| l.starts_with("gauge1"))
        .expect("a row for gauge1");
    assert!(
        gauge_row.contains(" up ") && gauge_row.contains(" gauge "),
        "{gauge_row}"
    );

    let (code, out, _) = run(lab.labwire().args(["status", "psu1"]));
    assert_eq!(code, 0);
    assert!(
        out.lines().any(|l| l.starts_with("ch1_voltage_set ")),
        "{out}"
    );
    let (code, _, err) = run(lab.labwire().args(["status", "psu9"]));
    assert_eq!(code, 1);
    assert!(err.contains("no client named \"psu9\""), "{err}");

    let (code, out, _) =
        run(lab
            .labwire()
            .args(["send", "psu1", "set_name", "ch=1", "name=cold finger"]));
    assert_eq!(
        (code, out.trim()),
        (0, "ok set_name ch=1 name=\"cold finger\"")
    );
    let (code, out, _) =
        run(lab
            .labwire()
            .args(["send", "psu1", "set_voltage", "ch=1", "value=99"]));
    assert_eq!(code, 1, "an error reply fails: {out}");
    assert!(
        out.starts_with("error set_voltage code=out_of_range"),
        "{out}"
    );
    // Not a terminal: no colours.
    assert!(!out.contains('\x1b'));

    let (code, out, _) =
        run(lab
            .labwire()
            .args(["--json", "send", "psu1", "set_voltage", "1", "2.5"]));
    assert_eq!(code, 0);
    let reply: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(reply["name"], "ok");
    assert_eq!(reply["kwargs"]["value"], "2.5");

    let (code, out, _) =
        run(lab
            .labwire()
            .args(["wait", "psu1.ch1_voltage_set>=2.5", "--timeout", "5"]));
    assert_eq!((code, out.trim()), (0, "ok wait psu1.ch1_voltage_set=2.5"));
    let (code, out, _) =
        run(lab
            .labwire()
            .args(["wait", "psu1.ch1_voltage_set>100", "--timeout", "0.5"]));
    assert_eq!(code, 1);
    assert!(out.starts_with("error wait code=timeout"), "{out}");

    let (code, _, err) = run(lab.labwire().args(["--monitor", "127.0.0.1:1", "status"]));
    assert_eq!(code, 3, "unreachable: {err}");
    let (code, _, _) = run(lab.labwire().args(["status", "--bogus"]));
    assert_eq!(code, 2);
    let (code, _, err) = run(lab.labwire().args(["send", "psu1"]));
    assert_eq!(code, 2, "{err}");

    // A daemon directly.
    let gauge = lab.gauge.addr.to_string();
    let (code, out, _) = run(lab
        .labwire()
        .args(["--daemon", &gauge, "send", "set_unit", "torr"]));
    assert_eq!((code, out.trim()), (0, "ok set_unit unit=torr"));
    let (code, out, _) = run(lab.labwire().args(["--daemon", &gauge, "--json", "status"]));
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["kwargs"]["unit"], "torr");
    let (code, _, err) = run(lab.labwire().args(["--daemon", &gauge, "wait", "a.b<1"]));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn tokens_history_log_and_watch_in_a_pipe() {
    let lab = Lab::start();

    // A daemon with a token: the right one opens it, a wrong one is refused (exit 1).
    let secret = lab.dir.path().join("gauge.token");
    let wrong = lab.dir.path().join("wrong.token");
    std::fs::write(&secret, "s3cret\n").unwrap();
    std::fs::write(&wrong, "nope\n").unwrap();
    let locked =
        labwire_testkit::Simulated::start("gauge", &["--token-file", secret.to_str().unwrap()]);
    let locked = locked.addr.to_string();
    let (code, out, _) = run(lab.labwire().args(["--daemon", &locked, "send", "measure"]));
    assert_eq!(code, 1, "no token: {out}");
    assert!(out.starts_with("error measure code=forbidden"), "{out}");
    let (code, out, _) = run(lab
        .labwire()
        .arg("--token-file")
        .arg(&secret)
        .args(["--daemon", &locked, "send", "measure"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok measure pressure="), "{out}");
    let (code, out, _) = run(lab
        .labwire()
        .arg("--token-file")
        .arg(&wrong)
        .args(["--daemon", &locked, "status"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("error auth code=forbidden"), "{out}");
    let (code, _, err) = run(lab
        .labwire()
        .args(["--token-file", "/nonexistent", "status"]));
    assert_eq!(code, 2, "{err}");

    // Follow the log while another command writes to it.
    let mut follow = lab
        .labwire()
        .args(["log", "-f"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start labwire log -f");
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    // Written until seen: the first lines may come before the subscription does.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let done = done.clone();
        let mut log = lab.labwire();
        log.args(["log", "warning", "pump a=b 2"]);
        let follower = follow.id().to_string();
        std::thread::spawn(move || {
            for _ in 0..50 {
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                assert!(log.status().expect("run labwire log").success());
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            if !done.load(std::sync::atomic::Ordering::Relaxed) {
                // Never seen: end the follower so that the read below fails, not hangs.
                let _ = Command::new("kill").args(["-KILL", &follower]).status();
            }
        })
    };
    let seen = lines
        .next()
        .is_some_and(|line| line.is_ok_and(|line| line == "warning script: pump a=b 2"));
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(seen, "log -f showed the line written by log");
    let _ = Command::new("kill")
        .args(["-INT", &follow.id().to_string()])
        .status();
    assert!(
        follow.wait().unwrap().success(),
        "log -f ends cleanly on Ctrl-C"
    );

    // Watch in a pipe: one line per update, only what the filter names.
    let mut watch = lab
        .labwire()
        .args(["watch", "gauge1.pressure"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start labwire watch");
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    // Bounded: whatever `watch` does, it is killed after 20 s, which fails the test (no
    // update, or a Ctrl-C that did not end it) instead of hanging it.
    let watched = watch.id().to_string();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done_by_test = done.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(20));
        if !done.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = Command::new("kill").args(["-KILL", &watched]).status();
        }
    });
    for _ in 0..3 {
        let line = lines.next().expect("an update within 20 s").unwrap();
        assert!(line.starts_with("update gauge1.pressure="), "{line}");
        assert!(!line.contains("status_age"), "{line}");
    }
    let _ = Command::new("kill")
        .args(["-INT", &watch.id().to_string()])
        .status();
    let ended = watch.wait().unwrap();
    done_by_test.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(
        ended.success(),
        "watch ends cleanly on its first Ctrl-C: {ended}"
    );

    // History from the web port, after a value was stored.
    let (code, _, _) =
        run(lab
            .labwire()
            .args(["send", "psu1", "set_voltage", "ch=2", "value=1.25"]));
    assert_eq!(code, 0);
    let http = lab.http.to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (code, out, err) = run(lab.labwire().args([
            "history",
            "psu1.ch2_voltage_set",
            "--from",
            "-10m",
            "--csv",
            "--http",
            &http,
        ]));
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("time,utc,variable,value"), "{out}");
        if out
            .lines()
            .any(|l| l.ends_with(",psu1.ch2_voltage_set,1.25"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "1.25 never stored: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (code, out, _) =
        run(lab
            .labwire()
            .args(["history", "psu1.ch2_voltage_set", "--http", &http]));
    assert_eq!(code, 0);
    assert!(out.starts_with("UTC "), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("psu1.ch2_voltage_set  1.25")),
        "{out}"
    );
    let (code, _, err) = run(lab
        .labwire()
        .args(["history", "psu1.x", "--from", "2h", "--http", &http]));
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(lab.labwire().args(["history", "nodot", "--http", &http]));
    assert_eq!(code, 1, "the monitor refuses a bad variable: {err}");
}
