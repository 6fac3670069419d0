//! The web page as a person uses it: real daemons in simulation, the real monitor binary,
//! and Debian's Chromium, headless, driven through chromedriver (WebDriver). The browser
//! must be installed (scripts/test installs `chromium` and `chromium-driver`, and puts
//! `promtool` from Debian's `prometheus` package in `target/tools/`); without them this
//! test fails, it never skips.
//!
//! Screenshots are kept in `target/artifacts/` (desktop and phone width, and the page of
//! a temperature controller and a fermentation chamber).

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use labwire_client::{Client, ClientOptions};
use labwire_testkit::{binary, eventually, ClosedPort, Process, Simulated, TempDir};
use serde_json::{json, Value as Json};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// `name` on the PATH, or a loud failure that says how to get it.
fn installed(names: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "none of {names:?} is installed: the browser test needs Debian's chromium and \
         chromium-driver, and promtool (from Debian's prometheus package). Run scripts/test, \
         which installs them (promtool into target/tools/)"
    );
}

fn daemon(daemon: &str, name: &str) -> Simulated {
    Simulated::start(daemon, &["--poll-interval", "0.2", "--name", name])
}
/// A headless Chromium session through a chromedriver of its own (returned: it must live
/// as long as the session), its profile in `profile`.
async fn headless(chromium: &Path, chromedriver: &Path, profile: &TempDir) -> (Browser, Process) {
    let driver = start_chromedriver(chromedriver);
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                format!("--user-data-dir={}", profile.path().display()),
                "--window-size=1400,1800",
            ],
        }
    });
    let browser = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities.as_object().unwrap().clone())
        .connect(&format!("http://{}", driver.addr))
        .await
        .expect("chromedriver starts a headless Chromium session");
    (browser, driver)
}

/// chromedriver on an ephemeral port (it prints `... started successfully on port N.`),
/// stopped when dropped.
fn start_chromedriver(program: &Path) -> Process {
    Process::start_announced(program, &["--port=0"], |line| {
        let port = line.split_once("started successfully on port ")?.1;
        let port: u16 = port.trim().trim_end_matches('.').parse().ok()?;
        Some(SocketAddr::from(([127, 0, 0, 1], port)))
    })
}

/// Where cargo keeps its output: `target/` above `target/<profile>/deps/<test>`.
fn artifacts() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .ancestors()
        .nth(3)
        .expect("target/<profile>/deps/<test>");
    let dir = target.join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run `script` (a JavaScript function body) until it returns something truthy.
async fn until(browser: &Browser, what: &str, script: &str) -> Json {
    eventually(WAIT, what, || async {
        let value = browser.execute(script, vec![]).await.ok()?;
        let falsy = matches!(&value, Json::Null | Json::Bool(false))
            || value == json!("")
            || value == json!(0);
        (!falsy).then_some(value)
    })
    .await
}

async fn text_of(browser: &Browser, selector: &str) -> String {
    browser
        .execute(
            "const el = document.querySelector(arguments[0]); return el ? el.textContent.trim() : null;",
            vec![json!(selector)],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    use http_body_util::{BodyExt, Empty};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let response = client
        .get(format!("http://{addr}{path}").parse().unwrap())
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "GET {path}: {}",
        response.status()
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_a_real_browser() {
    let chromium = installed(&["chromium", "chromium-browser"]);
    let chromedriver = installed(&["chromedriver"]);
    // scripts/test puts promtool in target/tools/ when it is not installed.
    let tool = artifacts().with_file_name("tools").join("promtool");
    let promtool = if tool.is_file() {
        tool
    } else {
        installed(&["promtool"])
    };

    let dir = TempDir::new("web-browser");
    let gauge = daemon("gauge", "g1");
    let psu = daemon("psu", "p1");
    let ghost = ClosedPort::new();
    let config = dir.path().join("monitor.ini");
    std::fs::write(
        &config,
        format!(
            "name = webtest\npoll_interval = 0.2\ndb = {db}\n\
             [gauge1]\nhost = 127.0.0.1\nport = {gauge}\ndescription = Vacuum gauge <cryostat>\n\
             template = gauge.html\n[[plots]]\n[[[pressure]]]\nname = Cryostat pressure\n\
             values = time, pressure\nylabel = Pressure [mbar]\nyscale = log\n\
             [psu1]\nhost = 127.0.0.1\nport = {psu}\ndescription = Keysight E36313A, bench 2\n\
             template = psu.html\n[[plots]]\n[[[voltages]]]\nname = Channel voltages\n\
             values = time, ch1_voltage, ch2_voltage, ch3_voltage\nylabel = Voltage [V]\n\
             [ghost]\nhost = 127.0.0.1\nport = {ghost}\ndescription = nothing listens here\n",
            db = dir.path().join("history.sqlite").display(),
            gauge = gauge.addr.port(),
            psu = psu.addr.port(),
            ghost = ghost.addr.port(),
        ),
    )
    .unwrap();
    let (monitor, http) = labwire_testkit::start_monitor(&config);

    // A second monitor, locked with a token, showing the gauge through a lab's own view
    // from its template_dir (plain HTML, no Rust).
    let views = dir.path().join("views");
    std::fs::create_dir(&views).unwrap();
    std::fs::write(
        views.join("pressure.html"),
        "<p class=\"big\" id=\"user-view\">Pressure at {{client}}: \
         <span data-var=\"{{client}}.pressure\" data-format=\"sci\"></span> mbar</p>\n",
    )
    .unwrap();
    let locked_config = dir.path().join("locked.ini");
    std::fs::write(
        &locked_config,
        format!(
            "name = locked\npoll_interval = 0.2\ndb = locked.sqlite\ntemplate_dir = views\n\
             [gauge1]\nhost = 127.0.0.1\nport = {gauge}\ntemplate = pressure.html\n",
            gauge = gauge.addr.port(),
        ),
    )
    .unwrap();
    let token_file = dir.path().join("monitor.token");
    std::fs::write(&token_file, "open sesame; 100%\n").unwrap();
    let locked = Process::start(
        binary("labwire-monitor"),
        &[
            "--config",
            locked_config.to_str().unwrap(),
            "--token-file",
            token_file.to_str().unwrap(),
            "--port",
            "0",
            "--http-port",
            "0",
        ],
    );
    let locked_http: SocketAddr = locked
        .stdout_line("http ", WAIT)
        .expect("the monitor prints `http <addr>`")
        .parse()
        .unwrap();
    // A third monitor: a temperature controller and a fermentation chamber on their
    // built-in blocks, the controller's plot with its planned profile.
    let cryo = daemon("cryocon", "cryo");
    let ferment = daemon("ferment", "ferm1");
    let devices_config = dir.path().join("devices.ini");
    std::fs::write(
        &devices_config,
        format!(
            "name = devices\npoll_interval = 0.2\ndb = devices.sqlite\n\
             [cryo]\nhost = 127.0.0.1\nport = {cryo}\ntemplate = cryocon.html\n\
             [[plots]]\n[[[temperature]]]\nname = Cold stage\n\
             values = time, temp_a, loop1_profile_setpoint\nylabel = Temperature [K]\n\
             [ferm1]\nhost = 127.0.0.1\nport = {ferment}\ntemplate = ferment.html\n",
            cryo = cryo.addr.port(),
            ferment = ferment.addr.port(),
        ),
    )
    .unwrap();
    let (devices_monitor, devices_http) = labwire_testkit::start_monitor(&devices_config);
    let devices_port = Client::connect(devices_monitor.addr, ClientOptions::default())
        .await
        .unwrap();
    let port = Client::connect(monitor.addr, ClientOptions::default())
        .await
        .unwrap();
    eventually(WAIT, "both daemons polled", || async {
        let status = port.call("get_status").await.ok()?;
        (status.get("nconnected") == Some("2") && status.get("psu1.ch2_voltage_set").is_some())
            .then_some(())
    })
    .await;

    // Prometheus' own checker on the live exposition.
    let metrics = http_get(http, "/metrics").await;
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut check.stdin.take().unwrap(), metrics.as_bytes()).unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}\n{metrics}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let profile = TempDir::new("web-browser-profile");
    let (browser, driver) = headless(&chromium, &chromedriver, &profile).await;
    // Close the browser whatever happens, then report.
    let outcome = AssertUnwindSafe(async {
        drive(&browser, http, &port).await;
        drive_locked(&browser, locked_http, "open sesame; 100%").await;
        drive_devices(&browser, devices_http, &devices_port).await;
    })
    .catch_unwind()
    .await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn drive(browser: &Browser, http: SocketAddr, port: &Client) {
    open_live(browser, http).await;

    // Every client in the header, with its state; every block says the same.
    let chips = browser
        .execute(
            "return [...document.querySelectorAll('.chip')].map(c => [c.textContent.trim(), c.classList.contains('connected')]);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        chips,
        json!([["gauge1", true], ["psu1", true], ["ghost", false]])
    );
    for (client, state) in [
        ("gauge1", "connected"),
        ("psu1", "connected"),
        ("ghost", "disconnected"),
    ] {
        assert_eq!(
            text_of(browser, &format!("#client-{client} .state")).await,
            state
        );
    }
    let description = text_of(browser, "#client-gauge1 .description").await;
    assert!(
        description.starts_with("Vacuum gauge <cryostat> 127.0.0.1:"),
        "configuration text shows as text: {description}"
    );

    // Plots decode: scroll each into view (they load lazily) and wait for its pixels.
    let plots = browser
        .find_all(Locator::Css(".client .plot img"))
        .await
        .unwrap();
    assert_eq!(plots.len(), 2);
    for (i, _) in plots.iter().enumerate() {
        until(
            browser,
            "a plot image decoded",
            &format!(
                "const img = document.querySelectorAll('.client .plot img')[{i}]; img.scrollIntoView(); \
                 return img.complete && img.naturalWidth > 0 ? img.naturalWidth : 0;"
            ),
        )
        .await;
    }
    browser
        .execute(
            "window.scrollTo(0, 0); window.__notReloaded = true;",
            vec![],
        )
        .await
        .unwrap();

    // The command line: type, run, see the reply.
    let input = browser.find(Locator::Css("#command")).await.unwrap();
    input.send_keys("clients").await.unwrap();
    browser
        .find(Locator::Css("#command-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let reply = until(
        browser,
        "the command's reply",
        "const r = document.querySelector('#reply'); return !r.hidden && r.textContent.includes('clients gauge1=') ? r.textContent : '';",
    )
    .await;
    assert_eq!(
        reply.as_str().unwrap(),
        "> clients\nclients gauge1=1 psu1=1 ghost=0"
    );

    // A change made elsewhere (a script on the command port) shows without a reload.
    let set = port
        .call("send psu1 set_voltage ch=2 value=12.5")
        .await
        .unwrap();
    assert_eq!(set.name, "ok", "{set}");
    until(
        browser,
        "the new setpoint on the page",
        "return document.querySelector('[data-var=\"psu1.ch2_voltage_set\"]').textContent === '12.5';",
    )
    .await;

    // The page's own controls: a setpoint form and an output button.
    let field = browser
        .find(Locator::Css(
            "form[data-command^=\"send psu1 set_voltage ch=1 \"] input",
        ))
        .await
        .unwrap();
    field.send_keys("3.3").await.unwrap();
    browser
        .find(Locator::Css(
            "form[data-command^=\"send psu1 set_voltage ch=1 \"] button",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        browser,
        "ch1 set to 3.3 from the page",
        "return document.querySelector('[data-var=\"psu1.ch1_voltage_set\"]').textContent === '3.3';",
    )
    .await;
    browser
        .find(Locator::Css(
            "button[data-command=\"send psu1 output ch=1 state=on\"]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        browser,
        "output 1 on",
        "const el = document.querySelector('[data-var=\"psu1.ch1_output\"]'); return el.textContent === 'on' && el.classList.contains('on');",
    )
    .await;
    assert_eq!(
        text_of(browser, "#reply").await,
        "> send psu1 output ch=1 state=on\nok output ch=1 state=on"
    );
    let status = port.call("get_status").await.unwrap();
    assert_eq!(status.get("psu1.ch1_output"), Some("1"), "{status}");
    assert_eq!(
        browser
            .execute("return window.__notReloaded === true;", vec![])
            .await
            .unwrap(),
        json!(true),
        "the page was never reloaded"
    );

    // By now the store holds a few seconds of history: the range buttons redraw with it.
    let buttons = browser
        .find_all(Locator::Css(".ranges button[data-span=\"900\"]"))
        .await
        .unwrap();
    for button in buttons {
        button.click().await.unwrap();
    }
    until(
        browser,
        "plots redrawn for the last 15 minutes",
        "return [...document.querySelectorAll('.client .plot img')].every(img => \
         img.src.includes('from=-900') && img.complete && img.naturalWidth > 0);",
    )
    .await;
    browser
        .execute("window.scrollTo(0, 0);", vec![])
        .await
        .unwrap();

    let dir = artifacts();
    let desktop = browser.screenshot().await.unwrap();
    std::fs::write(dir.join("web-page.png"), &desktop).unwrap();

    // A phone-sized screen: nothing wider than the screen.
    browser.set_window_size(390, 844).await.unwrap();
    until(
        browser,
        "a layout that fits a phone",
        "return document.documentElement.scrollWidth <= window.innerWidth;",
    )
    .await;
    until(
        browser,
        "plots redrawn for the narrow screen",
        "return [...document.querySelectorAll('.client .plot img')].every(img => \
         img.complete && img.naturalWidth > 0 && img.naturalWidth <= window.innerWidth);",
    )
    .await;
    let phone = browser.screenshot().await.unwrap();
    std::fs::write(dir.join("web-page-phone.png"), &phone).unwrap();
}

/// A monitor with a token: the page asks for it, then the live stream opens (through the
/// cookie the page sets) and a view from template_dir fills in.
async fn drive_locked(browser: &Browser, http: SocketAddr, token: &str) {
    browser.goto(&format!("http://{http}/")).await.unwrap();
    assert_eq!(
        text_of(browser, "#user-view").await,
        "Pressure at gauge1:  mbar",
        "the client's name is put in; values wait for the live stream"
    );
    until(
        browser,
        "the page asking for the token",
        "return !document.querySelector('#token').hidden && \
         document.querySelector('#live').textContent !== 'live';",
    )
    .await;
    let field = browser.find(Locator::Css("#token")).await.unwrap();
    field.send_keys(token).await.unwrap();
    browser
        .execute("document.querySelector('#token').blur();", vec![])
        .await
        .unwrap();
    until(
        browser,
        "the live stream open with the token",
        "return document.querySelector('#live').textContent === 'live';",
    )
    .await;
    let pressure = until(
        browser,
        "the user view's value filled in",
        "return document.querySelector('#user-view [data-var=\"gauge1.pressure\"]').textContent;",
    )
    .await;
    assert!(
        pressure.as_str().is_some_and(|p| p.contains('e')),
        "shown as 1.23e-4: {pressure}"
    );
}

/// Click the element `selector` finds.
async fn click(browser: &Browser, selector: &str) {
    browser
        .find(Locator::Css(selector))
        .await
        .unwrap_or_else(|err| panic!("{selector}: {err}"))
        .click()
        .await
        .unwrap();
}

/// Type `text` into the `index`th element `selector` finds.
async fn type_into(browser: &Browser, selector: &str, index: usize, text: &str) {
    let fields = browser.find_all(Locator::Css(selector)).await.unwrap();
    let field = fields
        .get(index)
        .unwrap_or_else(|| panic!("{selector} [{index}]: not there"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// The command line's reply once it is about `command`.
async fn reply_to(browser: &Browser, command: &str) -> String {
    let script = format!(
        "const r = document.querySelector('#reply'); \
         return !r.hidden && r.textContent.startsWith({}) ? r.textContent : '';",
        json!(format!("> {command}\n"))
    );
    until(browser, command, &script)
        .await
        .as_str()
        .unwrap()
        .to_string()
}

/// Loop 1's profile editor and start form on the controller's block.
const EDITOR: &str = "#cryo-loop1 form.profile-editor";
const START: &str = "#cryo-loop1 form.profile-start";

/// The steps in loop 1's editor, as (time, setpoint) texts.
async fn steps(browser: &Browser) -> Json {
    browser
        .execute(
            &format!(
                "return [...document.querySelectorAll('{EDITOR} tbody tr')].map(r => \
                 [r.querySelector('[name=time]').value, r.querySelector('[name=setpoint]').value]);"
            ),
            vec![],
        )
        .await
        .unwrap()
}

/// The built-in blocks of a temperature controller and a fermentation chamber, on their
/// simulators: values shown, the chamber's controls, the profile editor's commands, and
/// the planned profile in the controller's plot.
async fn drive_devices(browser: &Browser, http: SocketAddr, port: &Client) {
    browser.set_window_size(1400, 1800).await.unwrap();
    eventually(WAIT, "both devices polled", || async {
        let status = port.call("get_status").await.ok()?;
        let polled = status.get("nconnected") == Some("2")
            && status
                .get("cryo.loop1_setpoint")
                .is_some_and(|v| !v.is_empty())
            && status
                .get("ferm1.beer_temperature")
                .is_some_and(|v| !v.is_empty());
        polled.then_some(())
    })
    .await;
    open_live(browser, http).await;

    // Values fill in: the controller's input A in kelvin, the chamber's beer.
    let temp_a = until(
        browser,
        "input A's temperature",
        "return document.querySelector('[data-var=\"cryo.temp_a\"]').textContent;",
    )
    .await;
    let kelvin: f64 = temp_a.as_str().unwrap().parse().unwrap();
    // The simulated cold stage cools from room temperature.
    assert!((4.0..320.0).contains(&kelvin), "a cold stage: {temp_a}");
    let beer = until(
        browser,
        "the beer temperature",
        "return document.querySelector('[data-var=\"ferm1.beer_temperature\"]').textContent;",
    )
    .await;
    let celsius: f64 = beer.as_str().unwrap().parse().unwrap();
    assert!((10.0..30.0).contains(&celsius), "a room: {beer}");
    assert_eq!(
        text_of(browser, "[data-var=\"ferm1.alarm_probe_fault\"]").await,
        "ok"
    );
    assert_eq!(text_of(browser, "[data-var=\"ferm1.heater\"]").await, "off");

    // The chamber's controls: a mode button and the setpoint form.
    click(
        browser,
        "button[data-command=\"send ferm1 set_mode mode=constant\"]",
    )
    .await;
    until(
        browser,
        "mode constant",
        "return document.querySelector('[data-var=\"ferm1.mode\"]').textContent === 'constant';",
    )
    .await;
    type_into(
        browser,
        "form[data-command=\"send ferm1 set_setpoint value={value}\"] input",
        0,
        "19.5",
    )
    .await;
    click(
        browser,
        "form[data-command=\"send ferm1 set_setpoint value={value}\"] button",
    )
    .await;
    until(
        browser,
        "the chamber's new setpoint",
        "return document.querySelector('[data-var=\"ferm1.setpoint\"]').textContent === '19.50';",
    )
    .await;

    // A step the editor cannot read is refused on the page: nothing is sent.
    type_into(browser, &format!("{EDITOR} [name=time]"), 0, "2 hours").await;
    type_into(browser, &format!("{EDITOR} [name=setpoint]"), 0, "250").await;
    click(browser, &format!("{EDITOR} button[type=submit]")).await;
    let refused = reply_to(browser, "send cryo profile_load loop=1 points=?").await;
    assert!(refused.contains("Step 1: enter a time"), "{refused}");
    let status = port.call("send cryo profile_status loop=1").await.unwrap();
    assert_eq!(status.get("profile_points").unwrap_or(""), "", "{status}");

    // Two steps typed in the table, loaded with the page's command.
    type_into(browser, &format!("{EDITOR} [name=time]"), 0, "0s").await;
    type_into(browser, &format!("{EDITOR} [name=setpoint]"), 0, "295").await;
    click(browser, &format!("{EDITOR} button[data-step=add]")).await;
    type_into(browser, &format!("{EDITOR} [name=time]"), 1, "2h").await;
    type_into(browser, &format!("{EDITOR} [name=setpoint]"), 1, "250").await;
    click(browser, &format!("{EDITOR} button[type=submit]")).await;
    let loaded = reply_to(
        browser,
        "send cryo profile_load loop=1 points=0s:295,2h:250",
    )
    .await;
    assert_eq!(
        loaded,
        "> send cryo profile_load loop=1 points=0s:295,2h:250\nok profile_load loop=1 points=2"
    );
    let status = port.call("send cryo profile_status loop=1").await.unwrap();
    assert_eq!(
        status.get("profile_points"),
        Some("0s:295,2h:250"),
        "{status}"
    );

    // Started from the page: the run shows, and the plot draws the plan (the second
    // colour, dashed) up to an hour ahead of now, the right half of the image.
    click(browser, &format!("{START} button:not([type=button])")).await;
    assert_eq!(
        reply_to(browser, "send cryo profile_start loop=1")
            .await
            .lines()
            .nth(1)
            .map(|l| l.starts_with("ok profile_start loop=1 profile=running")),
        Some(true)
    );
    until(
        browser,
        "loop 1's profile running",
        "return document.querySelector('[data-var=\"cryo.loop1_profile\"]').textContent === 'running';",
    )
    .await;
    let plan_pixels = until(
        browser,
        "the planned profile in the plot's future half",
        "const img = document.querySelector('#client-cryo .plot img'); \
         img.scrollIntoView(); \
         if (!window.__planReload) { window.__planReload = true; \
           document.querySelector('#client-cryo .ranges button[data-span=\"3600\"]').click(); return 0; } \
         if (!img.complete || !img.naturalWidth || !img.src.includes('from=-3600')) return 0; \
         const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight; \
         const g = c.getContext('2d'); g.drawImage(img, 0, 0); \
         const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0; \
         for (let y = 40; y < c.height; y++) for (let x = Math.floor(c.width * 0.6); x < c.width; x++) { \
           const i = (y * c.width + x) * 4; if (d[i] === 255 && d[i + 1] === 127 && d[i + 2] === 14) n++; } \
         return n > 20 ? n : 0;",
    )
    .await;
    assert!(plan_pixels.as_u64().unwrap() > 20);

    // A fresh page reads the loaded steps into the table by itself.
    browser.refresh().await.unwrap();
    until(
        browser,
        "the loaded steps read into the editor",
        &format!("return document.querySelectorAll('{EDITOR} tbody tr').length === 2;"),
    )
    .await;
    assert_eq!(steps(browser).await, json!([["0s", "295"], ["2h", "250"]]));

    browser
        .execute("window.scrollTo(0, 0);", vec![])
        .await
        .unwrap();
    let shot = browser.screenshot().await.unwrap();
    std::fs::write(artifacts().join("web-devices.png"), &shot).unwrap();

    // On a phone the loops, the step table and the forms fit the screen.
    browser.set_window_size(390, 844).await.unwrap();
    until(
        browser,
        "the devices' blocks fit a phone",
        "return document.documentElement.scrollWidth <= window.innerWidth;",
    )
    .await;
    let shot = browser.screenshot().await.unwrap();
    std::fs::write(artifacts().join("web-devices-phone.png"), &shot).unwrap();
}

/// A camera's block: the latest frame stored by the monitor (preview, header, list) on
/// first load, and the next frame swapped in live after the page's own Bias button.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_camera_block_in_a_real_browser() {
    let chromium = installed(&["chromium", "chromium-browser"]);
    let chromedriver = installed(&["chromedriver"]);
    let dir = TempDir::new("web-camera");
    let gauge = daemon("gauge", "g1");
    let cam = Simulated::start(
        "ccd",
        &[
            "--poll-interval",
            "0.1",
            "--name",
            "cam",
            "--sensor",
            "400x300",
        ],
    );
    let config = dir.path().join("monitor.ini");
    std::fs::write(
        &config,
        format!(
            "name = camtest\npoll_interval = 0.2\ndb = history.sqlite\n\
             [gauge1]\nhost = 127.0.0.1\nport = {gauge}\ntemplate = gauge.html\n\
             [cam]\nhost = 127.0.0.1\nport = {cam}\ndescription = Archon, simulated\n",
            gauge = gauge.addr.port(),
            cam = cam.addr.port(),
        ),
    )
    .unwrap();
    let (monitor, http) = labwire_testkit::start_monitor(&config);
    let port = Client::connect(monitor.addr, ClientOptions::default())
        .await
        .unwrap();
    eventually(WAIT, "the camera ready and the gauge polled", || async {
        let status = port.call("get_status").await.ok()?;
        (status.get("cam.state") == Some("idle")
            && status.get("cam.hw_connected") == Some("1")
            && status.get("gauge1.pressure").is_some_and(|p| !p.is_empty()))
        .then_some(())
    })
    .await;
    let expose = port
        .call("send cam expose exptime=0.1 object=\"first light\"")
        .await
        .unwrap();
    assert_eq!(expose.name, "ok", "{expose}");
    eventually(WAIT, "the first frame stored", || async {
        let listed = http_get(http, "/monitor/frames").await;
        listed.contains("\"first light\"").then_some(())
    })
    .await;

    in_browser(&chromium, &chromedriver, "web-camera-profile", |browser| {
        drive_camera(browser, http).boxed()
    })
    .await;
}

/// Run `drive` in a headless Chromium session of its own (its profile a scratch dir
/// named after `profile`), close the browser whatever happens, then report.
async fn in_browser(
    chromium: &Path,
    chromedriver: &Path,
    profile: &str,
    drive: impl for<'b> FnOnce(&'b Browser) -> futures_util::future::BoxFuture<'b, ()>,
) {
    let profile = TempDir::new(profile);
    let (browser, driver) = headless(chromium, chromedriver, &profile).await;
    let outcome = AssertUnwindSafe(drive(&browser)).catch_unwind().await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn drive_camera(browser: &Browser, http: SocketAddr) {
    open_live(browser, http).await;
    // A client of type ccd without a template of its own gets the camera block.
    let block = "#client-cam.ccd";
    assert!(text_of(browser, &format!("{block} .frame-caption"))
        .await
        .contains("first light"));
    until(
        browser,
        "the first preview decoded",
        "const img = document.querySelector('#client-cam .frame-preview'); \
         return img.complete && img.naturalWidth >= 320 ? img.naturalWidth : 0;",
    )
    .await;
    let header = text_of(browser, "#client-cam .frame-header pre").await;
    assert!(
        header.contains("HIERARCH GAUGE1 PRESSURE"),
        "the gauge's state in the header shown: {header}"
    );
    assert_eq!(
        browser
            .execute(
                "return document.querySelectorAll('#client-cam table.frames tbody tr').length;",
                vec![]
            )
            .await
            .unwrap(),
        json!(1)
    );
    browser
        .execute("window.__notReloaded = true;", vec![])
        .await
        .unwrap();

    // The page's own button takes a bias; the new frame arrives without a reload.
    browser
        .find(Locator::Css(
            "#client-cam button[data-command$=\"imagetype=bias shutter=closed\"]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        browser,
        "the bias frame swapped in",
        "const f = document.querySelector('#client-cam .frame'); \
         const img = f.querySelector('.frame-preview'); \
         return f.querySelector('.frame-caption').textContent.includes('bias') && \
           f.querySelector('pre').textContent.includes(\"IMAGETYP= 'bias\") && \
           img.complete && img.naturalWidth >= 320 && \
           document.querySelectorAll('#client-cam table.frames tbody tr').length === 2;",
    )
    .await;
    let link = browser
        .execute(
            "return document.querySelector('#client-cam .frame-link').getAttribute('href');",
            vec![],
        )
        .await
        .unwrap();
    let fits = http_get(http, link.as_str().unwrap()).await;
    assert!(
        fits.starts_with("SIMPLE  ="),
        "the download link gives the FITS file"
    );
    assert_eq!(
        browser
            .execute("return window.__notReloaded === true;", vec![])
            .await
            .unwrap(),
        json!(true)
    );
    let shot = browser.screenshot().await.unwrap();
    std::fs::write(artifacts().join("web-camera.png"), &shot).unwrap();
}

/// The views of the past: a plot of any variables built in the page (two units, so two
/// axes), its URL opened again, zoomed by dragging across it, its CSV; a configured plot
/// zoomed the same way; the state at a time, and its link to a plot of the moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plots_of_any_variables_zoom_and_time_travel_in_a_real_browser() {
    let chromium = installed(&["chromium", "chromium-browser"]);
    let chromedriver = installed(&["chromedriver"]);
    let dir = TempDir::new("web-archive");
    let gauge = daemon("gauge", "g1");
    let psu = daemon("psu", "p1");
    let config = dir.path().join("monitor.ini");
    std::fs::write(
        &config,
        format!(
            "name = archivetest\npoll_interval = 0.2\nstore_interval = 0.5\ndb = history.sqlite\n\
             [gauge1]\nhost = 127.0.0.1\nport = {gauge}\ntemplate = gauge.html\n\
             [[plots]]\n[[[pressure]]]\nname = Cryostat pressure\n\
             values = time, pressure\nylabel = Pressure [mbar]\nyscale = log\n\
             [psu1]\nhost = 127.0.0.1\nport = {psu}\ntemplate = psu.html\n",
            gauge = gauge.addr.port(),
            psu = psu.addr.port(),
        ),
    )
    .unwrap();
    let (_monitor, http) = labwire_testkit::start_monitor(&config);
    // Half a minute of history, so that a zoom into it finds samples.
    eventually(Duration::from_secs(60), "15 s of history", || async {
        let csv = http_get(
            http,
            "/monitor/history?var=gauge1.pressure&var=psu1.ch1_voltage&from=-60",
        )
        .await;
        let first: f64 = csv.lines().nth(1)?.split(',').next()?.parse().ok()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        (first < now - 15.0 && csv.contains("psu1.ch1_voltage")).then_some(())
    })
    .await;

    in_browser(&chromium, &chromedriver, "web-archive-profile", |browser| {
        drive_archive(browser, http).boxed()
    })
    .await;
}

/// Drag across `selector`'s image from `from` to `to`, fractions of its width from its
/// left edge, through WebDriver's pointer actions (the browser's own pointer events).
async fn drag_across(browser: &Browser, selector: &str, from: f64, to: f64) {
    use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
    let img = browser.find(Locator::Css(selector)).await.unwrap();
    let width = browser
        .execute(
            "return document.querySelector(arguments[0]).getBoundingClientRect().width;",
            vec![json!(selector)],
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    // Offsets are from the element's centre.
    let at = |fraction: f64| (fraction - 0.5) * width;
    let mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: img,
            duration: None,
            x: at(from),
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveBy {
            duration: Some(Duration::from_millis(200)),
            x: at(to) - at(from),
            y: 0.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    browser.perform_actions(mouse).await.unwrap();
}

/// The builder's image once it shows the `var`s asked (and is loaded): its src.
async fn builder_plot(browser: &Browser, wanted: &str) -> String {
    let script = format!(
        "const img = document.querySelector('#builder-img'); \
         return !document.querySelector('#builder-figure').hidden && img.complete && \
         img.naturalWidth > 0 && img.src.includes({}) ? img.src : '';",
        json!(wanted)
    );
    until(browser, wanted, &script)
        .await
        .as_str()
        .unwrap()
        .to_string()
}

/// Open the page and wait until its event stream is open.
async fn open_live(browser: &Browser, http: SocketAddr) {
    browser.goto(&format!("http://{http}/")).await.unwrap();
    until(
        browser,
        "the live stream open",
        "return document.querySelector('#live').textContent === 'live';",
    )
    .await;
}

async fn drive_archive(browser: &Browser, http: SocketAddr) {
    open_live(browser, http).await;

    // Pick a voltage and a pressure from the searchable list of stored variables.
    type_into(browser, "#builder-search", 0, "ch1_volt").await;
    let listed = until(
        browser,
        "the search's matches",
        "const found = [...document.querySelectorAll('#builder-matches button')].map(b => b.dataset.add); \
         return found.length && found.every(v => v.includes('ch1_volt')) ? found : null;",
    )
    .await;
    assert_eq!(
        listed,
        json!(["psu1.ch1_voltage", "psu1.ch1_voltage_set"]),
        "only what matches"
    );
    let picked = "#builder-matches button[data-add='psu1.ch1_voltage']";
    click(browser, picked).await;
    type_into(browser, "#builder-search", 0, "press").await;
    let pressure = "#builder-matches button[data-add='gauge1.pressure']";
    until(
        browser,
        "the pressure found",
        &format!("return !!document.querySelector(\"{pressure}\");"),
    )
    .await;
    click(browser, pressure).await;
    type_into(browser, "#builder-from", 0, "-30\n").await;
    let src = builder_plot(browser, "from=-30").await;
    assert!(
        src.contains("var=psu1.ch1_voltage") && src.contains("var=gauge1.pressure"),
        "{src}"
    );
    // The plot is in the page's URL: opening it again rebuilds the plot.
    let shared = browser
        .execute("return location.href;", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        shared.contains("var=psu1.ch1_voltage&var=gauge1.pressure") && shared.contains("from=-30"),
        "{shared}"
    );
    browser.goto(&shared).await.unwrap();
    builder_plot(browser, "var=gauge1.pressure").await;
    let chosen = browser
        .execute(
            "return [...document.querySelectorAll('#builder-chosen li')].map(li => li.firstChild.textContent);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(chosen, json!(["psu1.ch1_voltage", "gauge1.pressure"]));

    // Drag across the last part: the plot shows that range, fixed, and says so.
    drag_across(browser, "#builder-img", 0.55, 0.95).await;
    let zoomed = until(
        browser,
        "the builder's plot zoomed",
        "const d = document.querySelector('#builder-img').dataset; \
         return d.to && !document.querySelector('#builder-figure .plot-live').hidden \
           ? [Number(d.from), Number(d.to), document.querySelector('#builder-to').value, location.search] : null;",
    )
    .await;
    let (from, to) = (zoomed[0].as_f64().unwrap(), zoomed[1].as_f64().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        to > from && to - from < 20.0 && to - from > 5.0,
        "some 40 % of half a minute: {from}..{to}"
    );
    assert!(
        from > now - 40.0 && to < now + 5.0,
        "{from}..{to} is in the last half minute"
    );
    assert!(zoomed[3].as_str().unwrap().contains("to="), "{zoomed}");
    builder_plot(browser, &format!("to={}", zoomed[1].as_f64().unwrap())).await;

    // Its CSV holds what it shows: both variables, that range.
    let csv = browser
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             const href = document.querySelector('#builder-figure .plot-csv').href; \
             fetch(href).then(r => r.text()).then(text => done([href, text]));",
            vec![],
        )
        .await
        .unwrap();
    let (href, text) = (csv[0].as_str().unwrap(), csv[1].as_str().unwrap());
    assert!(
        href.contains("format=csv") && href.contains("to="),
        "{href}"
    );
    assert!(text.starts_with("time,utc,variable,value\r\n"), "{text}");
    assert!(text.contains(",gauge1.pressure,"), "{text}");
    assert!(text.lines().count() > 5, "{text}");
    for row in text.lines().skip(1) {
        let t: f64 = row.split(',').next().unwrap().parse().unwrap();
        assert!(from <= t && t <= to, "{t} outside {from}..{to}");
    }

    // Back to the range before the zoom.
    click(browser, "#builder-figure .plot-live").await;
    until(
        browser,
        "the builder back to live",
        "return !document.querySelector('#builder-img').dataset.to && \
           document.querySelector('#builder-from').value === '-30';",
    )
    .await;

    // A configured plot zooms the same way; its range buttons bring it back.
    let configured = "#client-gauge1 .plot img";
    until(
        browser,
        "the configured plot drawn",
        &format!("const img = document.querySelector('{configured}'); return img.complete && img.naturalWidth;"),
    )
    .await;
    drag_across(browser, configured, 0.6, 0.95).await;
    until(
        browser,
        "the configured plot zoomed",
        &format!(
            "const img = document.querySelector('{configured}'); \
             return img.dataset.to && img.src.includes('to=') && \
               img.closest('.plot').querySelector('.plot-csv').href.includes('to=');"
        ),
    )
    .await;
    click(
        browser,
        "#client-gauge1 .plot .ranges button[data-span='900']",
    )
    .await;
    until(
        browser,
        "the configured plot live again",
        &format!(
            "const img = document.querySelector('{configured}'); \
             return !img.dataset.to && img.src.includes('from=-900') && \
               img.closest('.plot').querySelector('.plot-live').hidden;"
        ),
    )
    .await;

    // The state a second ago: every client's variables as stored then.
    let moment = browser
        .execute("return new Date(Date.now() - 1000).toISOString();", vec![])
        .await
        .unwrap();
    let moment = moment.as_str().unwrap();
    type_into(browser, "#travel-at", 0, moment).await;
    click(browser, "#travel-form button[type=submit]").await;
    let rows = until(
        browser,
        "the state at a time",
        "const rows = [...document.querySelectorAll('#travel-result table[data-client=psu1] tr')]; \
         return rows.length > 5 ? rows.map(r => [...r.children].map(c => c.textContent)) : null;",
    )
    .await;
    let voltage = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == "ch1_voltage")
        .unwrap_or_else(|| panic!("no ch1_voltage in {rows}"));
    assert!(
        voltage[1].as_str().unwrap().parse::<f64>().is_ok(),
        "{voltage}"
    );
    assert!(
        voltage[2].as_str().unwrap().ends_with(" s"),
        "its age: {voltage}"
    );
    assert!(text_of(browser, "#travel-result table[data-client=gauge1] caption").await == "gauge1");
    let search = browser
        .execute("return location.search;", vec![])
        .await
        .unwrap();
    assert!(search.as_str().unwrap().contains("at="), "{search}");
    browser
        .execute(
            "document.querySelector('#plot-builder').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    let shot = browser.screenshot().await.unwrap();
    std::fs::write(artifacts().join("web-archive.png"), shot).unwrap();

    // Each value links to a plot around the moment, the moment marked on it.
    browser
        .execute(
            "[...document.querySelectorAll('#travel-result table[data-client=psu1] tr')] \
               .find(r => r.firstChild.textContent === 'ch1_voltage').querySelector('a').click();",
            vec![],
        )
        .await
        .unwrap();
    let src = builder_plot(browser, "var=psu1.ch1_voltage").await;
    assert!(src.contains("at="), "the moment marked: {src}");
    // The mark is the plot's one pure black line.
    let black = browser
        .execute(
            "const img = document.querySelector('#builder-img'); \
             const canvas = document.createElement('canvas'); \
             canvas.width = img.naturalWidth; canvas.height = img.naturalHeight; \
             const g = canvas.getContext('2d'); g.drawImage(img, 0, 0); \
             const px = g.getImageData(0, 0, canvas.width, canvas.height).data; \
             let n = 0; \
             for (let i = 0; i < px.length; i += 4) if (!px[i] && !px[i + 1] && !px[i + 2]) n++; \
             return n;",
            vec![],
        )
        .await
        .unwrap();
    assert!(black.as_u64().unwrap() > 50, "{black} black pixels");
    until(
        browser,
        "the state at that moment shown again",
        "return document.querySelectorAll('#travel-result tr').length > 5;",
    )
    .await;
}

/// The logbook on the page: the log filtered (by level, source and text) with matching
/// live lines joining it and older pages below; the alarm history with an alarm's raise,
/// acknowledgement and clearing and its plot; the monitor's health, and its heartbeat
/// set from the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logbook_in_a_real_browser() {
    let chromium = installed(&["chromium", "chromium-browser"]);
    let chromedriver = installed(&["chromedriver"]);
    let dir = TempDir::new("web-logbook");
    let psu = daemon("psu", "p1");
    let config = dir.path().join("monitor.ini");
    std::fs::write(
        &config,
        format!(
            "name = logbooktest\npoll_interval = 0.2\ndb = history.sqlite\n\
             [psu1]\nhost = 127.0.0.1\nport = {psu}\ntemplate = psu.html\n\
             [[alarms]]\nch1_voltage_set = , 4\n",
            psu = psu.addr.port(),
        ),
    )
    .unwrap();
    let (monitor, http) = labwire_testkit::start_monitor(&config);
    let port = Client::connect(monitor.addr, ClientOptions::default())
        .await
        .unwrap();
    eventually(WAIT, "the supply polled", || async {
        let status = port.call("get_status").await.ok()?;
        status.get("psu1.ch1_voltage_set").map(|_| ())
    })
    .await;
    // A hundred and twenty lines, so the log has an older page (from two connections:
    // one may log a hundred at once); and an alarm's life.
    let second = Client::connect(monitor.addr, ClientOptions::default())
        .await
        .unwrap();
    for n in 0..120 {
        let level = if n % 40 == 0 { "warning" } else { "info" };
        let line = if n < 60 { &port } else { &second }
            .request(
                labwire_protocol::Message::new("log")
                    .arg(level)
                    .arg(format!("line {n}")),
            )
            .await
            .unwrap();
        assert_eq!(line.name, "ok", "{line}");
    }
    for command in [
        "send psu1 set_voltage ch=1 value=5",
        "ack psu1.ch1_voltage_set",
        "send psu1 set_voltage ch=1 value=3",
    ] {
        let reply = port.call(command).await.unwrap();
        assert_eq!(reply.name, "ok", "{command}: {reply}");
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    eventually(WAIT, "the alarm's clearing stored", || async {
        let page = http_get(http, "/monitor/alarms?state=cleared").await;
        page.contains("psu1.ch1_voltage_set").then_some(())
    })
    .await;

    in_browser(
        &chromium,
        &chromedriver,
        "web-logbook-profile",
        move |browser| drive_logbook(browser, http, port).boxed(),
    )
    .await;
}

async fn drive_logbook(browser: &Browser, http: SocketAddr, port: Client) {
    open_live(browser, http).await;
    let lines =
        "return [...document.querySelectorAll('#logs li .message')].map(m => m.textContent);";

    // Filtered: warnings and above from scripts.
    browser
        .execute(
            "const f = document.querySelector('#log-filter'); f.elements.source.value = 'script'; \
             f.elements.level.value = 'warning';",
            vec![],
        )
        .await
        .unwrap();
    click(browser, "#log-filter button[type=submit]").await;
    let shown = until(
        browser,
        "the warnings from scripts",
        &format!("const l = (() => {{ {lines} }})(); return l.length === 3 && l[0] === 'line 80' ? l : null;"),
    )
    .await;
    assert_eq!(shown, json!(["line 80", "line 40", "line 0"]));
    // A live line that matches joins at the top; one that does not, not.
    for (level, text) in [("info", "quiet news"), ("warning", "loud news")] {
        let reply = port
            .request(labwire_protocol::Message::new("log").arg(level).arg(text))
            .await
            .unwrap();
        assert_eq!(reply.name, "ok");
    }
    until(
        browser,
        "the matching live line",
        &format!("const l = (() => {{ {lines} }})(); return l[0] === 'loud news';"),
    )
    .await;
    let shown = browser.execute(lines, vec![]).await.unwrap();
    assert!(!shown.to_string().contains("quiet news"), "{shown}");

    // Text, any case, and the older page below the first.
    browser
        .execute(
            "const f = document.querySelector('#log-filter'); f.elements.level.value = ''; \
             f.elements.text.value = 'LINE';",
            vec![],
        )
        .await
        .unwrap();
    click(browser, "#log-filter button[type=submit]").await;
    until(
        browser,
        "a first page of lines",
        &format!("const l = (() => {{ {lines} }})(); return l.length === 100 && l[0] === 'line 119' && !document.querySelector('#log-older').hidden;"),
    )
    .await;
    click(browser, "#log-older").await;
    let older = until(
        browser,
        "the older page",
        &format!("const l = (() => {{ {lines} }})(); return l.length === 120 ? l[119] : null;"),
    )
    .await;
    assert_eq!(older, json!("line 0"));
    assert_eq!(
        browser
            .execute(
                "return document.querySelector('#log-older').hidden;",
                vec![]
            )
            .await
            .unwrap(),
        json!(true)
    );

    // The alarm history: raised, acknowledged, cleared, and its plot.
    let row = until(
        browser,
        "the alarm in the history",
        "const r = [...document.querySelectorAll('#alarm-rows tr')].find(r => \
         r.cells[0].textContent === 'psu1.ch1_voltage_set'); \
         return r && r.cells[5].textContent ? [...r.cells].map(c => c.textContent) : null;",
    )
    .await;
    let cells: Vec<&str> = row
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(&cells[1..3], ["high", "5"]);
    for when in &cells[3..6] {
        assert!(when.ends_with('Z'), "a UTC time: {cells:?}");
    }
    assert!(cells[3] <= cells[4] && cells[4] <= cells[5], "{cells:?}");
    let plot = browser
        .execute(
            "return document.querySelector('#alarm-rows a.alarm-plot').getAttribute('href');",
            vec![],
        )
        .await
        .unwrap();
    let plot = plot.as_str().unwrap();
    assert!(
        plot.starts_with("/monitor/plot?var=psu1.ch1_voltage_set&from="),
        "{plot}"
    );
    assert!(plot.contains("&at="), "the raise marked: {plot}");
    browser
        .execute(
            "const f = document.querySelector('#alarm-filter'); f.elements.state.value = 'active';",
            vec![],
        )
        .await
        .unwrap();
    click(browser, "#alarm-filter button[type=submit]").await;
    until(
        browser,
        "no active alarm",
        "return !document.querySelector('#alarm-none').hidden && \
         document.querySelectorAll('#alarm-rows tr').length === 0;",
    )
    .await;

    // The monitor's health, and its heartbeat set from the page.
    let polls = until(
        browser,
        "polls per second shown",
        "const t = document.querySelector('[data-runtime=polls_per_second]').textContent; \
         return Number(t) > 0 ? t : null;",
    )
    .await;
    assert!(
        polls.as_str().unwrap().parse::<f64>().unwrap() > 1.0,
        "{polls}"
    );
    assert_eq!(text_of(browser, "[data-runtime=heartbeat]").await, "60 s");
    assert_eq!(text_of(browser, "[data-runtime=connected]").await, "1 of 1");
    type_into(browser, "#runtime form.heartbeat input", 0, "2.5").await;
    click(browser, "#runtime form.heartbeat button").await;
    assert_eq!(
        reply_to(browser, "set interval=2.5").await,
        "> set interval=2.5\nok set interval=2.5 was=60"
    );
    until(
        browser,
        "the new heartbeat shown",
        "return document.querySelector('[data-runtime=heartbeat]').textContent === '2.5 s';",
    )
    .await;
    browser
        .execute(
            "document.querySelector('#log-panel').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    let shot = browser.screenshot().await.unwrap();
    std::fs::write(artifacts().join("web-logbook.png"), &shot).unwrap();
}
