//! The gauge daemon end to end: the real binary in simulation, and the device in-process
//! against a simulator whose faults the test injects.

use labwire_daemon::hardware::HardwareConfig;
use labwire_daemon::{Daemon, ServerConfig};
use labwire_gauge::device::Gauge;
use labwire_gauge::driver::LineEnd;
use labwire_protocol::{parse_number, Message};
use labwire_sim::gauge::{GaugeOptions, Interface, Unit};
use labwire_sim::Fault;
use labwire_testkit::{connect as client, number, status_where, Simulated, TempDir, WAIT};
use std::net::SocketAddr;
use std::time::Duration;

/// The daemon's unit words, in `UNI` code order, with the simulator's units.
const UNITS: [(&str, Unit); 6] = [
    ("mbar", Unit::Mbar),
    ("torr", Unit::Torr),
    ("pa", Unit::Pa),
    ("micron", Unit::Micron),
    ("hpa", Unit::Hpa),
    ("volt", Unit::Volt),
];

fn pressure_near(s: &Message, mbar: f64) -> bool {
    s.get("pressure")
        .and_then(parse_number)
        .is_some_and(|p| (p / mbar - 1.0).abs() < 0.2)
}

#[tokio::test]
async fn simulated_gauge_binary_end_to_end() {
    let mut daemon = Simulated::start("gauge", &["--poll-interval", "0.1", "--name", "gauge7"]);
    let c = client(daemon.addr).await;
    let id = c.call("get_id").await.unwrap();
    assert_eq!(
        (id.get("name"), id.get("type"), id.get("protocol")),
        (Some("gauge7"), Some("gauge"), Some("1"))
    );

    let status = status_where(&c, "a first reading", |s| {
        s.get("hw_connected") == Some("1") && s.get("pressure").is_some_and(|p| !p.is_empty())
    })
    .await;
    assert!(number(&status, "pressure") > 0.0);
    assert_eq!(status.get("gauge_status"), Some("0"));
    assert_eq!(status.get("gauge_status_text"), Some("ok"));
    assert_eq!(status.get("unit"), Some("mbar"));
    assert!(!status.get("gauge_type").unwrap().is_empty());

    let help = c.call("help").await.unwrap();
    assert!(help
        .get("set_unit")
        .unwrap()
        .contains("mbar|torr|pa|micron|hpa|volt"));
    assert!(help.get("reconnect").is_some());

    assert_eq!(
        c.call("set_unit unit=torr").await.unwrap().to_line(),
        "ok set_unit unit=torr"
    );
    status_where(&c, "unit=torr", |s| s.get("unit") == Some("torr")).await;
    let refused = c.call("set_unit unit=psi").await.unwrap();
    assert_eq!(refused.error_code(), Some("bad_argument"));
    assert!(refused
        .error_message()
        .unwrap()
        .contains("mbar, torr, pa, micron, hpa, volt"));
    assert_eq!(
        c.call("get_status").await.unwrap().get("unit"),
        Some("torr"),
        "state unchanged"
    );

    let measured = c.call("measure").await.unwrap();
    assert_eq!(measured.name, "ok");
    assert!(number(&measured, "pressure") > 0.0);

    assert_eq!(c.call("exit").await.unwrap().to_line(), "ok exit");
    let exit = daemon.wait_exit(WAIT).expect("daemon exits after exit");
    assert!(exit.success());
}

#[tokio::test]
async fn token_protects_the_binary_and_sigterm_stops_it_cleanly() {
    let dir = TempDir::new("gauge-token");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "hunter2\n").unwrap();
    let mut daemon = Simulated::start("gauge", &["--token-file", token_file.to_str().unwrap()]);
    let c = client(daemon.addr).await;
    assert_eq!(
        c.call("get_status").await.unwrap().error_code(),
        Some("forbidden")
    );
    assert_eq!(
        c.call("exit").await.unwrap().error_code(),
        Some("forbidden")
    );
    assert_eq!(
        c.call("get_id").await.unwrap().name,
        "id",
        "still running after a refused exit"
    );
    assert_eq!(c.call("auth token=hunter2").await.unwrap().name, "ok");
    assert_eq!(c.call("get_status").await.unwrap().name, "status");
    let exit = daemon.terminate(WAIT).expect("SIGTERM stops the daemon");
    assert!(exit.success(), "clean stop exits 0, got {exit:?}");
}

/// Every unit through the real binary and its simulator, switched as a user would.
#[tokio::test]
async fn binary_works_in_every_unit() {
    let daemon = Simulated::start("gauge", &["--poll-interval", "0.05"]);
    let c = client(daemon.addr).await;
    let logs = client(daemon.addr).await;
    let mut events = logs.take_events().unwrap();
    assert_eq!(logs.call("subscribe log").await.unwrap().name, "ok");
    for (word, _) in UNITS {
        assert_eq!(
            c.call(&format!("set_unit {word}")).await.unwrap().to_line(),
            format!("ok set_unit unit={word}")
        );
        let status = status_where(&c, word, |s| {
            s.get("unit") == Some(word) && s.get("gauge_status") == Some("0")
        })
        .await;
        let measured = c.call("measure").await.unwrap();
        assert_eq!(measured.get("unit"), Some(word), "{measured}");
        if word == "volt" {
            assert_eq!(status.get("measurement"), Some("voltage"), "{status}");
            assert_eq!(status.get("pressure"), Some(""), "{status}");
            let volts = number(&status, "voltage");
            assert!(volts > 0.0 && volts <= 10.0, "{status}");
            assert_eq!(measured.get("pressure"), Some(""), "{measured}");
            assert!(number(&measured, "voltage") > 0.0, "{measured}");
        } else {
            assert_eq!(status.get("measurement"), Some("pressure"), "{status}");
            assert_eq!(status.get("voltage"), Some(""), "{status}");
            // The simulated chamber pumps down from 1000 mbar; in mbar whatever the unit.
            let mbar = number(&status, "pressure");
            assert!(mbar > 0.0 && mbar < 1100.0, "{status}");
            assert!(number(&measured, "pressure") > 0.0, "{measured}");
        }
    }
    assert_eq!(number(&c.call("get_status").await.unwrap(), "errors"), 0.0);
    let warned = tokio::time::timeout(WAIT, async {
        while let Some(event) = events.recv().await {
            if event.get("level") == Some("warning")
                && event
                    .get("message")
                    .is_some_and(|m| m.contains("Volt mode"))
            {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(warned, Ok(true), "a warning says why pressure is empty");
}

/// `--simulate --rs485` runs the simulator on RS-485, where it refuses an LF: readings
/// without errors show the daemon ends its mnemonics with CR alone.
#[tokio::test]
async fn rs485_flag_ends_mnemonics_with_cr_alone() {
    let daemon = Simulated::start("gauge", &["--poll-interval", "0.05", "--rs485"]);
    let c = client(daemon.addr).await;
    status_where(&c, "a reading", |s| {
        s.get("pressure").is_some_and(|p| !p.is_empty())
    })
    .await;
    assert_eq!(
        c.call("set_unit hpa").await.unwrap().to_line(),
        "ok set_unit unit=hpa"
    );
    let status = status_where(&c, "hpa", |s| s.get("unit") == Some("hpa")).await;
    assert_eq!(number(&status, "errors"), 0.0, "{status}");
}

struct InProcess {
    sim: labwire_sim::SimHandle<labwire_sim::gauge::GaugeControl>,
    daemon: Daemon,
}

async fn in_process() -> InProcess {
    in_process_with(GaugeOptions::default(), LineEnd::CrLf).await
}

/// A gauge found in `unit`, its pressure held at `mbar` without noise.
async fn steady_in_process(unit: Unit, mbar: f64) -> InProcess {
    let options = GaugeOptions {
        unit,
        initial_pressure_mbar: mbar,
        ..GaugeOptions::default()
    };
    let t = in_process_with(options, LineEnd::CrLf).await;
    t.sim.control().hold();
    t.sim.control().set_noise(0.0);
    t.sim.control().set_pressure_mbar(mbar);
    t
}

async fn in_process_with(options: GaugeOptions, line_end: LineEnd) -> InProcess {
    let sim = labwire_sim::gauge::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), options)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig {
        name: "gauge1".into(),
        hardware: HardwareConfig {
            poll_interval: Duration::from_millis(50),
            operation_timeout: Duration::from_secs(2),
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
        },
        ..ServerConfig::default()
    };
    let device = Gauge::new(
        sim.local_addr().to_string(),
        Duration::from_millis(300),
        line_end,
    );
    let daemon = Daemon::start(listener, config, device);
    InProcess { sim, daemon }
}

#[tokio::test]
async fn pressure_is_reported_in_mbar_whatever_the_display_unit() {
    let t = in_process().await;
    let c = client(t.daemon.local_addr()).await;
    t.sim.control().set_pressure_mbar(2.5e-3);
    let status = status_where(&c, "pressure near 2.5e-3", |s| pressure_near(s, 2.5e-3)).await;
    assert_eq!(status.get("unit"), Some("mbar"));
    assert_eq!(c.call("set_unit pa").await.unwrap().name, "ok");
    assert_eq!(
        t.sim.control().unit(),
        Unit::Pa,
        "the controller itself changed unit"
    );
    t.sim.control().set_pressure_mbar(4.0e-2);
    status_where(&c, "4e-2 mbar while the gauge shows Pa", |s| {
        s.get("unit") == Some("pa") && pressure_near(s, 4.0e-2)
    })
    .await;
}

#[tokio::test]
async fn sensor_status_without_a_valid_reading_reports_no_pressure() {
    let t = in_process().await;
    let c = client(t.daemon.local_addr()).await;
    status_where(&c, "connected", |s| s.get("hw_connected") == Some("1")).await;
    t.sim.control().set_sensor_status(4);
    let status = status_where(&c, "sensor off", |s| s.get("gauge_status") == Some("4")).await;
    assert_eq!(status.get("pressure"), Some(""), "no made-up number");
    assert_eq!(status.get("gauge_status_text"), Some("sensor_off"));
    let measured = c.call("measure").await.unwrap();
    assert_eq!(measured.get("pressure"), Some(""));
}

#[tokio::test]
async fn silent_gauge_goes_offline_and_comes_back() {
    let t = in_process().await;
    let c = client(t.daemon.local_addr()).await;
    status_where(&c, "connected", |s| s.get("hw_connected") == Some("1")).await;
    t.sim.set_fault(Fault::Silent);
    let status = status_where(&c, "offline", |s| s.get("hw_connected") == Some("0")).await;
    assert!(number(&status, "errors") >= 1.0);
    assert!(
        status.get("pressure").is_some_and(|p| !p.is_empty()),
        "last value still reported"
    );
    assert_eq!(
        c.call("set_unit torr").await.unwrap().error_code(),
        Some("not_connected")
    );
    t.sim.set_fault(Fault::None);
    status_where(&c, "back online", |s| s.get("hw_connected") == Some("1")).await;
    assert_eq!(c.call("set_unit torr").await.unwrap().name, "ok");
}

#[tokio::test]
async fn nak_and_garbage_are_device_errors_and_disconnects_reconnect() {
    let t = in_process().await;
    let c = client(t.daemon.local_addr()).await;
    status_where(&c, "connected", |s| s.get("hw_connected") == Some("1")).await;

    t.sim.set_fault(Fault::Nak);
    let refused = c.call("set_unit torr").await.unwrap();
    assert_eq!(refused.error_code(), Some("device_error"));
    assert!(
        refused.error_message().unwrap().contains("NAK"),
        "{refused}"
    );

    t.sim.set_fault(Fault::Garbage);
    let garbled = c.call("measure").await.unwrap();
    assert!(garbled.is_error(), "{garbled}");

    t.sim.set_fault(Fault::Disconnect);
    let before = number(&c.call("get_status").await.unwrap(), "errors");
    status_where(&c, "errors counted", |s| number(s, "errors") > before).await;
    t.sim.set_fault(Fault::None);
    let status = status_where(&c, "recovered", |s| {
        s.get("hw_connected") == Some("1") && s.get("gauge_status") == Some("0")
    })
    .await;
    assert_eq!(
        status.get("unit"),
        Some("mbar"),
        "the refused unit change never happened"
    );
}

#[tokio::test]
async fn offline_controller_is_retried_until_it_returns() {
    let t = in_process().await;
    let c = client(t.daemon.local_addr()).await;
    status_where(&c, "connected", |s| s.get("hw_connected") == Some("1")).await;
    t.sim.set_fault(Fault::Offline);
    status_where(&c, "offline", |s| s.get("hw_connected") == Some("0")).await;
    let age = number(&c.call("get_status").await.unwrap(), "status_age");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        number(&c.call("get_status").await.unwrap(), "status_age") > age,
        "age keeps growing"
    );
    t.sim.set_fault(Fault::None);
    status_where(&c, "back", |s| s.get("hw_connected") == Some("1")).await;
    assert_eq!(
        c.call("reconnect").await.unwrap().to_line(),
        "ok reconnect hw_connected=1"
    );
}

fn near(s: &Message, key: &str, expected: f64, tolerance: f64) -> bool {
    s.get(key)
        .and_then(parse_number)
        .is_some_and(|v| (v / expected - 1.0).abs() < tolerance)
}

/// A controller found in any of its six units: mbar from the five pressure units, the
/// gauge's signal in Volt mode. Torr and Micron readings carry the logarithmic gauge's
/// three digits, hence the 1 % tolerance.
#[tokio::test]
async fn a_gauge_found_in_any_unit_is_read() {
    for (word, unit) in UNITS {
        let t = steady_in_process(unit, 2.5e-3).await;
        let c = client(t.daemon.local_addr()).await;
        let status = status_where(&c, word, |s| s.get("gauge_status") == Some("0")).await;
        assert_eq!(status.get("unit"), Some(word), "{status}");
        assert_eq!(number(&status, "errors"), 0.0, "{status}");
        if unit == Unit::Volt {
            assert_eq!(status.get("pressure"), Some(""), "{status}");
            assert_eq!(status.get("measurement"), Some("voltage"));
            // The FullRange characteristic: 6.8 V + 0.6 V per decade of mbar.
            let volts = 6.8 + 0.6 * 2.5e-3f64.log10();
            assert!(near(&status, "voltage", volts, 1e-4), "{status}");
        } else {
            assert!(near(&status, "pressure", 2.5e-3, 0.01), "{word}: {status}");
            assert_eq!(status.get("voltage"), Some(""), "{status}");
            assert_eq!(status.get("measurement"), Some("pressure"));
        }
    }
}

#[tokio::test]
async fn set_unit_takes_all_six_and_the_front_panel_is_followed() {
    let t = steady_in_process(Unit::Mbar, 4.0e-2).await;
    let c = client(t.daemon.local_addr()).await;
    status_where(&c, "connected", |s| s.get("hw_connected") == Some("1")).await;
    for (word, unit) in UNITS {
        let reply = c
            .call(&format!("set_unit unit={}", word.to_uppercase()))
            .await;
        assert_eq!(reply.unwrap().to_line(), format!("ok set_unit unit={word}"));
        assert_eq!(t.sim.control().unit(), unit, "the controller changed unit");
        let measured = c.call("measure").await.unwrap();
        assert_eq!(measured.get("unit"), Some(word));
        if unit == Unit::Volt {
            assert_eq!(measured.get("pressure"), Some(""), "{measured}");
            let volts = 6.8 + 0.6 * 4.0e-2f64.log10();
            assert!(near(&measured, "voltage", volts, 1e-4), "{measured}");
        } else {
            assert!(near(&measured, "pressure", 4.0e-2, 0.01), "{measured}");
            assert_eq!(measured.get("voltage"), Some(""), "{measured}");
        }
    }
    // Changed on the front panel, behind the daemon's back: the next poll follows.
    t.sim.control().set_unit(Unit::Micron);
    let status = status_where(&c, "micron", |s| s.get("unit") == Some("micron")).await;
    assert!(near(&status, "pressure", 4.0e-2, 0.01), "{status}");
    let refused = c.call("set_unit unit=6").await.unwrap();
    assert_eq!(refused.error_code(), Some("bad_argument"), "{refused}");
    assert_eq!(t.sim.control().unit(), Unit::Micron, "state unchanged");
}

#[tokio::test]
async fn rs485_line_end_against_an_rs485_controller() {
    let rs485 = GaugeOptions {
        interface: Interface::Rs485,
        ..GaugeOptions::default()
    };
    let t = in_process_with(rs485.clone(), LineEnd::Cr).await;
    let c = client(t.daemon.local_addr()).await;
    status_where(&c, "a reading", |s| s.get("gauge_status") == Some("0")).await;
    assert_eq!(c.call("set_unit torr").await.unwrap().name, "ok");
    assert_eq!(number(&c.call("get_status").await.unwrap(), "errors"), 0.0);

    // The same controller driven with CR LF: its LF is refused (NAK) and the exchanges
    // fall out of step, so the daemon never gets connected (the simulator is this strict
    // so that a wrong line end shows).
    let wrong = in_process_with(rs485, LineEnd::CrLf).await;
    let c = client(wrong.daemon.local_addr()).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let status = c.call("get_status").await.unwrap();
    assert_eq!(status.get("hw_connected"), Some("0"), "{status}");
    assert_eq!(status.get("pressure").unwrap_or(""), "", "{status}");
}
