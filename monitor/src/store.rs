//! History in SQLite: one writer thread fed by a bounded queue, one transaction per batch,
//! a compact per-variable schema, read-only [`Reader`]s for the web, and the
//! [`ChangeFilter`] the poller uses to decide what is worth storing.
//!
//! Async code only ever calls the `record_*` methods of [`Store`]: they put a record on a
//! bounded queue with `try_send` and return at once; when the queue is full the record is
//! dropped and counted ([`StoreStats`]) instead of stalling the runtime. The last eighth of
//! the queue is kept for logs, events and alarms, so a flood of samples cannot push out an
//! alarm. Everything that blocks ([`Store::open`], [`Store::flush`], [`Store::close`], the
//! [`Reader`] queries) belongs in `spawn_blocking` or at startup/shutdown.
//!
//! Schema (see [`SCHEMA`]): `samples(var_id, t, value)` keyed by `(var_id, t)` in a
//! `WITHOUT ROWID` table, so one variable between two times is a single contiguous B-tree
//! range, and a sample costs only its key and value (no rowid, no second index). `t` is
//! milliseconds since the Unix epoch. `value` has no declared type so each sample keeps its
//! own storage class: REAL, INTEGER for integral numbers (SQLite stores 0 and 1 in no bytes
//! at all and small integers in one or two, which suits flags and counters), TEXT, or NULL
//! for a value that could not be read.
//!
//! Crash safety: WAL with `synchronous=NORMAL` keeps every committed batch across a crash
//! of the process (only a power loss can take the last few commits); a batch is one
//! transaction, so it is there completely or not at all.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use labwire_protocol::parse_number;
use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction};

/// The schema version this code writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// The database schema; every statement is idempotent.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS variables (
    id INTEGER PRIMARY KEY,
    client TEXT NOT NULL,
    key TEXT NOT NULL,
    UNIQUE (client, key)
);
CREATE TABLE IF NOT EXISTS samples (
    var_id INTEGER NOT NULL,
    t INTEGER NOT NULL,
    value,
    PRIMARY KEY (var_id, t)
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS history AS
    SELECT v.client, v.key, s.t, s.value FROM samples s JOIN variables v ON v.id = s.var_id;
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY,
    t INTEGER NOT NULL,
    level TEXT NOT NULL,
    source TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_t ON logs (t);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    t INTEGER NOT NULL,
    client TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_t ON events (t);
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY,
    client TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    value REAL,
    raised_at INTEGER NOT NULL,
    cleared_at INTEGER,
    acked_at INTEGER
);
CREATE INDEX IF NOT EXISTS alarms_var ON alarms (client, key);
";

const INSERT_SAMPLE: &str = "INSERT OR REPLACE INTO samples (var_id, t, value) VALUES (?1, ?2, ?3)";

/// One status value as the poller saw it. The empty string on the wire is [`Value::Missing`]
/// ("could not be read"), never a made-up number.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    Missing,
}

impl Value {
    /// Classify a wire value with the protocol's own number syntax.
    pub fn from_wire(text: &str) -> Value {
        if text.is_empty() {
            Value::Missing
        } else if let Some(number) = parse_number(text) {
            Value::Number(number)
        } else {
            Value::Text(text.to_owned())
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(x) => Some(*x),
            _ => None,
        }
    }
}

/// The integer an `f64` holds exactly, if any. Beyond 2^53 integers and doubles part ways,
/// and -0.0 would come back as 0, so those stay REAL.
fn exact_integer(x: f64) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    (x.fract() == 0.0 && x.abs() <= EXACT && !(x == 0.0 && x.is_sign_negative()))
        .then_some(x as i64)
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Number(x) => ToSqlOutput::Owned(match exact_integer(*x) {
                Some(i) => SqlValue::Integer(i),
                None => SqlValue::Real(*x),
            }),
            Value::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Value::Missing => ToSqlOutput::Owned(SqlValue::Null),
        })
    }
}

impl FromSql for Value {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(match value {
            ValueRef::Null => Value::Missing,
            ValueRef::Integer(i) => Value::Number(i as f64),
            ValueRef::Real(x) => Value::Number(x),
            ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
                Value::Text(String::from_utf8_lossy(bytes).into_owned())
            }
        })
    }
}

/// Milliseconds since the Unix epoch (negative before it), the unit of every `t` column.
pub fn to_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

pub fn from_millis(ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

#[derive(Debug)]
pub enum StoreError {
    Sqlite(rusqlite::Error),
    Io(std::io::Error),
    /// The database was written by a newer labwire, or is not a labwire database.
    Schema(String),
    /// The writer thread is gone (it panicked); nothing more can be stored.
    WriterGone,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Sqlite(e) => write!(f, "history database: {e}"),
            StoreError::Io(e) => write!(f, "history writer: {e}"),
            StoreError::Schema(message) => write!(f, "history database: {message}"),
            StoreError::WriterGone => f.write_str("history writer thread has stopped"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Sqlite(e) => Some(e),
            StoreError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Samples, logs and events older than this are deleted; `None` keeps everything.
    pub retention: Option<Duration>,
    /// A batch is committed when it holds this many records (at least 1) ...
    pub batch_max: usize,
    /// ... or when this long has passed since its first record. Each commit rewrites the
    /// B-tree page at the end of every variable it touches, so committing every few seconds
    /// rather than every poll is what keeps the disk writes per sample low.
    pub flush_interval: Duration,
    /// Records waiting for the writer (at least 8); beyond it records are dropped. The
    /// channel allocates every slot up front, so this is resident memory (~100 B a slot);
    /// the writer gathers batches on its own side, so the queue only has to cover a commit.
    pub queue_capacity: usize,
    /// How often the writer deletes what is older than `retention`.
    pub prune_interval: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            retention: None,
            batch_max: 20_000,
            flush_interval: Duration::from_secs(2),
            queue_capacity: 16_384,
            prune_interval: Duration::from_secs(600),
        }
    }
}

/// Counters for `/metrics`; all monotonic except `queued`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Samples in committed batches.
    pub samples_written: u64,
    /// Samples never stored: refused because the queue was full, or lost with a failed batch.
    pub samples_dropped: u64,
    /// Logs, events and alarm changes refused because the queue was full.
    pub records_dropped: u64,
    /// Committed batches.
    pub batches: u64,
    /// Batches or retention runs that failed (the error is logged).
    pub write_errors: u64,
    /// Samples deleted by retention.
    pub samples_pruned: u64,
    /// Records waiting for the writer right now.
    pub queued: usize,
}

#[derive(Default)]
struct Counters {
    samples_written: AtomicU64,
    samples_dropped: AtomicU64,
    records_dropped: AtomicU64,
    batches: AtomicU64,
    write_errors: AtomicU64,
    samples_pruned: AtomicU64,
    queued: AtomicUsize,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// A stored log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub time: SystemTime,
    pub level: String,
    pub source: String,
    pub message: String,
}

/// A stored client event (`connected`, `disconnected`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub time: SystemTime,
    pub client: String,
    pub kind: String,
    pub detail: String,
}

/// What happened to the alarm of one variable.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmChange {
    /// The value left its limits; `state` says how (`low`, `high`, ...). A still uncleared
    /// alarm of the same variable is cleared at the same time.
    Raised { state: String, value: Option<f64> },
    /// The value is back within its limits.
    Cleared,
    /// Someone acknowledged it.
    Acked,
}

/// An alarm that is active or not yet acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRecord {
    pub client: String,
    pub key: String,
    pub state: String,
    pub value: Option<f64>,
    pub raised_at: SystemTime,
    pub cleared_at: Option<SystemTime>,
    pub acked_at: Option<SystemTime>,
}

enum Record {
    Sample {
        client: String,
        key: String,
        t: i64,
        value: Value,
    },
    Log {
        t: i64,
        level: String,
        source: String,
        message: String,
    },
    Event {
        t: i64,
        client: String,
        kind: String,
        detail: String,
    },
    Alarm {
        t: i64,
        client: String,
        key: String,
        change: AlarmChange,
    },
}

enum Msg {
    Record(Record),
    Flush(SyncSender<()>),
    Shutdown,
}

/// The history store: owns the writer thread. Share it as `Arc<Store>`; dropping it (or
/// [`Store::close`]) commits what is queued and stops the thread.
pub struct Store {
    tx: SyncSender<Msg>,
    counters: Arc<Counters>,
    writer: Option<JoinHandle<()>>,
    path: PathBuf,
    capacity: usize,
    sample_limit: usize,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Store {
    /// Open or create the database (WAL mode, schema) and start the writer thread.
    /// Blocking: call it at startup or from `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let options = StoreOptions {
            batch_max: options.batch_max.max(1),
            queue_capacity: options.queue_capacity.max(8),
            ..options
        };
        let conn = Connection::open(&path)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Schema(format!(
                "cannot switch {} to WAL mode (got {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Every variable has a hot leaf page (where its next sample goes). Misses fall to the
        // OS page cache, so a modest cache keeps the monitor's own memory small.
        conn.pragma_update(None, "cache_size", -8_192)?;
        // The WAL file keeps its largest size unless told otherwise.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        // A commit rewrites the tail page of every variable it touches, and the next commits
        // rewrite the same pages. Checkpointing every 8192 pages (32 MiB of WAL) instead of
        // the default 1000 copies each of them back once per several commits instead of
        // after nearly every one.
        conn.pragma_update(None, "wal_autocheckpoint", 8192)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        create_schema(&conn, &path)?;
        let vars = load_variables(&conn)?;

        let capacity = options.queue_capacity;
        let (tx, rx) = sync_channel(capacity);
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            conn,
            vars,
            counters: Arc::clone(&counters),
            options,
            last_prune: None,
        };
        let handle = std::thread::Builder::new()
            .name("labwire-store".to_owned())
            .spawn(move || writer.run(rx))
            .map_err(StoreError::Io)?;
        Ok(Store {
            tx,
            counters,
            writer: Some(handle),
            path,
            capacity,
            sample_limit: capacity - capacity / 8,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A read-only connection to the same database.
    pub fn reader(&self) -> Result<Reader> {
        open_reader(&self.path)
    }

    /// Queue one sample. Never blocks; returns false when the sample was dropped because the
    /// writer is behind. Times are kept to the millisecond; a second sample of the same
    /// variable in the same millisecond replaces the first.
    pub fn record_value(&self, client: &str, key: &str, time: SystemTime, value: Value) -> bool {
        let record = Record::Sample {
            client: client.to_owned(),
            key: key.to_owned(),
            t: to_millis(time),
            value,
        };
        if self.enqueue(record, self.sample_limit) {
            true
        } else {
            bump(&self.counters.samples_dropped, 1);
            false
        }
    }

    /// Queue one log line. Never blocks; false when dropped.
    pub fn record_log(&self, time: SystemTime, level: &str, source: &str, message: &str) -> bool {
        self.enqueue_other(Record::Log {
            t: to_millis(time),
            level: level.to_owned(),
            source: source.to_owned(),
            message: message.to_owned(),
        })
    }

    /// Queue one client event (`connected`, `disconnected`, ...). Never blocks; false when
    /// dropped.
    pub fn record_event(&self, time: SystemTime, client: &str, kind: &str, detail: &str) -> bool {
        self.enqueue_other(Record::Event {
            t: to_millis(time),
            client: client.to_owned(),
            kind: kind.to_owned(),
            detail: detail.to_owned(),
        })
    }

    /// Queue an alarm change of one variable. Never blocks; false when dropped.
    pub fn record_alarm(
        &self,
        time: SystemTime,
        client: &str,
        key: &str,
        change: AlarmChange,
    ) -> bool {
        self.enqueue_other(Record::Alarm {
            t: to_millis(time),
            client: client.to_owned(),
            key: key.to_owned(),
            change,
        })
    }

    /// Wait until everything queued before this call is committed (and retention has run if
    /// due). Blocks for up to one batch write: use `spawn_blocking` from async code.
    pub fn flush(&self) -> Result<()> {
        let (reply, done) = sync_channel(1);
        self.send_blocking(Msg::Flush(reply))?;
        done.recv().map_err(|_| StoreError::WriterGone)
    }

    pub fn stats(&self) -> StoreStats {
        let c = &self.counters;
        StoreStats {
            samples_written: c.samples_written.load(Ordering::Relaxed),
            samples_dropped: c.samples_dropped.load(Ordering::Relaxed),
            records_dropped: c.records_dropped.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
            samples_pruned: c.samples_pruned.load(Ordering::Relaxed),
            queued: c.queued.load(Ordering::Relaxed),
        }
    }

    /// Commit what is queued and stop the writer. Blocking, like [`Store::flush`].
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let Some(handle) = self.writer.take() else {
            return Ok(());
        };
        // A send error means the thread already died; join reports that.
        let _ = self.send_blocking(Msg::Shutdown);
        handle.join().map_err(|_| StoreError::WriterGone)
    }

    fn enqueue_other(&self, record: Record) -> bool {
        if self.enqueue(record, self.capacity) {
            true
        } else {
            bump(&self.counters.records_dropped, 1);
            false
        }
    }

    /// `limit` below the channel capacity reserves the rest of the queue for other records.
    fn enqueue(&self, record: Record, limit: usize) -> bool {
        // Counted before sending so the writer's decrement can never run first and wrap.
        let queued = self.counters.queued.fetch_add(1, Ordering::Relaxed);
        if queued < limit {
            match self.tx.try_send(Msg::Record(record)) {
                Ok(()) => return true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
            }
        }
        self.counters.queued.fetch_sub(1, Ordering::Relaxed);
        false
    }

    fn send_blocking(&self, msg: Msg) -> Result<()> {
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        self.tx.send(msg).map_err(|_| {
            self.counters.queued.fetch_sub(1, Ordering::Relaxed);
            StoreError::WriterGone
        })
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(error = %e, "history store did not stop cleanly");
        }
    }
}

fn create_schema(conn: &Connection, path: &Path) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Schema(format!(
            "{} has schema version {version}; this monitor knows up to {SCHEMA_VERSION}",
            path.display()
        )));
    }
    conn.execute_batch(&format!(
        "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
    ))?;
    Ok(())
}

/// client -> key -> variable id; nested so a lookup needs no allocation.
type VarCache = HashMap<String, HashMap<String, i64>>;

fn load_variables(conn: &Connection) -> rusqlite::Result<VarCache> {
    let mut vars = VarCache::new();
    let mut stmt = conn.prepare("SELECT id, client, key FROM variables")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        vars.entry(row.get(1)?)
            .or_default()
            .insert(row.get(2)?, row.get(0)?);
    }
    Ok(vars)
}

fn var_id(
    tx: &Transaction<'_>,
    vars: &mut VarCache,
    client: &str,
    key: &str,
) -> rusqlite::Result<i64> {
    if let Some(&id) = vars.get(client).and_then(|keys| keys.get(key)) {
        return Ok(id);
    }
    tx.prepare_cached(
        "INSERT INTO variables (client, key) VALUES (?1, ?2) ON CONFLICT (client, key) DO NOTHING",
    )?
    .execute((client, key))?;
    let id = tx
        .prepare_cached("SELECT id FROM variables WHERE client = ?1 AND key = ?2")?
        .query_row((client, key), |row| row.get(0))?;
    vars.entry(client.to_owned())
        .or_default()
        .insert(key.to_owned(), id);
    Ok(id)
}

struct Writer {
    conn: Connection,
    vars: VarCache,
    counters: Arc<Counters>,
    options: StoreOptions,
    last_prune: Option<Instant>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut batch = Vec::new();
        let mut waiters: Vec<SyncSender<()>> = Vec::new();
        let mut open = true;
        self.prune_if_due();
        while open {
            let first = match self.next_prune_in() {
                Some(wait) => rx.recv_timeout(wait),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match first {
                Ok(msg) => self.take(msg, &mut batch, &mut waiters, &mut open),
                Err(RecvTimeoutError::Timeout) => {
                    self.prune_if_due();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let deadline = Instant::now() + self.options.flush_interval;
            while open && waiters.is_empty() && batch.len() < self.options.batch_max {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match rx.recv_timeout(left) {
                    Ok(msg) => self.take(msg, &mut batch, &mut waiters, &mut open),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => open = false,
                }
            }
            self.write(&batch);
            batch.clear();
            self.prune_if_due();
            for waiter in waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
    }

    fn take(
        &self,
        msg: Msg,
        batch: &mut Vec<Record>,
        waiters: &mut Vec<SyncSender<()>>,
        open: &mut bool,
    ) {
        self.counters.queued.fetch_sub(1, Ordering::Relaxed);
        match msg {
            Msg::Record(record) => batch.push(record),
            Msg::Flush(reply) => waiters.push(reply),
            Msg::Shutdown => *open = false,
        }
    }

    fn write(&mut self, batch: &[Record]) {
        if batch.is_empty() {
            return;
        }
        let samples = batch
            .iter()
            .filter(|r| matches!(r, Record::Sample { .. }))
            .count() as u64;
        match write_batch(&mut self.conn, &mut self.vars, batch) {
            Ok(()) => {
                bump(&self.counters.samples_written, samples);
                bump(&self.counters.batches, 1);
            }
            Err(e) => {
                tracing::error!(error = %e, records = batch.len(), "history batch lost");
                bump(&self.counters.write_errors, 1);
                bump(&self.counters.samples_dropped, samples);
                // Ids handed out inside the rolled-back transaction no longer exist.
                self.vars.clear();
            }
        }
    }

    fn next_prune_in(&self) -> Option<Duration> {
        self.options.retention?;
        let since = self.last_prune.map_or(Duration::MAX, |at| at.elapsed());
        // Floored so a tiny prune_interval cannot turn the idle wait into a busy loop.
        Some(
            self.options
                .prune_interval
                .saturating_sub(since)
                .max(Duration::from_secs(1)),
        )
    }

    fn prune_if_due(&mut self) {
        let Some(retention) = self.options.retention else {
            return;
        };
        if self
            .last_prune
            .is_some_and(|at| at.elapsed() < self.options.prune_interval)
        {
            return;
        }
        self.last_prune = Some(Instant::now());
        let keep = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let cutoff = to_millis(SystemTime::now()).saturating_sub(keep);
        match prune(&mut self.conn, cutoff) {
            Ok(deleted) => bump(&self.counters.samples_pruned, deleted),
            Err(e) => {
                tracing::error!(error = %e, "history retention failed");
                bump(&self.counters.write_errors, 1);
            }
        }
    }
}

fn write_batch(
    conn: &mut Connection,
    vars: &mut VarCache,
    batch: &[Record],
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert_sample = tx.prepare_cached(INSERT_SAMPLE)?;
        for record in batch {
            match record {
                Record::Sample {
                    client,
                    key,
                    t,
                    value,
                } => {
                    let id = var_id(&tx, vars, client, key)?;
                    insert_sample.execute((id, t, value))?;
                }
                Record::Log {
                    t,
                    level,
                    source,
                    message,
                } => {
                    tx.prepare_cached(
                        "INSERT INTO logs (t, level, source, message) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute((t, level, source, message))?;
                }
                Record::Event {
                    t,
                    client,
                    kind,
                    detail,
                } => {
                    tx.prepare_cached(
                        "INSERT INTO events (t, client, kind, detail) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute((t, client, kind, detail))?;
                }
                Record::Alarm {
                    t,
                    client,
                    key,
                    change,
                } => write_alarm(&tx, *t, client, key, change)?,
            }
        }
    }
    tx.commit()
}

fn write_alarm(
    tx: &Transaction<'_>,
    t: i64,
    client: &str,
    key: &str,
    change: &AlarmChange,
) -> rusqlite::Result<()> {
    const CLEAR: &str = "UPDATE alarms SET cleared_at = ?1 \
                         WHERE client = ?2 AND key = ?3 AND cleared_at IS NULL";
    match change {
        AlarmChange::Raised { state, value } => {
            tx.prepare_cached(CLEAR)?.execute((t, client, key))?;
            tx.prepare_cached(
                "INSERT INTO alarms (client, key, state, value, raised_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute((client, key, state, value, t))?;
        }
        AlarmChange::Cleared => {
            tx.prepare_cached(CLEAR)?.execute((t, client, key))?;
        }
        AlarmChange::Acked => {
            tx.prepare_cached(
                "UPDATE alarms SET acked_at = ?1 \
                 WHERE client = ?2 AND key = ?3 AND acked_at IS NULL",
            )?
            .execute((t, client, key))?;
        }
    }
    Ok(())
}

/// Delete everything older than `cutoff` (ms). Samples go variable by variable: the key
/// starts with `var_id`, so each delete is one range at the front of that variable instead
/// of a scan of the whole table.
fn prune(conn: &mut Connection, cutoff: i64) -> rusqlite::Result<u64> {
    let tx = conn.transaction()?;
    let mut deleted = 0;
    {
        let ids: Vec<i64> = tx
            .prepare("SELECT id FROM variables")?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut delete = tx.prepare("DELETE FROM samples WHERE var_id = ?1 AND t < ?2")?;
        for id in ids {
            deleted += delete.execute((id, cutoff))? as u64;
        }
        tx.execute("DELETE FROM logs WHERE t < ?1", [cutoff])?;
        tx.execute("DELETE FROM events WHERE t < ?1", [cutoff])?;
        tx.execute(
            "DELETE FROM alarms WHERE cleared_at < ?1 AND acked_at IS NOT NULL",
            [cutoff],
        )?;
    }
    tx.commit()?;
    Ok(deleted)
}

/// A read-only connection for history queries; blocking, so use it from `spawn_blocking`
/// (it is `Send`, not `Sync`: one per task, or behind a mutex).
pub struct Reader {
    conn: Connection,
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

/// Open a read-only connection to a database a [`Store`] has created.
pub fn open_reader(path: impl AsRef<Path>) -> Result<Reader> {
    let path = path.as_ref();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version != SCHEMA_VERSION {
        return Err(StoreError::Schema(format!(
            "{} has schema version {version}, expected {SCHEMA_VERSION}",
            path.display()
        )));
    }
    Ok(Reader { conn })
}

impl Reader {
    /// Samples of one variable with `from <= time <= to`, oldest first, at most `limit`.
    /// An unknown variable has no history (an empty list, not an error).
    pub fn history(
        &self,
        client: &str,
        key: &str,
        from: SystemTime,
        to: SystemTime,
        limit: usize,
    ) -> Result<Vec<(SystemTime, Value)>> {
        let id: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM variables WHERE client = ?1 AND key = ?2")?
            .query_row((client, key), |row| row.get(0))
            .optional()?;
        let Some(id) = id else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(
            "SELECT t, value FROM samples WHERE var_id = ?1 AND t >= ?2 AND t <= ?3 \
             ORDER BY t LIMIT ?4",
        )?;
        let rows = stmt.query_map((id, to_millis(from), to_millis(to), limit), |row| {
            Ok((from_millis(row.get(0)?), row.get(1)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The last `n` log lines, oldest first.
    pub fn recent_logs(&self, n: usize) -> Result<Vec<LogRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT t, level, source, message FROM logs ORDER BY id DESC LIMIT ?1",
        )?;
        let mut logs = stmt
            .query_map([i64::try_from(n).unwrap_or(i64::MAX)], |row| {
                Ok(LogRecord {
                    time: from_millis(row.get(0)?),
                    level: row.get(1)?,
                    source: row.get(2)?,
                    message: row.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        logs.reverse();
        Ok(logs)
    }

    /// The last `n` client events, oldest first.
    pub fn recent_events(&self, n: usize) -> Result<Vec<EventRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT t, client, kind, detail FROM events ORDER BY id DESC LIMIT ?1",
        )?;
        let mut events = stmt
            .query_map([i64::try_from(n).unwrap_or(i64::MAX)], |row| {
                Ok(EventRecord {
                    time: from_millis(row.get(0)?),
                    client: row.get(1)?,
                    kind: row.get(2)?,
                    detail: row.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        events.reverse();
        Ok(events)
    }

    /// Alarms still active or not yet acknowledged, oldest first: what the page lists and
    /// what an alarm engine restores after a restart.
    pub fn active_alarms(&self) -> Result<Vec<AlarmRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT client, key, state, value, raised_at, cleared_at, acked_at FROM alarms \
             WHERE cleared_at IS NULL OR acked_at IS NULL ORDER BY raised_at, id",
        )?;
        let alarms = stmt
            .query_map([], |row| {
                Ok(AlarmRecord {
                    client: row.get(0)?,
                    key: row.get(1)?,
                    state: row.get(2)?,
                    value: row.get(3)?,
                    raised_at: from_millis(row.get(4)?),
                    cleared_at: row.get::<_, Option<i64>>(5)?.map(from_millis),
                    acked_at: row.get::<_, Option<i64>>(6)?.map(from_millis),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(alarms)
    }
}

/// Which polled values are worth storing: a value is stored when it differs from the last
/// stored one, and at least every `store_interval` when it does not. Pure bookkeeping, no
/// I/O; the poller owns one.
#[derive(Debug, Clone)]
pub struct ChangeFilter {
    pub store_interval: Duration,
    last: HashMap<String, HashMap<String, (Value, SystemTime)>>,
}

impl ChangeFilter {
    pub fn new(store_interval: Duration) -> Self {
        ChangeFilter {
            store_interval,
            last: HashMap::new(),
        }
    }

    /// Decide for one polled value, and remember it when the answer is yes. A clock that
    /// went backwards counts as "due", so a clock step cannot silence a variable.
    pub fn should_store(
        &mut self,
        client: &str,
        key: &str,
        value: &Value,
        now: SystemTime,
    ) -> bool {
        let keys = match self.last.get_mut(client) {
            Some(keys) => keys,
            None => self.last.entry(client.to_owned()).or_default(),
        };
        match keys.get_mut(key) {
            Some((last_value, last_time)) => {
                let due = now
                    .duration_since(*last_time)
                    .map_or(true, |age| age >= self.store_interval);
                if due || last_value != value {
                    *last_value = value.clone();
                    *last_time = now;
                    true
                } else {
                    false
                }
            }
            None => {
                keys.insert(key.to_owned(), (value.clone(), now));
                true
            }
        }
    }

    /// Forget a client (it disconnected), so its first value after a reconnect is stored.
    pub fn forget_client(&mut self, client: &str) {
        self.last.remove(client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    /// A scratch directory removed on drop (the workspace has no tempfile crate).
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("labwire-store-{}-{name}", std::process::id()));
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

    fn at(ms: i64) -> SystemTime {
        from_millis(1_700_000_000_000 + ms)
    }

    fn quick() -> StoreOptions {
        StoreOptions {
            flush_interval: Duration::from_millis(20),
            ..StoreOptions::default()
        }
    }

    #[test]
    fn wire_values_are_classified() {
        assert_eq!(Value::from_wire(""), Value::Missing);
        assert_eq!(Value::from_wire("1.5"), Value::Number(1.5));
        assert_eq!(Value::from_wire("-6e-06"), Value::Number(-6e-6));
        assert_eq!(Value::from_wire("nan"), Value::Text("nan".into()));
        assert_eq!(Value::from_wire("CV"), Value::Text("CV".into()));
        assert_eq!(Value::from_wire("0"), Value::Number(0.0));
    }

    #[test]
    fn times_round_trip_through_milliseconds() {
        for ms in [0, 1, 1_700_000_000_123, -1, -86_400_000] {
            assert_eq!(to_millis(from_millis(ms)), ms);
        }
        assert_eq!(to_millis(UNIX_EPOCH + Duration::from_micros(1_999)), 1);
    }

    #[test]
    fn values_round_trip_and_integers_are_compact() {
        let scratch = Scratch::new("values");
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

        let types: Vec<String> = reader
            .conn
            .prepare("SELECT typeof(value) FROM samples ORDER BY t")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            types,
            [
                "real", "integer", "real", "integer", "integer", "real", "real", "text", "text",
                "null"
            ]
        );
    }

    #[test]
    fn history_is_one_variable_in_an_inclusive_range() {
        let scratch = Scratch::new("range");
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

    #[test]
    fn logs_events_and_alarms_are_stored() {
        let scratch = Scratch::new("records");
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
        store.record_alarm(at(10), "psu1", "ch1_current", raised.clone());
        store.record_alarm(at(11), "gauge1", "pressure", raised);
        store.record_alarm(at(12), "gauge1", "pressure", AlarmChange::Cleared);
        store.record_alarm(at(13), "gauge1", "pressure", AlarmChange::Acked);
        store.record_alarm(at(14), "psu1", "ch1_current", AlarmChange::Acked);
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

        // The pressure alarm is cleared and acknowledged, so only ch1_current remains:
        // still active, acknowledged.
        let alarms = reader.active_alarms().unwrap();
        assert_eq!(
            alarms,
            [AlarmRecord {
                client: "psu1".into(),
                key: "ch1_current".into(),
                state: "high".into(),
                value: Some(2.0),
                raised_at: at(10),
                cleared_at: None,
                acked_at: Some(at(14)),
            }]
        );
    }

    #[test]
    fn raising_again_closes_the_previous_alarm() {
        let scratch = Scratch::new("reraise");
        let store = Store::open(scratch.db(), quick()).unwrap();
        let raise = |state: &str| AlarmChange::Raised {
            state: state.into(),
            value: None,
        };
        store.record_alarm(at(1), "t", "temp", raise("high"));
        store.record_alarm(at(2), "t", "temp", raise("low"));
        store.flush().unwrap();
        let alarms = store.reader().unwrap().active_alarms().unwrap();
        let summary: Vec<(&str, Option<SystemTime>)> = alarms
            .iter()
            .map(|a| (a.state.as_str(), a.cleared_at))
            .collect();
        assert_eq!(summary, [("high", Some(at(2))), ("low", None)]);
    }

    #[test]
    fn data_survives_reopening() {
        let scratch = Scratch::new("reopen");
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
        let ids: i64 = reader
            .conn
            .query_row("SELECT count(*) FROM variables", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ids, 2);
    }

    #[test]
    fn retention_deletes_old_history_only() {
        let scratch = Scratch::new("retention");
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

    #[test]
    fn a_newer_schema_is_refused() {
        let scratch = Scratch::new("schema");
        Connection::open(scratch.db())
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = Store::open(scratch.db(), quick()).unwrap_err();
        assert!(matches!(err, StoreError::Schema(_)), "{err}");
        assert!(err.to_string().contains("schema version 2"), "{err}");
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

    #[test]
    fn change_filter_stores_changes_and_a_heartbeat() {
        let mut filter = ChangeFilter::new(Duration::from_secs(60));
        let v = |x: f64| Value::Number(x);
        assert!(filter.should_store("psu1", "v", &v(1.0), at(0)));
        assert!(!filter.should_store("psu1", "v", &v(1.0), at(1_000)));
        assert!(!filter.should_store("psu1", "v", &v(1.0), at(59_999)));
        assert!(filter.should_store("psu1", "v", &v(1.0), at(60_000)));
        assert!(!filter.should_store("psu1", "v", &v(1.0), at(60_001)));
        assert!(filter.should_store("psu1", "v", &v(1.5), at(61_000)));
        // The interval counts from the last stored value, the change at 61 s.
        assert!(!filter.should_store("psu1", "v", &v(1.5), at(120_000)));
        assert!(filter.should_store("psu1", "v", &v(1.5), at(121_000)));
        assert!(filter.should_store("psu1", "v", &Value::Missing, at(121_500)));
        assert!(!filter.should_store("psu1", "v", &Value::Missing, at(122_000)));
        assert!(filter.should_store("psu1", "v", &Value::Text("CV".into()), at(122_500)));
    }

    #[test]
    fn change_filter_keeps_variables_apart_and_forgets_clients() {
        let mut filter = ChangeFilter::new(Duration::from_secs(60));
        let one = Value::Number(1.0);
        assert!(filter.should_store("psu1", "a", &one, at(0)));
        assert!(filter.should_store("psu1", "b", &one, at(0)));
        assert!(filter.should_store("psu2", "a", &one, at(0)));
        assert!(!filter.should_store("psu1", "a", &one, at(10)));
        filter.forget_client("psu1");
        assert!(filter.should_store("psu1", "a", &one, at(20)));
        assert!(!filter.should_store("psu2", "a", &one, at(20)));
        // A clock stepping back must not silence a variable.
        assert!(filter.should_store("psu2", "a", &one, at(-5_000)));
    }
}
