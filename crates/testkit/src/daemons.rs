//! The labwire binaries started the way most tests want them: a daemon simulating its
//! device, the monitor with a configuration, each on ephemeral ports.

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::time::Duration;

use crate::line::any_port;
use crate::process::{binary, Process};
use crate::scratch::TempDir;

/// Every daemon binary, by the `<name>` of `labwire-<name>`: the tests that must hold for
/// each daemon go through this list, so a new daemon is one line here.
pub const DAEMONS: &[&str] = &["gauge", "psu", "cryocon", "ferment", "clusterctrl", "ccd"];

/// A daemon binary simulating its device, with a state file of its own; killed (and its
/// state removed) on drop. Derefs to its [`Process`] (`addr`, `kill`, `terminate`...).
pub struct Simulated {
    process: Process,
    _state: TempDir,
}

impl Simulated {
    /// `labwire-<daemon> --simulate --listen 127.0.0.1:0 --state-file <scratch>/x.state`
    /// followed by `args`, once it printed `listening ADDR`.
    pub fn start(daemon: &str, args: &[&str]) -> Simulated {
        Simulated::start_on(daemon, any_port(), args)
    }

    /// [`Simulated::start`] listening on `listen`: for restarting a daemon on the port a
    /// stopped one had.
    pub fn start_on(daemon: &str, listen: SocketAddr, args: &[&str]) -> Simulated {
        let state = TempDir::new(&format!("{daemon}-state"));
        let state_file = state.path().join("x.state");
        let listen = listen.to_string();
        let mut all = vec![
            "--simulate",
            "--listen",
            &listen,
            "--state-file",
            state_file.to_str().expect("a UTF-8 temp path"),
        ];
        all.extend_from_slice(args);
        Simulated {
            process: Process::start(binary(&format!("labwire-{daemon}")), &all),
            _state: state,
        }
    }
}

impl Deref for Simulated {
    type Target = Process;
    fn deref(&self) -> &Process {
        &self.process
    }
}

impl DerefMut for Simulated {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.process
    }
}

/// The monitor with `config` on ephemeral ports: the process (its command port is
/// `addr`) and the address of its web page.
pub fn start_monitor(config: &Path) -> (Process, SocketAddr) {
    start_monitor_with(config, &[])
}

/// [`start_monitor`] with more flags (`--token-file PATH`).
pub fn start_monitor_with(config: &Path, flags: &[&str]) -> (Process, SocketAddr) {
    let config = config.to_str().expect("a UTF-8 config path");
    let mut args = vec!["--config", config, "--port", "0", "--http-port", "0"];
    args.extend_from_slice(flags);
    let monitor = Process::start(binary("labwire-monitor"), &args);
    let http = monitor
        .stdout_line("http ", Duration::from_secs(20))
        .expect("the monitor prints `http <addr>`")
        .parse()
        .expect("a socket address");
    (monitor, http)
}
