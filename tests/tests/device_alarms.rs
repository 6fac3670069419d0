//! Alarms raised by a device (docs/protocol.md, "Alarms raised by a device") through the
//! real monitor binary: a daemon on the shared server whose test device latches one alarm
//! with `labwire_daemon::DeviceAlarms` on demand. Raised, the monitor lists it with the
//! daemon's message and stores it; `ack` through the monitor reaches the daemon as
//! `ack_alarm`; once the cause is gone the daemon clears it and so does the monitor.

use labwire_daemon::device_alarms::ACK_ALARM;
use labwire_daemon::hardware::HardwareConfig;
use labwire_daemon::{
    AlarmSelector, CommandSpec, Daemon, Device, DeviceAlarms, Error, Kwargs, ServerConfig,
    StatusBuilder,
};
use labwire_monitor::store::open_reader;
use labwire_protocol::Message;
use labwire_testkit::{ask_until, connect, eventually, start_monitor, TempDir, WAIT};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const COMMANDS: &[CommandSpec] = &[ACK_ALARM];
const MESSAGE: &str = "stage at 320 K, above 300 K";

/// What the test controls and sees of the device.
#[derive(Clone, Default)]
struct Bench {
    /// The cause of the `overheat` alarm is present.
    hot: Arc<AtomicBool>,
    /// `ack_alarm` commands executed.
    acks: Arc<AtomicUsize>,
}

struct Stage {
    bench: Bench,
    alarms: DeviceAlarms,
}

impl Device for Stage {
    type Command = AlarmSelector;

    fn kind(&self) -> &'static str {
        "stage"
    }

    fn commands(&self) -> &'static [CommandSpec] {
        COMMANDS
    }

    fn parse_command(&self, request: &Message) -> Result<AlarmSelector, Error> {
        self.alarms.parse_ack(request)
    }

    fn needs_hardware(&self, _command: &AlarmSelector) -> bool {
        false
    }

    async fn connect(&mut self) -> Result<(), Error> {
        Ok(())
    }

    async fn disconnect(&mut self) {}

    async fn poll(&mut self, status: &mut StatusBuilder) -> Result<(), Error> {
        let hot = self.bench.hot.load(Ordering::SeqCst);
        self.alarms
            .set_condition("overheat", hot, if hot { MESSAGE } else { "" });
        // Like the Cryo-con's per-input alarm state: starts with alarm_, is no alarm.
        status.text("alarm_state_a", if hot { "HI" } else { "--" });
        self.alarms.write_status(status);
        Ok(())
    }

    async fn execute(&mut self, which: AlarmSelector) -> Result<Kwargs, Error> {
        self.bench.acks.fetch_add(1, Ordering::SeqCst);
        Ok(self.alarms.execute_ack(which))
    }
}

async fn start_stage(bench: &Bench) -> Daemon {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig {
        name: "stage1".into(),
        hardware: HardwareConfig {
            poll_interval: Duration::from_millis(50),
            ..HardwareConfig::default()
        },
        ..ServerConfig::default()
    };
    let device = Stage {
        bench: bench.clone(),
        alarms: DeviceAlarms::new(&["overheat"]),
    };
    Daemon::start(listener, config, device)
}

fn write_config(dir: &Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("monitor.ini");
    let text = format!(
        "name = testmon\npoll_interval = 0.1\ndb = {}\n[stage1]\nhost = 127.0.0.1\nport = {port}\n",
        dir.join("history.sqlite").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// What the page's buttons do: `POST /monitor/command`; the response body.
async fn page_command(http: SocketAddr, line: &str) -> String {
    let body = format!("{{\"command\": \"{line}\"}}");
    let request = format!(
        "POST /monitor/command HTTP/1.1\r\nHost: {http}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(http).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("the page's command answered")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

const KEY: &str = "stage1.alarm_overheat";

fn state(alarms: &Message) -> &str {
    alarms.get(KEY).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_alarm_is_raised_acknowledged_through_the_monitor_and_cleared() {
    let bench = Bench::default();
    let daemon = start_stage(&bench).await;
    let dir = TempDir::new("device-alarms");
    let config = write_config(dir.path(), daemon.local_addr().port());
    let (process, http) = start_monitor(&config);
    let monitor = connect(process.addr).await;
    ask_until(&monitor, "clients", "stage1 connected", |c| {
        c.get("stage1") == Some("1")
    })
    .await;
    ask_until(&monitor, "get_status", "stage1 polled", |s| {
        s.get("stage1.alarm_overheat") == Some("0")
    })
    .await;
    assert_eq!(
        monitor.call("alarms").await.unwrap().to_line(),
        "alarms n=0"
    );

    // Raised: listed with the daemon's message; alarm_state_a=HI is no alarm.
    bench.hot.store(true, Ordering::SeqCst);
    let raised = ask_until(&monitor, "alarms", "raised", |a| a.get("n") == Some("1")).await;
    assert!(state(&raised).starts_with("device "), "{raised}");
    assert!(!state(&raised).contains("acknowledged"), "{raised}");
    assert_eq!(
        raised.get("stage1.alarm_overheat_message"),
        Some(MESSAGE),
        "{raised}"
    );
    assert!(raised.get("stage1.alarm_state_a").is_none(), "{raised}");

    // Stored in the alarms table, and logged with the message.
    let db = dir.path().join("history.sqlite");
    eventually(WAIT, "the alarm stored", || async {
        let reader = open_reader(&db).ok()?;
        let alarms = reader.active_alarms().ok()?;
        let logs = reader.recent_logs(100).ok()?;
        let stored = alarms
            .iter()
            .any(|a| a.client == "stage1" && a.key == "alarm_overheat" && a.state == "device");
        let logged = logs
            .iter()
            .any(|l| l.level == "error" && l.message == format!("alarm {KEY}: device: {MESSAGE}"));
        (stored && logged).then_some(())
    })
    .await;

    // Acknowledged through the monitor: forwarded to the daemon, which says ok; the cause
    // is still there, so the alarm stays latched at the daemon and listed here.
    let ack = monitor.call(&format!("ack {KEY}")).await.unwrap();
    assert_eq!(ack.to_line(), "ok ack n=1");
    assert_eq!(
        bench.acks.load(Ordering::SeqCst),
        1,
        "ack_alarm reached the daemon"
    );
    let listed = monitor.call("alarms").await.unwrap();
    assert!(state(&listed).ends_with(" acknowledged"), "{listed}");
    let daemon_status = connect(daemon.local_addr()).await;
    let status = daemon_status.call("get_status").await.unwrap();
    assert_eq!(status.get("alarm_overheat"), Some("1"), "{status}");
    // Nothing left to forward.
    assert_eq!(
        monitor.call("ack all").await.unwrap().to_line(),
        "ok ack n=0"
    );
    assert_eq!(bench.acks.load(Ordering::SeqCst), 1);

    // The cause goes: the daemon clears its alarm, the monitor follows.
    bench.hot.store(false, Ordering::SeqCst);
    ask_until(&monitor, "alarms", "cleared", |a| a.get("n") == Some("0")).await;
    eventually(WAIT, "the alarm closed in the store", || async {
        let alarms = open_reader(&db).ok()?.active_alarms().ok()?;
        alarms.is_empty().then_some(())
    })
    .await;

    // Again, acknowledged from the page with `ack all` this time, after the cause went.
    bench.hot.store(true, Ordering::SeqCst);
    ask_until(&monitor, "alarms", "raised again", |a| {
        a.get("n") == Some("1")
    })
    .await;
    bench.hot.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let latched = monitor.call("alarms").await.unwrap();
    assert!(
        state(&latched).starts_with("device ") && !state(&latched).contains("acknowledged"),
        "latched at the daemon until acknowledged: {latched}"
    );
    // The page's "Acknowledge all" button.
    let reply = page_command(http, "ack all").await;
    assert!(reply.contains("\"reply\":\"ok ack n=1\""), "{reply}");
    assert_eq!(bench.acks.load(Ordering::SeqCst), 2);
    ask_until(&monitor, "alarms", "cleared by the ack", |a| {
        a.get("n") == Some("0")
    })
    .await;

    // With the daemon gone the acknowledgement cannot be forwarded: refused, and the
    // alarm stays unacknowledged.
    bench.hot.store(true, Ordering::SeqCst);
    ask_until(&monitor, "alarms", "raised a third time", |a| {
        a.get(KEY).is_some()
    })
    .await;
    daemon.shutdown_token().cancel();
    daemon.wait().await;
    ask_until(&monitor, "clients", "stage1 lost", |c| {
        c.get("stage1") == Some("0")
    })
    .await;
    let refused = monitor.call(&format!("ack {KEY}")).await.unwrap();
    assert_eq!(refused.error_code(), Some("not_connected"), "{refused}");
    assert!(
        refused.error_message().unwrap().contains(KEY),
        "names the alarm: {refused}"
    );
    let listed = monitor.call("alarms").await.unwrap();
    assert!(!state(&listed).contains("acknowledged"), "{listed}");
    assert_eq!(bench.acks.load(Ordering::SeqCst), 2);
}
