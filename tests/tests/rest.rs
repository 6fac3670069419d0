//! The REST API (`/api/v1/...`, docs/rest.md) as its users meet it: real HTTP requests to
//! the monitor binary with a token, in front of a simulated power supply and gauge, a
//! scripted daemon that refuses one command and never answers another, and a client that
//! is never up. Every route and every status the API gives is asked for. Then the
//! OpenAPI document is checked with openapi-spec-validator, and every answer the test got
//! is checked against the document with openapi-core (tests/python/check_openapi.py in
//! scripts/test's venv), so the document describes what the server answers. A second
//! test puts every daemon in simulation behind the monitor and finds each command of each
//! one's `help` in the document, with its arguments.

use labwire_protocol::Message;
use labwire_testkit::{
    connect, eventually, fake_id, reply_to, start_monitor_with, ClosedPort, FakeDaemon, Process,
    Simulated, TempDir, DAEMONS,
};
use serde_json::{json, Value as Json};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "rest secret";
const BEARER: &str = "Bearer rest secret";

/// One request and its answer, as the OpenAPI check reads them.
struct Api {
    http: SocketAddr,
    exchanges: Mutex<Vec<Json>>,
}

struct Answer {
    status: u16,
    body: Json,
}

impl Api {
    /// `method path` with `headers` and `body`, over a connection of its own (HTTP/1.1,
    /// `Connection: close`); the answer must be JSON.
    async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.http,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let exchange = async {
            let mut stream = TcpStream::connect(self.http).await.unwrap();
            stream.write_all(head.as_bytes()).await.unwrap();
            // A refused body may be cut short by the server: what it answered counts.
            let _ = stream.write_all(body).await;
            let mut response = Vec::new();
            let mut chunk = [0u8; 8192];
            while let Ok(n) = stream.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                response.extend_from_slice(&chunk[..n]);
            }
            response
        };
        let response = tokio::time::timeout(WAIT, exchange)
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {WAIT:?}"));
        let response = String::from_utf8(response).expect("a UTF-8 answer");
        let (head, text) = response.split_once("\r\n\r\n").expect("a head and a body");
        let status: u16 = head[9..12].parse().expect("a status line");
        let header = |name: &str| {
            head.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_string())
            })
        };
        assert_eq!(
            header("content-type").as_deref(),
            Some("application/json"),
            "{method} {path} answered {head}\n{text}"
        );
        let answer: Json =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"));
        self.exchanges.lock().unwrap().push(json!({
            "method": method,
            "path": path,
            "request": String::from_utf8_lossy(body),
            "status": status,
            "content_type": "application/json",
            "body": text,
        }));
        Answer {
            status,
            body: answer,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.request("GET", path, &[("Authorization", BEARER)], b"")
            .await
    }

    /// A POST as curl's `--json` sends it, with the token.
    async fn post(&self, path: &str, body: &str) -> Answer {
        self.request(
            "POST",
            path,
            &[
                ("Authorization", BEARER),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
        .await
    }
}

/// A daemon that answers `help` with two commands of its own: `refuse`, which the device
/// always refuses (`device_error`), and `stall`, never answered. It keeps the names of
/// the commands it was sent.
fn scripted_device(received: Arc<Mutex<Vec<String>>>) -> FakeDaemon {
    FakeDaemon::answering(move |request| {
        let received = received.clone();
        async move {
            received.lock().unwrap().push(request.name.clone());
            let reply = match request.name.as_str() {
                "get_id" => return vec![fake_id(&request)],
                "get_status" => Message::new("status")
                    .kwarg("hw_connected", "1")
                    .kwarg("errors", "0")
                    .kwarg("temperature", "21.5")
                    .kwarg("label", "bench 2")
                    .kwarg("reading", ""),
                "help" => Message::new("help")
                    .kwarg("get_status", "")
                    .kwarg("refuse", "level=<0-10> (the device always says no)")
                    .kwarg("stall", "(never answered)"),
                "refuse" => Message::error_reply(
                    None,
                    Some("refuse"),
                    labwire_protocol::ErrorCode::DeviceError,
                    "the device said no",
                ),
                "stall" => return Vec::new(),
                other => Message::error_reply(
                    None,
                    Some(other),
                    labwire_protocol::ErrorCode::UnknownCommand,
                    format!("unknown command {other:?}"),
                ),
            };
            vec![reply_to(&request, reply)]
        }
    })
}

fn monitor(dir: &Path, clients: &str) -> (Process, SocketAddr) {
    let config = dir.join("monitor.ini");
    std::fs::write(
        &config,
        format!(
            "name = restmon\npoll_interval = 0.2\ndb = {}\n{clients}",
            dir.join("history.sqlite").display()
        ),
    )
    .unwrap();
    let token_file = dir.join("monitor.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    start_monitor_with(&config, &["--token-file", token_file.to_str().unwrap()])
}

fn client_block(name: &str, addr: SocketAddr, extra: &str) -> String {
    format!(
        "[{name}]\nhost = 127.0.0.1\nport = {}\n{extra}",
        addr.port()
    )
}

async fn variable(api: &Api, client: &str, key: &str) -> Json {
    let answer = api.get(&format!("/api/v1/clients/{client}")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["variables"][key].clone()
}

fn code(answer: &Answer) -> &str {
    answer.body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_status_of_the_rest_api() {
    let dir = TempDir::new("rest-api");
    let psu = Simulated::start("psu", &["--poll-interval", "0.1", "--name", "psu1"]);
    let gauge = Simulated::start("gauge", &["--poll-interval", "0.2", "--name", "g1"]);
    let received = Arc::new(Mutex::new(Vec::new()));
    let device = scripted_device(received.clone());
    let ghost = ClosedPort::new();
    let clients = [
        client_block(
            "psu1",
            psu.addr,
            "description = Keysight E36313A, bench 2\n[[alarms]]\nch1_voltage_set = 0, 5\n",
        ),
        client_block("g1", gauge.addr, ""),
        client_block("dev", device.addr, ""),
        client_block("ghost", ghost.addr, ""),
    ]
    .concat();
    let (_monitor, http) = monitor(dir.path(), &clients);
    let api = Api {
        http,
        exchanges: Mutex::default(),
    };

    // The token: none, the wrong one, then as the page's header and as a bearer.
    let refused = api.request("GET", "/api/v1/clients", &[], b"").await;
    assert_eq!((refused.status, code(&refused)), (401, "unauthorized"));
    let wrong = api
        .request(
            "GET",
            "/api/v1/clients",
            &[("Authorization", "Bearer nope")],
            b"",
        )
        .await;
    assert_eq!(wrong.status, 401);
    let header = api
        .request("GET", "/api/v1/alarms", &[("X-Labwire-Token", TOKEN)], b"")
        .await;
    assert_eq!(header.status, 200);

    // The clients, in configuration order, with their state and the age of their values.
    let list = eventually(WAIT, "psu1, g1 and dev connected", || async {
        let list = api.get("/api/v1/clients").await;
        let connected = list.body["clients"]
            .as_array()?
            .iter()
            .filter(|c| c["connected"] == json!(true))
            .count();
        (connected == 3).then_some(list)
    })
    .await;
    let names: Vec<&str> = list.body["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["psu1", "g1", "dev", "ghost"]);
    let psu1 = &list.body["clients"][0];
    assert_eq!(psu1["state"], "connected");
    assert_eq!(psu1["type"], "psu");
    assert_eq!(psu1["description"], "Keysight E36313A, bench 2");
    assert!(psu1["age"].as_f64().unwrap() < 10.0, "{psu1}");
    let down = &list.body["clients"][3];
    assert_eq!(
        (&down["state"], &down["age"]),
        (&json!("disconnected"), &Json::Null)
    );

    // One client: typed variables.
    let dev = api.get("/api/v1/clients/dev").await;
    assert_eq!(dev.status, 200);
    let vars = &dev.body["variables"];
    assert_eq!(vars["temperature"], json!(21.5));
    assert_eq!(vars["hw_connected"], json!(1));
    assert_eq!(vars["label"], json!("bench 2"));
    assert_eq!(
        vars["reading"],
        Json::Null,
        "a value that could not be read"
    );
    let ghost_details = api.get("/api/v1/clients/ghost").await;
    assert_eq!(ghost_details.body["variables"], json!({}));
    let unknown = api.get("/api/v1/clients/nope").await;
    assert_eq!((unknown.status, code(&unknown)), (404, "unknown_client"));

    // A command that works, through the relay to the simulated supply.
    let set = api
        .post(
            "/api/v1/clients/psu1/set_voltage",
            r#"{"ch": 1, "value": 2.5}"#,
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["ok"], json!(true));
    assert_eq!(set.body["reply"], "ok set_voltage ch=1 value=2.5");
    assert_eq!(set.body["values"]["value"], json!(2.5));
    eventually(WAIT, "the setpoint polled", || async {
        (variable(&api, "psu1", "ch1_voltage_set").await == json!(2.5)).then_some(())
    })
    .await;

    // 400: what the daemon refuses by its code, and what the API refuses by itself. The
    // setpoint stays where it was.
    for (body, expected) in [
        (r#"{"ch": 9, "value": 1}"#, "out_of_range"),
        (r#"{"value": 1}"#, "missing_argument"),
        (r#"{"ch": 1, "value": "five"}"#, "bad_argument"),
        (r#"{"ch": 1, "value": 1, "colour": "red"}"#, "bad_argument"),
        (r#"[1, 2]"#, "bad_argument"),
        (r#"{"ch": null, "value": 1}"#, "bad_argument"),
        (r#"{"ch": 1, "value": 1"#, "bad_argument"),
    ] {
        let answer = api.post("/api/v1/clients/psu1/set_voltage", body).await;
        assert_eq!((answer.status, code(&answer)), (400, expected), "{body}");
        assert!(!answer.body["error"]["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        variable(&api, "psu1", "ch1_voltage_set").await,
        json!(2.5),
        "no refused command changed the device"
    );

    // 404: a client or a command that does not exist; a command of help's list is
    // checked before anything is relayed, so the device never hears of it.
    let answer = api.post("/api/v1/clients/nope/output", "{}").await;
    assert_eq!((answer.status, code(&answer)), (404, "unknown_client"));
    let answer = api.post("/api/v1/clients/dev/self_destruct", "{}").await;
    assert_eq!((answer.status, code(&answer)), (404, "unknown_command"));
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("refuse, stall"), "{message}");
    assert!(!received
        .lock()
        .unwrap()
        .contains(&"self_destruct".to_string()));
    let answer = api.post("/api/v1/clients/psu1/subscribe", "{}").await;
    assert_eq!(answer.status, 404, "a connection's command is not sent");

    // 409: the device refused; 504: no reply in time (sent, so values.sent is 1);
    // 503: not connected.
    let answer = api
        .post("/api/v1/clients/dev/refuse", r#"{"level": 3}"#)
        .await;
    assert_eq!((answer.status, code(&answer)), (409, "device_error"));
    assert_eq!(answer.body["error"]["message"], "the device said no");
    assert!(received.lock().unwrap().contains(&"refuse".to_string()));
    let answer = api.post("/api/v1/clients/dev/stall", "").await;
    assert_eq!((answer.status, code(&answer)), (504, "timeout"));
    assert_eq!(answer.body["values"]["sent"], json!(1));
    let answer = api.post("/api/v1/clients/ghost/get_status", "{}").await;
    assert_eq!((answer.status, code(&answer)), (503, "not_connected"));

    // The page's rules for a command hold for the API's POSTs.
    let post = "/api/v1/clients/psu1/all_off";
    let answer = api
        .request("POST", post, &[("Authorization", BEARER)], b"{}")
        .await;
    assert_eq!(
        (answer.status, code(&answer)),
        (415, "unsupported_media_type")
    );
    for cross in [
        ("Origin", "http://elsewhere.example"),
        ("Sec-Fetch-Site", "cross-site"),
    ] {
        let answer = api
            .request(
                "POST",
                post,
                &[
                    ("Authorization", BEARER),
                    ("Content-Type", "application/json"),
                    cross,
                ],
                b"{}",
            )
            .await;
        assert_eq!(
            (answer.status, code(&answer)),
            (403, "forbidden"),
            "{cross:?}"
        );
    }
    let answer = api
        .request("POST", post, &[("Content-Type", "application/json")], b"{}")
        .await;
    assert_eq!(answer.status, 401);
    let long = format!(r#"{{"name": "{}"}}"#, "x".repeat(70_000));
    let answer = api.post("/api/v1/clients/psu1/set_name", &long).await;
    assert_eq!((answer.status, code(&answer)), (413, "too_large"));
    assert_eq!(
        variable(&api, "psu1", "ch1_output").await,
        json!(0),
        "outputs untouched"
    );

    // Alarms: a limit crossed, listed, acknowledged; the never connected client's.
    let high = api
        .post(
            "/api/v1/clients/psu1/set_voltage",
            r#"{"ch": 1, "value": 5.5}"#,
        )
        .await;
    assert_eq!(high.status, 200);
    let alarms = eventually(WAIT, "the limit and the connection alarm", || async {
        let alarms = api.get("/api/v1/alarms").await.body["alarms"].clone();
        let names: Vec<String> = alarms
            .as_array()?
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect();
        (names.contains(&"psu1.ch1_voltage_set".into())
            && names.contains(&"ghost.connected".into()))
        .then_some(alarms)
    })
    .await;
    let limit = alarms
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "psu1.ch1_voltage_set")
        .unwrap();
    assert_eq!(limit["state"], "high");
    assert_eq!(limit["value"], json!(5.5));
    assert_eq!(
        (&limit["active"], &limit["acknowledged"]),
        (&json!(true), &json!(false))
    );
    let answer = api.post("/api/v1/alarms/psu1.nothing/ack", "").await;
    assert_eq!((answer.status, code(&answer)), (404, "unknown_alarm"));
    let answer = api
        .post("/api/v1/alarms/psu1.ch1_voltage_set/ack", "{}")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["values"]["n"], json!(1));
    let after = api.get("/api/v1/alarms").await;
    let limit = after.body["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "psu1.ch1_voltage_set")
        .cloned()
        .unwrap();
    assert_eq!(
        limit["acknowledged"],
        json!(true),
        "still high, acknowledged"
    );
    let answer = api.post("/api/v1/alarms/all/ack", "").await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // The document: every client's commands with their arguments, from help.
    let document = api.get("/api/v1/openapi.json").await;
    assert_eq!(document.status, 200);
    let doc = &document.body;
    assert_eq!(doc["openapi"], "3.1.0");
    let set_voltage = &doc["paths"]["/api/v1/clients/psu1/set_voltage"]["post"];
    let schema = &set_voltage["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(
        schema["properties"]["ch"],
        json!({"type": "integer", "minimum": 1, "maximum": 3, "description": "ch=<1-3>"})
    );
    assert_eq!(schema["properties"]["value"]["type"], "number");
    assert_eq!(schema["properties"]["value"]["x-unit"], "V");
    assert_eq!(schema["required"], json!(["ch", "value"]));
    let unit = &doc["paths"]["/api/v1/clients/g1/set_unit"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"]["properties"]["unit"];
    assert!(
        unit["enum"].as_array().unwrap().contains(&json!("torr")),
        "{unit}"
    );
    let refuse = &doc["paths"]["/api/v1/clients/dev/refuse"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"]["properties"]["level"];
    assert_eq!(refuse["type"], "integer");
    assert!(doc["paths"]["/api/v1/clients/psu1/subscribe"].is_null());
    assert!(doc["paths"]["/api/v1/clients/psu1/exit"].is_null());
    assert!(doc["paths"]["/api/v1/clients/{client}/{command}"]["post"].is_object());
    assert_eq!(doc["security"], json!([{"bearer": []}, {"token": []}]));

    let answer = api.get("/api/v1/nothing/here").await;
    assert_eq!((answer.status, code(&answer)), (404, "not_found"));
    // No route, so nothing in the document to check this answer against.
    api.exchanges.lock().unwrap().pop();

    check_against_the_document(&dir, doc, &api.exchanges.lock().unwrap());
}

/// openapi-spec-validator on the document, openapi-core on every answer.
fn check_against_the_document(dir: &TempDir, document: &Json, exchanges: &[Json]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let document_file = dir.path().join("openapi.json");
    std::fs::write(&document_file, document.to_string()).unwrap();
    let exchanges_file = dir.path().join("exchanges.json");
    std::fs::write(&exchanges_file, Json::from(exchanges.to_vec()).to_string()).unwrap();
    let python = root.join("../target/venv/bin/python");
    let output = Command::new(&python)
        .arg(root.join("python/check_openapi.py"))
        .arg(&document_file)
        .arg(&exchanges_file)
        .output()
        .unwrap_or_else(|e| panic!("{} (scripts/test makes the venv): {e}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(&format!("{} answers valid", exchanges.len())),
        "check_openapi.py:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every command every daemon's `help` lists has its path in the document, with the
/// synopsis as its summary and only arguments the synopsis names (`key=`); a command whose
/// synopsis starts with `key=<...>` (or `[key=<...>]`) has that argument. The document and the answers are
/// checked as above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_shows_every_command_of_every_daemon() {
    let dir = TempDir::new("rest-openapi");
    let daemons: Vec<Simulated> = DAEMONS
        .iter()
        .map(|d| Simulated::start(d, &["--poll-interval", "0.2", "--name", d]))
        .collect();
    let clients: String = DAEMONS
        .iter()
        .zip(&daemons)
        .map(|(name, d)| client_block(name, d.addr, ""))
        .collect();
    let (_monitor, http) = monitor(dir.path(), &clients);
    let api = Api {
        http,
        exchanges: Mutex::default(),
    };
    eventually(WAIT, "every daemon connected", || async {
        let list = api.get("/api/v1/clients").await;
        list.body["clients"]
            .as_array()?
            .iter()
            .all(|c| c["connected"] == json!(true))
            .then_some(())
    })
    .await;
    let document = api.get("/api/v1/openapi.json").await;
    assert_eq!(document.status, 200);
    let paths = &document.body["paths"];
    for (name, daemon) in DAEMONS.iter().zip(&daemons) {
        let help = connect(daemon.addr).await.call("help").await.unwrap();
        for (command, synopsis) in &help.kwargs {
            let path = format!("/api/v1/clients/{name}/{command}");
            let operation = &paths[&path]["post"];
            if ["auth", "subscribe", "unsubscribe", "exit"].contains(&command.as_str()) {
                assert!(operation.is_null(), "{path} is offered");
                continue;
            }
            assert!(
                operation["summary"]
                    .as_str()
                    .is_some_and(|s| s.ends_with(synopsis.as_str())),
                "{path}: {operation}"
            );
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            let properties = schema["properties"].as_object().unwrap();
            for key in properties.keys() {
                assert!(synopsis.contains(&format!("{key}=")), "{path}: {key}");
            }
            let first = synopsis.split_whitespace().next().unwrap_or_default();
            let first = first.trim_start_matches('[');
            if let Some((key, value)) = first.split_once('=') {
                if value.starts_with('<') {
                    assert!(properties.contains_key(key), "{path}: {key} missing");
                }
            }
        }
    }
    check_against_the_document(&dir, &document.body, &api.exchanges.lock().unwrap());
}
