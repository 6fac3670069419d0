//! A real MQTT broker for tests: Debian's Mosquitto (`/usr/sbin/mosquitto`, installed by
//! scripts/test) with a configuration of its own in a private directory under `target/`,
//! listening on 127.0.0.1 only, on a free port, no persistence. It can be stopped,
//! paused (SIGSTOP: connected but silent, the slow broker) and started again on the same
//! port; it is killed and its directory removed on drop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
/// How long the broker may take to accept connections.
const START: Duration = Duration::from_secs(10);

pub struct Mosquitto {
    pub addr: SocketAddr,
    dir: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    /// Anonymous clients welcome.
    pub fn start() -> Mosquitto {
        Mosquitto::start_with(&[])
    }

    /// Only the users in `users` (name, password), in a password file made with
    /// `mosquitto_passwd`.
    pub fn start_with(users: &[(&str, &str)]) -> Mosquitto {
        assert!(
            Path::new(MOSQUITTO).exists(),
            "{MOSQUITTO} is missing: install Debian's mosquitto (scripts/test does)"
        );
        let dir = private_dir();
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut conf = format!(
            "listener {port} 127.0.0.1\npersistence false\n\
             log_dest file {log}\nlog_type error\nlog_type warning\nlog_type notice\n\
             log_type information\nconnection_messages true\n",
            log = dir.join("mosquitto.log").display()
        );
        if is_root() {
            // Else it changes to the mosquitto user, who may not read this directory.
            conf.push_str("user root\n");
        }
        if users.is_empty() {
            conf.push_str("allow_anonymous true\n");
        } else {
            let passwords = dir.join("passwords");
            for (user, password) in users {
                let mut args = vec!["-b"];
                if !passwords.exists() {
                    args.push("-c");
                }
                let file = passwords.to_str().expect("a UTF-8 path");
                args.extend([file, user, password]);
                let status = Command::new("mosquitto_passwd")
                    .args(&args)
                    .status()
                    .expect("mosquitto_passwd (Debian's mosquitto package)");
                assert!(status.success(), "mosquitto_passwd failed");
            }
            conf.push_str(&format!(
                "allow_anonymous false\npassword_file {}\n",
                passwords.display()
            ));
        }
        std::fs::write(dir.join("mosquitto.conf"), conf).expect("write mosquitto.conf");
        let mut broker = Mosquitto {
            addr,
            dir,
            child: None,
        };
        broker.start_again();
        broker
    }

    /// `mqtt://127.0.0.1:<port>`, as `[mqtt] url` takes it.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }

    /// The broker's own log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }

    /// Kill the broker: clients see the connection reset, and retained messages are gone
    /// (no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the stopped broker again, on the same port.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the broker is running");
        let mut child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let deadline = Instant::now() + START;
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("mosquitto exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {} within {START:?}: {}",
                self.addr,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// SIGSTOP: connections stay open, but nothing is read or answered.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`Mosquitto::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the broker is running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} failed");
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.resume();
        }
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh directory under `target/tmp/`, next to the build the tests run from.
fn private_dir() -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/tmp
    let target = exe
        .ancestors()
        .nth(3)
        .expect("test executable lives in target/<profile>/deps");
    let dir = target
        .join("tmp")
        .join(format!("mosquitto-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the broker's directory");
    dir
}

/// A loopback port nothing listens on now. Mosquitto cannot be handed a socket, so the
/// port is let go before the broker binds it: another process could take it meanwhile,
/// which on a test machine is rare enough.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}
