//! Writes sample plots to a directory so a person can look at them:
//! `cargo run -p labwire-plot --example sample -- /tmp/plots`
//! (default: the system temporary directory).

use std::path::PathBuf;

use labwire_plot::{render_png, PlotSpec, Series, YScale};

/// 2024-03-14 00:00:00 UTC
const T0: f64 = 1_710_374_400.0;
const DAY: f64 = 86_400.0;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir)?;

    // A day of three supply channels at 1 Hz: drift, a one-sample glitch, an outage.
    let voltages: Vec<Series> = (1..=3)
        .map(|ch| Series {
            name: format!("ch{ch}_voltage"),
            points: (0..86_400)
                .map(|s| {
                    let t = s as f64;
                    let mut v = 2.0 * ch as f64 + 0.3 * (t / 7000.0 + ch as f64).sin();
                    if ch == 2 && s == 40_000 {
                        v = 9.5;
                    }
                    if ch == 3 && (60_000..63_600).contains(&s) {
                        v = f64::NAN;
                    }
                    (T0 + t, v)
                })
                .collect(),
        })
        .collect();
    let linear = PlotSpec {
        title: "Channel voltages".into(),
        xlabel: "Time, UTC".into(),
        ylabel: "Voltage [V]".into(),
        ..PlotSpec::default()
    };
    write(&dir, "voltages-24h.png", &linear, &voltages, (T0, T0 + DAY))?;
    write(
        &dir,
        "voltages-1h.png",
        &linear,
        &voltages,
        (T0 + 39_000.0, T0 + 42_600.0),
    )?;

    // A pump-down over a week, with the gauge reading 0 while it was switched off.
    let pressure = vec![Series {
        name: "pressure".into(),
        points: (0..7 * 86_400 / 60)
            .map(|m| {
                let t = m as f64 * 60.0;
                let p = 1e3 * (-t / 20_000.0).exp() + 2e-7;
                (T0 + t, if (3000..3100).contains(&m) { 0.0 } else { p })
            })
            .collect(),
    }];
    let log = PlotSpec {
        title: "Cryostat pressure".into(),
        xlabel: "Time, UTC".into(),
        ylabel: "Pressure [mbar]".into(),
        yscale: YScale::Log,
        ..PlotSpec::default()
    };
    write(
        &dir,
        "pressure-7d.png",
        &log,
        &pressure,
        (T0, T0 + 7.0 * DAY),
    )?;
    write(&dir, "no-data.png", &log, &[], (T0, T0 + 3600.0))?;

    // Small and crowded: the legend wraps, the axis title gives way.
    let small = PlotSpec {
        width: 320,
        height: 160,
        ..linear.clone()
    };
    let six: Vec<Series> = (0..6)
        .map(|i| Series {
            name: format!("temp{i}"),
            points: (0..900)
                .map(|s| (T0 + s as f64, i as f64 + (s as f64 / 90.0).cos()))
                .collect(),
        })
        .collect();
    write(&dir, "crowded-320x160.png", &small, &six, (T0, T0 + 900.0))?;

    // Against another variable instead of time: an I-V curve.
    let iv = vec![Series {
        name: "ch1_current".into(),
        points: (0..=200)
            .map(|i| {
                let v = i as f64 * 0.025;
                (v, 1e-3 * ((v / 0.6).exp() - 1.0).min(1500.0))
            })
            .collect(),
    }];
    let curve = PlotSpec {
        title: "Diode".into(),
        xlabel: "Voltage [V]".into(),
        ylabel: "Current [A]".into(),
        time_axis: false,
        ..PlotSpec::default()
    };
    write(&dir, "iv-curve.png", &curve, &iv, (0.0, 5.0))?;

    // Two units in one plot, a second axis on the right, and a moment marked.
    let mut two_units = voltages[..2].to_vec();
    two_units.push(Series {
        name: "ch1_current [A]".into(),
        points: (0..86_400)
            .map(|s| (T0 + s as f64, 0.4 + 0.1 * (s as f64 / 9000.0).cos()))
            .collect(),
    });
    let axes = PlotSpec {
        ylabel: "Voltage [V]".into(),
        y2label: "Current [A]".into(),
        second_axis: Some(2),
        marker: Some(T0 + 0.6 * DAY),
        ..PlotSpec::default()
    };
    write(
        &dir,
        "two-axes-marked.png",
        &axes,
        &two_units,
        (T0, T0 + DAY),
    )?;
    Ok(())
}

fn write(
    dir: &std::path::Path,
    name: &str,
    spec: &PlotSpec,
    series: &[Series],
    range: (f64, f64),
) -> Result<(), Box<dyn std::error::Error>> {
    let path = dir.join(name);
    std::fs::write(&path, render_png(spec, series, range)?)?;
    println!("{}", path.display());
    Ok(())
}
