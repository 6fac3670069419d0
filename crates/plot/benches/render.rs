//! Render time of a 24-hour plot at 1 Hz (3 series x 86,400 points, 800 x 300), against
//! references measured in the same run on the same machine:
//! - encoding a blank 800 x 300 PNG (the floor any plot pays),
//! - rendering the same plot from 3 x 800 points (what the decimation brings it down to).
//!
//! `cargo bench -p labwire-plot`; `-- --quick` for fewer rounds. Rounds interleave the
//! cases so that a noisy neighbour slows all of them alike.

use std::hint::black_box;
use std::time::{Duration, Instant};

use labwire_plot::{decimate, render_png, PlotSpec, Series};

/// 2024-03-14 00:00:00 UTC
const T0: f64 = 1_710_374_400.0;
const DAY: usize = 86_400;
const WIDTH: u32 = 800;
const HEIGHT: u32 = 300;
/// The target for one 24-hour plot.
const TARGET_MS: f64 = 50.0;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 15 } else { 60 };

    let day = three_series(DAY);
    let light = three_series(WIDTH as usize);
    let range = (T0, T0 + DAY as f64);
    let spec = PlotSpec {
        title: "Channel voltages".into(),
        xlabel: "Time, UTC".into(),
        ylabel: "Voltage [V]".into(),
        width: WIDTH,
        height: HEIGHT,
        ..PlotSpec::default()
    };
    let blank = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    let day_png = render_png(&spec, &day, range).expect("render");
    let day_rgb = decode(&day_png);

    type Case<'a> = (&'a str, Box<dyn Fn() -> usize + 'a>);
    let cases: Vec<Case> = vec![
        (
            "blank 800x300 PNG encode (reference)",
            Box::new(|| encode(&blank, png::Compression::Fast).len()),
        ),
        (
            "render 3 x 800 points (reference)",
            Box::new(|| render_png(&spec, &light, range).unwrap().len()),
        ),
        (
            "render 3 x 86,400 points (24 h at 1 Hz)",
            Box::new(|| render_png(&spec, &day, range).unwrap().len()),
        ),
        (
            "  of which: decimate 3 x 86,400 to 800 columns",
            Box::new(|| {
                day.iter()
                    .map(|s| decimate(&s.points, range, WIDTH).len())
                    .sum()
            }),
        ),
        (
            "  for comparison: RGB encode of the 24 h image",
            Box::new(|| encode(&day_rgb, png::Compression::Fast).len()),
        ),
    ];

    for (_, run) in &cases {
        for _ in 0..3 {
            black_box(run());
        }
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); cases.len()];
    for _ in 0..rounds {
        for ((_, run), times) in cases.iter().zip(&mut samples) {
            let start = Instant::now();
            black_box(run());
            times.push(start.elapsed());
        }
    }

    println!("labwire-plot render bench: {WIDTH}x{HEIGHT}, {rounds} rounds, one thread");
    println!("{:<48} {:>10} {:>10}", "case", "median ms", "p90 ms");
    let mut medians = Vec::new();
    for ((name, _), times) in cases.iter().zip(&mut samples) {
        times.sort_unstable();
        let (median, p90) = (ms(percentile(times, 0.5)), ms(percentile(times, 0.9)));
        println!("{name:<48} {median:>10.3} {p90:>10.3}");
        medians.push(median);
    }
    let (blank_ms, light_ms, day_ms) = (medians[0], medians[1], medians[2]);
    println!();
    println!(
        "24 h plot / blank PNG encode:      {:>7.1}x",
        day_ms / blank_ms
    );
    println!(
        "24 h plot / 3 x 800-point plot:    {:>7.2}x",
        day_ms / light_ms
    );
    println!(
        "24 h plots per second, one thread: {:>7.0}",
        1000.0 / day_ms
    );
    println!(
        "24 h plot median {day_ms:.2} ms against a {TARGET_MS} ms target: {}",
        if day_ms < TARGET_MS { "met" } else { "MISSED" }
    );
    println!(
        "PNG bytes: 24 h plot {} ({:?}); as RGB {}; blank RGB {}",
        day_png.len(),
        colour_type(&day_png),
        encode(&day_rgb, png::Compression::Fast).len(),
        encode(&blank, png::Compression::Fast).len(),
    );
}

/// Three supply channels: a slow drift with noise, a one-sample spike, an hour missing.
fn three_series(points: usize) -> Vec<Series> {
    let dt = DAY as f64 / points as f64;
    (0..3)
        .map(|ch| Series {
            name: format!("ch{}_voltage", ch + 1),
            points: (0..points)
                .map(|i| {
                    let t = i as f64 * dt;
                    let noise = ((i * 7919 + ch * 31) % 1000) as f64 / 20_000.0;
                    let mut v = 2.0 * (ch + 1) as f64 + 0.3 * (t / 7000.0).sin() + noise;
                    if i == points / 2 {
                        v += 3.0;
                    }
                    if ch == 2 && (2 * points / 3..3 * points / 4).contains(&i) {
                        v = f64::NAN;
                    }
                    (T0 + t, v)
                })
                .collect(),
        })
        .collect()
}

fn encode(rgb: &[u8], compression: png::Compression) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(compression);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(rgb).unwrap();
    writer.finish().unwrap();
    out
}

fn colour_type(bytes: &[u8]) -> png::ColorType {
    let reader = png::Decoder::new(std::io::Cursor::new(bytes));
    reader.read_info().unwrap().info().color_type
}

fn decode(bytes: &[u8]) -> Vec<u8> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgb).unwrap();
    rgb.truncate(info.buffer_size());
    rgb
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
