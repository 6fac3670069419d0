//! `labwire-ccd --simulate` as a user runs it, its frames checked by the standard FITS
//! tools: NASA's `fitsverify` must find no warning and no error, and astropy (in the venv
//! scripts/test makes under target/venv) must read back the header, including keywords
//! from `set_keywords` as ESO HIERARCH cards, and the pixels as unsigned 16-bit, equal
//! to what the daemon's own reader finds.

use labwire_testkit::{bounded, connect, eventually, Simulated, TempDir, WAIT};
use std::path::PathBuf;
use std::process::Command;

fn venv_python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join("target/venv/bin/python")
}

#[tokio::test]
async fn fitsverify_and_astropy_accept_the_frames() {
    let daemon = Simulated::start(
        "ccd",
        &[
            "--sensor",
            "300x200",
            "--poll-interval",
            "0.05",
            "--name",
            "cam1",
        ],
    );
    let dir = TempDir::new("ccd-fits");
    let fits = bounded(async {
        let client = connect(daemon.addr).await;
        eventually(WAIT, "the simulated controller", || async {
            let status = client.call("get_status").await.ok()?;
            (status.get("hw_connected") == Some("1")).then_some(())
        })
        .await;
        let set = client
            .call("set_keywords cryo.ch_a_temperature=77.125 psu.output=on lab.operator=\"O'Neil\" FILTER=R")
            .await
            .unwrap();
        assert_eq!(set.name, "ok", "{set:?}");
        let expose = client
            .call("expose exptime=0.2 object=\"NGC 891\"")
            .await
            .unwrap();
        assert_eq!(expose.name, "ok", "{expose:?}");
        eventually(WAIT, "the frame", || async {
            let status = client.call("get_status").await.ok()?;
            (status.get("frame_id") == Some("1")).then_some(())
        })
        .await;
        let frame = client.call("get_frame id=1").await.unwrap();
        assert_eq!(frame.get("bytes"), None, "bytes= is the payload's, not a kwarg");
        frame.payload.expect("the FITS payload")
    })
    .await;
    let path = dir.path().join("frame1.fits");
    std::fs::write(&path, &fits).unwrap();
    let ours = labwire_fits::read_u16_image(&fits).unwrap();

    let verify = Command::new("fitsverify")
        .arg(&path)
        .output()
        .expect("fitsverify (Debian package fitsverify; scripts/test installs it)");
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        report.contains("0 warning(s) and 0 error(s)"),
        "fitsverify:\n{report}"
    );

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
    assert d.dtype.kind == "u" and d.dtype.itemsize == 2, d.dtype
    assert d.shape == (200, 300), d.shape
    assert int(d.astype("uint64").sum()) == {sum}, int(d.astype("uint64").sum())
    assert int(d[0, 0]) == {first} and int(d[-1, -1]) == {last}
    assert h["IMAGETYP"] == "object" and h["OBJECT"] == "NGC 891", h
    assert h["INSTRUME"] == "cam1"
    assert abs(h["EXPTIME"] - 0.2) < 0.01
    assert h["DATE-OBS"].startswith("20")
    assert h["HIERARCH CRYO CH_A_TEMPERATURE"] == 77.125
    assert h["HIERARCH PSU OUTPUT"] == "on"
    assert h["HIERARCH LAB OPERATOR"] == "O'Neil"
    assert h["FILTER"] == "R"
    assert h["BZERO"] == 32768 and h["BSCALE"] == 1
print("astropy ok")
"#,
        first = ours.pixels[0],
        last = ours.pixels[ours.pixels.len() - 1],
    );
    let python = venv_python();
    let output = Command::new(&python)
        .arg("-c")
        .arg(&script)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("{} (scripts/test makes the venv): {e}", python.display()));
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("astropy ok"),
        "astropy:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
