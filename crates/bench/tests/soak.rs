//! The soak, short: 10 daemons for 20 s under a kill every 2 s (two of each gap kind: 0,
//! 50 ms, 1 s, 10 s, random) and a client every 0.2 s, with the debug monitor. Only
//! correctness is asserted, never timing: nothing lost but the polls in flight at a kill
//! (at most one per kill: the monitor has one request in flight per daemon), every
//! restarted daemon polled again, the monitor's memory within a generous bound, and the
//! monitor still serving every daemon at the end. Needs the workspace's binaries built
//! (`cargo build --workspace --bins`).

use labwire_protocol::{parse_line, Message};
use std::time::Duration;

/// A run is about 20 s of faults, up to 10 s for the last restart's gap, and a settle
/// bounded at 30 s: 3 minutes is ample even on a loaded machine.
const RUN_LIMIT: Duration = Duration::from_secs(180);
/// Debug builds and SQLite's page cache grow a little at first; a leak of one allocation
/// per poll or per connection would not stay under this.
const RSS_GROWTH_LIMIT_KB: u64 = 64 * 1024;

fn count(result: &Message, key: &str) -> u64 {
    result
        .get(key)
        .unwrap_or_else(|| panic!("no {key}= in {}", result.to_line()))
        .parse()
        .unwrap_or_else(|_| panic!("{key}= is not a count in {}", result.to_line()))
}

#[test]
fn a_short_soak_loses_nothing_and_polls_every_restarted_daemon() {
    let monitor = labwire_testkit::binary("labwire-monitor");
    let output = labwire_testkit::run_to_end(
        env!("CARGO_BIN_EXE_labwire-bench"),
        &[
            "soak".as_ref(),
            "--monitor-bin".as_ref(),
            monitor.as_os_str(),
            "--count=10".as_ref(),
            "--minutes=0.34".as_ref(),
            "--restart-every=2".as_ref(),
            "--client-every=0.2".as_ref(),
            "--sample-every=1".as_ref(),
            "--seed=8".as_ref(),
        ],
        RUN_LIMIT,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .rfind(|line| line.starts_with("result "))
        .unwrap_or_else(|| panic!("no result line in\n{stdout}"));
    let result = parse_line(line).unwrap();
    let n = |key| count(&result, key);

    // Ten kills at 2 s intervals in 20.4 s, the gap kinds in turn: two of each.
    assert_eq!(n("restarts"), 10, "{stdout}");
    assert!(stdout.contains("(2 after 0, 2 after 50ms, 2 after 1s, 2 after 10s, 2 after random)"));
    assert_eq!(n("failed_restarts"), 0, "{stdout}");

    assert!(n("polled") > 0);
    assert_eq!(n("lost_while_up"), 0, "{stdout}");
    assert!(n("lost_at_kill") <= n("kills"), "{stdout}");
    assert_eq!(n("stored") + n("lost_at_kill"), n("polled"), "{stdout}");
    assert_eq!(n("invented") + n("other_rows"), 0, "{stdout}");

    assert_eq!(n("polled_again"), n("restarts"), "{stdout}");
    assert_eq!(n("never_polled_again"), 0, "{stdout}");
    assert!(n("reconnects") >= n("restarts"), "{stdout}");
    assert_eq!(n("connected"), n("members"), "{stdout}");

    assert!(
        n("rss_end_kb") <= n("rss_start_kb") + RSS_GROWTH_LIMIT_KB,
        "{stdout}"
    );
    assert!(
        n("client_sessions") > 0 && n("client_answered") > 0,
        "{stdout}"
    );
    assert_eq!(result.get("monitor_exit"), Some("0"), "{stdout}");
}
