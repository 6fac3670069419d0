//! The lab the tests talk to: a simulated gauge and power supply behind the real monitor,
//! all on ephemeral loopback ports.

// Each test file uses a part of the lab.
#![allow(dead_code)]

use labwire_testkit::{start_monitor, Process, Simulated, TempDir};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Lab {
    pub monitor: Process,
    pub http: SocketAddr,
    pub gauge: Simulated,
    /// Kept running for the monitor (dropping it stops the daemon).
    pub psu: Simulated,
    /// Also the session's $HOME and $XDG_STATE_HOME.
    pub dir: TempDir,
}

impl Lab {
    pub fn start() -> Lab {
        let gauge = Simulated::start("gauge", &[]);
        let psu = Simulated::start("psu", &[]);
        let dir = TempDir::new("labwire-cli");
        let config = dir.path().join("monitor.ini");
        std::fs::write(
            &config,
            format!(
                "poll_interval = 0.2\ndb = {}\n[gauge1]\nhost = 127.0.0.1\nport = {}\n\
                 [psu1]\nhost = 127.0.0.1\nport = {}\n",
                dir.path().join("history.sqlite").display(),
                gauge.addr.port(),
                psu.addr.port()
            ),
        )
        .expect("write monitor.ini");
        let (monitor, http) = start_monitor(&config);
        let lab = Lab {
            monitor,
            http,
            gauge,
            psu,
            dir,
        };
        lab.wait_until_connected();
        lab
    }

    /// `labwire` against this lab's monitor, with its history in the lab's directory.
    pub fn labwire(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_labwire"));
        command
            .env("LABWIRE_MONITOR", self.monitor.addr.to_string())
            .env("HOME", self.dir.path())
            .env("XDG_STATE_HOME", self.dir.path())
            .env_remove("NO_COLOR")
            .env_remove("LABWIRE_TOKEN_FILE");
        command
    }

    fn wait_until_connected(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let output = self
                .labwire()
                .args(["send", "psu1", "get_id"])
                .output()
                .expect("run labwire");
            let gauge = self
                .labwire()
                .args(["send", "gauge1", "get_id"])
                .output()
                .expect("run labwire");
            if output.status.success() && gauge.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the monitor did not connect its clients: {}",
                String::from_utf8_lossy(&output.stdout)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
