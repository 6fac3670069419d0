//! A real PostgreSQL server of the test's own: Debian's binaries (`initdb`, `pg_ctl`,
//! `psql` under `/usr/lib/postgresql/<version>/bin`, the newest version there), a private
//! data directory and socket directory under `target/tmp/`, a free loopback port, trust
//! authentication for one user `labwire`, fsync off. Stopped (`pg_ctl stop -m immediate`)
//! and removed on drop.
//!
//! PostgreSQL refuses to run as root, so when the test runs as root the server runs as
//! the `postgres` user the Debian package creates (through `runuser`), owning the data
//! directory. `scripts/test` installs the `postgresql` package when it is missing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A running PostgreSQL server; stopped and its files removed on drop.
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// Where Debian puts the server's binaries: the newest version's `bin`.
pub fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// `target/` of the running test binary (it lives in `target/<profile>/deps/`).
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|dir| dir.file_name().is_some_and(|name| name == "target"))
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(std::env::temp_dir)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

impl PgServer {
    /// Start a fresh server. Panics, saying why, when PostgreSQL is not installed or does
    /// not start.
    pub fn start(label: &str) -> PgServer {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let bin = postgres_bin().expect(
            "PostgreSQL's server is not installed (/usr/lib/postgresql/<version>/bin); \
             scripts/test installs Debian's postgresql package",
        );
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = target_dir()
            .join("tmp")
            .join(format!("pg-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("socket")).expect("create the server's directory");
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(
                status.success(),
                "cannot give {} to postgres",
                dir.display()
            );
        }
        let server = PgServer {
            bin,
            dir,
            port: 0,
            as_postgres,
        };
        let data = server.dir.join("data");
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "labwire".as_ref(),
                "--auth=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
                "--no-instructions".as_ref(),
            ],
        );
        let mut server = server;
        // A port found free may be taken before the server binds it: try a few.
        for _ in 0..5 {
            server.port = free_port();
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off",
                server.port,
                server.dir.join("socket").display()
            );
            let log = server.dir.join("server.log");
            let out = server.command(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-o".as_ref(),
                    options.as_ref(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "30".as_ref(),
                    "start".as_ref(),
                ],
            );
            if out.status.success() {
                return server;
            }
        }
        let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
        panic!("PostgreSQL did not start:\n{log}");
    }

    /// Stop the server and start it again on the same port and data: every connection
    /// to it is closed.
    pub fn restart(&self) {
        let data = self.dir.join("data");
        // Without a log file the new server would hold pg_ctl's output open for ever.
        let log = self.dir.join("server.log");
        let out = self.command(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
                "restart".as_ref(),
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl restart: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgresql://labwire@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgresql://labwire@127.0.0.1:{}/{database}", self.port)
    }

    /// Create a database (an empty one for each test) and answer its URL.
    pub fn create_database(&self, name: &str) -> String {
        let sql = format!("CREATE DATABASE \"{name}\"");
        self.psql("postgres", &sql);
        self.url(name)
    }

    /// Run one SQL command with `psql`, panicking with its error when it fails; answers
    /// what it printed (unaligned, tuples only).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let port = self.port.to_string();
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "labwire",
                "-d",
                database,
            ])
            .args(["-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn command(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Output {
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
            c
        } else {
            Command::new(self.bin.join(tool))
        };
        command.args(args).output().expect("run a PostgreSQL tool")
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) {
        let out = self.command(tool, args);
        assert!(
            out.status.success(),
            "{tool}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.command(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_starts_answers_and_goes() {
        let server = PgServer::start("selftest");
        let dir = server.dir.clone();
        let url = server.create_database("probe");
        assert!(url.ends_with("/probe"), "{url}");
        assert_eq!(server.psql("probe", "SELECT 40 + 2").trim(), "42");
        drop(server);
        assert!(!dir.exists());
    }
}
