//! Storage benchmark for the history store: samples per second through the public `Store`
//! API (with its rollup tiers, and with them turned off: what the tiers cost), bytes on
//! disk per sample, and the time of a one-variable range query, each next to a reference
//! measured in the same run (a bare rusqlite loop) because the machines are shared and
//! noisy. Target: at least 200,000 samples/s with the tiers. Where PostgreSQL's server is
//! installed, the same store writes to one of the bench's own too. Run with `cargo bench -p labwire-monitor --bench store`;
//! `LABWIRE_BENCH_SAMPLES` changes the sample count (default 2,000,000 over 1,000
//! variables).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use labwire_monitor::store::{from_millis, open_reader, Store, StoreOptions, Value};
use rusqlite::Connection;

const VARIABLES: usize = 1000;
const BASE_MS: i64 = 1_700_000_000_000;
const QUERIES: usize = 1000;

/// Sample `i`: variables take turns, one poll round per second, so the rows arrive in the
/// order a monitor writes them. Values are non-integral doubles, the most expensive case.
fn row(i: usize) -> (usize, i64, f64) {
    let var = i % VARIABLES;
    let round = (i / VARIABLES) as i64;
    let noise = ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f64 / 16_777_216.0;
    let value = 20.0 + 5.0 * (round as f64 * 0.01 + var as f64).sin() + noise * 1e-3;
    (var, BASE_MS + round * 1000 + var as i64, value)
}

fn main() {
    let samples: usize = std::env::var("LABWIRE_BENCH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let dir = std::env::temp_dir().join(format!("labwire-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let names: Vec<(String, String)> = (0..VARIABLES)
        .map(|i| (format!("dev{:02}", i / 100), format!("var{:03}", i % 100)))
        .collect();
    println!("{samples} samples over {VARIABLES} variables, non-integral doubles");

    // The store, fed as fast as the producer can go: batches fill to batch_max.
    let db = dir.join("store.sqlite");
    let options = StoreOptions::default();
    let batch_max = options.batch_max;
    let (rate, wchar, retries) = through_store(&db, &names, samples, options);
    let bytes = checkpointed_size(&db);
    println!(
        "store API (batch_max {batch_max}):        {:>10.0} samples/s, {:>5.1} bytes/sample on disk, \
         {:>6.0} bytes written/sample{}; producer waited {retries} times on a full queue",
        rate,
        bytes as f64 / samples as f64,
        wchar / samples as f64,
        if wchar > 0.0 { "" } else { " (n/a)" },
    );
    // With and without the tiers, taking turns twice (the machine's noise hits both),
    // the better of each pair.
    let (mut tiers_best, mut raw_best) = (0.0f64, 0.0f64);
    for round in 0..2 {
        for rollups in [true, false] {
            let db = dir.join(format!("turn-{round}-{rollups}.sqlite"));
            let options = StoreOptions {
                rollups,
                ..StoreOptions::default()
            };
            let (turn_rate, _, _) = through_store(&db, &names, samples / 2, options);
            let best = if rollups {
                &mut tiers_best
            } else {
                &mut raw_best
            };
            *best = best.max(turn_rate);
            let _ = std::fs::remove_file(&db);
        }
    }
    println!(
        "taking turns, {} samples each, best of 2: with tiers {tiers_best:.0} samples/s, \
         raw samples only {raw_best:.0} samples/s; with / without: {:.2}",
        samples / 2,
        tiers_best / raw_best
    );
    // The same store on PostgreSQL (a server of the bench's own), where it is installed.
    if labwire_testkit::postgres::postgres_bin().is_some() {
        let server = labwire_testkit::PgServer::start("bench-store");
        let url = server.create_database("bench");
        let pg_samples = samples / 4;
        let (pg_rate, _, _) =
            through_store(Path::new(&url), &names, pg_samples, StoreOptions::default());
        println!(
            "store API on PostgreSQL (loopback, fsync off): {pg_rate:>10.0} samples/s \
             ({pg_samples} samples, with tiers); / SQLite with tiers: {:.2}",
            pg_rate / tiers_best
        );
    }
    let (query_us, rows_per_query) = range_queries(&db, &names, samples);
    println!(
        "one-variable range query:            {query_us:>10.1} µs for {rows_per_query} rows \
         (mean of {QUERIES}, random variables, 10% of the time span)"
    );

    // The same store committing once per poll round, as a live monitor with a 1 s poll and
    // a 1 s flush would: shows what each commit costs in pages rewritten.
    let live_samples = (samples / 10).max(VARIABLES);
    let live_db = dir.join("live.sqlite");
    let live = StoreOptions {
        batch_max: VARIABLES,
        ..StoreOptions::default()
    };
    let (live_rate, live_wchar, _) = through_store(&live_db, &names, live_samples, live);
    println!(
        "store API, one commit per poll round: {:>10.0} samples/s, {:>6.0} bytes written/sample \
         ({live_samples} samples, batch_max {VARIABLES})",
        live_rate,
        live_wchar / live_samples as f64,
    );

    // References: bare rusqlite, one transaction, one prepared statement.
    let minimal_db = dir.join("minimal.sqlite");
    let minimal_rate = bare_insert(
        &minimal_db,
        "CREATE TABLE s (var_id INTEGER, t INTEGER, value REAL)",
        samples,
    );
    let minimal_bytes = checkpointed_size(&minimal_db);
    println!(
        "reference, bare minimal rowid table:  {:>10.0} samples/s, {:>5.1} bytes/sample on disk",
        minimal_rate,
        minimal_bytes as f64 / samples as f64
    );
    let keyed_db = dir.join("keyed.sqlite");
    let keyed_rate = bare_insert(
        &keyed_db,
        "CREATE TABLE s (var_id INTEGER NOT NULL, t INTEGER NOT NULL, value, \
         PRIMARY KEY (var_id, t)) WITHOUT ROWID",
        samples,
    );
    println!(
        "reference, bare loop, store's schema: {:>10.0} samples/s, {:>5.1} bytes/sample on disk",
        keyed_rate,
        checkpointed_size(&keyed_db) as f64 / samples as f64
    );
    println!(
        "ratio store / bare minimal table: {:.2}; store / bare loop on its own schema: {:.2}",
        rate / minimal_rate,
        rate / keyed_rate
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Returns samples/s, bytes written by the process meanwhile (0 where /proc is missing)
/// and how often the producer found the queue full.
fn through_store(
    db: &Path,
    names: &[(String, String)],
    samples: usize,
    options: StoreOptions,
) -> (f64, f64, u64) {
    let store = Store::open(db, options).expect("open store");
    let written_before = written_bytes();
    let start = Instant::now();
    let mut retries = 0;
    for i in 0..samples {
        let (var, t, value) = row(i);
        let (client, key) = &names[var];
        while !store.record_value(client, key, from_millis(t), Value::Number(value)) {
            retries += 1;
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    store.flush().expect("flush");
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(store.stats().samples_written, samples as u64);
    store.close().expect("close");
    let written = written_bytes().saturating_sub(written_before) as f64;
    (samples as f64 / elapsed, written, retries)
}

/// Bytes the whole process has passed to write(2) so far (Linux).
fn written_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines().find_map(|l| {
                l.strip_prefix("wchar: ")
                    .and_then(|n| n.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

fn checkpointed_size(db: &Path) -> u64 {
    let conn = Connection::open(db).expect("open for checkpoint");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(conn);
    let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    size(db.to_path_buf()) + size(PathBuf::from(wal))
}

fn range_queries(db: &Path, names: &[(String, String)], samples: usize) -> (f64, usize) {
    let reader = open_reader(db).expect("reader");
    let rounds = (samples / VARIABLES) as i64;
    let from = from_millis(BASE_MS + rounds / 2 * 1000);
    let to = from_millis(BASE_MS + (rounds / 2 + rounds / 10) * 1000);
    let mut rows = 0;
    let start = Instant::now();
    for q in 0..QUERIES {
        let (client, key) = &names[(q * 7919) % VARIABLES];
        rows = reader
            .history(client, key, from, to, usize::MAX)
            .expect("history")
            .len();
    }
    (start.elapsed().as_secs_f64() * 1e6 / QUERIES as f64, rows)
}

fn bare_insert(db: &Path, create: &str, samples: usize) -> f64 {
    let mut conn = Connection::open(db).expect("open reference");
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
        .expect("wal");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    conn.pragma_update(None, "cache_size", -16_384)
        .expect("cache");
    conn.execute_batch(create).expect("create");
    let start = Instant::now();
    let tx = conn.transaction().expect("begin");
    {
        let mut insert = tx
            .prepare("INSERT INTO s (var_id, t, value) VALUES (?1, ?2, ?3)")
            .expect("prepare");
        for i in 0..samples {
            let (var, t, value) = row(i);
            insert.execute((var as i64 + 1, t, value)).expect("insert");
        }
    }
    tx.commit().expect("commit");
    samples as f64 / start.elapsed().as_secs_f64()
}
