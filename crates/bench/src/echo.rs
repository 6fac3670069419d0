//! The reference: a bare tokio echo server (what any line server costs at the least), and
//! running it as a child process so it gets its own runtime and threads, as a daemon does.

use crate::Error;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long the child may take to report its address.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until the process is stopped. Prints `listening <addr>` first.
pub async fn serve(listen: &str) -> Result<(), Error> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|err| format!("cannot listen on {listen}: {err}"))?;
    // The parent reads this line to find the port; println! flushes at the newline.
    println!("listening {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(echo(stream));
    }
}

pub async fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buffer[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Ends the process when stdin reaches end of file, i.e. when the parent that holds the
/// other end of the pipe goes away, even if it could not kill us.
pub fn exit_with_stdin() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
}

/// The echo server running as a child of this process; killed when dropped.
pub struct EchoChild {
    child: Child,
    pub addr: SocketAddr,
}

impl EchoChild {
    pub async fn start() -> Result<EchoChild, Error> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["echo", "--listen", "127.0.0.1:0", "--exit-with-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| format!("cannot start the reference echo server: {err}"))?;
        let stdout = child.stdout.take().ok_or("child has no stdout")?;
        // From here on, dropping `running` kills the child, whatever goes wrong.
        let mut running = EchoChild {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let first_line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = tokio::time::timeout(START_TIMEOUT, first_line)
            .await
            .map_err(|_| "the reference echo server did not report its address")?
            .map_err(|err| format!("reading the echo server's address failed: {err}"))??;
        running.addr = line
            .trim_end()
            .strip_prefix("listening ")
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| format!("unexpected first line from the echo server: {line:?}"))?;
        Ok(running)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for EchoChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
