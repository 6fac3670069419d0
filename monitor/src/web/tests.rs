//! The routes in-process: a hub with a temporary store, the real router, one request each
//! through `tower::ServiceExt::oneshot`.

use super::*;
use crate::config::{ClientConfig, YScale};
use crate::hub::Link;
use crate::store::{Store, StoreOptions, Value};
use axum::body::{to_bytes, Body, Bytes};
use axum::http::{HeaderMap, Method, Request};
use http_body_util::BodyExt;
use labwire_client::{Client, ClientOptions};
use labwire_testkit::TempDir;
use std::time::{Duration, UNIX_EPOCH};
use tower::ServiceExt;

struct Fixture {
    /// The PostgreSQL server of a fixture whose store is there.
    _server: Option<labwire_testkit::PgServer>,
    _dir: TempDir,
    hub: Arc<Hub>,
    web: Arc<Web>,
    app: Router,
}

fn plot(id: &str, values: &[&str]) -> PlotConfig {
    PlotConfig {
        id: id.into(),
        name: format!("{id} plot"),
        values: values.iter().map(|v| v.to_string()).collect(),
        xlabel: String::new(),
        ylabel: "Voltage [V]".into(),
        width: 640,
        height: 240,
        yscale: YScale::Linear,
    }
}

fn fixture(token: Option<&str>) -> Fixture {
    fixture_of(test_config(), token, TempDir::new("web-unit"))
}

/// Three clients: psu1 with a plot of its voltages, gauge1 with an x-y plot, lab.hall.
fn test_config() -> MonitorConfig {
    let mut psu = ClientConfig::new("psu1", "127.0.0.1", 7001);
    psu.template = "psu.html".into();
    psu.description = "<b>bench</b> & \"co\"".into();
    psu.plots = vec![plot("voltages", &["time", "ch1_voltage", "ch2_voltage"])];
    let mut gauge = ClientConfig::new("gauge1", "127.0.0.1", 7011);
    gauge.plots = vec![plot("xy", &["ch1", "ch2"])];
    let lab = ClientConfig::new("lab.hall", "127.0.0.1", 7020);
    MonitorConfig {
        name: "testmon".into(),
        clients: vec![psu, gauge, lab],
        ..MonitorConfig::default()
    }
}

/// [`fixture`] with its store in a PostgreSQL database of a server of its own.
fn fixture_on_postgres() -> Fixture {
    let server = labwire_testkit::PgServer::start("web");
    let url = server.create_database("history");
    let options = StoreOptions {
        monitor: "testmon".into(),
        ..StoreOptions::default()
    };
    let store = Store::open(&url, options).unwrap();
    let mut f = fixture_with(test_config(), None, TempDir::new("web-unit-pg"), store);
    f._server = Some(server);
    f
}

/// A test of the routes on a SQLite store, and again on a PostgreSQL one.
macro_rules! on_both_stores {
    ($sqlite:ident, $postgres:ident, $body:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            $body(fixture(None)).await;
        }

        #[tokio::test]
        async fn $postgres() {
            $body(fixture_on_postgres()).await;
        }
    };
}

fn fixture_of(config: MonitorConfig, token: Option<&str>, dir: TempDir) -> Fixture {
    let store = Store::open(dir.path().join("history.sqlite"), StoreOptions::default()).unwrap();
    fixture_with(config, token, dir, store)
}

fn fixture_with(config: MonitorConfig, token: Option<&str>, dir: TempDir, store: Store) -> Fixture {
    let hub = Hub::new(
        config.name.clone(),
        config
            .clients
            .iter()
            .map(|c| (c.name.clone(), format!("{}:{}", c.host, c.port))),
        Some(store),
        Duration::from_secs(60),
    );
    let web = Web::new(
        hub.clone(),
        &config,
        token.map(String::from),
        CancellationToken::new(),
    );
    Fixture {
        _server: None,
        _dir: dir,
        hub: hub.clone(),
        web: web.clone(),
        app: router(web),
    }
}

/// Mark `client` connected through a link to a listener that accepts and stays silent.
async fn connect(hub: &Hub, client: &str, kind: &str) -> TcpListener {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let link = Client::connect(listener.local_addr().unwrap(), ClientOptions::default())
        .await
        .unwrap();
    hub.set_link(
        hub.slot(client).unwrap(),
        Some(Link {
            client: link,
            legacy: false,
        }),
        kind,
    );
    listener
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn call(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: to_bytes(body, usize::MAX).await.unwrap(),
    }
}

async fn get(app: &Router, uri: &str) -> Answer {
    call(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

fn command(line: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::post("/monitor/command").header("host", "127.0.0.1:8888");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .body(Body::from(
            serde_json::json!({ "command": line }).to_string(),
        ))
        .unwrap()
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test]
async fn the_page_escapes_what_devices_and_the_configuration_say() {
    let f = fixture(None);
    let slot = f.hub.slot("gauge1").unwrap();
    f.hub.record_status(
        slot,
        vec![
            ("note".into(), "<script>alert(1)</script>".into()),
            ("pressure".into(), "1e-3".into()),
        ],
    );
    let page = get(&f.app, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(
        !html.contains("<script>alert(1)"),
        "a status value became markup"
    );
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "the value is shown as text"
    );
    assert!(
        !html.contains("<b>bench</b>"),
        "a description became markup"
    );
    assert!(html.contains("&#60;b&#62;bench&#60;/b&#62; &#38; &#34;co&#34;"));
    // Nothing inline may run even if escaping failed somewhere.
    assert!(page
        .header("content-security-policy")
        .contains("script-src 'self'"));
    assert!(!html.contains("<script>"), "no inline script at all");
}

#[tokio::test]
async fn a_block_from_template_dir_is_served_with_the_client_name_put_in() {
    let dir = TempDir::new("web-views");
    let views = dir.path().join("views");
    std::fs::create_dir(&views).unwrap();
    std::fs::write(
        views.join("chamber.html"),
        "<div class=\"chamber\"><h3>Chamber {{client}}</h3>\n\
         <span data-var=\"{{client}}.temperature\" data-digits=\"1\"></span> °C\n\
         <button type=\"button\" data-command=\"send {{client}} start\">Start</button></div>\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("monitor.ini"),
        "template_dir = views\n[oven1]\nport = 7030\ntemplate = chamber.html\n",
    )
    .unwrap();
    let config = crate::config::load(&dir.path().join("monitor.ini")).unwrap();
    let f = fixture_of(config, None, dir);
    f.hub.record_status(
        f.hub.slot("oven1").unwrap(),
        vec![
            ("temperature".into(), "21.5".into()),
            ("note".into(), "<script>alert(1)</script>".into()),
        ],
    );
    let html = get(&f.app, "/").await.text();
    assert!(html.contains("<h3>Chamber oven1</h3>"), "{html}");
    assert!(html.contains("data-var=\"oven1.temperature\" data-digits=\"1\">"));
    assert!(html.contains("data-command=\"send oven1 start\""));
    assert!(!html.contains("{{client}}"));
    // In the client's frame: its header, and the variables the file does not show.
    assert!(html.contains("id=\"client-oven1\""));
    assert!(html.contains("data-skip=\"^(temperature)$\""));
    assert!(html.contains("<th scope=\"row\">note</th>"));
    assert!(!html.contains("<th scope=\"row\">temperature</th>"));
    assert!(
        !html.contains("<script>alert(1)"),
        "a status value became markup"
    );
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    let status = get(&f.app, "/monitor/status").await.json();
    assert_eq!(status["clients"]["oven1"]["template"], "chamber.html");
}

on_both_stores!(
    the_page_shows_every_client_its_state_and_its_template,
    the_page_shows_every_client_its_state_and_its_template_on_postgresql,
    the_page_shows_every_client_its_state_and_its_template_in
);

async fn the_page_shows_every_client_its_state_and_its_template_in(f: Fixture) {
    let _peer = connect(&f.hub, "psu1", "psu").await;
    let slot = f.hub.slot("psu1").unwrap();
    f.hub.record_status(
        slot,
        vec![
            ("ch1_name".into(), "detector".into()),
            ("ch1_output".into(), "1".into()),
            ("ch1_voltage_set".into(), "5".into()),
            ("ch1_voltage".into(), "4.999".into()),
            ("ch2_output".into(), "0".into()),
            ("errors".into(), "0".into()),
        ],
    );
    let html = get(&f.app, "/").await.text();
    for (client, state) in [
        ("psu1", "connected"),
        ("gauge1", "disconnected"),
        ("lab.hall", "disconnected"),
    ] {
        assert!(
            html.contains(&format!(
                "class=\"chip {state}\" href=\"#client-{client}\" data-conn=\"{client}\""
            )),
            "{client} {state} in the header"
        );
        assert!(html.contains(&format!("id=\"client-{client}\"")));
    }
    // psu.html: one block per output seen, with on/off buttons that send commands.
    assert!(html.contains("data-command=\"send psu1 output ch=1 state=on\""));
    assert!(html.contains("data-command=\"send psu1 output ch=2 state=off\""));
    assert!(!html.contains("ch=3 state=on"), "only the outputs reported");
    assert!(html.contains("data-var=\"psu1.ch1_voltage\" data-digits=\"3\">4.999<"));
    assert!(html.contains(">detector<"));
    // Plots with their range buttons, relative to now.
    assert!(html
        .contains("src=\"/monitor/plot/psu1/voltages?from=-3600&#38;width=640&#38;height=240\""));
    for label in ["15 min", "1 h", "24 h", "7 days"] {
        assert!(html.contains(&format!(">{label}</button>")), "{label}");
    }
    // Variables that are not per output still show, in the table the script extends.
    assert!(html.contains("data-var=\"psu1.errors\""));
}

#[tokio::test]
async fn status_json_has_configuration_and_state() {
    let f = fixture(None);
    let _peer = connect(&f.hub, "gauge1", "gauge").await;
    f.hub.record_status(
        f.hub.slot("gauge1").unwrap(),
        vec![("pressure".into(), "2.5e-6".into())],
    );
    let answer = get(&f.app, "/monitor/status").await;
    assert_eq!(answer.header("content-type"), "application/json");
    let status = answer.json();
    assert_eq!(status["name"], "testmon");
    assert_eq!(status["nconnected"], 1);
    let gauge = &status["clients"]["gauge1"];
    assert_eq!(gauge["connected"], true);
    assert_eq!(gauge["vars"]["pressure"], 2.5e-6);
    assert_eq!(gauge["template"], "default.html");
    assert_eq!(status["clients"]["psu1"]["plots"][0]["id"], "voltages");
    assert_eq!(
        status["clients"]["psu1"]["description"],
        "<b>bench</b> & \"co\""
    );
    assert!(status["alarms"].is_array());
}

#[tokio::test]
async fn commands_run_as_on_the_command_port() {
    let f = fixture(None);
    let answer = call(&f.app, command("@7 clients", &[JSON])).await;
    assert_eq!(answer.status, StatusCode::OK);
    let reply = answer.json();
    assert_eq!(reply["reply"], "@7 clients psu1=0 gauge1=0 lab.hall=0");
    assert_eq!(reply["ok"], true);
    assert_eq!(reply["tag"], "7");
    assert_eq!(reply["kwargs"]["psu1"], "0");

    let reply = call(&f.app, command("get_id", &[JSON])).await.json();
    assert_eq!(reply["kwargs"]["name"], "testmon");
    assert_eq!(reply["kwargs"]["type"], "monitor");
    let reply = call(&f.app, command("get_status", &[JSON])).await.json();
    assert_eq!(
        reply["reply"],
        "status nclients=3 nconnected=0 psu1=0 gauge1=0 lab.hall=0"
    );
    let reply = call(&f.app, command("help ack", &[JSON])).await.json();
    assert_eq!(
        reply["kwargs"]["ack"],
        "<client>.<key> | all (device alarms are forwarded: ack_alarm code=<code>)"
    );

    let reply = call(&f.app, command("send psu1 output ch=1 state=on", &[JSON]))
        .await
        .json();
    assert_eq!(reply["ok"], false);
    assert_eq!(reply["kwargs"]["code"], "not_connected");

    let reply = call(&f.app, command("log info from the page", &[JSON]))
        .await
        .json();
    assert_eq!(reply["reply"], "ok log");

    for (line, code) in [
        ("exit", "forbidden"),
        ("subscribe status", "forbidden"),
        ("frobnicate", "unknown_command"),
        ("send psu1 \"unterminated", "parse"),
    ] {
        let reply = call(&f.app, command(line, &[JSON])).await.json();
        assert_eq!(reply["kwargs"]["code"], code, "{line}: {reply}");
    }
}

#[tokio::test]
async fn commands_from_other_sites_are_refused() {
    let f = fixture(None);
    for (headers, status) in [
        (
            vec![JSON, ("sec-fetch-site", "cross-site")],
            StatusCode::FORBIDDEN,
        ),
        (
            vec![JSON, ("sec-fetch-site", "same-site")],
            StatusCode::FORBIDDEN,
        ),
        (
            vec![JSON, ("origin", "http://evil.example")],
            StatusCode::FORBIDDEN,
        ),
        (vec![JSON, ("origin", "null")], StatusCode::FORBIDDEN),
        (
            vec![JSON, ("origin", "http://127.0.0.1:8888.evil.example")],
            StatusCode::FORBIDDEN,
        ),
        // A form can post these across sites without asking first.
        (
            vec![("content-type", "text/plain")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            vec![("content-type", "application/x-www-form-urlencoded")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (vec![], StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            vec![
                JSON,
                ("origin", "http://127.0.0.1:8888"),
                ("sec-fetch-site", "same-origin"),
            ],
            StatusCode::OK,
        ),
        // curl and scripts send neither header.
        (vec![JSON], StatusCode::OK),
    ] {
        let answer = call(&f.app, command("log info hello", &headers)).await;
        assert_eq!(answer.status, status, "{headers:?}: {}", answer.text());
    }
    let answer = get(&f.app, "/monitor/command?command=log%20info%20x").await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    let answer = call(
        &f.app,
        Request::post("/monitor/command")
            .header("content-type", "application/json")
            .body(Body::from("{\"line\": 1}"))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn with_a_token_commands_need_it() {
    let f = fixture(Some("s3cret"));
    assert!(get(&f.app, "/")
        .await
        .text()
        .contains("data-token-required=\"1\""));
    let answer = call(&f.app, command("clients", &[JSON])).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.text().contains("needs its token"));
    let answer = call(
        &f.app,
        command("clients", &[JSON, ("x-labwire-token", "guess")]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let answer = call(
        &f.app,
        command("clients", &[JSON, ("x-labwire-token", "s3cret")]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["name"], "clients");
}

#[tokio::test]
async fn with_a_token_the_page_without_it_holds_none_of_the_labs_state() {
    let f = fixture(Some("s3cret"));
    let slot = f.hub.slot("gauge1").unwrap();
    f.hub
        .record_status(slot, vec![("pressure".into(), "1.234e-3".into())]);
    f.web.remember_log(
        events::log_entry(
            "log level=warning source=gauge1 message=\"pump stopped\"",
            std::time::SystemTime::now(),
        )
        .expect("a log line"),
    );
    let locked = get(&f.app, "/").await;
    assert_eq!(locked.status, StatusCode::OK);
    let html = locked.text();
    assert!(html.contains("data-locked=\"1\""), "{html}");
    assert!(html.contains("id=\"client-gauge1\""), "the layout is there");
    assert!(!html.contains("1.234e-3"), "a value in the locked page");
    assert!(
        !html.contains("pump stopped"),
        "a log line in the locked page"
    );
    let wrong = call(
        &f.app,
        Request::get("/")
            .header("cookie", "labwire_token=guess")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(!wrong.text().contains("1.234e-3"));
    let open = call(
        &f.app,
        Request::get("/")
            .header("cookie", "labwire_token=s3cret")
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .text();
    assert!(!open.contains("data-locked"));
    assert!(open.contains("1.234e-3"));
    assert!(open.contains("pump stopped"));
}

#[tokio::test]
async fn with_a_token_every_read_route_needs_it() {
    let f = fixture(Some("s 3;cret"));
    let with = |uri: &str, name: &str, value: &str| {
        Request::get(uri)
            .header(name, value)
            .body(Body::empty())
            .unwrap()
    };
    for uri in [
        "/monitor/status",
        "/monitor/events",
        "/monitor/plot/psu1/voltages?from=-60",
        "/monitor/history?var=psu1.ch1_voltage",
        "/metrics",
    ] {
        let answer = get(&f.app, uri).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(answer.text().contains("needs its token"), "{uri}");
        for (name, value) in [
            ("x-labwire-token", "guess"),
            ("cookie", "labwire_token=guess"),
            ("cookie", "labwire_token=s%203%3Bcre"),
        ] {
            let answer = call(&f.app, with(uri, name, value)).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{uri} {value}");
            assert!(answer.text().contains("wrong token"), "{uri} {value}");
        }
        for (name, value) in [
            ("x-labwire-token", "s 3;cret"),
            ("cookie", "theme=dark; labwire_token=s%203%3Bcret"),
        ] {
            let response = f.app.clone().oneshot(with(uri, name, value)).await.unwrap();
            // The event stream never ends: its status is enough.
            assert_eq!(response.status(), StatusCode::OK, "{uri} {value}");
        }
    }
    // The page shell and its assets stay open: the page asks for the token.
    for uri in ["/", "/static/monitor.js", "/static/monitor.css"] {
        assert_eq!(get(&f.app, uri).await.status, StatusCode::OK, "{uri}");
    }
    // Without a token configured, nothing needs one.
    let open = fixture(None);
    for uri in [
        "/monitor/status",
        "/metrics",
        "/monitor/history?var=psu1.ch1_voltage",
    ] {
        assert_eq!(get(&open.app, uri).await.status, StatusCode::OK, "{uri}");
    }
}

#[tokio::test]
async fn get_requests_change_nothing() {
    let f = fixture(None);
    f.hub.record_status(
        f.hub.slot("psu1").unwrap(),
        vec![("ch1_voltage".into(), "1".into())],
    );
    let changes = f.hub.changes();
    let generation = *changes.borrow();
    let mut log = f.hub.subscribe_log();
    let relayed = f.hub.counters.relayed.load(Ordering::Relaxed);
    for uri in [
        "/",
        "/monitor/status",
        "/monitor/plot/psu1/voltages?from=-60",
        "/monitor/history?var=psu1.ch1_voltage",
        "/metrics",
        "/static/monitor.js",
        "/monitor/command?command=ack%20all",
        "/?command=send%20psu1%20all_off",
    ] {
        let answer = get(&f.app, uri).await;
        assert_ne!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
    }
    assert_eq!(*changes.borrow(), generation, "the hub did not change");
    assert!(log.try_recv().is_err(), "nothing was logged");
    assert_eq!(f.hub.counters.relayed.load(Ordering::Relaxed), relayed);
}

/// Record samples at fixed times and wait until they are committed.
fn record(hub: &Hub, client: &str, key: &str, samples: &[(u64, Value)]) {
    let store = hub.store().unwrap();
    for (ms, value) in samples {
        assert!(store.record_value(
            client,
            key,
            UNIX_EPOCH + Duration::from_millis(*ms),
            value.clone()
        ));
    }
    store.flush().unwrap();
}

const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

on_both_stores!(
    history_as_csv_and_json,
    history_as_csv_and_json_on_postgresql,
    history_as_csv_and_json_in
);

async fn history_as_csv_and_json_in(f: Fixture) {
    record(
        &f.hub,
        "psu1",
        "ch1_voltage",
        &[
            (T0, Value::Number(5.0)),
            (T0 + 1500, Value::Missing),
            (T0 + 3000, Value::Number(-0.25)),
        ],
    );
    record(
        &f.hub,
        "lab.hall",
        "door",
        &[(T0 + 1000, Value::Text("open, \"wide\"".into()))],
    );
    let from = T0 / 1000 - 10;
    let to = T0 / 1000 + 10;
    let csv = get(
        &f.app,
        &format!("/monitor/history?var=psu1.ch1_voltage&var=lab.hall.door&from={from}&to={to}"),
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text());
    assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        csv.text(),
        "time,utc,variable,value\r\n\
         1767225600,2026-01-01T00:00:00.000Z,psu1.ch1_voltage,5\r\n\
         1767225601.5,2026-01-01T00:00:01.500Z,psu1.ch1_voltage,\r\n\
         1767225603,2026-01-01T00:00:03.000Z,psu1.ch1_voltage,-0.25\r\n\
         1767225601,2026-01-01T00:00:01.000Z,lab.hall.door,\"open, \"\"wide\"\"\"\r\n"
    );

    let json = get(
        &f.app,
        &format!(
            "/monitor/history?var=psu1.ch1_voltage&var=psu1.never&from={from}&to={to}&format=json"
        ),
    )
    .await
    .json();
    assert_eq!(json["from"], from as f64);
    let series = &json["variables"][0];
    assert_eq!(series["variable"], "psu1.ch1_voltage");
    assert_eq!(
        series["t"],
        serde_json::json!([1767225600.0, 1767225601.5, 1767225603.0])
    );
    assert_eq!(series["value"], serde_json::json!([5.0, null, -0.25]));
    assert_eq!(series["truncated"], false);
    assert_eq!(json["variables"][1]["t"], serde_json::json!([]));

    let cut = get(
        &f.app,
        &format!("/monitor/history?var=psu1.ch1_voltage&from={from}&to={to}&limit=2"),
    )
    .await;
    assert_eq!(cut.header("x-labwire-truncated"), "psu1.ch1_voltage");
    assert_eq!(cut.text().lines().count(), 3);

    for (query, status) in [
        ("var=nobody.x", StatusCode::NOT_FOUND),
        ("", StatusCode::BAD_REQUEST),
        ("var=psu1.ch1_voltage&format=xml", StatusCode::BAD_REQUEST),
        (
            "var=psu1.ch1_voltage&from=yesterday",
            StatusCode::BAD_REQUEST,
        ),
        ("var=psu1.ch1_voltage&limit=0", StatusCode::BAD_REQUEST),
        ("var=psu1.ch1_voltage&colour=red", StatusCode::BAD_REQUEST),
    ] {
        let answer = get(&f.app, &format!("/monitor/history?{query}")).await;
        assert_eq!(answer.status, status, "{query}: {}", answer.text());
    }
}

on_both_stores!(
    history_in_steps_gives_min_max_and_mean,
    history_in_steps_gives_min_max_and_mean_on_postgresql,
    history_in_steps_gives_min_max_and_mean_in
);

async fn history_in_steps_gives_min_max_and_mean_in(f: Fixture) {
    // Two hours and a half at one sample a minute, one unreadable, one text.
    let mut samples: Vec<(u64, Value)> = (0..150)
        .map(|m| (T0 + m * 60_000, Value::Number(m as f64)))
        .collect();
    samples[3].1 = Value::Missing;
    samples[4].1 = Value::Text("n/a".into());
    record(&f.hub, "psu1", "ch1_voltage", &samples);
    let from = T0 / 1000;
    let to = from + 150 * 60;
    let csv = get(
        &f.app,
        &format!("/monitor/history?var=psu1.ch1_voltage&from={from}&to={to}&step=3600"),
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text());
    let mean_first = (0..60).filter(|m| ![3, 4].contains(m)).sum::<u64>() as f64 / 58.0;
    assert_eq!(
        csv.text(),
        format!(
            "time,utc,variable,count,missing,min,max,mean\r\n\
             1767225600,2026-01-01T00:00:00.000Z,psu1.ch1_voltage,58,1,0,59,{}\r\n\
             1767229200,2026-01-01T01:00:00.000Z,psu1.ch1_voltage,60,0,60,119,89.5\r\n\
             1767232800,2026-01-01T02:00:00.000Z,psu1.ch1_voltage,30,0,120,149,134.5\r\n",
            labwire_protocol::format_number(mean_first)
        )
    );
    let json = get(
        &f.app,
        &format!(
            "/monitor/history?var=psu1.ch1_voltage&from={from}&to={to}&step=1800&format=json&limit=2"
        ),
    )
    .await;
    assert_eq!(json.header("x-labwire-truncated"), "psu1.ch1_voltage");
    let json = json.json();
    assert_eq!(json["step"], 1800);
    let series = &json["variables"][0];
    assert_eq!(series["t"], serde_json::json!([1767225600.0, 1767227400.0]));
    assert_eq!(series["count"], serde_json::json!([28, 30]));
    assert_eq!(series["missing"], serde_json::json!([1, 0]));
    assert_eq!(series["min"], serde_json::json!([0.0, 30.0]));
    assert_eq!(series["max"], serde_json::json!([29.0, 59.0]));
    assert_eq!(series["truncated"], true);
    for step in ["0", "-5", "1.5", "soon", "31622401"] {
        let answer = get(
            &f.app,
            &format!("/monitor/history?var=psu1.ch1_voltage&step={step}"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{step}");
        assert!(answer.text().contains("step="), "{}", answer.text());
    }
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let word = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

on_both_stores!(
    plots_are_pngs_of_the_asked_size,
    plots_are_pngs_of_the_asked_size_on_postgresql,
    plots_are_pngs_of_the_asked_size_in
);

async fn plots_are_pngs_of_the_asked_size_in(f: Fixture) {
    let samples: Vec<(u64, Value)> = (0..600)
        .map(|i| (T0 + i * 1000, Value::Number((i as f64 / 60.0).sin())))
        .collect();
    record(&f.hub, "psu1", "ch1_voltage", &samples);
    record(&f.hub, "gauge1", "ch1", &samples);
    record(&f.hub, "gauge1", "ch2", &samples);
    let range = format!("from={}&to={}", T0 / 1000, T0 / 1000 + 600);
    let answer = get(&f.app, &format!("/monitor/plot/psu1/voltages?{range}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.header("content-type"), "image/png");
    assert_eq!(png_size(&answer.body), (640, 240), "the configured size");
    let answer = get(
        &f.app,
        &format!("/monitor/plot/psu1/voltages?{range}&width=300&height=150"),
    )
    .await;
    assert_eq!(png_size(&answer.body), (300, 150));
    // An abscissa other than time, and a range with no data: still a picture.
    let answer = get(&f.app, &format!("/monitor/plot/gauge1/xy?{range}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let answer = get(&f.app, "/monitor/plot/psu1/voltages?from=-60").await;
    assert_eq!(png_size(&answer.body), (640, 240));

    for (uri, status) in [
        ("/monitor/plot/psu1/nothing", StatusCode::NOT_FOUND),
        ("/monitor/plot/nobody/voltages", StatusCode::NOT_FOUND),
        (
            "/monitor/plot/psu1/voltages?width=huge",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/monitor/plot/psu1/voltages?from=-1&to=-2",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        assert_eq!(get(&f.app, uri).await.status, status, "{uri}");
    }
}

/// The next `event:` block of an event stream, skipping keep-alive comments.
async fn next_event(body: &mut Body, buffer: &mut String) -> (String, serde_json::Value) {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::to_string)
            };
            if let (Some(event), Some(data)) = (field("event: "), field("data: ")) {
                return (event, serde_json::from_str(&data).unwrap());
            }
            continue;
        }
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("an event within 5 s")
            .expect("the stream goes on")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buffer.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

#[tokio::test]
async fn events_start_with_a_snapshot_then_follow_changes() {
    let f = fixture(None);
    f.hub.record_status(
        f.hub.slot("lab.hall").unwrap(),
        vec![("door".into(), "closed".into())],
    );
    let response = f
        .app
        .clone()
        .oneshot(Request::get("/monitor/events").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut body = response.into_body();
    let mut buffer = String::new();
    let (event, snapshot) = next_event(&mut body, &mut buffer).await;
    assert_eq!(event, "snapshot");
    assert_eq!(snapshot["clients"]["lab.hall"]["connected"], false);
    assert_eq!(
        snapshot["clients"]["lab.hall"]["vars"],
        serde_json::json!([["door", "closed"]])
    );

    // A client name with a dot is split at the client, not at the first dot.
    f.hub.record_status(
        f.hub.slot("lab.hall").unwrap(),
        vec![("door".into(), "open wide".into())],
    );
    let (event, update) = next_event(&mut body, &mut buffer).await;
    assert_eq!(event, "status");
    assert_eq!(
        update["vars"],
        serde_json::json!([["lab.hall", "door", "open wide"]])
    );

    f.hub.log(
        labwire_protocol::LogLevel::Warning,
        "script",
        "hello \"page\"",
    );
    let (event, log) = next_event(&mut body, &mut buffer).await;
    assert_eq!(event, "log");
    assert_eq!(
        (&log["level"], &log["source"], &log["message"]),
        (
            &serde_json::json!("warning"),
            &serde_json::json!("script"),
            &serde_json::json!("hello \"page\"")
        )
    );
}

#[tokio::test]
async fn assets_are_cached_and_the_first_load_is_small() {
    let f = fixture(None);
    let page = get(&f.app, "/").await;
    let mut total = page.body.len();
    for file in [
        "monitor.js",
        "monitor.css",
        "archive.js",
        "archive.css",
        "logbook.js",
        "logbook.css",
    ] {
        let uri = format!("/static/{file}?v={}", assets::version());
        assert!(page.text().contains(&uri), "the page links {uri}");
        let asset = get(&f.app, &uri).await;
        assert_eq!(asset.status, StatusCode::OK);
        assert!(asset.header("cache-control").contains("immutable"));
        total += asset.body.len();
    }
    assert!(total < 150 * 1024, "first load {total} bytes");
    assert_eq!(
        get(&f.app, "/static/other.js").await.status,
        StatusCode::NOT_FOUND
    );
}

/// The exposition format's rules, checked line by line: metric and label names, one
/// HELP and one TYPE per family before its samples, families not interleaved, counters
/// named `_total`, no series twice, values that parse.
fn check_exposition(text: &str) -> Result<(), String> {
    let name_ok = |n: &str| {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut help = std::collections::HashSet::new();
    let mut types = std::collections::HashMap::new();
    let mut finished = std::collections::HashSet::new();
    let mut current = String::new();
    let mut series = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            if !help.insert(name.to_string()) {
                return Err(format!("HELP twice for {name}"));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split(' ');
            let (name, kind) = (words.next().unwrap(), words.next().unwrap_or(""));
            if !matches!(kind, "counter" | "gauge") {
                return Err(format!("{name}: type {kind:?}"));
            }
            if kind == "counter" && !name.ends_with("_total") {
                return Err(format!("counter {name} does not end in _total"));
            }
            if types.insert(name.to_string(), kind).is_some() {
                return Err(format!("TYPE twice for {name}"));
            }
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            return Err(format!("unexpected line {line:?}"));
        }
        let (series_text, value) = line.rsplit_once(' ').ok_or("no value")?;
        let name = series_text.split('{').next().unwrap();
        if !name_ok(name) {
            return Err(format!("bad metric name {name:?}"));
        }
        if !help.contains(name) || !types.contains_key(name) {
            return Err(format!("{name}: sample before its HELP and TYPE"));
        }
        if name != current {
            if finished.contains(name) {
                return Err(format!("{name}: samples interleaved with another family"));
            }
            finished.insert(current.clone());
            current = name.to_string();
        }
        if let Some(labels) = series_text.strip_prefix(name) {
            if !labels.is_empty() {
                let inner = labels
                    .strip_prefix('{')
                    .and_then(|l| l.strip_suffix('}'))
                    .ok_or(format!("bad labels {labels:?}"))?;
                let mut rest = inner;
                while !rest.is_empty() {
                    let (label, after) = rest.split_once("=\"").ok_or("label without =\"")?;
                    if !name_ok(label) || label.starts_with("__") {
                        return Err(format!("bad label name {label:?}"));
                    }
                    // The value runs to the first quote not escaped by a backslash.
                    let mut end = None;
                    let mut escaped = false;
                    for (i, c) in after.char_indices() {
                        match (escaped, c) {
                            (true, 'n' | '\\' | '"') => escaped = false,
                            (true, other) => return Err(format!("bad escape \\{other}")),
                            (false, '\\') => escaped = true,
                            (false, '"') => {
                                end = Some(i);
                                break;
                            }
                            (false, '\n') => return Err("raw newline in a label".into()),
                            _ => {}
                        }
                    }
                    let end = end.ok_or("unterminated label value")?;
                    rest = after[end + 1..]
                        .strip_prefix(',')
                        .unwrap_or(&after[end + 1..]);
                }
            }
        }
        if !series.insert(series_text.to_string()) {
            return Err(format!("series twice: {series_text}"));
        }
        if !matches!(value, "NaN" | "+Inf" | "-Inf") && value.parse::<f64>().is_err() {
            return Err(format!("bad value {value:?}"));
        }
    }
    Ok(())
}

on_both_stores!(
    metrics_follow_the_exposition_format,
    metrics_follow_the_exposition_format_on_postgresql,
    metrics_follow_the_exposition_format_in
);

async fn metrics_follow_the_exposition_format_in(f: Fixture) {
    let _peer = connect(&f.hub, "psu1", "psu").await;
    f.hub.record_status(
        f.hub.slot("psu1").unwrap(),
        vec![
            ("ch1_voltage".into(), "4.999".into()),
            ("ch1_current".into(), "1e-7".into()),
            ("ch1_mode".into(), "CV".into()),
            ("ch1_name".into(), "detector \"A\"".into()),
            ("ch2_voltage".into(), "".into()),
        ],
    );
    let answer = get(&f.app, "/metrics").await;
    assert_eq!(
        answer.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = answer.text();
    check_exposition(&text).unwrap_or_else(|why| panic!("{why}\n{text}"));
    assert!(text.contains("labwire_variable{client=\"psu1\",variable=\"ch1_voltage\"} 4.999\n"));
    assert!(text.contains("labwire_variable{client=\"psu1\",variable=\"ch1_current\"} 1e-7\n"));
    assert!(!text.contains("ch1_mode"), "text values are not gauges");
    assert!(
        !text.contains("ch2_voltage"),
        "unreadable values are left out"
    );
    assert!(text.contains("labwire_client_connected{client=\"psu1\"} 1\n"));
    assert!(text.contains("labwire_client_connected{client=\"lab.hall\"} 0\n"));
    assert!(text.contains("labwire_polls_total 1\n"));
    assert!(text.contains("labwire_store_samples_written_total "));

    // The checker itself catches what promtool would.
    for bad in [
        "x 1\n",
        "# HELP x a\n# TYPE x counter\nx 1\n",
        "# HELP x a\n# TYPE x gauge\nx{a=\"b\"c\"} 1\n",
        "# HELP x a\n# TYPE x gauge\n# HELP y b\n# TYPE y gauge\nx 1\ny 1\nx{a=\"1\"} 2\n",
        "# HELP x a\n# TYPE x gauge\nx 1\nx 2\n",
    ] {
        assert!(check_exposition(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn a_request_method_the_route_does_not_take_is_refused() {
    let f = fixture(None);
    let answer = call(
        &f.app,
        Request::builder()
            .method(Method::DELETE)
            .uri("/monitor/status")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn on_loopback_only_loopback_host_names_are_answered() {
    let f = fixture(None);
    for (host, status) in [
        ("127.0.0.1:8888", StatusCode::OK),
        ("localhost:8888", StatusCode::OK),
        ("LOCALHOST", StatusCode::OK),
        ("[::1]:8888", StatusCode::OK),
        ("monitor.localhost:8888", StatusCode::OK),
        // A name an attacker's DNS points at 127.0.0.1.
        ("rebind.example:8888", StatusCode::MISDIRECTED_REQUEST),
        ("192.168.1.5:8888", StatusCode::MISDIRECTED_REQUEST),
        ("localhost.example", StatusCode::MISDIRECTED_REQUEST),
    ] {
        let request = Request::get("/monitor/status")
            .header("host", host)
            .body(Body::empty())
            .unwrap();
        assert_eq!(call(&f.app, request).await.status, status, "{host}");
    }
    let rebound = command(
        "log info x",
        &[JSON, ("origin", "http://rebind.example:8888")],
    );
    let mut rebound = rebound;
    rebound
        .headers_mut()
        .insert("host", "rebind.example:8888".parse().unwrap());
    assert_eq!(
        call(&f.app, rebound).await.status,
        StatusCode::MISDIRECTED_REQUEST
    );
}

/// One HTTP/1.1 GET on a fresh connection; the whole answer.
async fn raw_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn idle_and_trickling_sockets_do_not_lock_the_page_out() {
    use tokio::io::AsyncWriteExt;
    let f = fixture(None);
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let web = Web::new(
        f.hub.clone(),
        &MonitorConfig::default(),
        None,
        shutdown.clone(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = serve(listener, web, shutdown.clone(), &tracker).unwrap();

    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // And some that send a header one byte a second.
    let trickle = CancellationToken::new();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let stop = trickle.clone();
        tokio::spawn(async move {
            for byte in b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n".iter().cycle() {
                if stream.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }
    // Let the server accept them all before the real request.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answer = tokio::time::timeout(Duration::from_secs(5), raw_get(addr, "/"))
        .await
        .expect("the page answers although hundreds of sockets sit idle");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("labwire monitor"));

    trickle.cancel();
    drop(idle);
    shutdown.cancel();
    tracker.close();
    tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .expect("the server stops");
}

#[tokio::test]
async fn silent_and_idle_kept_alive_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let f = fixture(None);
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let web = Web::new(
        f.hub.clone(),
        &MonitorConfig::default(),
        None,
        shutdown.clone(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = serve(listener, web, shutdown.clone(), &tracker).unwrap();

    let silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /static/monitor.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let bound = server::HEADER_READ_TIMEOUT + Duration::from_secs(5);
    let closed = |mut stream: tokio::net::TcpStream| async move {
        let mut received = Vec::new();
        tokio::time::timeout(bound, stream.read_to_end(&mut received))
            .await
            .map(|_| String::from_utf8_lossy(&received).into_owned())
    };
    let (silent, kept) = tokio::join!(closed(silent), closed(kept));
    assert_eq!(silent.expect("a silent connection is closed"), "");
    let kept = kept.expect("an idle kept-alive connection is closed");
    assert!(kept.starts_with("HTTP/1.1 200"), "answered first: {kept}");
    shutdown.cancel();
}

/// The store opened a new database because the file was deleted: /metrics counts it, the
/// page (escaped) and the status JSON say so, and the plot cache forgets the points it
/// kept from the deleted database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_database_is_counted_shown_and_clears_the_plot_cache() {
    let dir = TempDir::new("web-reopened");
    let db = dir.path().join("history<i>&.sqlite");
    let options = StoreOptions {
        file_check_interval: Duration::from_millis(50),
        ..StoreOptions::default()
    };
    let store = Store::open(&db, options).unwrap();
    let mut psu = ClientConfig::new("psu1", "127.0.0.1", 7001);
    psu.plots = vec![plot("voltages", &["time", "ch1_voltage"])];
    let config = MonitorConfig {
        name: "testmon".into(),
        clients: vec![psu],
        ..MonitorConfig::default()
    };
    let f = fixture_with(config, None, dir, store);

    let html = get(&f.app, "/").await.text();
    assert!(
        html.contains("id=\"store-problem\" role=\"alert\" hidden></p>"),
        "no problem, no warning"
    );
    let status = get(&f.app, "/monitor/status").await.json();
    assert_eq!(status["store_problem"], serde_json::Value::Null);
    let metrics = get(&f.app, "/metrics").await.text();
    check_exposition(&metrics).unwrap_or_else(|why| panic!("{why}\n{metrics}"));
    assert!(
        metrics.contains("labwire_store_reopened_total 0\n"),
        "{metrics}"
    );
    assert!(metrics.contains("labwire_store_texts_truncated_total 0\n"));

    let events = f
        .app
        .clone()
        .oneshot(Request::get("/monitor/events").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let mut events = events.into_body();
    let mut buffer = String::new();
    let (event, snapshot) = next_event(&mut events, &mut buffer).await;
    assert_eq!(event, "snapshot");
    assert_eq!(snapshot["store_problem"], serde_json::Value::Null);

    // Ten minutes plotted: more than the overlap a redraw reads again.
    let samples: Vec<(u64, Value)> = (0..600)
        .map(|i| (T0 + i * 1000, Value::Number(i as f64)))
        .collect();
    record(&f.hub, "psu1", "ch1_voltage", &samples);
    let uri = format!(
        "/monitor/plot/psu1/voltages?from={}&to={}",
        T0 / 1000,
        T0 / 1000 + 600
    );
    assert_eq!(get(&f.app, &uri).await.status, StatusCode::OK);
    assert_eq!(f.web.series.len(), 600);

    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(name));
    }
    let store = f.hub.store().unwrap();
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
    while store.stats().reopened == 0 {
        store.record_value(
            "psu1",
            "other",
            std::time::SystemTime::now(),
            Value::Number(1.0),
        );
        tokio::task::block_in_place(|| store.flush()).unwrap();
        assert!(std::time::Instant::now() < give_up, "{:?}", store.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_eq!(get(&f.app, &uri).await.status, StatusCode::OK);
    assert_eq!(
        f.web.series.len(),
        0,
        "the new database has no ch1_voltage; nothing of the old one is kept"
    );
    let html = get(&f.app, "/").await.text();
    assert!(
        html.contains("id=\"store-problem\" role=\"alert\">History: "),
        "a warning line"
    );
    assert!(
        html.contains("history&#60;i&#62;&#38;.sqlite was deleted; a new one was opened there"),
        "the problem, escaped"
    );
    assert!(!html.contains("<i>&"), "the path became markup");
    let status = get(&f.app, "/monitor/status").await.json();
    let problem = status["store_problem"].as_str().unwrap();
    assert!(problem.contains("was deleted"), "{problem}");
    let metrics = get(&f.app, "/metrics").await.text();
    assert!(metrics.contains("labwire_store_reopened_total 1\n"));

    // An open page hears of it at the next change.
    f.hub.record_status(
        f.hub.slot("psu1").unwrap(),
        vec![("ch1_voltage".into(), "1".into())],
    );
    let mut told = None;
    for _ in 0..5 {
        let (event, data) = next_event(&mut events, &mut buffer).await;
        if event == "store" {
            told = Some(data);
            break;
        }
    }
    let told = told.expect("a store event");
    assert!(
        told["problem"].as_str().unwrap().contains("was deleted"),
        "{told}"
    );
}

on_both_stores!(
    device_alarms_are_shown_with_their_message,
    device_alarms_are_shown_with_their_message_on_postgresql,
    device_alarms_are_shown_with_their_message_in
);

/// A device alarm is listed with the daemon's message, on the page (escaped) and in the
/// JSON the page's live updates use; the Cryo-con's `alarm_state_a` is not an alarm.
async fn device_alarms_are_shown_with_their_message_in(f: Fixture) {
    let _peer = connect(&f.hub, "gauge1", "gauge").await;
    f.hub.record_status(
        f.hub.slot("gauge1").unwrap(),
        vec![
            ("alarm_state_a".into(), "HI".into()),
            ("alarm_sensor_fault".into(), "1".into()),
            ("alarm_sensor_fault_message".into(), "input <B> open".into()),
        ],
    );
    let html = get(&f.app, "/").await.text();
    assert!(html.contains("gauge1.alarm_sensor_fault</span>"), "{html}");
    assert!(html.contains("<span class=\"alarm-message\">input &#60;B&#62; open</span>"));
    assert!(html.contains("data-command=\"ack gauge1.alarm_sensor_fault\""));
    assert!(!html.contains("gauge1.alarm_state_a</span>"));
    let status = get(&f.app, "/monitor/status").await.json();
    let alarms = status["alarms"].as_array().unwrap();
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms[0]["key"], "alarm_sensor_fault");
    assert_eq!(alarms[0]["state"], "device");
    assert_eq!(alarms[0]["message"], "input <B> open");
}

/// A monitor with a temperature controller (`cryocon.html`) and a fermentation chamber
/// (`ferment.html`), the controller's daemon at `cryo_port`.
fn device_fixture(cryo_port: u16) -> Fixture {
    let mut cryo = ClientConfig::new("cryo", "127.0.0.1", cryo_port);
    cryo.template = "cryocon.html".into();
    let mut plot = plot("temperature", &["time", "temp_a", "loop1_profile_setpoint"]);
    plot.width = 800;
    plot.height = 300;
    cryo.plots = vec![plot];
    let mut ferm = ClientConfig::new("ferm", "127.0.0.1", 7031);
    ferm.template = "ferment.html".into();
    let config = MonitorConfig {
        name: "testmon".into(),
        clients: vec![cryo, ferm],
        ..MonitorConfig::default()
    };
    fixture_of(config, None, TempDir::new("web-devices"))
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn the_controller_and_chamber_blocks_show_their_values_and_controls() {
    let f = device_fixture(7021);
    let _cryo = connect(&f.hub, "cryo", "cryocon").await;
    let _ferm = connect(&f.hub, "ferm", "ferment").await;
    f.hub.record_status(
        f.hub.slot("cryo").unwrap(),
        vars(&[
            ("unit", "K"),
            ("temp_a", "77.125"),
            ("alarm_state_a", "--"),
            ("temp_b", ""),
            ("alarm_state_b", "SF"),
            ("loop1_setpoint", "80"),
            ("loop1_source", "a"),
            ("loop1_type", "pid"),
            ("loop1_heater", "42.5"),
            ("loop1_profile", "running"),
            ("loop1_profile_setpoint", "79.5"),
            ("loop2_setpoint", "300"),
            ("loop2_profile", "idle"),
            ("control", "1"),
            ("alarm_sensor_fault", "1"),
            ("alarm_sensor_fault_message", "input B: sensor fault"),
            ("alarm_heater_fault", "0"),
            ("alarm_heater_fault_message", ""),
            ("errors", "0"),
        ]),
    );
    f.hub.record_status(
        f.hub.slot("ferm").unwrap(),
        vars(&[
            ("beer_temperature", "18.25"),
            ("chamber_temperature", "16.5"),
            ("setpoint", "18"),
            ("mode", "constant"),
            ("band", "0.3"),
            ("heater", "0"),
            ("cooler", "1"),
            ("cooler_wait", "0"),
            ("profile", "idle"),
            ("profile_step", ""),
            ("alarm_probe_fault", "1"),
            ("alarm_probe_fault_message", "chamber: CRC error"),
            ("alarm_relay_mismatch", "0"),
            ("alarm_relay_mismatch_message", ""),
            ("status_age", "0.2"),
        ]),
    );
    let html = get(&f.app, "/").await.text();
    let once = |needle: &str| {
        assert_eq!(html.matches(needle).count(), 1, "once: {needle}\n{html}");
    };

    // The controller: inputs, the loops it reported (two), each with its controls.
    once("data-var=\"cryo.temp_a\" data-digits=\"3\">77.125<");
    once("<th scope=\"row\">input B</th>");
    once("data-var=\"cryo.alarm_state_b\">SF<");
    assert!(!html.contains("input C"), "only the inputs reported");
    once("data-var=\"cryo.loop1_heater\" data-digits=\"1\">42.5<");
    once("data-var=\"cryo.control\" data-format=\"onoff\">on<");
    once("data-command=\"send cryo control state=off\"");
    once("data-command=\"send cryo set_setpoint loop=2 value={value}\"");
    once("data-command=\"send cryo set_type loop=1 type=rampp\"");
    assert!(!html.contains("loop=3"), "only the loops reported");
    // Each loop's profile: its run, and the editor that loads and reads its steps.
    once("data-var=\"cryo.loop1_profile\">running<");
    once("data-command=\"send cryo profile_load loop=1 points={points}\" data-read=\"send cryo profile_status loop=1\"");
    once("data-command=\"send cryo profile_start loop=2\"");
    once("data-command=\"send cryo profile_stop loop=2\"");
    // Device alarms with the daemon's message; a raised one in the alarm panel too, with
    // the monitor's acknowledgement.
    once("<span class=\"bad\" data-var=\"cryo.alarm_sensor_fault\" data-format=\"alarm\">alarm</span>");
    once("data-var=\"cryo.alarm_sensor_fault_message\">input B: sensor fault</span>");
    once("data-command=\"ack cryo.alarm_sensor_fault\"");
    once(
        "<span class=\"good\" data-var=\"cryo.alarm_heater_fault\" data-format=\"alarm\">ok</span>",
    );
    // What the block shows is not repeated in the table of the rest; the rest is there.
    once("data-var=\"cryo.loop1_setpoint\"");
    once("data-var=\"cryo.errors\"");
    once("data-skip=\"^((unit|control)$|(temp_|alarm_|loop))\"");
    once("src=\"/monitor/plot/cryo/temperature?from=-3600&#38;width=800&#38;height=300\"");

    // The chamber: temperatures, mode, relays, controls, profile, alarms.
    once("data-var=\"ferm.beer_temperature\" data-digits=\"2\">18.25<");
    once("data-var=\"ferm.chamber_temperature\" data-digits=\"2\">16.5<");
    once("data-var=\"ferm.mode\">constant<");
    once("<span class=\"pill off\" data-var=\"ferm.heater\" data-format=\"onoff\">off</span>");
    once("<span class=\"pill on\" data-var=\"ferm.cooler\" data-format=\"onoff\">on</span>");
    once("data-command=\"send ferm set_mode mode=off\"");
    once("data-command=\"send ferm set_band value={value}\"");
    once("data-command=\"send ferm profile_load points={points}\" data-read=\"send ferm profile_status\"");
    once("data-command=\"send ferm profile_start\"");
    once("data-var=\"ferm.alarm_probe_fault_message\">chamber: CRC error</span>");
    once("data-command=\"ack ferm.alarm_probe_fault\"");
    assert!(
        !html.contains("ack ferm.alarm_relay_mismatch"),
        "not raised"
    );
    once("data-var=\"ferm.status_age\"");
    once("data-var=\"ferm.profile_step\"");
}

/// The pixels of `color` in a PNG, below its top `skip` rows (title and legend).
fn pixels_of(png_bytes: &[u8], color: [u8; 3], skip: u32) -> Vec<(u32, u32)> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgb).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let mut found = Vec::new();
    for y in skip..info.height {
        for x in 0..info.width {
            let i = ((y * info.width + x) * 3) as usize;
            if rgb[i..i + 3] == color {
                found.push((x, y));
            }
        }
    }
    found
}

/// labwire-plot's first two line colours: the measured temperature, then the plan.
const MEASURED: [u8; 3] = [31, 119, 180];
const PLANNED: [u8; 3] = [255, 127, 14];

#[tokio::test]
async fn a_plotted_profile_setpoint_is_the_daemons_plan_to_its_end() {
    use labwire_protocol::Message;
    use std::sync::atomic::{AtomicBool, Ordering};
    // The daemon: loop 1 runs a two-hour ramp started an hour ago (its end in an hour),
    // until `idle` is set.
    let idle = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    let end = labwire_daemon::profile::format_time(SystemTime::now() + Duration::from_secs(3600));
    let daemon = {
        let (idle, asked) = (idle.clone(), asked.clone());
        labwire_testkit::FakeDaemon::answering(move |request| {
            let (idle, asked, end) = (idle.clone(), asked.clone(), end.clone());
            async move {
                let mut plain = request.clone();
                plain.tag = None;
                asked.lock().unwrap().push(plain.to_line());
                let state = if idle.load(Ordering::SeqCst) {
                    "idle"
                } else {
                    "running"
                };
                let reply = Message::new("ok")
                    .arg("profile_status")
                    .kwarg("loop", "1")
                    .kwarg("profile", state)
                    .kwarg("profile_end", end)
                    .kwarg("profile_points", "0s:300,2h:100");
                vec![labwire_testkit::reply_to(&request, reply)]
            }
        })
    };
    let f = device_fixture(daemon.addr.port());
    let _cryo = connect(&f.hub, "cryo", "cryocon").await;
    // The measured temperature: the last ten minutes.
    let now = labwire_time::now_ms() as u64;
    let samples: Vec<(u64, Value)> = (0..600)
        .map(|i| {
            (
                now - 600_000 + i * 1000,
                Value::Number(200.0 + i as f64 / 60.0),
            )
        })
        .collect();
    record(&f.hub, "cryo", "temp_a", &samples);

    let uri = "/monitor/plot/cryo/temperature?from=-3600&width=800&height=300";
    let answer = get(&f.app, uri).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(
        asked.lock().unwrap().as_slice(),
        ["profile_status loop=1"],
        "the plan is asked of the daemon"
    );
    // An hour back and an hour ahead: the plan (dashed) runs across the whole plot; the
    // measured line stops at now, the middle.
    let plan = pixels_of(&answer.body, PLANNED, 40);
    let measured = pixels_of(&answer.body, MEASURED, 40);
    let right_of = |pixels: &[(u32, u32)], x: u32| pixels.iter().filter(|p| p.0 > x).count();
    assert!(right_of(&plan, 700) > 10, "the plan reaches the future");
    assert!(plan.iter().any(|p| p.0 < 150), "and the past");
    assert!(right_of(&measured, 200) > 10, "the measured line is drawn");
    assert_eq!(right_of(&measured, 480), 0, "nothing measured after now");

    // With `to` given, the range is as asked: the plan is cut at now.
    let answer = get(&f.app, &format!("{uri}&to=0")).await;
    assert!(right_of(&pixels_of(&answer.body, MEASURED, 40), 700) > 10);

    // A profile not started has no place in time: the plot is the history, up to now.
    idle.store(true, Ordering::SeqCst);
    let answer = get(&f.app, uri).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(pixels_of(&answer.body, PLANNED, 40).is_empty(), "no plan");
    assert!(right_of(&pixels_of(&answer.body, MEASURED, 40), 700) > 10);

    // Nor has a daemon that is gone: the plot is still drawn, from the history.
    idle.store(false, Ordering::SeqCst);
    daemon.stop().await;
    let answer = get(&f.app, uri).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(pixels_of(&answer.body, PLANNED, 40).is_empty(), "no plan");
}

mod archive;
mod logbook;
