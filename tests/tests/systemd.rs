//! contrib/systemd/: every unit passes `systemd-analyze verify` (unknown keys and bad
//! values are reported as warnings, so any output fails the test), with ExecStart pointed
//! at the binaries just built; each runs with the hardening it promises and reads its
//! settings from /etc/labwire. scripts/test installs systemd when systemd-analyze is missing.

use labwire_testkit::{binary, TempDir, DAEMONS};
use std::path::Path;
use std::process::Command;

fn contrib() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contrib/systemd")
        .canonicalize()
        .expect("contrib/systemd")
}

/// The unit files, with the monitor's.
fn units() -> Vec<String> {
    let mut units: Vec<String> = DAEMONS
        .iter()
        .map(|daemon| format!("labwire-{daemon}@.service"))
        .collect();
    units.push("labwire-monitor.service".into());
    units
}

#[test]
fn every_unit_passes_systemd_analyze_verify() {
    let dir = TempDir::new("systemd-units");
    let bin_dir = binary("labwire-monitor")
        .parent()
        .expect("the binaries' directory")
        .to_str()
        .expect("a UTF-8 path")
        .to_string();
    for unit in units() {
        let text = std::fs::read_to_string(contrib().join(&unit))
            .unwrap_or_else(|err| panic!("contrib/systemd/{unit}: {err}"));
        for promise in [
            "Restart=always",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "PrivateTmp=yes",
            "StateDirectory=labwire",
            "User=labwire",
        ] {
            assert!(text.contains(promise), "{unit} lacks {promise}");
        }
        let config = if unit.contains('@') {
            "--config /etc/labwire/%i.conf"
        } else {
            "--config /etc/labwire/monitor.ini"
        };
        assert!(text.contains(config), "{unit} reads {config}");
        std::fs::write(
            dir.path().join(&unit),
            text.replace("/usr/local/bin/", &format!("{bin_dir}/")),
        )
        .unwrap();
    }
    for unit in units() {
        // A template is verified through an instance of it.
        let name = unit.replace("@.service", "@bench1.service");
        let output = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(dir.path().join(&name))
            .output()
            .expect("systemd-analyze (scripts/test installs systemd when it is missing)");
        let said = String::from_utf8_lossy(&output.stderr).to_string()
            + &String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{name}: {said}");
        assert!(
            said.trim().is_empty(),
            "{name}: systemd-analyze says: {said}"
        );
    }
}

#[test]
fn the_example_settings_file_reads() {
    let path = contrib().join("psu1.conf");
    let text = std::fs::read_to_string(&path).unwrap();
    let settings = labwire_daemon::config_file::parse("psu1.conf", &text).expect("valid settings");
    let keys: Vec<&str> = settings.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["device", "listen", "poll_interval"]);
}
