//! The monitor as a logbook, through the real binaries: a scripted daemon whose `level`
//! the test sets, a monitor watching it with a limit, and the `labwire` CLI. Log lines
//! and an alarm's whole life (raised, acknowledged, cleared) are stored and read back
//! filtered: with `labwire log`, the command port's `logs`, `GET /monitor/logs` and
//! `GET /monitor/alarms` (whose plot link draws); `set interval=` changes the store
//! heartbeat at once, as `GET /monitor/runtime` and the stored samples show.

use labwire_protocol::Message;
use labwire_testkit::{
    ask_until, binary, connect, eventually, fake_id, reply_to, run_to_end, start_monitor,
    FakeDaemon, TempDir, WAIT,
};
use serde_json::Value as Json;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A daemon reporting `level=<n>`, `n` set by the test.
fn tank(level: Arc<AtomicU64>) -> FakeDaemon {
    FakeDaemon::answering(move |request: Message| {
        let level = level.clone();
        async move {
            match request.name.as_str() {
                "get_id" => vec![fake_id(&request)],
                "get_status" => vec![reply_to(
                    &request,
                    Message::new("status")
                        .kwarg("level", level.load(Ordering::SeqCst).to_string())
                        .kwarg("hw_connected", "1"),
                )],
                _ => vec![reply_to(&request, Message::ok_reply(&request))],
            }
        }
    })
}

fn write_config(dir: &Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("monitor.ini");
    let text = format!(
        "name = logmon\npoll_interval = 0.1\nstore_interval = 60\ndb = {}\n\
         [tank]\nhost = 127.0.0.1\nport = {port}\n[[alarms]]\nlevel = 0, 10\n",
        dir.join("history.sqlite").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `GET path`: the status and the body.
async fn get(http: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(http).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("the monitor answered")
        .unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, answer[split + 4..].to_vec())
}

async fn get_json(http: SocketAddr, path: &str) -> Json {
    let (status, body) = get(http, path).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// `labwire --monitor <addr> <args>`: its stdout, after it exited 0.
async fn labwire(monitor: SocketAddr, args: &[&str]) -> String {
    let mut all: Vec<String> = vec![
        "--monitor".into(),
        monitor.to_string(),
        "--colour".into(),
        "never".into(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let output = tokio::task::spawn_blocking(move || run_to_end(binary("labwire"), &all, WAIT))
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "labwire {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_alarms_and_the_heartbeat_through_the_real_binaries() {
    let level = Arc::new(AtomicU64::new(5));
    let daemon = tank(level.clone());
    let dir = TempDir::new("logbook");
    let (monitor, http) = start_monitor(&write_config(dir.path(), daemon.addr.port()));
    let port = connect(monitor.addr).await;
    ask_until(&port, "clients", "tank connected", |r| {
        r.get("tank") == Some("1")
    })
    .await;

    for line in [
        Message::new("log")
            .arg("warning")
            .arg("pump 2 makes a noise"),
        Message::new("log").arg("info").arg("all good"),
    ] {
        assert_eq!(port.request(line).await.unwrap().name, "ok");
    }
    // An alarm's life: raised, acknowledged, cleared.
    level.store(20, Ordering::SeqCst);
    ask_until(&port, "alarms", "the alarm raised", |r| {
        r.get("n") == Some("1")
    })
    .await;
    let ack = port
        .request(Message::new("ack").arg("tank.level"))
        .await
        .unwrap();
    assert_eq!(ack.name, "ok", "{ack}");
    level.store(5, Ordering::SeqCst);
    ask_until(&port, "alarms", "the alarm gone", |r| {
        r.get("n") == Some("0")
    })
    .await;

    // The store commits every few seconds: wait until the clearing is there.
    let alarms = eventually(WAIT, "the alarm's clearing stored", || async {
        let page = get_json(http, "/monitor/alarms?name=tank.level").await;
        (page["alarms"][0]["cleared"].is_string()).then_some(page)
    })
    .await;
    let alarm = &alarms["alarms"][0];
    assert_eq!(alarm["state"], "high");
    assert_eq!(alarm["value"], 20.0);
    assert!(alarm["acknowledged"].is_string(), "{alarm}");
    assert!(alarm["raised_t"].as_f64() <= alarm["acknowledged_t"].as_f64());
    assert!(alarm["acknowledged_t"].as_f64() <= alarm["cleared_t"].as_f64());
    let (status, png) = get(http, alarm["plot"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert!(png.starts_with(b"\x89PNG"));

    // The stored log, filtered, in each of its ways.
    let printed = eventually(WAIT, "the log lines stored", || async {
        let out = labwire(
            monitor.addr,
            &["log", "--level", "warning", "--from", "-1h"],
        )
        .await;
        out.contains("alarm tank.level: high").then_some(out)
    })
    .await;
    let lines: Vec<&str> = printed.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("warning script: pump 2 makes a noise")),
        "{printed}"
    );
    assert!(!printed.contains("all good"), "{printed}");
    let pump = lines.iter().position(|l| l.contains("pump 2")).unwrap();
    let alarm_line = lines
        .iter()
        .position(|l| l.contains("tank.level: high"))
        .unwrap();
    assert!(pump < alarm_line, "oldest first: {printed}");
    let json = labwire(
        monitor.addr,
        &[
            "--json", "log", "--source", "script", "--text", "GOOD", "--limit", "5",
        ],
    )
    .await;
    let entries: Vec<Json> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 1, "{json}");
    assert_eq!(entries[0]["message"], "all good");
    let page = get_json(http, "/monitor/logs?source=script&limit=1").await;
    assert_eq!(page["logs"][0]["message"], "all good");
    assert_eq!(page["more"], true);
    let older = get_json(
        http,
        &format!(
            "/monitor/logs?source=script&limit=1&before={}",
            page["next"]
        ),
    )
    .await;
    assert_eq!(older["logs"][0]["message"], "pump 2 makes a noise");
    let refused = port
        .request(Message::new("logs").kwarg("level", "loud"))
        .await
        .unwrap();
    assert_eq!(refused.error_code(), Some("bad_argument"));
    let (status, body) = get(http, "/monitor/logs?to=tomorrow").await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("to=\"tomorrow\""));

    // The heartbeat: an unchanged level is stored every 60 s, then every 0.2 s.
    let count = || async {
        let history = get_json(
            http,
            "/monitor/history?var=tank.level&from=-600&format=json",
        )
        .await;
        history["variables"][0]["t"].as_array().map_or(0, Vec::len)
    };
    let refused = port
        .request(Message::new("set").kwarg("interval", "0"))
        .await
        .unwrap();
    assert_eq!(refused.error_code(), Some("out_of_range"));
    let set = port
        .request(Message::new("set").kwarg("interval", "0.2"))
        .await
        .unwrap();
    assert_eq!(set.to_line(), "ok set interval=0.2 was=60");
    let before = count().await;
    eventually(
        WAIT,
        "the unchanged level stored at the new heartbeat",
        || async { (count().await >= before + 10).then_some(()) },
    )
    .await;
    let runtime = get_json(http, "/monitor/runtime").await;
    assert_eq!(runtime["store"]["heartbeat_seconds"], 0.2);
    assert_eq!(runtime["connected"], 1);
    assert!(runtime["polls_total"].as_u64().unwrap() > 10, "{runtime}");
    assert!(
        runtime["polls_per_second"].as_f64().unwrap() > 1.0,
        "{runtime}"
    );
    assert!(runtime["store"]["database_bytes"].as_u64().unwrap() > 0);
    drop(monitor);
}
