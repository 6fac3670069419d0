//! What the kernel says about a process: CPU time, threads, open files, and this
//! process's file-descriptor limit. Read from `/proc`, so no libc binding is needed.

use crate::Error;
use std::sync::OnceLock;

/// CPU time a process has used so far (all threads, user + system), in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<u64, Error> {
    let path = format!("/proc/{pid}/stat");
    let text =
        std::fs::read_to_string(&path).map_err(|err| format!("cannot read {path}: {err}"))?;
    parse_cpu_ticks(&text).ok_or_else(|| format!("unexpected format of {path}").into())
}

/// One thread's name (as the kernel knows it, at most 15 bytes) and CPU ticks so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadCpu {
    pub tid: u32,
    pub name: String,
    pub ticks: u64,
}

/// Every thread of a process, from `/proc/<pid>/task/<tid>/stat`. A thread that exits
/// while being read is left out.
pub fn thread_cpu(pid: u32) -> Result<Vec<ThreadCpu>, Error> {
    let dir = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&dir).map_err(|err| format!("cannot read {dir}: {err}"))?;
    let mut threads = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let (Some(name), Some(ticks)) = (stat_name(&stat), parse_cpu_ticks(&stat)) {
            threads.push(ThreadCpu {
                tid,
                name: name.to_string(),
                ticks,
            });
        }
    }
    Ok(threads)
}

fn stat_name(stat: &str) -> Option<&str> {
    stat.get(stat.find('(')? + 1..stat.rfind(')')?)
}

/// utime + stime from a `/proc/<pid>/stat` line. The command name in parentheses may
/// itself contain spaces and parentheses, so fields are counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name; utime and stime are fields 14 and 15.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`, asked once). Linux has used 100 on every
/// common architecture for decades, so that is the answer when `getconf` is missing.
pub fn ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|ticks| *ticks > 0.0)
            .unwrap_or(100.0)
    })
}

/// `Threads:` from `/proc/<pid>/status`.
pub fn threads(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|rest| rest.trim().parse().ok())
}

/// What VmRSS is made of, in kB: anonymous memory (the heap), file pages mapped in
/// (the binary, libraries, memory-mapped files) and shared memory (e.g. SQLite's WAL
/// index).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resident {
    pub anon_kb: u64,
    pub file_kb: u64,
    pub shmem_kb: u64,
}

pub fn resident(pid: u32) -> Option<Resident> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_resident(&text)
}

fn parse_resident(status: &str) -> Option<Resident> {
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Some(Resident {
        anon_kb: field("RssAnon")?,
        file_kb: field("RssFile")?,
        shmem_kb: field("RssShmem")?,
    })
}

/// File descriptors a process holds open now (readable for our own children).
pub fn open_files(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// This process's soft limit on open files (`ulimit -n`), `None` when unlimited or
/// unreadable.
pub fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files_limit(&text)
}

fn parse_open_files_limit(limits: &str) -> Option<u64> {
    let rest = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_from_the_last_parenthesis() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 1200 0 0 0 731 269 0 0 20 0 9 0 \
                    123456 1000000 2000 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(1000));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1 2"), None);
        assert_eq!(stat_name(stat), Some("a (b) c"));
    }

    #[test]
    fn reads_this_process() {
        assert!(cpu_ticks(std::process::id()).is_ok());
        assert!(threads(std::process::id()).unwrap_or(0) >= 1);
        assert!(open_files(std::process::id()).unwrap_or(0) >= 1);
        assert!(ticks_per_second() > 0.0);
        let threads = thread_cpu(std::process::id()).unwrap();
        assert!(threads.iter().any(|t| t.tid == std::process::id()));
    }

    #[test]
    fn resident_memory_by_kind() {
        let status = "VmRSS:\t   51400 kB\nRssAnon:\t   40000 kB\nRssFile:\t    9000 kB\nRssShmem:\t    2400 kB\n";
        assert_eq!(
            parse_resident(status),
            Some(Resident {
                anon_kb: 40000,
                file_kb: 9000,
                shmem_kb: 2400
            })
        );
        assert!(resident(std::process::id()).is_some());
    }

    #[test]
    fn open_files_limit_is_the_soft_column() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            20000                1048576              files     \n";
        assert_eq!(parse_open_files_limit(limits), Some(20000));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files_limit(unlimited), None);
    }
}
