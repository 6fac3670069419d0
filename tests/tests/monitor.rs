//! The monitor end to end: real daemon binaries in simulation, the real monitor binary,
//! and testkit's fake daemons for daemons that misbehave.

use labwire_protocol::{parse_number, Message};
use labwire_testkit::{
    ask_until, binary, connect, eventually, fake_id, reply_to, start_monitor, status_where,
    FakeDaemon, Process, Simulated, TempDir, WAIT,
};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn gauge(name: &str) -> Simulated {
    Simulated::start("gauge", &["--poll-interval", "0.1", "--name", name])
}

fn gauge_on(name: &str, addr: SocketAddr) -> Simulated {
    Simulated::start_on("gauge", addr, &["--poll-interval", "0.1", "--name", name])
}

fn client_block(name: &str, addr: SocketAddr) -> String {
    format!("[{name}]\nhost = 127.0.0.1\nport = {}\n", addr.port())
}

fn write_config(dir: &Path, clients: &str) -> String {
    let path = dir.join("monitor.ini");
    let text = format!(
        "name = testmon\npoll_interval = 0.1\ndb = {}\n{clients}",
        dir.join("history.sqlite").display()
    );
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn monitor(config: &str) -> Process {
    start_monitor(Path::new(config)).0
}

#[tokio::test]
async fn polls_relays_and_reports_clients() {
    let dir = TempDir::new("monitor-basic");
    let g1 = gauge("g1");
    let g2 = gauge("g2");
    let config = write_config(
        dir.path(),
        &format!(
            "{}{}",
            client_block("gauge1", g1.addr),
            client_block("gauge2", g2.addr)
        ),
    );
    let m = monitor(&config);
    let c = connect(m.addr).await;

    let id = c.call("get_id").await.unwrap();
    assert_eq!(
        (id.get("name"), id.get("type")),
        (Some("testmon"), Some("monitor"))
    );

    let status = status_where(&c, "both gauges polled", |s| {
        // Near atmosphere the gauge may read overrange (pressure "") for a moment.
        s.get("nconnected") == Some("2")
            && ["gauge1.pressure", "gauge2.pressure"]
                .iter()
                .all(|key| s.get(key).and_then(parse_number).is_some())
    })
    .await;
    assert_eq!(status.get("nclients"), Some("2"));
    assert_eq!(status.get("gauge1"), Some("1"));
    assert!(parse_number(status.get("gauge1.pressure").unwrap()).unwrap() > 0.0);
    assert_eq!(status.get("gauge1.hw_connected"), Some("1"));

    assert_eq!(
        c.call("clients").await.unwrap().to_line(),
        "clients gauge1=1 gauge2=1"
    );

    let relayed = c.call("@r1 send gauge1 set_unit unit=torr").await.unwrap();
    assert_eq!(relayed.to_line(), "@r1 ok set_unit unit=torr");
    let refused = c
        .call("send gauge1 set_unit unit=\"pounds per inch\"")
        .await
        .unwrap();
    assert_eq!(refused.error_code(), Some("bad_argument"));
    assert_eq!(
        refused.args,
        ["set_unit"],
        "the client's own reply, unchanged"
    );
    assert!(
        refused.error_message().unwrap().contains("pounds per inch"),
        "quoting kept: {refused}"
    );
    status_where(&c, "unit change seen", |s| {
        s.get("gauge1.unit") == Some("torr")
    })
    .await;

    let unknown = c.call("send nobody get_id").await.unwrap();
    assert_eq!(
        (unknown.error_code(), unknown.args.as_slice()),
        (Some("bad_argument"), &["send".to_string()][..])
    );
    assert_eq!(
        c.call("send").await.unwrap().error_code(),
        Some("missing_argument")
    );

    let json = c.call("get_status format=json").await.unwrap();
    assert_eq!(json.name, "status_json");
    let doc: serde_json::Value = serde_json::from_str(&json.args[0]).unwrap();
    assert_eq!(
        doc["clients"]["gauge1"]["connected"],
        serde_json::Value::Bool(true)
    );

    let connections = c.call("connections").await.unwrap();
    let n: usize = connections.get("n").unwrap().parse().unwrap();
    assert!(n >= 3, "two clients and this script: {connections}");
    assert!(connections.kwargs.iter().any(|(_, v)| v == "gauge1"));
    assert!(connections.kwargs.iter().any(|(_, v)| v == "script"));
}

#[tokio::test]
async fn wait_holds_or_times_out() {
    let dir = TempDir::new("monitor-wait");
    let g = gauge("g");
    let m = monitor(&write_config(dir.path(), &client_block("gauge1", g.addr)));
    let c = connect(m.addr).await;
    status_where(&c, "polled", |s| s.get("gauge1.pressure").is_some()).await;
    let ok = c.call("wait gauge1.pressure>0 timeout=5").await.unwrap();
    assert_eq!(ok.name, "ok", "{ok}");
    let ok = c
        .call("wait gauge1.hw_connected==1 timeout=5")
        .await
        .unwrap();
    assert_eq!(ok.name, "ok", "== form: {ok}");
    let late = c.call("wait gauge1.pressure<0 timeout=0.3").await.unwrap();
    assert_eq!(late.error_code(), Some("timeout"));
    assert_eq!(late.args, ["wait"]);
    let bad = c.call("wait gauge1.pressure~3").await.unwrap();
    assert_eq!(bad.error_code(), Some("bad_argument"));
    let nobody = c.call("wait ghost.x>1 timeout=1").await.unwrap();
    assert_eq!(nobody.error_code(), Some("bad_argument"));
}

#[tokio::test]
async fn daemon_killed_and_restarted_is_reconnected_and_logged() {
    let dir = TempDir::new("monitor-restart");
    let mut g = gauge("g");
    let addr = g.addr;
    let m = monitor(&write_config(dir.path(), &client_block("gauge1", addr)));
    let c = connect(m.addr).await;
    let logs = connect(m.addr).await;
    let mut events = logs.take_events().unwrap();
    assert_eq!(logs.call("subscribe log").await.unwrap().name, "ok");
    status_where(&c, "connected", |s| s.get("gauge1") == Some("1")).await;

    g.kill();
    let status = status_where(&c, "disconnected", |s| s.get("gauge1") == Some("0")).await;
    assert!(
        status.get("gauge1.pressure").is_none(),
        "no stale variables: {status}"
    );
    let down = c.call("send gauge1 get_status").await.unwrap();
    assert_eq!(
        (down.error_code(), down.args.as_slice()),
        (Some("not_connected"), &["send".to_string()][..])
    );

    let _g = gauge_on("g", addr);
    status_where(&c, "reconnected", |s| {
        s.get("gauge1") == Some("1") && s.get("gauge1.pressure").is_some()
    })
    .await;

    let mut seen = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(event) = events.recv().await {
            if let Some(message) = event.get("message") {
                seen.push(message.to_string());
            }
            if seen.iter().any(|m| m.contains("gauge1 connected"))
                && seen.iter().any(|m| m.contains("gauge1 disconnected"))
            {
                break;
            }
        }
    })
    .await;
    assert!(
        seen.iter().any(|m| m.contains("gauge1 disconnected")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|m| m.contains("gauge1 connected")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn hung_and_garbage_daemons_never_delay_the_others() {
    let dir = TempDir::new("monitor-hung");
    let g = gauge("g");
    let silent = FakeDaemon::silent();
    let garbage = FakeDaemon::garbage();
    let clients = format!(
        "{}{}{}",
        client_block("silent", silent.addr),
        client_block("gauge1", g.addr),
        client_block("noisy", garbage.addr)
    );
    let m = monitor(&write_config(dir.path(), &clients));
    let c = connect(m.addr).await;
    let first = status_where(&c, "gauge polled", |s| s.get("gauge1.status_age").is_some()).await;
    let stamp = |s: &Message| s.get("gauge1.pressure").map(str::to_string);
    // The gauge keeps being polled at its pace while the others hang or babble.
    let before = stamp(&first);
    status_where(&c, "fresh gauge values", |s| stamp(s) != before).await;
    let status = c.call("get_status").await.unwrap();
    assert_eq!(status.get("silent"), Some("0"));
    assert_eq!(status.get("noisy"), Some("0"));
    assert_eq!(status.get("gauge1"), Some("1"));
    let relayed = c.call("send silent get_id").await.unwrap();
    assert_eq!(relayed.error_code(), Some("not_connected"));
}

#[tokio::test]
async fn legacy_daemons_are_polled_untagged() {
    let dir = TempDir::new("monitor-legacy");
    let old = FakeDaemon::legacy();
    let m = monitor(&write_config(dir.path(), &client_block("vac", old.addr)));
    let c = connect(m.addr).await;
    let status = status_where(&c, "legacy values", |s| s.get("vac.pump") == Some("on")).await;
    assert!(parse_number(status.get("vac.pressure").unwrap()).is_some());
    let unknown = c.call("send vac frobnicate").await.unwrap();
    assert_eq!(
        unknown.error_code(),
        Some("timeout"),
        "a legacy daemon never answers it"
    );
    assert_eq!(
        c.call("send vac get_id").await.unwrap().to_line(),
        "id name=old type=vacuum"
    );
}

#[tokio::test]
async fn a_legacy_daemon_with_a_token_file_is_polled_and_relayed_without_auth() {
    // A CCDLab-era daemon knows no `auth` and never answers it: a token configured for it
    // (a lab moving its clients to tokens one by one) must not stall the poll or the relay.
    let dir = TempDir::new("monitor-legacy-token");
    let old = FakeDaemon::legacy();
    let token = dir.path().join("vac.token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let block = format!(
        "{}token_file = {}\n",
        client_block("vac", old.addr),
        token.display()
    );
    let m = monitor(&write_config(dir.path(), &block));
    let c = connect(m.addr).await;
    status_where(&c, "legacy values", |s| s.get("vac.pump") == Some("on")).await;
    assert_eq!(
        c.call("send vac get_id").await.unwrap().to_line(),
        "id name=old type=vacuum",
        "the relay sent no auth first"
    );
}

#[tokio::test]
async fn subscribers_and_scripts_share_updates_and_logs() {
    let dir = TempDir::new("monitor-subscribe");
    let g = gauge("g");
    let m = monitor(&write_config(dir.path(), &client_block("gauge1", g.addr)));
    let c = connect(m.addr).await;
    let mut events = c.take_events().unwrap();
    assert_eq!(c.call("subscribe status").await.unwrap().name, "ok");
    assert_eq!(c.call("subscribe log").await.unwrap().name, "ok");
    assert_eq!(
        c.call("log info cooldown \"step 2\" started")
            .await
            .unwrap()
            .to_line(),
        "ok log"
    );
    assert_eq!(
        c.call("log loud x").await.unwrap().error_code(),
        Some("bad_argument")
    );
    let (mut update, mut log) = (false, false);
    let _ = tokio::time::timeout(WAIT, async {
        while let Some(event) = events.recv().await {
            match event.name.as_str() {
                "update" if event.kwargs.iter().any(|(k, _)| k.starts_with("gauge1.")) => {
                    update = true
                }
                "log" if event.get("source") == Some("script") => {
                    assert_eq!(event.get("message"), Some("cooldown step 2 started"));
                    log = true;
                }
                _ => {}
            }
            if update && log {
                break;
            }
        }
    })
    .await;
    assert!(update && log, "update={update} log={log}");
}

#[test]
fn bad_configurations_exit_2_naming_file_and_line() {
    let dir = TempDir::new("monitor-config");
    let cases = [
        ("syntax", "port = 7100\n[psu1\nport = 1\n", ":2:"),
        ("unknown", "[psu1]\nport = 7001\ncolour = red\n", ":3:"),
        (
            "duplicate",
            "[psu1]\nport = 7001\n[psu1]\nport = 7002\n",
            ":3:",
        ),
        ("port", "[psu1]\nport = 99999\n", ":2:"),
    ];
    for (label, text, line) in cases {
        let path = dir.path().join(format!("{label}.ini"));
        std::fs::write(&path, text).unwrap();
        let output = std::process::Command::new(binary("labwire-monitor"))
            .args([
                "--config",
                path.to_str().unwrap(),
                "--port",
                "0",
                "--http-port",
                "0",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{label}: {stderr}");
        assert!(
            stderr.contains(&format!("{label}.ini{line}")),
            "{label}: {stderr}"
        );
    }
}

fn psu(name: &str) -> Simulated {
    Simulated::start("psu", &["--poll-interval", "0.1", "--name", name])
}

#[tokio::test]
async fn alarms_raise_latch_and_clear_after_acknowledgement() {
    let dir = TempDir::new("monitor-alarms");
    let mut p = psu("p");
    let clients = format!(
        "{}[[alarms]]\nch1_voltage_set = 0, 5\n",
        client_block("psu1", p.addr)
    );
    let m = monitor(&write_config(dir.path(), &clients));
    let c = connect(m.addr).await;
    status_where(&c, "psu polled", |s| {
        s.get("psu1.ch1_voltage_set").is_some()
    })
    .await;
    assert_eq!(c.call("alarms").await.unwrap().to_line(), "alarms n=0");

    assert_eq!(
        c.call("send psu1 set_voltage ch=1 value=5.5")
            .await
            .unwrap()
            .name,
        "ok"
    );
    let raised = ask_until(&c, "alarms", "raised", |a| a.get("n") == Some("1")).await;
    let state = raised.get("psu1.ch1_voltage_set").unwrap();
    assert!(state.starts_with("high 20"), "{state}");

    assert_eq!(
        c.call("send psu1 set_voltage ch=1 value=3")
            .await
            .unwrap()
            .name,
        "ok"
    );
    let latched = ask_until(&c, "alarms", "cleared but latched", |a| {
        a.get("psu1.ch1_voltage_set")
            .is_some_and(|s| s.ends_with("cleared"))
    })
    .await;
    assert_eq!(latched.get("n"), Some("1"));
    assert_eq!(
        c.call("ack psu1.ch1_voltage_set").await.unwrap().to_line(),
        "ok ack n=1"
    );
    assert_eq!(c.call("alarms").await.unwrap().to_line(), "alarms n=0");
    assert_eq!(
        c.call("ack psu1.nothing").await.unwrap().error_code(),
        Some("bad_argument")
    );

    p.kill();
    let down = ask_until(&c, "alarms", "disconnect alarm", |a| {
        a.get("psu1.connected").is_some()
    })
    .await;
    assert!(down
        .get("psu1.connected")
        .unwrap()
        .starts_with("disconnected "));
    assert_eq!(c.call("ack all").await.unwrap().to_line(), "ok ack n=1");
    let still = c.call("alarms").await.unwrap();
    assert!(
        still
            .get("psu1.connected")
            .unwrap()
            .ends_with("acknowledged"),
        "{still}"
    );
}

fn sample_count(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    conn.query_row("SELECT count(*) FROM samples", [], |row| row.get(0))
        .unwrap()
}

#[tokio::test]
async fn killed_mid_write_the_history_survives_and_grows_after_restart() {
    let dir = TempDir::new("monitor-sigkill");
    let g = gauge("g");
    let config = write_config(dir.path(), &client_block("gauge1", g.addr));
    let db = dir.path().join("history.sqlite");

    let mut m = monitor(&config);
    let c = connect(m.addr).await;
    status_where(&c, "polled", |s| s.get("gauge1.pressure").is_some()).await;
    // Past the store's 2 s flush interval, so batches have been committed.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    m.kill();
    let before = sample_count(&db);
    assert!(before > 0, "committed samples survive SIGKILL");

    let m = monitor(&config);
    let c = connect(m.addr).await;
    status_where(&c, "polled again", |s| s.get("gauge1.pressure").is_some()).await;
    eventually(WAIT, "more samples after restart", || async {
        (sample_count(&db) > before).then_some(())
    })
    .await;
}

/// Messages of the monitor's `log` lines, collected in the background.
fn collect_logs(mut events: labwire_client::Events) -> Arc<Mutex<Vec<Message>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if event.name == "log" {
                kept.lock().unwrap().push(event);
            }
        }
    });
    seen
}

fn logged(seen: &Mutex<Vec<Message>>, needle: &str) -> usize {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|m| m.get("message").is_some_and(|t| t.contains(needle)))
        .count()
}

/// Regression (issue 8.1): a daemon killed and started again at once (systemd's
/// `Restart=always`) was never polled again: the poller waited for a "connection down"
/// change that the reconnecting client had already undone. Each gap runs against its own
/// daemon, all at once; a 1 s poll interval leaves the reconnect time to win the race.
#[tokio::test]
async fn daemons_restarted_after_any_gap_are_polled_again() {
    let dir = TempDir::new("monitor-gaps");
    let gaps = [0u64, 50, 1_000, 10_000];
    let daemons: Vec<Simulated> = gaps.iter().map(|gap| gauge(&format!("g{gap}"))).collect();
    let clients: String = gaps
        .iter()
        .zip(&daemons)
        .map(|(gap, d)| {
            format!(
                "{}poll_interval = 1\n",
                client_block(&format!("gap{gap}"), d.addr)
            )
        })
        .collect();
    let m = monitor(&write_config(dir.path(), &clients));
    let c = connect(m.addr).await;
    let logs = connect(m.addr).await;
    let seen = collect_logs(logs.take_events().unwrap());
    assert_eq!(logs.call("subscribe log").await.unwrap().name, "ok");
    status_where(&c, "every gauge polled", |s| {
        gaps.iter()
            .all(|gap| s.get(&format!("gap{gap}.status_age")).is_some())
    })
    .await;

    let restarts: Vec<_> = gaps
        .iter()
        .zip(daemons)
        .map(|(&gap, mut daemon)| {
            tokio::task::spawn_blocking(move || {
                let addr = daemon.addr;
                daemon.kill();
                std::thread::sleep(Duration::from_millis(gap));
                gauge_on(&format!("g{gap}"), addr)
            })
        })
        .collect();
    let mut restarted = Vec::new();
    for restart in restarts {
        restarted.push(restart.await.unwrap());
    }
    // Reconnect backoff is capped at 10 s; past that, the monitor has given up.
    let bound = Duration::from_secs(30);
    for gap in gaps {
        let name = format!("gap{gap}");
        eventually(bound, &format!("{name} seen going down"), || async {
            (logged(&seen, &format!("{name} disconnected")) > 0).then_some(())
        })
        .await;
        let polled = |s: &Message| {
            s.get(&name) == Some("1") && s.get(&format!("{name}.status_age")).is_some()
        };
        eventually(
            bound,
            &format!("{name} polled again after a {gap} ms gap"),
            || async {
                let status = c.call("get_status").await.ok()?;
                polled(&status).then_some(())
            },
        )
        .await;
        let clients = c.call("clients").await.unwrap();
        assert_eq!(clients.get(&name), Some("1"), "{clients}");
    }
}

/// Regression (issue 8.8): six concurrent `send`s to a slow supply answered `timeout` four
/// times, and one of those values still reached the instrument. Now a command waits its
/// turn in the monitor, is never written once its deadline passed (`sent=0`), and one that
/// was written says so (`sent=1`); the polls go on meanwhile.
#[tokio::test]
async fn relayed_commands_never_run_after_their_deadline_and_polls_go_on() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let executed = Arc::new(Mutex::new(Vec::<String>::new()));
    let polls = Arc::new(AtomicU64::new(0));
    let (seen, counted) = (executed.clone(), polls.clone());
    let daemon = FakeDaemon::answering(move |request| {
        let (seen, counted) = (seen.clone(), counted.clone());
        async move {
            let reply = match request.name.as_str() {
                "get_id" => return vec![fake_id(&request)],
                "get_status" => {
                    let n = counted.fetch_add(1, Ordering::Relaxed) + 1;
                    Message::new("status").kwarg("polls", n.to_string())
                }
                "slow" => {
                    let value = request.get("value").unwrap_or("").to_string();
                    seen.lock().unwrap().push(value.clone());
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    Message::new("ok").arg("slow").kwarg("value", value)
                }
                name => Message::new("ok").arg(name),
            };
            vec![reply_to(&request, reply)]
        }
    });
    let dir = TempDir::new("monitor-relay");
    let m = monitor(&write_config(
        dir.path(),
        &client_block("slowpsu", daemon.addr),
    ));
    let c = connect(m.addr).await;
    status_where(&c, "polled", |s| s.get("slowpsu.polls").is_some()).await;

    let patient = labwire_client::ClientOptions {
        request_timeout: Duration::from_secs(30),
        ..labwire_client::ClientOptions::default()
    };
    let mut sends = Vec::new();
    for i in 0..6 {
        let script = labwire_client::Client::connect(m.addr, patient.clone())
            .await
            .unwrap();
        sends.push(tokio::spawn(async move {
            let reply = script.call(&format!("send slowpsu slow value={i}")).await;
            (i.to_string(), reply.unwrap())
        }));
    }
    let before = polls.load(Ordering::Relaxed);
    eventually(WAIT, "polls while relayed commands wait", || async {
        (polls.load(Ordering::Relaxed) > before + 3).then_some(())
    })
    .await;
    assert!(
        !sends.iter().all(|s| s.is_finished()),
        "the polls went on while commands were still queued"
    );
    assert_eq!(c.call("clients").await.unwrap().get("slowpsu"), Some("1"));

    let (mut answered, mut not_sent, mut no_reply) = (Vec::new(), Vec::new(), Vec::new());
    for send in sends {
        let (value, reply) = send.await.unwrap();
        match (reply.name.as_str(), reply.error_code(), reply.get("sent")) {
            ("ok", _, _) => answered.push(value),
            ("error", Some("timeout"), Some("0")) => {
                assert!(
                    reply
                        .error_message()
                        .unwrap()
                        .starts_with("not sent to slowpsu"),
                    "{reply}"
                );
                not_sent.push(value)
            }
            ("error", Some("timeout"), Some("1")) => {
                assert!(
                    reply
                        .error_message()
                        .unwrap()
                        .starts_with("sent to slowpsu"),
                    "{reply}"
                );
                no_reply.push(value)
            }
            _ => panic!("unexpected reply {reply}"),
        }
        assert_eq!(
            reply.args.first().map(String::as_str),
            Some(if reply.name == "ok" { "slow" } else { "send" })
        );
    }
    assert!(
        !answered.is_empty() && !not_sent.is_empty(),
        "{answered:?} {not_sent:?}"
    );
    let mut reached: Vec<String> = executed.lock().unwrap().clone();
    let mut written: Vec<String> = answered.iter().chain(&no_reply).cloned().collect();
    reached.sort();
    written.sort();
    assert_eq!(
        reached, written,
        "exactly the commands written reached the daemon"
    );
}

/// Regression (issue 8.3): one connection sending 60 kB log lines grew the database by
/// 1 GB. A message is cut at 4 KiB (the reply says so), a connection's lines beyond its
/// rate are refused with `busy`, and (issue 8.10) `key=value` parts stay in the message.
#[tokio::test]
async fn script_logs_are_bounded_in_size_and_rate_and_keep_their_kwargs() {
    let dir = TempDir::new("monitor-logbounds");
    let m = monitor(&write_config(dir.path(), ""));
    let c = connect(m.addr).await;
    let logs = connect(m.addr).await;
    let seen = collect_logs(logs.take_events().unwrap());
    assert_eq!(logs.call("subscribe log").await.unwrap().name, "ok");

    let kept = c.call("log info a \"b c\" d=e x=\"y z\"").await.unwrap();
    assert_eq!(kept.name, "ok", "{kept}");
    let big = c
        .call(&format!("log info {}", "x".repeat(10_000)))
        .await
        .unwrap();
    assert_eq!(big.to_line(), "ok log truncated=4096");
    eventually(WAIT, "both lines logged", || async {
        let seen = seen.lock().unwrap();
        let script: Vec<_> = seen
            .iter()
            .filter(|m| m.get("source") == Some("script"))
            .filter_map(|m| m.get("message"))
            .collect();
        (script.len() >= 2).then(|| {
            assert_eq!(
                script[0], "a b c d=e x=\"y z\"",
                "words, then key=value parts"
            );
            assert_eq!(script[1].len(), 4096);
        })
    })
    .await;

    let mut busy = None;
    for _ in 0..300 {
        let reply = c.call("log debug flood").await.unwrap();
        if reply.name != "ok" {
            busy = Some(reply);
            break;
        }
    }
    let busy = busy.expect("300 lines at once exceed the rate");
    assert_eq!(
        (busy.error_code(), busy.args.as_slice()),
        (Some("busy"), &["log".to_string()][..]),
        "{busy}"
    );
    let other = connect(m.addr).await;
    assert_eq!(
        other.call("log info unaffected").await.unwrap().name,
        "ok",
        "the limit is per connection"
    );
}

/// Issue 8.3: a daemon's own log lines are passed on at a bounded rate; the rest are
/// counted, dropped, and the count logged once lines flow again.
#[tokio::test]
async fn a_daemon_flooding_its_log_is_passed_on_at_a_bounded_rate() {
    let daemon = FakeDaemon::answering(|request| async move {
        let log = |text: String| {
            Message::new("log")
                .kwarg("level", "info")
                .kwarg("source", "fake")
                .kwarg("message", text)
                .to_line()
        };
        match request.name.as_str() {
            "get_id" => vec![fake_id(&request)],
            "subscribe" => {
                let mut lines = vec![reply_to(&request, Message::new("ok").arg("subscribe"))];
                lines.extend((0..1000).map(|n| log(format!("flood {n}"))));
                lines
            }
            // One line a poll: slow enough to get through once the burst is spent.
            "get_status" => vec![
                log("steady".into()),
                reply_to(&request, Message::new("status").kwarg("ok", "1")),
            ],
            name => vec![reply_to(&request, Message::new("ok").arg(name))],
        }
    });
    let dir = TempDir::new("monitor-logflood");
    let m = monitor(&write_config(
        dir.path(),
        &client_block("chatty", daemon.addr),
    ));
    let logs = connect(m.addr).await;
    let seen = collect_logs(logs.take_events().unwrap());
    assert_eq!(logs.call("subscribe log").await.unwrap().name, "ok");
    eventually(WAIT, "the drop count logged", || async {
        (logged(&seen, "lines dropped") > 0).then_some(())
    })
    .await;
    let passed = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.get("source") == Some("chatty"))
        .filter(|m| m.get("message").is_some_and(|t| t.starts_with("flood")))
        .count();
    assert!(
        (1..=150).contains(&passed),
        "{passed} of 1000 flood lines passed on"
    );
}
