//! Rollup tier benchmark, on a store holding a year of 1 Hz history for 3 variables
//! (94.6 million raw samples and their 10 s / 1 min / 10 min / 1 h buckets):
//!
//! 1. a cold plot of the 3 variables (a new read-only connection, an empty series cache,
//!    the plot route's own `draw`) for ranges from 15 minutes to a year, each next to the
//!    renderer alone drawing the same points, measured in the same run - target < 20 ms;
//! 2. the bytes each row of each tier takes in the file (SQLite's `dbstat`), and from them
//!    the disk a year of 1,000 variables at 1 Hz needs with the default retention (every
//!    tier kept) and with the retention docs/monitor.md gives as its example.
//!
//! The year is written once into `target/tmp/labwire-bench-tiers/` (about 2.5 GB, a
//! minute or two) and reused by later runs; delete the directory to write it again. The
//! plots read a file the OS has cached, as a monitor's recent history usually is.
//! Run with `cargo bench -p labwire-monitor --bench tiers`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use labwire_monitor::config::PlotConfig;
use labwire_monitor::store::{from_millis, open_reader, Bucket, Store, StoreOptions, TIERS};
use labwire_monitor::web::plot::{self, Request};
use labwire_monitor::web::range::Range;
use labwire_monitor::web::series::SeriesCache;
use labwire_plot::{render_png_with_plans, PlotSpec, Series, YScale};
use rusqlite::Connection;

const CLIENT: &str = "psu1";
const KEYS: [&str; 3] = ["ch1_voltage", "ch2_voltage", "ch3_voltage"];
/// The year ends here (2026-01-01T00:00:00Z) and starts 365 days before.
const END_MS: i64 = 1_767_225_600_000;
const YEAR_S: i64 = 365 * 86_400;
/// Marks a complete bench file in `store_meta`.
const READY: &str = "bench_year_4_tiers";
const RUNS: usize = 7;

fn value(var: usize, s: i64) -> f64 {
    let noise = ((s as u64 ^ (var as u64) << 40).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f64
        / 16_777_216.0;
    5.0 * (var + 1) as f64 + (s as f64 / 3600.0).sin() + 0.01 * noise
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("labwire-bench-tiers");
    std::fs::create_dir_all(&dir).expect("bench directory");
    let db = dir.join("year.sqlite");
    if !is_ready(&db) {
        let _ = std::fs::remove_file(&db);
        let started = Instant::now();
        write_year(&db);
        println!(
            "wrote a year of 1 Hz for {} variables in {:.0} s",
            KEYS.len(),
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "store: {} ({:.2} GB), {} variables, 1 Hz, {} to {}",
        db.display(),
        std::fs::metadata(&db).map_or(0, |m| m.len()) as f64 / 1e9,
        KEYS.len(),
        labwire_time::rfc3339(from_millis(END_MS - YEAR_S * 1000)),
        labwire_time::rfc3339(from_millis(END_MS)),
    );
    plots(&db);
    bytes_per_row(&db);
}

fn is_ready(db: &Path) -> bool {
    db.exists()
        && Connection::open(db)
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM store_meta WHERE key = ?1",
                    [READY],
                    |r| r.get::<_, i64>(0),
                )
            })
            .is_ok_and(|n| n == 1)
}

/// The schema from the store itself, then the rows straight in, variable after variable
/// (each one an append at the end of its key range), buckets computed on the way.
fn write_year(db: &Path) {
    Store::open(db, StoreOptions::default())
        .expect("create the store")
        .close()
        .expect("close");
    let mut conn = Connection::open(db).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;",
    )
    .expect("pragmas");
    let start_s = END_MS / 1000 - YEAR_S;
    let mut buckets: Vec<Vec<Vec<Bucket>>> = vec![vec![Vec::new(); KEYS.len()]; TIERS.len()];
    {
        let tx = conn.transaction().expect("transaction");
        for (var, key) in KEYS.iter().enumerate() {
            tx.execute(
                "INSERT INTO variables (id, client, key) VALUES (?1, ?2, ?3)",
                (var as i64 + 1, CLIENT, key),
            )
            .expect("variable");
            let mut insert = tx
                .prepare("INSERT INTO samples (var_id, t, value) VALUES (?1, ?2, ?3)")
                .expect("prepare");
            for s in start_s..start_s + YEAR_S {
                let (t, y) = (s * 1000, value(var, s));
                insert.execute((var as i64 + 1, t, y)).expect("sample");
                for (tier, per_var) in TIERS.iter().zip(buckets.iter_mut()) {
                    let list = &mut per_var[var];
                    let start = t - t.rem_euclid(tier.width_ms);
                    if list.last().is_none_or(|b: &Bucket| b.start != start) {
                        list.push(Bucket::empty(start));
                    }
                    list.last_mut().expect("just pushed").add(Some(y));
                }
            }
        }
        tx.commit().expect("commit samples");
    }
    let tx = conn.transaction().expect("transaction");
    for (tier, per_var) in TIERS.iter().zip(&buckets) {
        let mut insert = tx
            .prepare(&format!(
                "INSERT INTO {} (var_id, t, count, missing, min, max, mean) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                tier.table
            ))
            .expect("prepare");
        for (var, list) in per_var.iter().enumerate() {
            for b in list {
                let (min, max, mean) = b.stats().expect("numbers");
                insert
                    .execute((var as i64 + 1, b.start, b.count as i64, 0, min, max, mean))
                    .expect("bucket");
            }
        }
    }
    tx.execute(
        "INSERT INTO store_meta (key, value) VALUES (?1, 'yes')",
        [READY],
    )
    .expect("mark");
    tx.commit().expect("commit buckets");
    conn.execute_batch("PRAGMA journal_mode = WAL;")
        .expect("back to WAL");
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn plots(db: &Path) {
    let plot = PlotConfig {
        id: "voltages".into(),
        name: "Channel voltages".into(),
        values: std::iter::once("time")
            .chain(KEYS)
            .map(String::from)
            .collect(),
        xlabel: String::new(),
        ylabel: "Voltage [V]".into(),
        width: 800,
        height: 300,
        yscale: YScale::Linear,
    };
    println!(
        "\ncold plot of {} series, 800 x 300 (median of {RUNS}; each run a new connection and \
         an empty cache) next to the renderer alone on the same points:",
        KEYS.len()
    );
    println!("range    points/series   cold plot   renderer   plot / renderer");
    for (label, seconds) in [
        ("15 min", 900),
        ("1 h", 3600),
        ("6 h", 6 * 3600),
        ("13 h", 13 * 3600),
        ("24 h", 86_400),
        ("7 d", 7 * 86_400),
        ("30 d", 30 * 86_400),
        ("1 y", YEAR_S),
    ] {
        let range = Range {
            from: from_millis(END_MS - seconds * 1000),
            to: from_millis(END_MS),
        };
        let request = Request {
            client: CLIENT.into(),
            plot: plot.clone(),
            range,
            open_ended: false,
            width: 800,
            height: 300,
            plans: Vec::new(),
        };
        let cold = median(
            (0..RUNS)
                .map(|_| {
                    let started = Instant::now();
                    let reader = open_reader(db).expect("reader");
                    let cache =
                        SeriesCache::new(labwire_monitor::web::series::BUDGET, plot::MAX_POINTS);
                    let png = plot::draw(&reader, &cache, &request).expect("plot");
                    assert!(png.starts_with(b"\x89PNG"));
                    started.elapsed()
                })
                .collect(),
        );
        // The same points, read once, drawn by the renderer alone.
        let reader = open_reader(db).expect("reader");
        let cache = SeriesCache::new(labwire_monitor::web::series::BUDGET, plot::MAX_POINTS);
        let series: Vec<Series> = KEYS
            .iter()
            .map(|key| Series {
                name: key.to_string(),
                points: cache
                    .points(&reader, CLIENT, key, (range.from, range.to), 800)
                    .expect("points"),
            })
            .collect();
        let spec = PlotSpec {
            title: plot.name.clone(),
            ylabel: plot.ylabel.clone(),
            width: 800,
            height: 300,
            time_axis: true,
            ..PlotSpec::default()
        };
        let render = median(
            (0..RUNS)
                .map(|_| {
                    let started = Instant::now();
                    render_png_with_plans(&spec, &series, &[], range.seconds()).expect("render");
                    started.elapsed()
                })
                .collect(),
        );
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{label:<8} {:>13}   {:>6.2} ms  {:>6.2} ms   {:>6.2}{}",
            series[0].points.len(),
            ms(cold),
            ms(render),
            ms(cold) / ms(render),
            if ms(cold) < 20.0 { "" } else { "   OVER 20 ms" }
        );
    }
}

fn bytes_per_row(db: &Path) {
    let conn = Connection::open(db).expect("open");
    let size = |table: &str| -> (f64, f64) {
        let bytes: i64 = conn
            .query_row(
                "SELECT sum(pgsize) FROM dbstat WHERE name = ?1",
                [table],
                |r| r.get(0),
            )
            .expect("dbstat");
        let rows: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .expect("count");
        (bytes as f64, rows as f64)
    };
    println!("\nbytes per row in the file (dbstat: the table's pages over its rows):");
    let (raw_bytes, raw_rows) = size("samples");
    let raw = raw_bytes / raw_rows;
    println!("samples      {raw:>6.1} B/row ({raw_rows} rows)");
    let mut per_tier = Vec::new();
    for tier in TIERS {
        let (bytes, rows) = size(tier.table);
        let per_row = bytes / rows;
        println!("{:<12} {per_row:>6.1} B/row ({rows} rows)", tier.table);
        per_tier.push((tier, per_row));
    }
    // A year of 1,000 variables at 1 Hz.
    let vars = 1000.0;
    let year = YEAR_S as f64;
    let gb = |bytes: f64| bytes / 1e9;
    let raw_year = vars * year * raw;
    let tiers_year: Vec<f64> = per_tier
        .iter()
        .map(|(tier, per_row)| vars * year * 1000.0 / tier.width_ms as f64 * per_row)
        .collect();
    println!(
        "\na year of 1,000 variables at 1 Hz: raw {:.1} GB, {} ",
        gb(raw_year),
        per_tier
            .iter()
            .zip(&tiers_year)
            .map(|((tier, _), bytes)| format!("{} {:.2} GB", tier.name, gb(*bytes)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let all: f64 = raw_year + tiers_year.iter().sum::<f64>();
    println!(
        "  default retention (every tier kept): {:.1} GB; rollups alone {:.2} GB ({:.1}% on top of raw)",
        gb(all),
        gb(all - raw_year),
        100.0 * (all - raw_year) / raw_year
    );
    // The example in docs/monitor.md: raw and ten seconds for 30 days, minutes for a
    // year (all of this one), ten minutes and hours kept.
    let month = 30.0 / 365.0;
    let trimmed = raw_year * month + tiers_year[0] * month + tiers_year[1..].iter().sum::<f64>();
    println!(
        "  retention_days = 30, rollup_10s_days = 30, rollup_1m_days = 365: {:.1} GB at the \
         end of the year",
        gb(trimmed)
    );
}
