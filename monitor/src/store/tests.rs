use super::*;
use labwire_testkit::PgServer;
use rusqlite::Connection;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Instant, UNIX_EPOCH};

/// A scratch directory removed on drop (the workspace has no tempfile crate).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("labwire-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("history.sqlite")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where a test keeps its store: a scratch SQLite file, or a database of its own on a
/// PostgreSQL server that the tests running at the same time share (started by the first,
/// stopped when the last is done).
enum Place {
    File(Scratch),
    Postgres {
        _server: Arc<PgServer>,
        path: PathBuf,
    },
}

fn shared_server() -> Arc<PgServer> {
    static SERVER: Mutex<std::sync::Weak<PgServer>> = Mutex::new(std::sync::Weak::new());
    let mut shared = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(server) = shared.upgrade() {
        return server;
    }
    let server = Arc::new(PgServer::start("store"));
    *shared = Arc::downgrade(&server);
    server
}

impl Place {
    fn sqlite(name: &str) -> Place {
        Place::File(Scratch::new(name))
    }

    fn postgres(name: &str) -> Place {
        let server = shared_server();
        let url = server.create_database(name);
        let path = PathBuf::from(format!("{url}#{}", schema_for("store-test")));
        Place::Postgres {
            _server: server,
            path,
        }
    }

    fn db(&self) -> PathBuf {
        match self {
            Place::File(scratch) => scratch.db(),
            Place::Postgres { path, .. } => path.clone(),
        }
    }

    fn is_postgres(&self) -> bool {
        matches!(self, Place::Postgres { .. })
    }

    fn execute(&self, sql: &str) {
        super::schema::open_db_for_writing(&self.db())
            .unwrap()
            .batch(sql)
            .unwrap();
    }
}

/// One integer a query answers, through a reader of either database.
fn int(reader: &Reader, sql: &str) -> i64 {
    reader
        .conn
        .borrow_mut()
        .row(sql, &[], |r| r.opt_int(0))
        .unwrap()
        .flatten()
        .unwrap_or_default()
}

/// The same tests against both databases: `sqlite::<name>` and `postgres::<name>`.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name(&super::Place::sqlite(stringify!($name)));
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                super::$name(&super::Place::postgres(stringify!($name)));
            })*
        }
    };
}

on_both_databases!(
    values_round_trip_and_integers_are_compact,
    history_is_one_variable_in_an_inclusive_range,
    logs_events_and_alarms_are_stored,
    raising_again_closes_the_previous_alarm,
    data_survives_reopening,
    retention_deletes_old_history_only,
    long_texts_are_cut_before_they_are_stored,
    rollups_are_kept_as_samples_arrive,
    envelopes_come_from_the_coarsest_tier_with_a_bucket_per_column,
    a_restart_resumes_the_open_buckets_without_counting_twice,
    a_late_sample_is_merged_into_its_stored_bucket,
    a_file_from_before_rollups_gets_them_from_its_last_hour_on,
    each_tier_keeps_its_own_retention_in_small_steps,
    a_newer_schema_is_refused,
    the_store_knows_its_size_on_disk,
);

mod logbook;

fn at(ms: i64) -> SystemTime {
    from_millis(1_700_000_000_000 + ms)
}

fn quick() -> StoreOptions {
    StoreOptions {
        flush_interval: Duration::from_millis(20),
        ..StoreOptions::default()
    }
}

fn values_round_trip_and_integers_are_compact(scratch: &Place) {
    let store = Store::open(scratch.db(), quick()).unwrap();
    let values = [
        Value::Number(1.25),
        Value::Number(0.0),
        Value::Number(-0.0),
        Value::Number(1.0),
        Value::Number(-42.0),
        Value::Number(1e300),
        Value::Number(9_007_199_254_740_994.0),
        Value::Text("CV".into()),
        Value::Text("0123".into()),
        Value::Missing,
    ];
    for (i, value) in values.iter().enumerate() {
        assert!(store.record_value("psu1", "x", at(i as i64), value.clone()));
    }
    store.flush().unwrap();
    assert_eq!(store.stats().samples_written, values.len() as u64);

    let reader = store.reader().unwrap();
    let got = reader.history("psu1", "x", at(0), at(100), 100).unwrap();
    let got_values: Vec<Value> = got.iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(got_values, values);
    assert!(got_values[2].as_number().unwrap().is_sign_negative());
    assert_eq!(got[3].0, at(3));

    if scratch.is_postgres() {
        return;
    }
    let types = reader
        .conn
        .borrow_mut()
        .rows("SELECT typeof(value) FROM samples ORDER BY t", &[], |row| {
            row.text(0)
        })
        .unwrap();
    assert_eq!(
        types,
        ["real", "integer", "real", "integer", "integer", "real", "real", "text", "text", "null"]
    );
}

fn history_is_one_variable_in_an_inclusive_range(scratch: &Place) {
    let store = Store::open(scratch.db(), quick()).unwrap();
    for i in 0..100 {
        store.record_value("psu1", "ch1_voltage", at(i * 1000), Value::Number(i as f64));
        store.record_value("psu1", "ch2_voltage", at(i * 1000), Value::Number(-1.0));
        store.record_value("psu2", "ch1_voltage", at(i * 1000), Value::Number(-2.0));
    }
    store.flush().unwrap();
    let reader = store.reader().unwrap();
    let got = reader
        .history("psu1", "ch1_voltage", at(10_000), at(20_000), 1000)
        .unwrap();
    let numbers: Vec<f64> = got.iter().filter_map(|(_, v)| v.as_number()).collect();
    assert_eq!(numbers, (10..=20).map(f64::from).collect::<Vec<_>>());
    let limited = reader
        .history("psu1", "ch1_voltage", at(10_000), at(20_000), 3)
        .unwrap();
    assert_eq!(limited.len(), 3);
    assert_eq!(limited[0].0, at(10_000));
    assert!(reader
        .history("psu1", "nope", at(0), at(1_000_000), 10)
        .unwrap()
        .is_empty());
}

fn logs_events_and_alarms_are_stored(scratch: &Place) {
    let store = Store::open(scratch.db(), quick()).unwrap();
    for i in 0..5 {
        store.record_log(at(i), "info", "psu1", &format!("line {i}"));
    }
    store.record_event(at(1), "psu1", "connected", "");
    store.record_event(at(2), "psu1", "disconnected", "connection reset");
    let raised = AlarmChange::Raised {
        state: "high".into(),
        value: Some(2.0),
    };
    store.record_alarm(at(10), "psu1", "ch1_current", raised.clone(), "");
    store.record_alarm(at(11), "gauge1", "pressure", raised, "");
    store.record_alarm(at(12), "gauge1", "pressure", AlarmChange::Cleared, "");
    store.record_alarm(at(13), "gauge1", "pressure", AlarmChange::Acked, "");
    store.record_alarm(at(14), "psu1", "ch1_current", AlarmChange::Acked, "");
    let device = AlarmChange::Raised {
        state: "device".into(),
        value: None,
    };
    store.record_alarm(at(15), "cryo", "alarm_sensor_fault", device, "input B open");
    store.flush().unwrap();

    let reader = store.reader().unwrap();
    let logs = reader.recent_logs(3).unwrap();
    let messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["line 2", "line 3", "line 4"]);
    assert_eq!(logs[2].time, at(4));
    assert_eq!(logs[0].level, "info");

    let events = reader.recent_events(10).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].kind, "disconnected");
    assert_eq!(events[1].detail, "connection reset");

    // The pressure alarm is cleared and acknowledged, so only ch1_current remains
    // (still active, acknowledged) with the device alarm and its message.
    let alarms = reader.active_alarms().unwrap();
    assert_eq!(
        alarms,
        [
            AlarmRecord {
                client: "psu1".into(),
                key: "ch1_current".into(),
                state: "high".into(),
                value: Some(2.0),
                raised_at: at(10),
                cleared_at: None,
                acked_at: Some(at(14)),
                message: String::new(),
            },
            AlarmRecord {
                client: "cryo".into(),
                key: "alarm_sensor_fault".into(),
                state: "device".into(),
                value: None,
                raised_at: at(15),
                cleared_at: None,
                acked_at: None,
                message: "input B open".into(),
            }
        ]
    );
}

fn raising_again_closes_the_previous_alarm(scratch: &Place) {
    let store = Store::open(scratch.db(), quick()).unwrap();
    let raise = |state: &str| AlarmChange::Raised {
        state: state.into(),
        value: None,
    };
    store.record_alarm(at(1), "t", "temp", raise("high"), "");
    store.record_alarm(at(2), "t", "temp", raise("low"), "");
    store.flush().unwrap();
    let alarms = store.reader().unwrap().active_alarms().unwrap();
    let summary: Vec<(&str, Option<SystemTime>)> = alarms
        .iter()
        .map(|a| (a.state.as_str(), a.cleared_at))
        .collect();
    assert_eq!(summary, [("high", Some(at(2))), ("low", None)]);
}

fn data_survives_reopening(scratch: &Place) {
    let store = Store::open(scratch.db(), quick()).unwrap();
    store.record_value("a", "x", at(1), Value::Number(1.0));
    store.close().unwrap();
    let store = Store::open(scratch.db(), quick()).unwrap();
    store.record_value("a", "x", at(2), Value::Number(2.0));
    store.record_value("a", "y", at(2), Value::Number(3.0));
    drop(store);
    let reader = open_reader(scratch.db()).unwrap();
    assert_eq!(
        reader.history("a", "x", at(0), at(10), 10).unwrap(),
        [(at(1), Value::Number(1.0)), (at(2), Value::Number(2.0))]
    );
    let ids = int(&reader, "SELECT count(*) FROM variables");
    assert_eq!(ids, 2);
}

fn retention_deletes_old_history_only(scratch: &Place) {
    let options = StoreOptions {
        retention: Some(Duration::from_secs(3600)),
        prune_interval: Duration::ZERO,
        ..quick()
    };
    let store = Store::open(scratch.db(), options).unwrap();
    let now = SystemTime::now();
    let old = now - Duration::from_secs(7200);
    store.record_value("a", "x", old, Value::Number(1.0));
    store.record_value("a", "x", now, Value::Number(2.0));
    store.record_value("b", "y", old, Value::Number(3.0));
    store.record_log(old, "info", "script", "old");
    store.record_log(now, "info", "script", "new");
    store.flush().unwrap();
    assert_eq!(store.stats().samples_pruned, 2);
    let reader = store.reader().unwrap();
    let far = now + Duration::from_secs(10);
    let x = reader.history("a", "x", UNIX_EPOCH, far, 10).unwrap();
    assert_eq!(x, [(from_millis(to_millis(now)), Value::Number(2.0))]);
    assert!(reader
        .history("b", "y", UNIX_EPOCH, far, 10)
        .unwrap()
        .is_empty());
    let logs = reader.recent_logs(10).unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].message, "new");
}

#[test]
fn a_full_queue_drops_samples_but_keeps_room_for_alarms() {
    let scratch = Scratch::new("full");
    let options = StoreOptions {
        queue_capacity: 16,
        batch_max: 1,
        ..quick()
    };
    let store = Store::open(scratch.db(), options).unwrap();
    // Hold the write lock so the writer stalls on its first batch while we fill the queue.
    let blocker = Connection::open(scratch.db()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let attempts = 200;
    let accepted = (0..attempts)
        .filter(|&i| store.record_value("a", "x", at(i), Value::Number(i as f64)))
        .count() as u64;
    assert!(accepted <= 16, "accepted {accepted} with a queue of 16");
    assert!(store.record_log(at(0), "error", "monitor", "still room for this"));
    let stats = store.stats();
    assert_eq!(stats.samples_dropped, attempts as u64 - accepted);
    assert_eq!(stats.records_dropped, 0);
    blocker.execute_batch("COMMIT").unwrap();
    store.flush().unwrap();
    let stats = store.stats();
    assert_eq!(stats.samples_written, accepted);
    assert_eq!(stats.queued, 0);
    let logs = store.reader().unwrap().recent_logs(1).unwrap();
    assert_eq!(logs[0].message, "still room for this");
}

fn a_newer_schema_is_refused(scratch: &Place) {
    let newer = SCHEMA_VERSION + 1;
    if scratch.is_postgres() {
        Store::open(scratch.db(), quick()).unwrap().close().unwrap();
        scratch.execute(&format!(
            "UPDATE store_meta SET value = '{newer}' WHERE key = 'schema_version'"
        ));
    } else {
        Connection::open(scratch.db())
            .unwrap()
            .pragma_update(None, "user_version", newer)
            .unwrap();
    }
    let err = Store::open(scratch.db(), quick()).unwrap_err();
    assert!(matches!(err, StoreError::Schema(_)), "{err}");
    let expected = format!("schema version {newer}");
    assert!(err.to_string().contains(&expected), "{err}");
}

#[test]
fn a_version_1_database_is_migrated_and_keeps_its_alarms() {
    let scratch = Scratch::new("migrate");
    let old = Connection::open(scratch.db()).unwrap();
    old.execute_batch(
        "CREATE TABLE alarms (id INTEGER PRIMARY KEY, client TEXT NOT NULL, \
         key TEXT NOT NULL, state TEXT NOT NULL, value REAL, raised_at INTEGER NOT NULL, \
         cleared_at INTEGER, acked_at INTEGER); \
         INSERT INTO alarms (client, key, state, value, raised_at) \
         VALUES ('psu1', 'ch1_current', 'high', 2.5, 1000); \
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(old);
    let store = Store::open(scratch.db(), quick()).unwrap();
    let device = AlarmChange::Raised {
        state: "device".into(),
        value: None,
    };
    store.record_alarm(at(5), "cryo", "alarm_heater_fault", device, "heater open");
    store.flush().unwrap();
    let alarms = store.reader().unwrap().active_alarms().unwrap();
    let rows: Vec<(&str, Option<f64>, &str)> = alarms
        .iter()
        .map(|a| (a.key.as_str(), a.value, a.message.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("ch1_current", Some(2.5), ""),
            ("alarm_heater_fault", None, "heater open")
        ]
    );
    let version: i64 = Connection::open(scratch.db())
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

const CRASH_CHILD_ENV: &str = "LABWIRE_STORE_CRASH_CHILD";

/// The writer half of `a_killed_writer_keeps_its_committed_batches`: writes until killed
/// and reports on stdout how many samples are committed.
#[test]
#[ignore = "run as a child process by a_killed_writer_keeps_its_committed_batches"]
fn crash_child() {
    let db = std::env::var_os(CRASH_CHILD_ENV)
        .expect("set LABWIRE_STORE_CRASH_CHILD to a database path");
    let options = StoreOptions {
        batch_max: 500,
        flush_interval: Duration::from_millis(5),
        queue_capacity: 4096,
        ..StoreOptions::default()
    };
    let store = Store::open(db, options).unwrap();
    let give_up = Instant::now() + Duration::from_secs(30);
    let mut reported = 0;
    for i in 0i64.. {
        assert!(
            Instant::now() < give_up,
            "the parent never killed this process"
        );
        let key = format!("v{}", i % 64);
        while !store.record_value("crash", &key, at(i), Value::Number(i as f64 * 0.5)) {
            std::thread::sleep(Duration::from_micros(200));
        }
        let written = store.stats().samples_written;
        if written != reported {
            println!("committed={written}");
            reported = written;
        }
    }
}

#[test]
fn a_killed_writer_keeps_its_committed_batches() {
    let scratch = Scratch::new("crash");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::tests::crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_ENV, scratch.db())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(std::io::Result::ok) {
            if let Some(n) = line.strip_prefix("committed=") {
                let _ = tx.send(n.parse::<u64>().unwrap());
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(8);
    let (mut committed, mut reports) = (0, 0);
    while reports < 40 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(n) => {
                committed = n;
                reports += 1;
            }
            Err(_) => break,
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no final commit
    child.wait().unwrap();
    // Reports printed before the kill are committed too; the reader ends at EOF.
    while let Ok(n) = rx.recv_timeout(Duration::from_secs(2)) {
        committed = committed.max(n);
    }
    assert!(reports >= 40, "the child reported only {reports} commits");

    let conn = Connection::open(scratch.db()).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap();
    let rows = rows as u64;
    assert!(
        rows >= committed,
        "{rows} rows after the crash, {committed} reported committed"
    );
}

/// Wait (bounded) until `done` holds, writing a sample each round as a live monitor would.
fn keep_writing_until(store: &Store, what: &str, done: impl Fn(&StoreStats) -> bool) -> i64 {
    let give_up = Instant::now() + Duration::from_secs(20);
    for i in 1_000.. {
        store.record_value("a", "x", at(i), Value::Number(i as f64));
        store.flush().unwrap();
        if done(&store.stats()) {
            return i;
        }
        assert!(Instant::now() < give_up, "{what}: {:?}", store.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    unreachable!()
}

fn remove_database(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

fn checking_often() -> StoreOptions {
    StoreOptions {
        file_check_interval: Duration::from_millis(50),
        ..quick()
    }
}

#[test]
fn a_deleted_database_is_noticed_and_replaced() {
    let scratch = Scratch::new("deleted");
    let store = Store::open(scratch.db(), checking_often()).unwrap();
    let reader = store.reader().unwrap();
    store.record_value("a", "x", at(1), Value::Number(1.0));
    store.flush().unwrap();
    assert_eq!(
        reader.history("a", "x", at(0), at(10), 10).unwrap().len(),
        1
    );

    remove_database(&scratch.db());
    keep_writing_until(&store, "no new database", |s| s.reopened > 0);
    let last = keep_writing_until(&store, "nothing written after the reopen", |_| true);
    let stats = store.stats();
    assert_eq!(stats.reopened, 1);
    let problem = stats.problem.expect("the reopen is reported");
    assert!(problem.contains("was deleted"), "{problem}");

    // The new file holds the new samples (not the deleted ones) ...
    let fresh = open_reader(scratch.db()).unwrap();
    let got = fresh.history("a", "x", at(0), at(last), 1_000_000).unwrap();
    assert!(
        got.contains(&(at(last), Value::Number(last as f64))),
        "{got:?}"
    );
    assert!(got.iter().all(|(t, _)| *t != at(1)), "{got:?}");
    // ... and a reader opened before the deletion follows the path to it.
    assert_eq!(
        reader
            .history("a", "x", at(0), at(last), 1_000_000)
            .unwrap(),
        got
    );
    // After stopping, the database is still there.
    drop(store);
    assert!(scratch.db().exists());
}

#[test]
fn a_replaced_database_is_followed_with_its_own_variables() {
    let scratch = Scratch::new("replaced");
    let store = Store::open(scratch.db(), checking_often()).unwrap();
    store.record_value("a", "x", at(1), Value::Number(1.0));
    store.flush().unwrap();
    // A backup restored over the path while the monitor runs.
    let backup = scratch.0.join("backup.sqlite");
    let other = Store::open(&backup, quick()).unwrap();
    other.record_value("b", "y", at(2), Value::Number(2.0));
    other.close().unwrap();
    std::fs::rename(&backup, scratch.db()).unwrap();

    keep_writing_until(&store, "the replacement is not noticed", |s| s.reopened > 0);
    let last = keep_writing_until(&store, "nothing written after the reopen", |_| true);
    let problem = store.stats().problem.unwrap();
    assert!(problem.contains("was replaced"), "{problem}");
    let reader = open_reader(scratch.db()).unwrap();
    assert_eq!(
        reader.history("b", "y", at(0), at(10), 10).unwrap(),
        [(at(2), Value::Number(2.0))]
    );
    let x = reader
        .history("a", "x", at(0), at(last), 1_000_000)
        .unwrap();
    assert!(x.contains(&(at(last), Value::Number(last as f64))), "{x:?}");
    // Both variables keep distinct ids: the writer took the replacement's, not its own.
    let ids = int(&reader, "SELECT count(DISTINCT id) FROM variables");
    assert_eq!(ids, 2);
}

#[test]
fn a_reader_reports_a_deleted_database_until_there_is_a_new_one() {
    let scratch = Scratch::new("reader-deleted");
    let store = Store::open(scratch.db(), quick()).unwrap();
    let reader = store.reader().unwrap();
    drop(store);
    remove_database(&scratch.db());
    let err = reader.recent_logs(10).unwrap_err();
    assert!(err.to_string().contains("was deleted"), "{err}");
    let store = Store::open(scratch.db(), quick()).unwrap();
    store.record_log(at(1), "info", "test", "new");
    store.flush().unwrap();
    assert_eq!(reader.recent_logs(10).unwrap()[0].message, "new");
}

#[test]
fn a_vanished_directory_is_retried_without_crashing() {
    let scratch = Scratch::new("vanished");
    let dir = scratch.0.join("sub");
    std::fs::create_dir(&dir).unwrap();
    let db = dir.join("history.sqlite");
    let store = Store::open(&db, checking_often()).unwrap();
    store.record_value("a", "x", at(1), Value::Number(1.0));
    store.flush().unwrap();

    // Nowhere to open a new database: batches are counted as lost, nothing panics.
    std::fs::remove_dir_all(&dir).unwrap();
    keep_writing_until(&store, "the failure is not reported", |s| {
        s.problem
            .as_deref()
            .is_some_and(|p| p.contains("cannot open a new one"))
    });
    keep_writing_until(&store, "lost batches are not counted", |s| {
        s.write_errors > 0
    });
    assert_eq!(store.stats().reopened, 0);

    // Once the directory is back, the next check opens a new database there.
    std::fs::create_dir(&dir).unwrap();
    keep_writing_until(&store, "never reopened", |s| s.reopened == 1);
    let last = keep_writing_until(&store, "nothing written after the reopen", |_| true);
    let got = open_reader(&db)
        .unwrap()
        .history("a", "x", at(last), at(last), 1)
        .unwrap();
    assert_eq!(got, [(at(last), Value::Number(last as f64))]);
}

fn long_texts_are_cut_before_they_are_stored(scratch: &Place) {
    let store = Store::open(scratch.db(), quick()).unwrap();
    let huge = "x".repeat(4 * MAX_TEXT_BYTES);
    assert!(store.record_value("a", "x", at(1), Value::Text(huge.clone())));
    assert!(store.record_log(at(1), "info", "script", &huge));
    assert!(store.record_event(at(1), "a", "connected", &huge));
    store.flush().unwrap();
    assert_eq!(store.stats().texts_truncated, 3);

    let reader = store.reader().unwrap();
    let cut = "x".repeat(MAX_TEXT_BYTES);
    assert_eq!(
        reader.history("a", "x", at(0), at(2), 10).unwrap(),
        [(at(1), Value::Text(cut.clone()))]
    );
    assert_eq!(reader.recent_logs(1).unwrap()[0].message, cut);
    assert_eq!(reader.recent_events(1).unwrap()[0].detail, cut);
    let longest = if scratch.is_postgres() {
        int(
            &reader,
            "SELECT max(octet_length(message))::bigint FROM logs",
        )
    } else {
        int(
            &reader,
            "SELECT max(length(CAST(message AS BLOB))) FROM logs",
        )
    };
    assert_eq!(longest, MAX_TEXT_BYTES as i64);
}

#[test]
fn queued_text_is_bounded_in_bytes() {
    let scratch = Scratch::new("queue-bytes");
    let options = StoreOptions {
        queue_bytes: 0, // raised to the floor: eight of the longest texts
        batch_max: 1,
        ..quick()
    };
    let store = Store::open(scratch.db(), options).unwrap();
    let blocker = Connection::open(scratch.db()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let long = Value::Text("x".repeat(MAX_TEXT_BYTES));
    let attempts = 50;
    let accepted = (0..attempts)
        .filter(|&i| store.record_value("a", "x", at(i), long.clone()))
        .count() as u64;
    // Seven fit in the samples' share of the budget, and one the writer already holds.
    assert!(accepted <= 8, "accepted {accepted} long texts");
    assert_eq!(store.stats().samples_dropped, attempts as u64 - accepted);
    assert!(store.record_log(at(0), "error", "monitor", "still room for this"));
    blocker.execute_batch("COMMIT").unwrap();
    store.flush().unwrap();
    assert_eq!(store.stats().samples_written, accepted);
}

/// Schema 2 added the frames index: a version 1 database keeps its history and gains it.
#[test]
fn a_version_1_database_is_migrated_in_place() {
    let scratch = Scratch::new("migrate-frames");
    {
        let conn = Connection::open(scratch.db()).unwrap();
        conn.execute_batch(&sqlite_schema()).unwrap();
        conn.execute_batch(
            "DROP INDEX frames_client; DROP TABLE frames; PRAGMA user_version = 1; \
             INSERT INTO logs (t, level, source, message) VALUES (1, 'info', 'monitor', 'from v1');",
        )
        .unwrap();
    }
    let store = Store::open(scratch.db(), quick()).unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(reader.recent_logs(5).unwrap()[0].message, "from v1");
    assert!(reader.frames(None, None, 5).unwrap().is_empty());
    let version: i64 = Connection::open(scratch.db())
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

/// Hourly-aligned start for the rollup tests: 2023-11-14T23:00:00Z.
const HOUR0: i64 = 1_700_002_800_000;

fn wave(s: i64) -> f64 {
    ((s * 37) % 101) as f64 - 50.0
}

/// One sample a second of `a.x` for seconds `range`, from `HOUR0`.
fn feed(store: &Store, range: std::ops::Range<i64>) {
    for s in range {
        let value = if s % 97 == 5 {
            Value::Missing
        } else {
            Value::Number(wave(s))
        };
        while !store.record_value("a", "x", from_millis(HOUR0 + s * 1000), value.clone()) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    store.flush().unwrap();
}

/// What the buckets of `width` seconds over seconds `range` should hold, computed from
/// the samples themselves.
fn expected(range: std::ops::Range<i64>, width: i64) -> Vec<(i64, u64, u64, f64, f64, f64)> {
    let mut out: Vec<(i64, u64, u64, f64, f64, f64)> = Vec::new();
    for s in range {
        let start = HOUR0 + (s - s.rem_euclid(width)) * 1000;
        if out.last().is_none_or(|b| b.0 != start) {
            out.push((start, 0, 0, f64::INFINITY, f64::NEG_INFINITY, 0.0));
        }
        let b = out.last_mut().unwrap();
        if s % 97 == 5 {
            b.2 += 1;
        } else {
            let y = wave(s);
            b.1 += 1;
            b.3 = b.3.min(y);
            b.4 = b.4.max(y);
            b.5 += y;
        }
    }
    for b in &mut out {
        b.5 /= b.1 as f64;
    }
    out
}

fn stored_buckets(db: &Path, table: &str) -> Vec<(i64, u64, u64, f64, f64, f64)> {
    super::schema::open_db_for_reading(db)
        .unwrap()
        .rows(
            &format!("SELECT t, count, missing, min, max, mean FROM {table} ORDER BY t"),
            &[],
            |r| {
                Ok((
                    r.int(0)?,
                    r.int(1)? as u64,
                    r.int(2)? as u64,
                    r.opt_real(3)?.unwrap(),
                    r.opt_real(4)?.unwrap(),
                    r.opt_real(5)?.unwrap(),
                ))
            },
        )
        .unwrap()
}

fn assert_buckets(got: &[(i64, u64, u64, f64, f64, f64)], want: &[(i64, u64, u64, f64, f64, f64)]) {
    assert_eq!(got.len(), want.len(), "bucket count");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.0, g.1, g.2, g.3, g.4), (w.0, w.1, w.2, w.3, w.4));
        assert!((g.5 - w.5).abs() < 1e-9, "mean {} vs {}", g.5, w.5);
    }
}

fn rollups_are_kept_as_samples_arrive(scratch: &Place) {
    let store = Store::open(scratch.db(), quick()).unwrap();
    feed(&store, 0..9030);
    // Closed buckets only: the last minute, ten minutes and hour are still open.
    assert_buckets(
        &stored_buckets(&scratch.db(), "rollup_10s"),
        &expected(0..9020, 10),
    );
    assert_buckets(
        &stored_buckets(&scratch.db(), "rollup_1m"),
        &expected(0..9000, 60),
    );
    assert_buckets(
        &stored_buckets(&scratch.db(), "rollup_10m"),
        &expected(0..9000, 600),
    );
    assert_buckets(
        &stored_buckets(&scratch.db(), "rollup_1h"),
        &expected(0..7200, 3600),
    );

    // Hourly steps: two from the tier, the open third from raw samples.
    let reader = store.reader().unwrap();
    let (from, to) = (from_millis(HOUR0), from_millis(HOUR0 + 9029 * 1000));
    let steps = reader.steps("a", "x", from, to, 3_600_000, 100).unwrap();
    let got: Vec<_> = steps
        .iter()
        .map(|b| {
            let (min, max, mean) = b.stats().unwrap();
            (b.start, b.count, b.missing, min, max, mean)
        })
        .collect();
    assert_buckets(&got, &expected(0..9030, 3600));
    // A step no tier divides is read from the raw samples, and gives the same.
    let odd = reader.steps("a", "x", from, to, 45_000, 1000).unwrap();
    assert_eq!(odd.len(), 201);
    assert_eq!(odd[3].count + odd[3].missing, 45);
    assert_eq!(
        reader.steps("a", "x", from, to, 45_000, 7).unwrap().len(),
        7
    );
    let tens = reader.steps("a", "x", from, to, 30_000, 1000).unwrap();
    assert_eq!(tens.len(), 301);
    assert_eq!(tens[299].count + tens[299].missing, 30);
    assert!(reader
        .steps("a", "nope", from, to, 60_000, 7)
        .unwrap()
        .is_empty());
}

fn envelopes_come_from_the_coarsest_tier_with_a_bucket_per_column(scratch: &Place) {
    let store = Store::open(scratch.db(), quick()).unwrap();
    feed(&store, 0..4 * 3600);
    let reader = store.reader().unwrap();
    let (from, to) = (from_millis(HOUR0), from_millis(HOUR0 + 4 * 3_600_000));
    // 15 minutes in 800 columns: too fine for any tier.
    let short = from_millis(HOUR0 + 900_000);
    assert_eq!(reader.envelope("a", "x", from, short, 800).unwrap(), None);
    // 4 hours in 1000 columns: 14.4 s each, so ten seconds; in 100 columns minutes; in
    // 20, ten minutes.
    for (columns, width) in [(1000, 10), (100, 60), (20, 600), (4, 3600)] {
        let points = reader
            .envelope("a", "x", from, to, columns)
            .unwrap()
            .unwrap();
        let want = expected(0..4 * 3600, width);
        // The last bucket is open: its samples come raw.
        let buckets = want.len() - 1;
        let mid = |b: &(i64, u64, u64, f64, f64, f64)| b.0 + width * 500;
        for b in &want[..buckets] {
            let at: Vec<f64> = points
                .iter()
                .filter(|p| p.0 == mid(b))
                .map(|p| p.1)
                .collect();
            assert_eq!(at, [b.3, b.4], "{columns} columns, bucket {}", b.0);
        }
        let raw_tail = points.iter().filter(|p| p.0 >= want[buckets].0).count();
        assert_eq!(raw_tail, width as usize, "{columns} columns");
        let lowest = points
            .iter()
            .map(|p| p.1)
            .filter(|y| !y.is_nan())
            .fold(f64::MAX, f64::min);
        assert_eq!(lowest, -50.0);
    }
}

fn a_restart_resumes_the_open_buckets_without_counting_twice(scratch: &Place) {
    let store = Store::open(scratch.db(), quick()).unwrap();
    feed(&store, 0..1000);
    store.close().unwrap();
    let store = Store::open(scratch.db(), quick()).unwrap();
    feed(&store, 1000..2000);
    drop(store);
    // A writer that dies without closing: its open buckets are rebuilt from raw samples.
    let store = Store::open(scratch.db(), quick()).unwrap();
    feed(&store, 2000..3000);
    std::mem::forget(store);
    let store = Store::open(scratch.db(), quick()).unwrap();
    feed(&store, 3000..7300);
    assert_buckets(
        &stored_buckets(&scratch.db(), "rollup_1m"),
        &expected(0..7260, 60),
    );
    assert_buckets(
        &stored_buckets(&scratch.db(), "rollup_1h"),
        &expected(0..7200, 3600),
    );
}

fn a_late_sample_is_merged_into_its_stored_bucket(scratch: &Place) {
    let store = Store::open(scratch.db(), quick()).unwrap();
    feed(&store, 0..130);
    store.record_value("a", "x", from_millis(HOUR0 + 500), Value::Number(1000.0));
    store.record_value("a", "x", from_millis(HOUR0 + 700), Value::Missing);
    store.flush().unwrap();
    let minutes = stored_buckets(&scratch.db(), "rollup_1m");
    let mut first = expected(0..60, 60)[0];
    first.5 = (first.5 * first.1 as f64 + 1000.0) / (first.1 + 1) as f64;
    first.1 += 1;
    first.2 += 1;
    first.4 = 1000.0;
    assert_buckets(&minutes[..1], &[first]);
}

fn a_file_from_before_rollups_gets_them_from_its_last_hour_on(scratch: &Place) {
    let without = StoreOptions {
        rollups: false,
        ..quick()
    };
    let store = Store::open(scratch.db(), without).unwrap();
    feed(&store, 0..3 * 3600 + 120);
    drop(store);
    assert!(stored_buckets(&scratch.db(), "rollup_1m").is_empty());
    let store = Store::open(scratch.db(), quick()).unwrap();
    feed(&store, 3 * 3600 + 120..4 * 3600 + 30);
    // Rebuilt from the start of the hour of the last old sample: its minutes and that hour.
    let minutes = stored_buckets(&scratch.db(), "rollup_1m");
    assert_buckets(&minutes, &expected(3 * 3600..4 * 3600, 60));
    assert_buckets(
        &stored_buckets(&scratch.db(), "rollup_1h"),
        &expected(3 * 3600..4 * 3600, 3600),
    );
    // The older hours are answered from raw samples, the same as from a tier.
    let reader = store.reader().unwrap();
    let (from, to) = (
        from_millis(HOUR0),
        from_millis(HOUR0 + (4 * 3600 + 29) * 1000),
    );
    let steps = reader.steps("a", "x", from, to, 3_600_000, 100).unwrap();
    let got: Vec<_> = steps
        .iter()
        .map(|b| {
            let (min, max, mean) = b.stats().unwrap();
            (b.start, b.count, b.missing, min, max, mean)
        })
        .collect();
    assert_buckets(&got, &expected(0..4 * 3600 + 30, 3600));
    let points = reader.envelope("a", "x", from, to, 200).unwrap().unwrap();
    assert!(
        points
            .iter()
            .filter(|p| p.0 < HOUR0 + 3 * 3_600_000)
            .count()
            > 3 * 3500
    );
}

fn each_tier_keeps_its_own_retention_in_small_steps(scratch: &Place) {
    let now = labwire_time::now_ms();
    let hour_ago = now - 3_600_000;
    {
        // Old history written straight into the file: more rows than one step deletes.
        let store = Store::open(scratch.db(), quick()).unwrap();
        store.record_value("a", "x", from_millis(now), Value::Number(1.0));
        store.close().unwrap();
        let mut db = super::schema::open_db_for_writing(&scratch.db()).unwrap();
        let insert = if db.is_postgres() {
            "INSERT INTO samples (var_id, t, num) VALUES (1, ?1, 1.0)"
        } else {
            "INSERT INTO samples VALUES (1, ?1, 1.0)"
        };
        let old = super::prune::STEP_ROWS as i64 * 5 / 2;
        db.transaction(|db| {
            for i in 0..old {
                let t = hour_ago - 86_400_000 - i * 1000;
                db.execute(insert, &[super::db::Param::Int(t)])?;
                db.execute(
                    "INSERT INTO rollup_1m VALUES (1, ?1, 1, 0, 1.0, 1.0, 1.0) \
                     ON CONFLICT (var_id, t) DO NOTHING",
                    &[super::db::Param::Int(t - t.rem_euclid(60_000))],
                )?;
            }
            db.batch("INSERT INTO rollup_1h VALUES (1, 0, 1, 0, 1.0, 1.0, 1.0)")
        })
        .unwrap();
    }
    let options = StoreOptions {
        retention: Some(Duration::from_secs(3600)),
        rollup_retention: [None, Some(Duration::from_secs(86_400)), None, None],
        prune_interval: Duration::from_secs(3600),
        ..quick()
    };
    let store = Store::open(scratch.db(), options).unwrap();
    let reader = store.reader().unwrap();
    let count = |table: &str| int(&reader, &format!("SELECT count(*) FROM {table}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while count("samples") > 1 || count("rollup_1m") > 0 {
        assert!(Instant::now() < deadline, "retention did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(count("rollup_1h"), 1, "hourly buckets are kept unless told");
    assert_eq!(
        store.stats().samples_pruned,
        super::prune::STEP_ROWS as u64 * 5 / 2
    );
}

/// Schema 3 added the rollup tiers: a version 2 file keeps its samples and gains them.
#[test]
fn a_version_2_database_is_migrated_and_keeps_its_samples() {
    let scratch = Scratch::new("migrate-v2");
    {
        let conn = Connection::open(scratch.db()).unwrap();
        conn.execute_batch(&sqlite_schema()).unwrap();
        conn.execute_batch(
            "DROP TABLE rollup_10s; DROP TABLE rollup_1m; DROP TABLE rollup_10m; DROP TABLE rollup_1h; \
             DROP TABLE store_meta; PRAGMA user_version = 2; \
             INSERT INTO variables (id, client, key) VALUES (1, 'a', 'x'); \
             INSERT INTO samples VALUES (1, 1700000000000, 2.5);",
        )
        .unwrap();
    }
    let store = Store::open(scratch.db(), quick()).unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(
        reader.history("a", "x", at(-1), at(1), 5).unwrap(),
        [(at(0), Value::Number(2.5))]
    );
    let since = reader
        .conn
        .borrow_mut()
        .row(
            "SELECT value FROM store_meta WHERE key = 'rollups_since'",
            &[],
            |r| r.text(0),
        )
        .unwrap()
        .unwrap();
    assert!(since.parse::<i64>().unwrap() > 1_700_000_000_000);
}

/// The PostgreSQL server restarts under a running store: the batch in flight may be lost
/// (and counted), then the writer and the reader connect again on their own.
#[test]
fn a_restarted_postgresql_server_is_connected_to_again() {
    let server = PgServer::start("restart");
    let url = server.create_database("restart");
    let store = Store::open(&url, quick()).unwrap();
    store.record_value("a", "x", at(1), Value::Number(1.0));
    store.flush().unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(
        reader.history("a", "x", at(0), at(10), 10).unwrap().len(),
        1
    );
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut t = 2;
    loop {
        store.record_value("a", "x", at(t), Value::Number(t as f64));
        store.flush().unwrap();
        if reader
            .history("a", "x", at(t), at(t), 1)
            .is_ok_and(|got| got.len() == 1)
        {
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", store.stats());
        t += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(store.stats().write_errors <= 1, "{:?}", store.stats());
}

/// Two monitors share one PostgreSQL database, each in its own schema: neither sees the
/// other's history.
#[test]
fn monitors_sharing_a_postgresql_database_keep_apart() {
    let server = shared_server();
    let url = server.create_database("shared");
    let open = |monitor: &str| {
        let options = StoreOptions {
            monitor: monitor.into(),
            ..quick()
        };
        Store::open(&url, options).unwrap()
    };
    let (north, south) = (open("lab-north"), open("lab-south"));
    north.record_value("psu1", "v", at(1), Value::Number(1.0));
    south.record_value("psu1", "v", at(1), Value::Number(2.0));
    south.record_log(at(1), "info", "monitor", "south only");
    north.flush().unwrap();
    south.flush().unwrap();
    let (n, s) = (north.reader().unwrap(), south.reader().unwrap());
    assert_eq!(
        n.history("psu1", "v", at(0), at(2), 5).unwrap(),
        [(at(1), Value::Number(1.0))]
    );
    assert_eq!(
        s.history("psu1", "v", at(0), at(2), 5).unwrap(),
        [(at(1), Value::Number(2.0))]
    );
    assert!(n.recent_logs(5).unwrap().is_empty());
    assert_eq!(s.recent_logs(5).unwrap().len(), 1);
    assert!(south
        .path()
        .to_string_lossy()
        .ends_with("#labwire_lab_south"));
}

fn the_store_knows_its_size_on_disk(place: &Place) {
    let store = Store::open(place.db(), quick()).unwrap();
    let reader = store.reader().unwrap();
    let empty = reader.disk_bytes().unwrap();
    assert!(empty > 0, "the schema alone takes room: {empty}");
    for i in 0..20_000 {
        store.record_value("psu1", "ch1_voltage", at(i), Value::Number(i as f64));
    }
    store.flush().unwrap();
    let full = reader.disk_bytes().unwrap();
    assert!(
        full > empty,
        "{full} bytes with 20 000 samples, {empty} without"
    );
}
