//! What idle connections cost a server: open many, wait, read the server's memory from
//! `/proc/<pid>/status`.

use crate::Error;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Resident memory of a process, in kB as the kernel reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// VmRSS: resident now.
    pub rss_kb: u64,
    /// VmHWM: the most ever resident.
    pub hwm_kb: u64,
}

pub fn read_memory(pid: u32) -> Result<Memory, Error> {
    let path = format!("/proc/{pid}/status");
    let text =
        std::fs::read_to_string(&path).map_err(|err| format!("cannot read {path}: {err}"))?;
    parse_status(&text).ok_or_else(|| format!("no VmRSS/VmHWM in {path}").into())
}

/// Picks VmRSS and VmHWM out of a `/proc/<pid>/status` text (`VmRSS:\t  5120 kB`).
fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Some(Memory {
        rss_kb: field("VmRSS")?,
        hwm_kb: field("VmHWM")?,
    })
}

/// Idle connections, and how many of them the server had already closed when counted.
pub struct Held {
    streams: Vec<TcpStream>,
}

impl Held {
    pub async fn open(addr: SocketAddr, count: usize) -> Result<Held, Error> {
        let mut streams = Vec::with_capacity(count);
        for opened in 0..count {
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
                .await
                .map_err(|_| format!("connection {} of {count} timed out", opened + 1))?
                .map_err(|err| format!("connection {} of {count} failed: {err}", opened + 1))?;
            streams.push(stream);
        }
        Ok(Held { streams })
    }

    /// Connections the server has not closed (a full server may accept and drop).
    pub fn still_open(&self) -> usize {
        let mut probe = [0u8; 1];
        self.streams
            .iter()
            .filter(|stream| match stream.try_read(&mut probe) {
                Ok(0) => false,
                Ok(_) => true,
                Err(err) => err.kind() == io::ErrorKind::WouldBlock,
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_high_water_mark() {
        let status = "Name:\tlabwire-psu\nVmPeak:\t  900000 kB\nVmHWM:\t    6144 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(
            parse_status(status),
            Some(Memory {
                rss_kb: 5120,
                hwm_kb: 6144
            })
        );
        assert_eq!(parse_status("Name:\tx\nVmRSS:\t12 kB\n"), None);
        assert_eq!(parse_status("VmRSSx:\t12 kB\nVmHWM:\t1 kB\n"), None);
    }

    #[test]
    fn reads_this_process() {
        let memory = read_memory(std::process::id()).unwrap();
        assert!(memory.rss_kb > 0 && memory.hwm_kb >= memory.rss_kb);
    }
}
