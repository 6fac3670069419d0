//! MQTT end to end: a real Mosquitto broker (testkit's [`Mosquitto`]), simulated daemons,
//! the real monitor binary publishing to the broker, and a subscriber of our own
//! (rumqttc) reading what a dashboard would read.

use labwire_protocol::parse_number;
use labwire_testkit::{
    binary, connect, eventually, run_to_end, start_monitor_with, status_where, Mosquitto,
    Simulated, TempDir, WAIT,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value as Json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "mqtt-test-token";

/// A message as the subscriber got it.
#[derive(Clone, Debug)]
struct Received {
    topic: String,
    payload: String,
    retained: bool,
}

/// A dashboard's view: subscribed to `filter`, every message kept in order.
struct Subscriber {
    client: AsyncClient,
    messages: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    async fn start(broker: &Mosquitto, filter: &str) -> Subscriber {
        Subscriber::login(broker, filter, None).await
    }

    async fn login(broker: &Mosquitto, filter: &str, user: Option<(&str, &str)>) -> Subscriber {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("test-subscriber-{}-{n}", std::process::id());
        let mut options = MqttOptions::new(id, "127.0.0.1", broker.addr.port());
        options.set_max_packet_size(1 << 20, 1 << 20);
        if let Some((name, password)) = user {
            options.set_credentials(name, password);
        }
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let kept = messages.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        kept.lock().unwrap().push(Received {
                            topic: publish.topic.clone(),
                            payload: String::from_utf8_lossy(&publish.payload).into_owned(),
                            retained: publish.retain,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Subscriber {
            client,
            messages,
            task,
        }
    }

    /// The first message on `topic` that `accept` takes, waiting for it.
    async fn wait(&self, topic: &str, what: &str, accept: impl Fn(&Received) -> bool) -> Received {
        eventually(WAIT, what, || async {
            self.messages
                .lock()
                .unwrap()
                .iter()
                .find(|m| m.topic == topic && accept(m))
                .cloned()
        })
        .await
    }

    /// [`Subscriber::wait`] for a JSON payload.
    async fn wait_json(&self, topic: &str, what: &str, accept: impl Fn(&Json) -> bool) -> Json {
        let message = self
            .wait(topic, what, |m| {
                serde_json::from_str(&m.payload).is_ok_and(|json: Json| accept(&json))
            })
            .await;
        serde_json::from_str(&message.payload).unwrap()
    }

    fn on(&self, topic: &str) -> Vec<Received> {
        let messages = self.messages.lock().unwrap();
        messages
            .iter()
            .filter(|m| m.topic == topic)
            .cloned()
            .collect()
    }

    async fn publish(&self, topic: &str, payload: String) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn psu(name: &str) -> Simulated {
    Simulated::start("psu", &["--poll-interval", "0.1", "--name", name])
}

fn gauge(name: &str) -> Simulated {
    Simulated::start("gauge", &["--poll-interval", "0.1", "--name", name])
}

/// `monitor.ini` with `clients` and `mqtt` (the lines of the `[mqtt]` section).
fn write_config(dir: &Path, clients: &str, mqtt: &str) -> std::path::PathBuf {
    let path = dir.join("monitor.ini");
    let text = format!(
        "name = mqttmon\npoll_interval = 0.1\ndb = {}\n{clients}[mqtt]\n{mqtt}",
        dir.join("history.sqlite").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn client_block(name: &str, addr: SocketAddr) -> String {
    format!("[{name}]\nhost = 127.0.0.1\nport = {}\n", addr.port())
}

/// GET `path` on the web port (with the token, when given): the body.
async fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bearer = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{bearer}Connection: close\r\n\r\n");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    };
    let response = tokio::time::timeout(WAIT, exchange)
        .await
        .expect("an answer in time");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    body.to_owned()
}

/// One sample of `/metrics`.
async fn metric(http: SocketAddr, name: &str, token: Option<&str>) -> f64 {
    let text = http_get(http, "/metrics", token).await;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(parse_number)
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

async fn metric_is(
    http: SocketAddr,
    name: &str,
    token: Option<&str>,
    accept: impl Fn(f64) -> bool,
) -> f64 {
    eventually(WAIT, name, || async {
        let value = metric(http, name, token).await;
        accept(value).then_some(value)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_states_alarms_and_logs_are_published_and_commands_are_off() {
    let broker = Mosquitto::start();
    let dir = TempDir::new("mqtt-publish");
    let p = psu("p");
    let clients = format!(
        "{}[[alarms]]\nch1_voltage_set = 0, 5\n",
        client_block("psu1", p.addr)
    );
    let config = write_config(
        dir.path(),
        &clients,
        &format!("url = {}\nprefix = lab/t1\nqos = 1\n", broker.url()),
    );
    let (monitor, http) = start_monitor_with(&config, &[]);
    let c = connect(monitor.addr).await;
    status_where(&c, "psu polled", |s| {
        s.get("psu1.ch1_voltage_set").is_some()
    })
    .await;

    let live = Subscriber::start(&broker, "lab/t1/#").await;
    live.wait("lab/t1/psu1/ch1_voltage_set", "a value", |_| true)
        .await;
    let state = live
        .wait_json("lab/t1/psu1/$state", "psu1 connected", |s| {
            s["connected"] == true
        })
        .await;
    assert_eq!(state["type"], "psu");
    assert_eq!(state["address"], p.addr.to_string());
    live.wait_json("lab/t1/$monitor", "the monitor online", |m| {
        m["online"] == true && m["name"] == "mqttmon"
    })
    .await;

    // What a dashboard started later finds: the retained state, as text.
    let later = Subscriber::start(&broker, "lab/t1/#").await;
    let value = later
        .wait("lab/t1/psu1/ch1_voltage_set", "a retained value", |m| {
            m.retained
        })
        .await;
    let polled = c.call("get_status").await.unwrap();
    assert_eq!(
        Some(value.payload.as_str()),
        polled.get("psu1.ch1_voltage_set")
    );
    later
        .wait("lab/t1/psu1/$state", "a retained state", |m| m.retained)
        .await;

    // A change, the alarm it raises, and a log line.
    let reply = c
        .call("send psu1 set_voltage ch=1 value=5.5")
        .await
        .unwrap();
    assert_eq!(reply.name, "ok", "{reply}");
    live.wait("lab/t1/psu1/ch1_voltage_set", "the new value", |m| {
        m.payload == "5.5"
    })
    .await;
    let alarms = live
        .wait_json("lab/t1/$alarms", "the alarm raised", |a| {
            a.as_array().is_some_and(|list| !list.is_empty())
        })
        .await;
    assert_eq!(
        (&alarms[0]["client"], &alarms[0]["key"], &alarms[0]["state"]),
        (&json!("psu1"), &json!("ch1_voltage_set"), &json!("high"))
    );
    assert_eq!(c.call("log info hello over mqtt").await.unwrap().name, "ok");
    let log = live
        .wait_json("lab/t1/$log", "the log line", |l| {
            l["message"] == "hello over mqtt"
        })
        .await;
    assert_eq!(
        (&log["level"], &log["source"]),
        (&json!("info"), &json!("script"))
    );
    assert!(
        live.on("lab/t1/$log").iter().all(|m| !m.retained),
        "log lines are not retained"
    );

    // Commands are off unless configured: nothing answers, nothing changes.
    let command = json!({
        "command": "send psu1 set_voltage ch=1 value=1",
        "token": TOKEN,
        "reply_to": "lab/t1/replies/1",
    });
    live.publish("lab/t1/$command", command.to_string()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(live.on("lab/t1/replies/1").is_empty());
    let status = c.call("get_status").await.unwrap();
    assert_eq!(status.get("psu1.ch1_voltage_set"), Some("5.5"));

    assert_eq!(metric(http, "labwire_mqtt_connected", None).await, 1.0);
    assert!(metric(http, "labwire_mqtt_published_total", None).await >= 5.0);
    assert_eq!(metric(http, "labwire_mqtt_dropped_total", None).await, 0.0);
    assert_eq!(metric(http, "labwire_mqtt_commands_total", None).await, 0.0);
}

/// Polls made by the monitor in `window`.
async fn polls_during(http: SocketAddr, window: Duration) -> f64 {
    let before = metric(http, "labwire_polls_total", None).await;
    tokio::time::sleep(window).await;
    metric(http, "labwire_polls_total", None).await - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_or_gone_broker_never_slows_polling_and_the_monitor_comes_back() {
    let mut broker = Mosquitto::start();
    let dir = TempDir::new("mqtt-outage");
    let g = gauge("g");
    let config = write_config(
        dir.path(),
        &client_block("gauge1", g.addr),
        &format!("url = {}\nqueue = 5\n", broker.url()),
    );
    let (monitor, http) = start_monitor_with(&config, &[]);
    let c = connect(monitor.addr).await;
    let live = Subscriber::start(&broker, "labwire/#").await;
    live.wait("labwire/gauge1/pressure", "a pressure", |_| true)
        .await;
    // 0.1 s polls: 20 in 2 s when nothing is in the way; half of that is the bar.
    let window = Duration::from_secs(2);
    let normal = polls_during(http, window).await;
    assert!(
        normal >= 10.0,
        "{normal} polls in {window:?} with the broker up"
    );

    // A broker that takes the connection's bytes but never answers.
    broker.pause();
    let paused = polls_during(http, window).await;
    broker.resume();
    assert!(
        paused >= 10.0,
        "{paused} polls in {window:?} with the broker paused"
    );
    metric_is(http, "labwire_mqtt_connected", None, |v| v == 1.0).await;

    // A broker gone: refused connections, retries, every message beyond the queue
    // dropped and counted; polling goes on as before.
    broker.stop();
    metric_is(http, "labwire_mqtt_connected", None, |v| v == 0.0).await;
    for n in 0..40 {
        let reply = c
            .call(&format!("log info while the broker is away {n}"))
            .await
            .unwrap();
        assert_eq!(reply.name, "ok", "{reply}");
    }
    let gone = polls_during(http, window).await;
    assert!(
        gone >= 10.0,
        "{gone} polls in {window:?} with the broker gone"
    );
    let dropped = metric_is(http, "labwire_mqtt_dropped_total", None, |v| v >= 20.0).await;
    let status = c.call("get_status").await.unwrap();
    assert_eq!(status.get("gauge1"), Some("1"), "the gauge stays connected");

    // Back: the monitor reconnects by itself and publishes its whole state again, which
    // the new broker (no persistence) had lost.
    broker.start_again();
    metric_is(http, "labwire_mqtt_connected", None, |v| v == 1.0).await;
    assert_eq!(metric(http, "labwire_mqtt_connects_total", None).await, 2.0);
    let after = Subscriber::start(&broker, "labwire/#").await;
    after
        .wait_json("labwire/$monitor", "online again", |m| m["online"] == true)
        .await;
    after
        .wait("labwire/gauge1/pressure", "the pressure again", |_| true)
        .await;
    // Subscribed now, once the monitor had published again: what the broker kept.
    let later = Subscriber::start(&broker, "labwire/#").await;
    later
        .wait("labwire/gauge1/pressure", "a retained pressure", |m| {
            m.retained
        })
        .await;
    later
        .wait_json("labwire/gauge1/$state", "the state again", |s| {
            s["connected"] == true
        })
        .await;
    assert!(metric(http, "labwire_mqtt_dropped_total", None).await >= dropped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_over_mqtt_need_the_token() {
    let mut broker = Mosquitto::start();
    let dir = TempDir::new("mqtt-commands");
    let p = psu("p");
    let config = write_config(
        dir.path(),
        &client_block("psu1", p.addr),
        &format!("url = {}\ncommands = true\n", broker.url()),
    );
    let token_file = dir.path().join("monitor.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();

    // Commands without a token to check them against: the monitor will not start.
    let refused = run_to_end(
        binary("labwire-monitor"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--port",
            "0",
            "--http-port",
            "0",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("commands = true needs the monitor's token"),
        "{stderr}"
    );

    let (_monitor, http) =
        start_monitor_with(&config, &["--token-file", token_file.to_str().unwrap()]);
    let live = Subscriber::start(&broker, "labwire/#").await;
    live.wait("labwire/psu1/ch1_voltage_set", "a value", |_| true)
        .await;
    metric_is(http, "labwire_mqtt_connected", Some(TOKEN), |v| v == 1.0).await;

    let ask = |n: u64, command: &str, token: Option<&str>| {
        json!({
            "command": command,
            "token": token,
            "reply_to": format!("labwire/replies/{n}"),
            "id": n,
        })
        .to_string()
    };
    let set = "send psu1 set_voltage ch=1 value=2.5";
    live.publish("labwire/$command", ask(1, set, None)).await;
    live.publish("labwire/$command", ask(2, set, Some("not-the-token")))
        .await;
    for (n, needle) in [(1, "needs its token"), (2, "wrong token")] {
        let reply = live
            .wait_json(&format!("labwire/replies/{n}"), "a refusal", |_| true)
            .await;
        assert_eq!(
            (&reply["ok"], &reply["id"]),
            (&json!(false), &json!(n)),
            "{reply}"
        );
        assert_eq!(reply["kwargs"]["code"], "forbidden", "{reply}");
        assert!(reply["reply"].as_str().unwrap().contains(needle), "{reply}");
    }
    assert!(
        live.on("labwire/psu1/ch1_voltage_set")
            .iter()
            .all(|m| m.payload != "2.5"),
        "a refused command changed nothing"
    );

    live.publish("labwire/$command", ask(3, set, Some(TOKEN)))
        .await;
    let reply = live
        .wait_json("labwire/replies/3", "the reply", |_| true)
        .await;
    assert_eq!(
        (&reply["ok"], &reply["name"], &reply["id"]),
        (&json!(true), &json!("ok"), &json!(3)),
        "{reply}"
    );
    live.wait("labwire/psu1/ch1_voltage_set", "the new voltage", |m| {
        m.payload == "2.5"
    })
    .await;

    // No reply_to: the answer goes to $reply; not JSON: refused there too.
    live.publish(
        "labwire/$command",
        json!({"command": "clients", "token": TOKEN}).to_string(),
    )
    .await;
    let reply = live
        .wait_json("labwire/$reply", "the clients", |r| r["name"] == "clients")
        .await;
    assert_eq!(reply["kwargs"]["psu1"], "1");
    live.publish("labwire/$command", "send psu1 all_off".into())
        .await;
    let reply = live
        .wait_json("labwire/$reply", "the refusal", |r| r["ok"] == false)
        .await;
    assert!(
        reply["reply"].as_str().unwrap().contains("bad JSON"),
        "{reply}"
    );

    assert_eq!(
        metric(http, "labwire_mqtt_commands_total", Some(TOKEN)).await,
        2.0
    );
    assert_eq!(
        metric(http, "labwire_mqtt_commands_refused_total", Some(TOKEN)).await,
        3.0
    );

    // A new broker knows no subscriptions: the monitor subscribes again on reconnection.
    drop(live);
    broker.stop();
    metric_is(http, "labwire_mqtt_connected", Some(TOKEN), |v| v == 0.0).await;
    broker.start_again();
    metric_is(http, "labwire_mqtt_connected", Some(TOKEN), |v| v == 1.0).await;
    let live = Subscriber::start(&broker, "labwire/#").await;
    let reply = eventually(WAIT, "a reply from the new broker", || async {
        live.publish("labwire/$command", ask(4, "clients", Some(TOKEN)))
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        live.on("labwire/replies/4").first().cloned()
    })
    .await;
    assert!(reply.payload.contains("\"ok\":true"), "{reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_logs_in_with_its_credentials_file() {
    let password = "s3cret, with; #chars";
    let broker = Mosquitto::start_with(&[("monitor", password), ("reader", "r")]);
    let dir = TempDir::new("mqtt-credentials");
    let p = psu("p");
    let credentials = dir.path().join("broker.credentials");
    let write = |text: &str| {
        std::fs::write(&credentials, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    write(&format!("monitor\n{password}\n"));
    let config = write_config(
        dir.path(),
        &client_block("psu1", p.addr),
        &format!(
            "url = {}\ncredentials_file = broker.credentials\n",
            broker.url()
        ),
    );
    let (monitor, _http) = start_monitor_with(&config, &[]);
    let reader = Subscriber::login(&broker, "labwire/#", Some(("reader", "r"))).await;
    reader
        .wait_json("labwire/$monitor", "the monitor logged in", |m| {
            m["online"] == true
        })
        .await;
    drop(monitor);

    // A wrong password: refused by the broker, said in the log, retried, polling goes on.
    write("monitor\nnot the password\n");
    let dir2 = TempDir::new("mqtt-credentials-wrong");
    std::fs::copy(&credentials, dir2.path().join("broker.credentials")).unwrap();
    std::fs::set_permissions(
        dir2.path().join("broker.credentials"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let config = write_config(
        dir2.path(),
        &client_block("psu1", p.addr),
        &format!(
            "url = {}\ncredentials_file = broker.credentials\n",
            broker.url()
        ),
    );
    let (monitor, http) = start_monitor_with(&config, &[]);
    let c = connect(monitor.addr).await;
    status_where(&c, "psu polled", |s| s.get("psu1") == Some("1")).await;
    let db = dir2.path().join("history.sqlite");
    let logged = eventually(WAIT, "the refusal in the log", || async {
        let conn = rusqlite::Connection::open(&db).ok()?;
        conn.query_row(
            "SELECT message FROM logs WHERE message LIKE 'mqtt:%refused%'",
            [],
            |row| row.get::<_, String>(0),
        )
        .ok()
    })
    .await;
    assert!(logged.contains("cannot connect to"), "{logged}");
    assert_eq!(metric(http, "labwire_mqtt_connected", None).await, 0.0);
    assert_eq!(metric(http, "labwire_mqtt_connects_total", None).await, 0.0);
}
