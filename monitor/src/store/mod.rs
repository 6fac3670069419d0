//! History in SQLite (or PostgreSQL, `db = postgresql://...`): one writer thread fed by a
//! bounded queue, one transaction per batch, a compact per-variable schema, and read-only
//! [`Reader`]s for the web.
//!
//! Async code only ever calls the `record_*` methods of [`Store`]: they put a record on a
//! bounded queue with `try_send` and return at once; when the queue is full (in records or
//! in bytes) the record is dropped and counted ([`StoreStats`]) instead of stalling the
//! runtime. The last eighth of the queue is kept for logs, events and alarms, so a flood of
//! samples cannot push out an alarm. No text longer than [`MAX_TEXT_BYTES`] is queued or
//! written. Everything that blocks ([`Store::open`], [`Store::flush`], [`Store::close`],
//! the [`Reader`] queries) belongs in `spawn_blocking` or at startup/shutdown.
//!
//! Crash safety: WAL with `synchronous=NORMAL` keeps every committed batch across a crash
//! of the process (only a power loss can take the last few commits); a batch is one
//! transaction, so it is there completely or not at all.
//!
//! A database deleted (or replaced) while the monitor runs is noticed within a few seconds:
//! the writer logs it, counts it in [`StoreStats::reopened`], says why in
//! [`StoreStats::problem`] and opens a new database at the same path; each [`Reader`]
//! follows the path on its next query.
//!
//! Layout: `db` (the two databases behind one interface, [`Db`](db::Db)), `schema`
//! (tables, opening a connection), `value` ([`Value`] and its SQLite
//! mapping, text caps), `writer` (the writer thread), `rollup` (the tiers of 10-second, minute,
//! 10-minute and hourly min/max/mean the writer keeps, [`TIERS`]), `prune` (retention in
//! small steps), `reader` ([`Reader`]), `tiered` (reading at a plot's or an export's
//! resolution), `file` (which file a path names), `frames` (the index of camera frames,
//! [`FrameRecord`]), `snapshot` (every stored variable, and each one's last value at a
//! moment), `logbook` (log lines and alarms, filtered, newest first, in pages below a row
//! id). Times are Unix milliseconds from `labwire_time`, re-exported here.

mod db;
mod file;
mod frames;
mod logbook;
mod prune;
mod reader;
mod rollup;
mod schema;
mod snapshot;
mod tiered;
mod value;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

pub use crate::alarms::AlarmChange;
pub use crate::change_filter::ChangeFilter;
pub use db::{is_postgres_url, schema_for};
pub use frames::{insert_frame, FrameRecord};
pub use labwire_time::{from_millis, to_millis};
pub use logbook::{AlarmQuery, AlarmState, LogQuery, Stored};
pub use reader::{open_reader, AlarmRecord, EventRecord, LogRecord, Reader};
pub use rollup::{Bucket, Tier, TIERS};
pub use schema::{sqlite_schema, SCHEMA, SCHEMA_VERSION};
pub use snapshot::{Page, StoredVariable, ValueAt};
pub use value::{Value, MAX_TEXT_BYTES};

use value::capped_text;
use writer::{Msg, Record, Writer};

#[derive(Debug)]
pub enum StoreError {
    Sqlite(rusqlite::Error),
    Postgres(postgres::Error),
    Io(std::io::Error),
    /// The database was written by a newer labwire, or is not a labwire database.
    Schema(String),
    /// The writer thread is gone (it panicked); nothing more can be stored.
    WriterGone,
    /// The database file was deleted; the writer opens a new one at its next check.
    Deleted(PathBuf),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Sqlite(e) => write!(f, "history database: {e}"),
            StoreError::Postgres(e) => write!(f, "history database (PostgreSQL): {e}"),
            StoreError::Io(e) => write!(f, "history writer: {e}"),
            StoreError::Schema(message) => write!(f, "history database: {message}"),
            StoreError::WriterGone => f.write_str("history writer thread has stopped"),
            StoreError::Deleted(path) => write!(
                f,
                "history database {} was deleted; the monitor opens a new one within seconds",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Sqlite(e) => Some(e),
            StoreError::Postgres(e) => Some(e),
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

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Postgres(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Samples, logs and events older than this are deleted; `None` keeps everything.
    pub retention: Option<Duration>,
    /// Rollup buckets older than this are deleted, one per tier of [`TIERS`]; `None` keeps
    /// that tier.
    pub rollup_retention: [Option<Duration>; TIERS.len()],
    /// Keep the rollup tiers as samples arrive (the default). Without them, plots of long
    /// ranges read every raw sample; the store bench turns them off to show their cost.
    pub rollups: bool,
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
    /// Text bytes (values, names, messages) waiting for the writer; beyond it records are
    /// dropped, so a flood of long texts cannot grow the queue's memory past this.
    pub queue_bytes: usize,
    /// How often the writer deletes what is older than `retention`.
    pub prune_interval: Duration,
    /// How often the writer checks that the database path still names the file it writes.
    pub file_check_interval: Duration,
    /// The monitor's name: on PostgreSQL, whose schema its tables are in (several
    /// monitors share one database, see [`schema_for`]).
    pub monitor: String,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            retention: None,
            rollup_retention: [None; TIERS.len()],
            rollups: true,
            batch_max: 20_000,
            flush_interval: Duration::from_secs(2),
            queue_capacity: 16_384,
            queue_bytes: 64 * 1024 * 1024,
            prune_interval: Duration::from_secs(600),
            file_check_interval: Duration::from_secs(2),
            monitor: "monitor".to_owned(),
        }
    }
}

/// Queue slots per client, beyond the default queue: a few seconds of a client's samples,
/// so a commit of ten thousand clients' samples does not overflow the queue.
const QUEUE_PER_CLIENT: usize = 8;

impl StoreOptions {
    /// The queue sized for `clients` (never below the default).
    pub fn for_clients(self, clients: usize) -> Self {
        StoreOptions {
            queue_capacity: self.queue_capacity.max(clients * QUEUE_PER_CLIENT),
            batch_max: self.batch_max.max(clients * QUEUE_PER_CLIENT / 2),
            ..self
        }
    }
}

/// Counters for `/metrics`; all monotonic except `queued` and `problem`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// Raw samples deleted by retention.
    pub samples_pruned: u64,
    /// Texts cut to [`MAX_TEXT_BYTES`] before they were queued.
    pub texts_truncated: u64,
    /// New databases opened because the file at the path was deleted or replaced. It only
    /// grows, so it also serves as a generation number: whoever caches what it read can
    /// drop the cache when it changes.
    pub reopened: u64,
    /// Records waiting for the writer right now.
    pub queued: usize,
    /// The last thing that went wrong with the database file, with its UTC time; `None`
    /// while nothing has.
    pub problem: Option<String>,
}

/// What the writer thread and the [`Store`] handle share.
#[derive(Default)]
struct Shared {
    samples_written: AtomicU64,
    samples_dropped: AtomicU64,
    records_dropped: AtomicU64,
    batches: AtomicU64,
    write_errors: AtomicU64,
    samples_pruned: AtomicU64,
    texts_truncated: AtomicU64,
    reopened: AtomicU64,
    queued: AtomicUsize,
    queued_bytes: AtomicUsize,
    problem: Mutex<Option<String>>,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Shared {
    fn set_problem(&self, problem: String) {
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(problem);
    }
}

/// The history store: owns the writer thread. Share it as `Arc<Store>`; dropping it (or
/// [`Store::close`]) commits what is queued and stops the thread.
pub struct Store {
    tx: SyncSender<Msg>,
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    path: PathBuf,
    capacity: usize,
    sample_limit: usize,
    byte_capacity: usize,
    sample_byte_limit: usize,
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
        let path = schema::with_schema(path.as_ref(), &options.monitor);
        let options = StoreOptions {
            batch_max: options.batch_max.max(1),
            queue_capacity: options.queue_capacity.max(8),
            queue_bytes: options.queue_bytes.max(MAX_TEXT_BYTES * 8),
            ..options
        };
        let (capacity, byte_capacity) = (options.queue_capacity, options.queue_bytes);
        let shared = Arc::new(Shared::default());
        let writer = Writer::open(&path, options, Arc::clone(&shared))?;
        let (tx, rx) = sync_channel(capacity);
        let handle = std::thread::Builder::new()
            .name("labwire-store".to_owned())
            .spawn(move || writer.run(rx))
            .map_err(StoreError::Io)?;
        Ok(Store {
            tx,
            shared,
            writer: Some(handle),
            path,
            capacity,
            sample_limit: capacity - capacity / 8,
            byte_capacity,
            sample_byte_limit: byte_capacity - byte_capacity / 8,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the history is kept, to be shown: a PostgreSQL URL without its password.
    pub fn shown_location(&self) -> String {
        without_password(&self.path.display().to_string())
    }

    /// Records the queue holds at most ([`StoreOptions::queue_capacity`]).
    pub fn queue_capacity(&self) -> usize {
        self.capacity
    }

    /// A read-only connection to the same database.
    pub fn reader(&self) -> Result<Reader> {
        open_reader(&self.path)
    }

    /// Queue one sample. Never blocks; returns false when the sample was dropped because the
    /// writer is behind. Times are kept to the millisecond; a second sample of the same
    /// variable in the same millisecond replaces the first.
    pub fn record_value(&self, client: &str, key: &str, time: SystemTime, value: Value) -> bool {
        let (value, cut) = value.capped();
        let record = Record::Sample {
            client: self.text(client),
            key: self.text(key),
            t: to_millis(time),
            value,
        };
        self.count_cut(cut);
        if self.enqueue(record, self.sample_limit, self.sample_byte_limit) {
            true
        } else {
            bump(&self.shared.samples_dropped, 1);
            false
        }
    }

    /// Queue one log line. Never blocks; false when dropped.
    pub fn record_log(&self, time: SystemTime, level: &str, source: &str, message: &str) -> bool {
        self.enqueue_other(Record::Log {
            t: to_millis(time),
            level: self.text(level),
            source: self.text(source),
            message: self.text(message),
        })
    }

    /// Queue one client event (`connected`, `disconnected`, ...). Never blocks; false when
    /// dropped.
    pub fn record_event(&self, time: SystemTime, client: &str, kind: &str, detail: &str) -> bool {
        self.enqueue_other(Record::Event {
            t: to_millis(time),
            client: self.text(client),
            kind: self.text(kind),
            detail: self.text(detail),
        })
    }

    /// Queue an alarm change of one variable. Never blocks; false when dropped.
    pub fn record_alarm(
        &self,
        time: SystemTime,
        client: &str,
        key: &str,
        change: AlarmChange,
        message: &str,
    ) -> bool {
        let change = match change {
            AlarmChange::Raised { state, value } => AlarmChange::Raised {
                state: self.text(&state),
                value,
            },
            other => other,
        };
        self.enqueue_other(Record::Alarm {
            t: to_millis(time),
            client: self.text(client),
            key: self.text(key),
            change,
            message: self.text(message),
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
        let s = &self.shared;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StoreStats {
            samples_written: read(&s.samples_written),
            samples_dropped: read(&s.samples_dropped),
            records_dropped: read(&s.records_dropped),
            batches: read(&s.batches),
            write_errors: read(&s.write_errors),
            samples_pruned: read(&s.samples_pruned),
            texts_truncated: read(&s.texts_truncated),
            reopened: read(&s.reopened),
            queued: s.queued.load(Ordering::Relaxed),
            problem: s.problem.lock().unwrap_or_else(|e| e.into_inner()).clone(),
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

    /// An owned copy of `text`, cut to [`MAX_TEXT_BYTES`] (and counted when cut).
    fn text(&self, text: &str) -> String {
        let (text, cut) = capped_text(text);
        self.count_cut(cut);
        text.to_owned()
    }

    fn count_cut(&self, cut: bool) {
        if cut {
            bump(&self.shared.texts_truncated, 1);
        }
    }

    fn enqueue_other(&self, record: Record) -> bool {
        if self.enqueue(record, self.capacity, self.byte_capacity) {
            true
        } else {
            bump(&self.shared.records_dropped, 1);
            false
        }
    }

    /// Limits below the channel's capacity and the byte budget reserve the rest of the
    /// queue for other records.
    fn enqueue(&self, record: Record, limit: usize, byte_limit: usize) -> bool {
        let bytes = record.text_bytes();
        // Counted before sending so the writer's decrement can never run first and wrap.
        let queued = self.shared.queued.fetch_add(1, Ordering::Relaxed);
        let queued_bytes = self.shared.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        if queued < limit && queued_bytes + bytes <= byte_limit {
            match self.tx.try_send(Msg::Record(record)) {
                Ok(()) => return true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
            }
        }
        self.shared.queued.fetch_sub(1, Ordering::Relaxed);
        self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
        false
    }

    fn send_blocking(&self, msg: Msg) -> Result<()> {
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        self.tx.send(msg).map_err(|_| {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
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

/// `location` with the password of a PostgreSQL URL (`postgresql://user:secret@host/db`)
/// made `***`; a file's path as it is.
fn without_password(location: &str) -> String {
    if !is_postgres_url(location) {
        return location.to_string();
    }
    let (scheme, rest) = location.split_once("://").unwrap_or(("", location));
    // The user's part ends at the last `@` before the host (a password may hold one).
    let host_at = rest
        .find('/')
        .map_or(rest, |slash| &rest[..slash])
        .rfind('@');
    match host_at {
        Some(at) if rest[..at].contains(':') => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        _ => location.to_string(),
    }
}

#[test]
fn a_shown_location_has_no_password() {
    assert_eq!(
        without_password("postgresql://lab:s3cr@t@db.example.org:5432/labwire#labwire_lab2"),
        "postgresql://lab:***@db.example.org:5432/labwire#labwire_lab2"
    );
    for kept in [
        "postgresql://lab@db/labwire",
        "/var/lib/labwire/h.sqlite",
        "a:b@c.sqlite",
    ] {
        assert_eq!(without_password(kept), kept);
    }
}

#[cfg(test)]
mod tests;
