//! The one harness labwire's integration tests share (as ripgrep's tests do): start a real
//! binary on an ephemeral loopback port, learn its address from the `listening <addr>`
//! line it prints first, and make sure it is gone when the test ends, pass or fail.
//!
//! - [`binary`]: where cargo put a workspace binary.
//! - [`Process`]: a started binary, killed on drop; [`Process::stdout_line`] reads what it
//!   printed after `listening <addr>` (the monitor's `http <addr>`, for one).
//! - [`eventually`]: retry an async check until it holds or time runs out.
//! - [`run_to_end`]: run a binary that should stop on its own (a bad command line,
//!   `--help`) and collect its exit status and output.

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
                    if let Some(addr) = line.strip_prefix("listening ") {
                        let _ = found.send(addr.trim().to_string());
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
            Ok(text) => process.addr = text.parse().expect("a socket address"),
            Err(_) => panic!(
                "{:?} did not print `listening <addr>` within 20 s (exit: {:?})",
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

/// Run `check` every 20 ms until it returns `Some`, for at most `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
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

/// A fresh scratch directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("labwire-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How long the shared helpers below wait for a condition.
pub const WAIT: Duration = Duration::from_secs(15);

/// A protocol client on `addr`, with default options.
pub async fn connect(addr: SocketAddr) -> labwire_client::Client {
    labwire_client::Client::connect(addr, labwire_client::ClientOptions::default())
        .await
        .unwrap_or_else(|err| panic!("cannot connect to {addr}: {err}"))
}

/// Send `request` until its reply satisfies `accept` (within [`WAIT`]); the reply.
pub async fn ask_until(
    client: &labwire_client::Client,
    request: &str,
    what: &str,
    accept: impl Fn(&labwire_protocol::Message) -> bool,
) -> labwire_protocol::Message {
    eventually(WAIT, what, || async {
        let reply = client.call(request).await.ok()?;
        accept(&reply).then_some(reply)
    })
    .await
}

/// `get_status` until it satisfies `accept`.
pub async fn status_where(
    client: &labwire_client::Client,
    what: &str,
    accept: impl Fn(&labwire_protocol::Message) -> bool,
) -> labwire_protocol::Message {
    ask_until(client, "get_status", what, accept).await
}

/// The number in `key` of `message`; panics naming what is missing or malformed.
pub fn number(message: &labwire_protocol::Message, key: &str) -> f64 {
    let text = message
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {message}"));
    labwire_protocol::parse_number(text).unwrap_or_else(|| panic!("{key}={text:?} is not a number"))
}

/// The monitor with `config` on ephemeral ports: the process (its command port is
/// `addr`) and the address of its web page.
pub fn start_monitor(config: &std::path::Path) -> (Process, SocketAddr) {
    let config = config.to_str().expect("a UTF-8 config path");
    let monitor = Process::start(
        binary("labwire-monitor"),
        &["--config", config, "--port", "0", "--http-port", "0"],
    );
    let http = monitor
        .stdout_line("http ", Duration::from_secs(20))
        .expect("the monitor prints `http <addr>`")
        .parse()
        .expect("a socket address");
    (monitor, http)
}
