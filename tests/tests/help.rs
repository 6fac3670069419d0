//! `help` lists exactly the commands that are answered (issue 8.10 / 9.2): for every daemon
//! binary and the monitor, each listed command, sent with no arguments, gets some reply
//! other than `unknown_command` (a missing argument is an answer). `exit` is skipped: it
//! is answered by stopping.

use labwire_client::Client;
use labwire_testkit::{connect, start_monitor, Simulated, TempDir, DAEMONS};
use std::net::SocketAddr;

/// The commands `help` lists on `addr` that are answered `unknown_command`, and the help.
async fn unanswered(addr: SocketAddr) -> (Vec<String>, String) {
    let c: Client = connect(addr).await;
    let help = c.call("help").await.unwrap();
    let mut unanswered = Vec::new();
    for (command, _) in &help.kwargs {
        if command == "exit" {
            continue;
        }
        let reply = c.call(command).await.unwrap();
        if reply.error_code() == Some("unknown_command") {
            unanswered.push(command.clone());
        }
    }
    (unanswered, help.to_line())
}

#[tokio::test]
async fn every_command_a_daemons_help_lists_is_answered() {
    for daemon in DAEMONS {
        let d = Simulated::start(daemon, &[]);
        let (unanswered, help) = unanswered(d.addr).await;
        assert!(
            unanswered.is_empty(),
            "labwire-{daemon}'s help lists {unanswered:?}: {help}"
        );
    }
}

#[tokio::test]
async fn every_command_the_monitors_help_lists_is_answered() {
    let dir = TempDir::new("monitor-help");
    let config = dir.path().join("monitor.ini");
    std::fs::write(
        &config,
        format!(
            "name = testmon\npoll_interval = 0.1\ndb = {}\n",
            dir.path().join("history.sqlite").display()
        ),
    )
    .unwrap();
    let (m, _http) = start_monitor(&config);
    let (unanswered, help) = unanswered(m.addr).await;
    assert!(unanswered.is_empty(), "help lists {unanswered:?}: {help}");
}
