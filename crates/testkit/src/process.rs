//! Real binaries: where cargo put them, started and killed on drop, or run to the end.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Stdout lines kept for [`Process::stdout_line`]; later ones are read and dropped.
const KEPT_LINES: usize = 256;

/// The path of workspace binary `name` in the profile directory the tests run from.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// A running binary. Dropping it kills the process.
pub struct Process {
    child: Child,
    pub addr: SocketAddr,
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl Process {
    /// Start `program` (which must print `listening <addr>` as its first stdout line,
    /// as every labwire server does) and wait up to 20 s for that line. Set
    /// `LABWIRE_TEST_LOG=1` to see its log output.
    pub fn start<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S]) -> Process {
        Process::start_announced(program, args, |line| {
            line.strip_prefix("listening ")?.trim().parse().ok()
        })
    }

    /// [`Process::start`] for a program that announces its address its own way:
    /// `announced` finds the address in a stdout line (chromedriver's `... on port N.`).
    pub fn start_announced<S: AsRef<OsStr>>(
        program: impl AsRef<OsStr>,
        args: &[S],
        announced: fn(&str) -> Option<SocketAddr>,
    ) -> Process {
        let show_log = std::env::var_os("LABWIRE_TEST_LOG").is_some();
        let mut child = Command::new(program.as_ref())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if show_log {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {:?}: {err}", program.as_ref()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (found, address) = mpsc::channel();
        let lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let kept = lines.clone();
        // Keep draining stdout after the first line so the child never blocks on it.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(addr) = announced(&line) {
                        let _ = found.send(addr);
                        sent = true;
                    }
                }
                let (list, added) = &*kept;
                let mut list = list.lock().expect("stdout lines");
                if list.len() < KEPT_LINES {
                    list.push(line);
                    added.notify_all();
                }
            }
        });
        let mut process = Process {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
        };
        match address.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => process.addr = addr,
            Err(_) => panic!(
                "{:?} did not announce its address within 20 s (exit: {:?})",
                program.as_ref(),
                process.child.try_wait()
            ),
        }
        process
    }

    /// The rest of the first stdout line that starts with `prefix`, waiting up to
    /// `within` for it: `stdout_line("http ", ..)` is the monitor's web address.
    pub fn stdout_line(&self, prefix: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        let (list, added) = &*self.lines;
        let mut list = list.lock().expect("stdout lines");
        loop {
            if let Some(line) = list.iter().find_map(|l| l.strip_prefix(prefix)) {
                return Some(line.trim().to_string());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            list = added.wait_timeout(list, left).expect("stdout lines").0;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send SIGTERM (a clean stop) and wait up to `within` for the exit status.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait_exit(within)
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Resident memory in kB (VmRSS from /proc), where the platform has it.
    pub fn resident_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Run `program` with `args` until it exits on its own, for at most `within` (then it is
/// killed and the test fails): its exit status, stdout and stderr.
pub fn run_to_end<S: AsRef<OsStr>>(
    program: impl AsRef<OsStr>,
    args: &[S],
    within: Duration,
) -> std::process::Output {
    let program = program.as_ref();
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {program:?}: {err}"));
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(within) {
        Ok(output) => output.expect("the child's output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{program:?} did not exit within {within:?}");
        }
    }
}
