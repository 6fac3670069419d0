//! The ccd daemon's driver against the Archon simulator over real loopback TCP: every
//! command, its validation, the exposure states, the FITS frame read back pixel for
//! pixel, and the faults (offline, silent, `?xx`, a FETCH that stops half-way).

use labwire_ccd::commands::Limits;
use labwire_ccd::{Camera, Config};
use labwire_client::Client;
use labwire_daemon::hardware::HardwareConfig;
use labwire_daemon::{Daemon, ServerConfig, StateFile};
use labwire_protocol::Message;
use labwire_sim::archon::{self, ArchonControl, ArchonOptions, Scene, SensorModel};
use labwire_sim::{Fault, SimHandle};
use labwire_testkit::{bounded, connect, eventually, TempDir, WAIT};
use std::time::Duration;
use tokio::net::TcpListener;

pub const WIDTH: usize = 200;
pub const HEIGHT: usize = 120;

pub struct Rig {
    pub sim: SimHandle<ArchonControl>,
    pub daemon: Daemon,
    pub client: Client,
    _dir: TempDir,
}

impl Rig {
    pub async fn start() -> Rig {
        let options = ArchonOptions {
            sensor: SensorModel {
                width: WIDTH,
                height: HEIGHT,
                ..SensorModel::default()
            },
            pixel_rate: 2.0e6,
            thermal_tau_s: 0.5,
            ..ArchonOptions::default()
        };
        let sim = archon::spawn("127.0.0.1:0".parse().unwrap(), options)
            .await
            .unwrap();
        let dir = TempDir::new("ccd-driver");
        let state = StateFile::open(dir.path().join("ccd.state")).unwrap();
        let config = Config {
            address: sim.local_addr().to_string(),
            timeout: Duration::from_millis(500),
            instrument: "ccd1".into(),
            limits: Limits {
                sensor_width: WIDTH,
                sensor_height: HEIGHT,
                min_setpoint: -130.0,
                max_setpoint: 30.0,
            },
        };
        let camera = Camera::new(config, state).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = ServerConfig {
            name: "ccd1".into(),
            hardware: HardwareConfig {
                poll_interval: Duration::from_millis(50),
                backoff_initial: Duration::from_millis(20),
                backoff_max: Duration::from_millis(200),
                ..HardwareConfig::default()
            },
            ..ServerConfig::default()
        };
        let daemon = Daemon::start(listener, server, camera);
        let client = connect(daemon.local_addr()).await;
        let rig = Rig {
            sim,
            daemon,
            client,
            _dir: dir,
        };
        rig.status_until("the controller connected", |s| {
            s.get("hw_connected") == Some("1")
        })
        .await;
        rig
    }

    pub fn control(&self) -> &ArchonControl {
        self.sim.control()
    }

    pub async fn ask(&self, line: &str) -> Message {
        self.client
            .call(line)
            .await
            .unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    pub async fn ok(&self, line: &str) -> Message {
        let reply = self.ask(line).await;
        assert_eq!(reply.name, "ok", "{line} -> {reply:?}");
        reply
    }

    pub async fn refused(&self, line: &str, code: &str) -> Message {
        let reply = self.ask(line).await;
        assert_eq!(reply.name, "error", "{line} -> {reply:?}");
        assert_eq!(reply.get("code"), Some(code), "{line} -> {reply:?}");
        reply
    }

    pub async fn status_until(&self, what: &str, accept: impl Fn(&Message) -> bool) -> Message {
        eventually(WAIT, what, || async {
            let status = self.client.call("get_status").await.ok()?;
            accept(&status).then_some(status)
        })
        .await
    }

    /// Expose and wait for the frame to be read out; its id.
    pub async fn take(&self, line: &str) -> u64 {
        let reply = self.ok(line).await;
        let id: u64 = reply.get("frame_id").unwrap().parse().unwrap();
        let want = id.to_string();
        self.status_until("the frame read out", |s| {
            s.get("frame_id") == Some(want.as_str()) && s.get("state") == Some("idle")
        })
        .await;
        id
    }
}

fn le_pixels(raw: &[u8]) -> Vec<u16> {
    raw.chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect()
}

#[tokio::test]
async fn a_frame_is_read_back_pixel_for_pixel_with_its_header() {
    bounded(async {
        let rig = Rig::start().await;
        rig.control().set_scene(Scene::Lamp);
        rig.ok("set_keywords cryo.temp_a=77.25 gauge.pressure=1.5e-6 lab.note=\"Bob's lamp\"")
            .await;
        let id = rig
            .take("expose exptime=0.3 imagetype=flat object=\"dome flat\"")
            .await;
        assert_eq!(id, 1);
        let reply = rig.ok("get_frame").await;
        assert_eq!(reply.get("format"), Some("fits"));
        assert_eq!(reply.get("id"), Some("1"));
        let fits = reply.payload.expect("a FITS payload");
        let image = labwire_fits::read_u16_image(&fits).unwrap();
        assert_eq!((image.width, image.height), (WIDTH, HEIGHT));
        let (raw, w, h) = rig.control().last_frame().unwrap();
        assert_eq!((w, h), (WIDTH, HEIGHT));
        assert_eq!(image.pixels, le_pixels(&raw));
        let header = &image.header;
        let text = |key: &str| {
            header
                .get(key)
                .and_then(|v| v.as_text())
                .map(str::to_string)
        };
        let real = |key: &str| header.get(key).and_then(|v| v.as_real());
        assert_eq!(text("IMAGETYP").as_deref(), Some("flat"));
        assert_eq!(text("OBJECT").as_deref(), Some("dome flat"));
        assert_eq!(text("INSTRUME").as_deref(), Some("ccd1"));
        assert_eq!(text("lab.note").as_deref(), Some("Bob's lamp"));
        assert_eq!(real("cryo.temp_a"), Some(77.25));
        assert_eq!(real("gauge.pressure"), Some(1.5e-6));
        let exptime = real("EXPTIME").unwrap();
        assert!((exptime - 0.3).abs() < 0.01, "EXPTIME {exptime}");
        assert!(text("DATE-OBS").unwrap().starts_with("20"));
        assert_eq!(real("CCD-TEMP"), Some(-100.0));
        // The flat is well above the bias level.
        let mean = image.pixels.iter().map(|&p| p as f64).sum::<f64>() / image.pixels.len() as f64;
        assert!(mean > 1200.0, "mean {mean}");
        let status = rig.ok_status().await;
        assert_eq!(status.get("frame_id"), Some("1"));
        assert!(
            status
                .get("readout_seconds")
                .unwrap()
                .parse::<f64>()
                .unwrap()
                > 0.0
        );
    })
    .await;
}

impl Rig {
    async fn ok_status(&self) -> Message {
        let status = self.ask("get_status").await;
        assert_eq!(status.name, "status");
        status
    }
}

#[tokio::test]
async fn the_exposure_goes_idle_exposing_reading_idle_and_abort_discards() {
    bounded(async {
        let rig = Rig::start().await;
        let status = rig.ok_status().await;
        assert_eq!(status.get("state"), Some("idle"));
        assert_eq!(status.get("frame_id"), Some("0"));
        rig.refused("get_frame", "out_of_range").await;
        rig.ok("expose exptime=1.5").await;
        let exposing = rig
            .status_until("exposing", |s| s.get("state") == Some("exposing"))
            .await;
        let remaining: f64 = exposing.get("exposure_remaining").unwrap().parse().unwrap();
        assert!(remaining > 0.0 && remaining <= 1.5);
        rig.refused("expose exptime=1", "busy").await;
        let abort = rig.ok("abort").await;
        assert_eq!(abort.get("aborted"), Some("1"));
        assert_eq!(rig.control().phase(), "idle");
        rig.status_until("idle after abort", |s| s.get("state") == Some("idle"))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(rig.ok_status().await.get("frame_id"), Some("0"));
        assert_eq!(rig.ok("abort").await.get("aborted"), Some("0"));
        assert_eq!(rig.take("expose exptime=0.05 imagetype=dark").await, 1);
        assert_eq!(rig.take("expose exptime=0 imagetype=bias").await, 2);
        let frame = rig.ok("get_frame id=2").await;
        let image = labwire_fits::read_u16_image(frame.payload.as_ref().unwrap()).unwrap();
        let text = |key: &str| image.header.get(key).and_then(|v| v.as_text());
        assert_eq!(text("IMAGETYP"), Some("bias"));
        assert_eq!(text("SHUTTER"), Some("closed"));
        assert_eq!(rig.control().parameter("OpenShutter"), Some(0));
        rig.refused("get_frame id=1", "out_of_range").await;
    })
    .await;
}

#[tokio::test]
async fn invalid_commands_are_refused_and_change_nothing() {
    bounded(async {
        let rig = Rig::start().await;
        for (line, code) in [
            ("expose", "missing_argument"),
            ("expose exptime=-1", "out_of_range"),
            ("expose exptime=soon", "bad_argument"),
            ("expose exptime=1 imagetype=bias", "bad_argument"),
            (
                "expose exptime=1 imagetype=dark shutter=open",
                "bad_argument",
            ),
            ("expose exptime=1 imagetype=selfie", "bad_argument"),
            ("expose exptime=1 shutter=ajar", "bad_argument"),
            ("expose exptime=1 colour=red", "bad_argument"),
            ("set_roi x=0 y=0 width=201 height=10", "out_of_range"),
            ("set_roi x=-1 y=0 width=10 height=10", "out_of_range"),
            ("set_roi x=0 y=0 width=10", "missing_argument"),
            ("set_binning x=0 y=1", "out_of_range"),
            ("set_binning x=2 y=17", "out_of_range"),
            ("set_cooler setpoint=-200", "out_of_range"),
            ("set_cooler setpoint=warm", "bad_argument"),
            ("set_keywords BITPIX=8", "bad_argument"),
            ("set_keywords EXPTIME=8", "bad_argument"),
            ("set_keywords bad..key=1", "bad_argument"),
            ("set_keywords positional", "bad_argument"),
            ("get_frame id=x", "bad_argument"),
        ] {
            rig.refused(line, code).await;
        }
        assert_eq!(rig.control().phase(), "idle");
        assert_eq!(rig.control().parameter("IntMS"), Some(0));
        assert_eq!(rig.control().heater_target(), -100.0);
        let status = rig.ok_status().await;
        assert_eq!(status.get("roi_width"), Some("200"));
        assert_eq!(status.get("binning"), Some("1x1"));
        assert_eq!(status.get("keywords"), Some("0"));
        assert_eq!(status.get("errors"), Some("0"));
    })
    .await;
}

#[tokio::test]
async fn roi_and_binning_shape_the_next_frame() {
    bounded(async {
        let rig = Rig::start().await;
        let roi = rig.ok("set_roi x=10 y=20 width=64 height=32").await;
        assert_eq!(roi.get("width"), Some("64"));
        rig.ok("set_binning x=2 y=4").await;
        let status = rig
            .status_until("the binning reported", |s| s.get("binning") == Some("2x4"))
            .await;
        assert_eq!(status.get("width"), Some("32"));
        assert_eq!(status.get("height"), Some("8"));
        assert_eq!(status.get("binning"), Some("2x4"));
        rig.take("expose exptime=0.1").await;
        assert_eq!(rig.control().parameter("ROIX"), Some(10));
        assert_eq!(rig.control().parameter("BinY"), Some(4));
        let frame = rig.ok("get_frame").await;
        assert_eq!(frame.get("width"), Some("32"));
        assert_eq!(frame.get("height"), Some("8"));
        let image = labwire_fits::read_u16_image(frame.payload.as_ref().unwrap()).unwrap();
        assert_eq!((image.width, image.height), (32, 8));
        let integer = |key: &str| image.header.get(key).and_then(|v| v.as_integer());
        assert_eq!(integer("ROIX"), Some(10));
        assert_eq!(integer("ROIY"), Some(20));
        assert_eq!(integer("XBINNING"), Some(2));
        assert_eq!(integer("YBINNING"), Some(4));
        let (raw, _, _) = rig.control().last_frame().unwrap();
        assert_eq!(image.pixels, le_pixels(&raw));
        // Binning larger than the ROI cannot be read out.
        rig.ok("set_roi x=0 y=0 width=1 height=1").await;
        rig.refused("expose exptime=0", "bad_argument").await;
    })
    .await;
}

#[tokio::test]
async fn the_cooler_setpoint_goes_to_the_heater_and_the_ccd_follows() {
    bounded(async {
        let rig = Rig::start().await;
        let status = rig.ok_status().await;
        assert_eq!(status.get("cooler_setpoint"), Some("-100"));
        assert_eq!(status.get("ccd_temperature"), Some("-100"));
        let reply = rig.ok("set_cooler setpoint=-90.5").await;
        assert_eq!(reply.get("setpoint"), Some("-90.5"));
        assert_eq!(rig.control().heater_target(), -90.5);
        rig.status_until("the CCD warmed to the new setpoint", |s| {
            s.get("cooler_setpoint") == Some("-90.5")
                && s.get("ccd_temperature")
                    .and_then(|t| t.parse::<f64>().ok())
                    .is_some_and(|t| (t + 90.5).abs() < 0.5)
        })
        .await;
        let status = rig.ok_status().await;
        assert_eq!(status.get("power"), Some("on"));
        assert!(status.get("backplane_temp").is_some_and(|t| !t.is_empty()));
        assert!(status.get("mod2_temp").is_some());
    })
    .await;
}

#[tokio::test]
async fn controller_log_entries_are_fetched() {
    bounded(async {
        let rig = Rig::start().await;
        rig.control().push_log("first entry");
        rig.control().push_log("second entry");
        eventually(WAIT, "the log fetched", || async {
            (rig.control().log_len() == 0).then_some(())
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_readout_stopping_half_way_is_an_error_and_keeps_no_frame() {
    bounded(async {
        let rig = Rig::start().await;
        assert_eq!(rig.take("expose exptime=0").await, 1);
        let blocks = (WIDTH * HEIGHT * 2).div_ceil(1024);
        rig.control().set_fetch_stops_after(Some(blocks / 2));
        rig.ok("expose exptime=0.05").await;
        let status = rig
            .status_until("the readout failed", |s| {
                s.get("readout_error").is_some_and(|e| !e.is_empty())
            })
            .await;
        let error = status.get("readout_error").unwrap();
        assert!(
            error.contains(&format!("after {} of {blocks} blocks", blocks / 2)),
            "{error}"
        );
        assert_eq!(status.get("frame_id"), Some("1"));
        assert_eq!(status.get("state"), Some("idle"));
        // The frame kept is still the whole first one.
        let frame = rig.ok("get_frame").await;
        assert_eq!(frame.get("id"), Some("1"));
        labwire_fits::read_u16_image(frame.payload.as_ref().unwrap()).unwrap();
        rig.control().set_fetch_stops_after(None);
        rig.status_until("reconnected", |s| s.get("hw_connected") == Some("1"))
            .await;
        assert_eq!(rig.take("expose exptime=0").await, 2);
        let errors: u64 = rig
            .ok_status()
            .await
            .get("errors")
            .unwrap()
            .parse()
            .unwrap();
        assert!(errors >= 1);
        assert_eq!(rig.ok_status().await.get("readout_error"), Some(""));
    })
    .await;
}

#[tokio::test]
async fn refusals_offline_and_silence_are_reported_and_survived() {
    bounded(async {
        let rig = Rig::start().await;
        rig.control().set_reject(Some("FASTLOADPARAM"));
        let refused = rig.refused("expose exptime=0", "device_error").await;
        assert!(refused
            .get("message")
            .unwrap()
            .contains("refused FASTLOADPARAM"));
        assert_eq!(rig.ok_status().await.get("state"), Some("idle"));
        rig.control().set_reject(None);

        rig.sim.set_fault(Fault::Offline);
        rig.status_until("offline seen", |s| s.get("hw_connected") == Some("0"))
            .await;
        rig.refused("expose exptime=0", "not_connected").await;
        // Settings that need no hardware still work.
        rig.ok("set_binning x=2 y=2").await;
        rig.sim.set_fault(Fault::None);
        rig.status_until("back online", |s| s.get("hw_connected") == Some("1"))
            .await;

        rig.sim.set_fault(Fault::Silent);
        rig.status_until("silence seen", |s| s.get("hw_connected") == Some("0"))
            .await;
        rig.sim.set_fault(Fault::None);
        rig.status_until("answering again", |s| s.get("hw_connected") == Some("1"))
            .await;
        assert_eq!(rig.take("expose exptime=0").await, 1);
        let frame = rig.ok("get_frame").await;
        assert_eq!(frame.get("width"), Some("100"));
    })
    .await;
}
