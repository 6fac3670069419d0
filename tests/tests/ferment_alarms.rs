//! The fermentation chamber's device alarms through the real monitor: `labwire-ferment
//! --simulate` (its simulated chamber and w1 tree) and `labwire-monitor`, as binaries.
//! The beer is far from a setpoint with a one-second `--settle-timeout`, so the daemon
//! raises `alarm_setpoint_timeout`; the monitor lists it with the daemon's message, shows
//! it in the chamber's block (ferment.html), and forwards its `ack` to the daemon as
//! `ack_alarm`: the alarm clears once the cause is gone (mode off) only because of that
//! acknowledgement, as the second round (cause gone first, acknowledged from the page
//! afterwards) shows.

use labwire_protocol::Message;
use labwire_testkit::{ask_until, connect, start_monitor, Simulated, TempDir, WAIT};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "ferm1.alarm_setpoint_timeout";

/// An HTTP/1.1 exchange with the monitor's web port; the whole response.
async fn http(http: SocketAddr, request: String) -> String {
    let mut stream = TcpStream::connect(http).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("the monitor's web port answered")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

async fn page(addr: SocketAddr) -> String {
    http(
        addr,
        format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// What the page's buttons do: `POST /monitor/command`.
async fn page_command(addr: SocketAddr, line: &str) -> String {
    let body = serde_json::json!({ "command": line }).to_string();
    http(
        addr,
        format!(
            "POST /monitor/command HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

fn listed(alarms: &Message) -> &str {
    alarms.get(KEY).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chambers_alarm_is_raised_shown_acknowledged_through_the_monitor_and_cleared() {
    let chamber = Simulated::start(
        "ferment",
        &[
            "--poll-interval",
            "0.2",
            "--name",
            "ferm1",
            "--settle-timeout",
            "1",
        ],
    );
    let dir = TempDir::new("ferment-alarms");
    let config = dir.path().join("monitor.ini");
    std::fs::write(
        &config,
        format!(
            "name = testmon\npoll_interval = 0.2\ndb = {db}\n\
             [ferm1]\nhost = 127.0.0.1\nport = {port}\ntemplate = ferment.html\n",
            db = dir.path().join("history.sqlite").display(),
            port = chamber.addr.port(),
        ),
    )
    .unwrap();
    let (process, web) = start_monitor(&config);
    let monitor = connect(process.addr).await;
    let daemon = connect(chamber.addr).await;
    let status = ask_until(&monitor, "get_status", "ferm1 polled", |s| {
        s.get("ferm1.alarm_setpoint_timeout") == Some("0")
            && s.get("ferm1.beer_temperature")
                .and_then(|t| t.parse::<f64>().ok())
                .is_some()
    })
    .await;
    let beer: f64 = status
        .get("ferm1.beer_temperature")
        .unwrap()
        .parse()
        .unwrap();
    assert!((15.0..25.0).contains(&beer), "a simulated room: {status}");
    assert_eq!(
        monitor.call("alarms").await.unwrap().to_line(),
        "alarms n=0"
    );
    // The chamber's block shows its values.
    let html = page(web).await;
    assert!(
        html.contains("data-var=\"ferm1.beer_temperature\" data-digits=\"2\">"),
        "{html}"
    );
    assert!(html.contains("data-var=\"ferm1.mode\">off<"), "{html}");

    // Far from the setpoint for longer than the settle timeout: raised.
    let raise = || async {
        for line in [
            "send ferm1 set_setpoint value=5",
            "send ferm1 set_mode mode=constant",
        ] {
            let reply = monitor.call(line).await.unwrap();
            assert_eq!(reply.name, "ok", "{line}: {reply}");
        }
        ask_until(&monitor, "alarms", "the alarm raised", |a| {
            a.get("n") == Some("1")
        })
        .await
    };
    let raised = raise().await;
    assert!(listed(&raised).starts_with("device "), "{raised}");
    assert!(!listed(&raised).contains("acknowledged"), "{raised}");
    assert_eq!(
        raised.get("ferm1.alarm_setpoint_timeout_message"),
        Some("beer not within 0.5 C of the setpoint for 1 s"),
        "{raised}"
    );
    let html = page(web).await;
    for shown in [
        "data-var=\"ferm1.alarm_setpoint_timeout\" data-format=\"alarm\">alarm<",
        "data-var=\"ferm1.alarm_setpoint_timeout_message\">beer not within 0.5 C",
        "data-var=\"ferm1.mode\">constant<",
        "data-command=\"ack ferm1.alarm_setpoint_timeout\"",
    ] {
        assert!(html.contains(shown), "{shown}\n{html}");
    }

    // Acknowledged through the monitor while the cause is there: latched at the daemon.
    let ack = monitor.call(&format!("ack {KEY}")).await.unwrap();
    assert_eq!(ack.to_line(), "ok ack n=1");
    let acked = monitor.call("alarms").await.unwrap();
    assert!(listed(&acked).ends_with(" acknowledged"), "{acked}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_daemon = daemon.call("get_status").await.unwrap();
    assert_eq!(at_daemon.get("alarm_setpoint_timeout"), Some("1"));

    // The cause goes (no setpoint to follow): the daemon clears it, having had the
    // acknowledgement, and the monitor follows.
    let off = monitor.call("send ferm1 set_mode mode=off").await.unwrap();
    assert_eq!(off.name, "ok", "{off}");
    ask_until(&monitor, "alarms", "cleared", |a| a.get("n") == Some("0")).await;
    let at_daemon = daemon.call("get_status").await.unwrap();
    assert_eq!(at_daemon.get("alarm_setpoint_timeout"), Some("0"));

    // Again, the cause gone first: still latched, at the daemon and on the monitor, until
    // the page's "Acknowledge all".
    raise().await;
    let off = monitor.call("send ferm1 set_mode mode=off").await.unwrap();
    assert_eq!(off.name, "ok", "{off}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let at_daemon = daemon.call("get_status").await.unwrap();
    assert_eq!(at_daemon.get("mode"), Some("off"), "{at_daemon}");
    assert_eq!(
        at_daemon.get("alarm_setpoint_timeout"),
        Some("1"),
        "latched until acknowledged: {at_daemon}"
    );
    let still = monitor.call("alarms").await.unwrap();
    assert!(
        listed(&still).starts_with("device ") && !listed(&still).contains("acknowledged"),
        "{still}"
    );
    let reply = page_command(web, "ack all").await;
    assert!(reply.contains("\"reply\":\"ok ack n=1\""), "{reply}");
    ask_until(&monitor, "alarms", "cleared by the ack", |a| {
        a.get("n") == Some("0")
    })
    .await;
    let at_daemon = daemon.call("get_status").await.unwrap();
    assert_eq!(at_daemon.get("alarm_setpoint_timeout"), Some("0"));
}
