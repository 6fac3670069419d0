//! Camera frames through the real monitor over real TCP: labwire-ccd and labwire-gauge in
//! simulation, the monitor binary with both configured. Two exposures, one relayed by the
//! monitor (`send cam expose ...`) and one a script starts at the daemon itself, each end
//! as a FITS file under the monitor's frames directory, indexed in its database, byte for
//! byte the daemon's frame, with the gauge's state in its header (as NASA's fitsverify
//! and astropy read it; scripts/test installs both); then the frame routes, bad ids
//! included.

use labwire_client::{Client, ClientOptions};
use labwire_testkit::{bounded, eventually, http_get, start_monitor, Simulated, TempDir};
use serde_json::Value as Json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn frames(http: SocketAddr) -> Vec<Json> {
    let (status, body) = http_get(http, "/monitor/frames").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let list: Json = serde_json::from_slice(&body).unwrap();
    list["frames"].as_array().unwrap().clone()
}

async fn idle(client: &Client) {
    eventually(WAIT, "the camera idle and connected", || async {
        let status = client.call("get_status").await.ok()?;
        (status.get("state") == Some("idle") && status.get("hw_connected") == Some("1"))
            .then_some(())
    })
    .await;
}

fn venv_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    root.join("target/venv/bin/python")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposures_end_as_indexed_fits_files_with_the_labs_state() {
    let dir = TempDir::new("frames-e2e");
    let gauge = Simulated::start("gauge", &["--poll-interval", "0.2", "--name", "g1"]);
    let cam = Simulated::start(
        "ccd",
        &[
            "--poll-interval",
            "0.1",
            "--name",
            "cam",
            "--sensor",
            "320x240",
        ],
    );
    let config = dir.path().join("monitor.ini");
    std::fs::write(
        &config,
        format!(
            "name = frametest\npoll_interval = 0.2\ndb = history.sqlite\n\
             [gauge1]\nhost = 127.0.0.1\nport = {gauge}\n\
             [cam]\nhost = 127.0.0.1\nport = {cam}\ntemplate = ccd.html\n",
            gauge = gauge.addr.port(),
            cam = cam.addr.port(),
        ),
    )
    .unwrap();
    let (monitor, http) = start_monitor(&config);
    let frames_dir = dir.path().join("history-frames");

    let (listed, direct) = bounded(async {
        let port = Client::connect(monitor.addr, ClientOptions::default())
            .await
            .unwrap();
        let direct = Client::connect(cam.addr, ClientOptions::default())
            .await
            .unwrap();
        idle(&direct).await;
        eventually(WAIT, "both clients polled", || async {
            let status = port.call("get_status").await.ok()?;
            (status.get("nconnected") == Some("2")
                && status.get("gauge1.pressure").is_some_and(|p| !p.is_empty())
                && status.get("cam.state") == Some("idle"))
            .then_some(())
        })
        .await;

        // One exposure relayed by the monitor ...
        let expose = port
            .call("send cam expose exptime=0.2 imagetype=dark object=\"M42 field\"")
            .await
            .unwrap();
        assert_eq!(expose.name, "ok", "{expose}");
        eventually(WAIT, "the first frame stored", || async {
            (frames(http).await.len() == 1).then_some(())
        })
        .await;
        // ... one a script starts at the daemon itself: the monitor kept its keywords.
        idle(&direct).await;
        let expose = direct
            .call("expose exptime=0 imagetype=bias shutter=closed")
            .await
            .unwrap();
        assert_eq!(expose.name, "ok", "{expose}");
        let listed = eventually(WAIT, "the second frame stored", || async {
            let listed = frames(http).await;
            (listed.len() == 2).then_some(listed)
        })
        .await;
        (listed, direct)
    })
    .await;

    // Newest first, with what the index knows.
    let (bias, dark) = (&listed[0], &listed[1]);
    assert_eq!(bias["client"], "cam");
    assert_eq!(bias["image_type"], "bias");
    assert_eq!(dark["image_type"], "dark");
    assert_eq!(dark["object"], "M42 field");
    assert!(
        (dark["exposure"].as_f64().unwrap() - 0.2).abs() < 0.05,
        "{dark}"
    );
    assert_eq!(
        (dark["width"].as_u64(), dark["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(
        dark["frame_id"].as_i64().unwrap() + 1,
        bias["frame_id"].as_i64().unwrap()
    );

    // The stored file is the daemon's frame, byte for byte.
    let last = direct.call("get_frame").await.unwrap();
    let payload = last.payload.expect("the daemon's FITS payload");
    let bias_path = frames_dir.join(
        rusqlite::Connection::open(dir.path().join("history.sqlite"))
            .unwrap()
            .query_row(
                "SELECT path FROM frames WHERE id = ?1",
                [bias["id"].as_i64().unwrap()],
                |row| row.get::<_, String>(0),
            )
            .unwrap(),
    );
    let stored = std::fs::read(&bias_path).unwrap();
    assert_eq!(stored.len(), payload.len());
    assert!(
        stored == payload.as_ref(),
        "the stored frame differs from the daemon's"
    );

    // The index row, as the store keeps it.
    let db = rusqlite::Connection::open(dir.path().join("history.sqlite")).unwrap();
    let (client, exposure, image_type, size): (String, f64, String, i64) = db
        .query_row(
            "SELECT client, exposure, image_type, size FROM frames WHERE id = ?1",
            [dark["id"].as_i64().unwrap()],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .unwrap();
    assert_eq!((client.as_str(), image_type.as_str()), ("cam", "dark"));
    assert!((exposure - 0.2).abs() < 0.05);
    assert_eq!(size as u64, dark["size"].as_u64().unwrap());

    // Both headers hold the gauge's state, as the monitor passed it on.
    for frame in [bias, dark] {
        let (status, body) = http_get(http, &format!("/monitor/frame/{}.fits", frame["id"])).await;
        assert_eq!(status, 200);
        let image = labwire_fits::read_u16_image(&body).unwrap();
        assert_eq!((image.width, image.height), (320, 240));
        let pressure = image
            .header
            .get("GAUGE1 PRESSURE")
            .and_then(|v| v.as_real());
        assert!(
            pressure.is_some_and(|p| p > 0.0),
            "the gauge's pressure in frame {}: {:?}",
            frame["id"],
            image.header.cards()
        );
        assert_eq!(
            image
                .header
                .get("GAUGE1 HW_CONNECTED")
                .and_then(|v| v.as_integer()),
            Some(1)
        );
        assert!(
            image.header.get("CAM STATE").is_none(),
            "a camera's own state is not passed back to it"
        );
    }

    // NASA's checker and astropy on the monitor's copy.
    let verify = Command::new("fitsverify")
        .arg(&bias_path)
        .output()
        .expect("fitsverify (Debian package fitsverify; scripts/test installs it)");
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && report.contains("found 0 warning(s) and 0 error(s)"),
        "fitsverify:\n{report}"
    );
    let ours = labwire_fits::read_u16_image(&stored).unwrap();
    let sum: u64 = ours.pixels.iter().map(|&p| p as u64).sum();
    let script = format!(
        r#"
import sys, warnings
warnings.simplefilter("error")
from astropy.io import fits
with fits.open(sys.argv[1]) as hdus:
    hdus.verify("exception")
    h = hdus[0].header
    d = hdus[0].data
    assert d.shape == (240, 320), d.shape
    assert int(d.astype("uint64").sum()) == {sum}
    assert h["IMAGETYP"] == "bias", h["IMAGETYP"]
    assert h["HIERARCH GAUGE1 PRESSURE"] > 0
    assert h["HIERARCH GAUGE1 HW_CONNECTED"] == 1
print("astropy ok")
"#
    );
    let python = venv_python();
    let output = Command::new(&python)
        .arg("-c")
        .arg(&script)
        .arg(&bias_path)
        .output()
        .unwrap_or_else(|e| panic!("{} (scripts/test makes the venv): {e}", python.display()));
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("astropy ok"),
        "astropy:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // The routes: the preview, one entry, and the refusals.
    let id = bias["id"].as_i64().unwrap();
    let (status, png) = http_get(http, &format!("/monitor/frame/{id}.png")).await;
    assert_eq!(status, 200);
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let (status, entry) = http_get(http, &format!("/monitor/frame/{id}.json")).await;
    assert_eq!(status, 200);
    let entry: Json = serde_json::from_slice(&entry).unwrap();
    assert!(entry["header"].as_array().unwrap().iter().any(|card| card
        .as_str()
        .unwrap()
        .starts_with("HIERARCH GAUGE1 PRESSURE")));
    let (status, body) = http_get(http, "/monitor/frames?client=cam&limit=1").await;
    assert_eq!(status, 200);
    let one: Json = serde_json::from_slice(&body).unwrap();
    assert_eq!(one["frames"].as_array().unwrap().len(), 1);
    for (path, expected) in [
        ("/monitor/frame/abc.fits", 400),
        ("/monitor/frame/0.fits", 400),
        ("/monitor/frame/-1.png", 400),
        ("/monitor/frame/+1.fits", 400),
        ("/monitor/frame/99999.fits", 404),
        ("/monitor/frame/99999.png", 404),
        ("/monitor/frame/1.gif", 404),
        ("/monitor/frame/1", 404),
        ("/monitor/frames?limit=0", 400),
        ("/monitor/frames?before=x", 400),
        ("/monitor/frames?colour=red", 400),
        ("/monitor/frames?client=nobody", 404),
    ] {
        let (status, body) = http_get(http, path).await;
        assert_eq!(
            status,
            expected,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    drop(monitor);
}
