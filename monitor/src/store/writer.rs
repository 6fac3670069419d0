//! The writer thread: gathers queued records into batches, commits each batch as one
//! transaction (samples with the rollup buckets they close, see [`super::rollup`]),
//! applies retention in small steps ([`super::prune`]), and keeps writing to the file the
//! path names.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::db::Location;
use super::db::{Db, Param};
use super::file::{file_id, journal_ids, remove_stale_journal, FileId};
use super::prune::PruneRun;
use super::rollup::{resume_from, Closed, OpenBuckets, TIERS};
use super::schema::{location, open_db_for_writing};
use super::tiered::edge;
use super::{bump, AlarmChange, Result, Shared, StoreOptions, Value};

const INSERT_SAMPLE: &str = "INSERT OR REPLACE INTO samples (var_id, t, value) VALUES (?1, ?2, ?3)";

pub(super) enum Record {
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
        /// A device alarm's text ("" for the monitor's own), stored when it is raised.
        message: String,
    },
}

impl Record {
    /// The text a record holds, which is what its size on the queue depends on.
    pub(super) fn text_bytes(&self) -> usize {
        match self {
            Record::Sample {
                client, key, value, ..
            } => {
                let text = match value {
                    Value::Text(text) => text.len(),
                    _ => 0,
                };
                client.len() + key.len() + text
            }
            Record::Log {
                level,
                source,
                message,
                ..
            } => level.len() + source.len() + message.len(),
            Record::Event {
                client,
                kind,
                detail,
                ..
            } => client.len() + kind.len() + detail.len(),
            Record::Alarm {
                client,
                key,
                change,
                message,
                ..
            } => {
                let state = match change {
                    AlarmChange::Raised { state, .. } => state.len(),
                    _ => 0,
                };
                client.len() + key.len() + state + message.len()
            }
        }
    }
}

pub(super) enum Msg {
    Record(Record),
    Flush(SyncSender<()>),
    Shutdown,
}

/// How long the writer pauses when the queue is empty while it gathers a batch; a flush
/// waits this much longer at most.
const GATHER_PAUSE: Duration = Duration::from_millis(20);
/// client -> key -> variable id; nested so a lookup needs no allocation.
type VarCache = HashMap<String, HashMap<String, i64>>;

/// Variable id -> its open rollup buckets; a variable missing here is rebuilt from the
/// database when it next has a sample.
type Rollups = HashMap<i64, OpenBuckets>;

pub(super) struct Writer {
    path: PathBuf,
    /// `None` after the database file vanished and no new one could be opened yet.
    conn: Option<Db>,
    /// The file `conn` writes; `None` where the platform cannot tell.
    file: Option<FileId>,
    /// Its `-wal` and `-shm` files.
    journal: [Option<FileId>; 2],
    vars: VarCache,
    rollups: Rollups,
    shared: Arc<Shared>,
    options: StoreOptions,
    last_prune: Option<Instant>,
    /// Retention under way, a step after each batch.
    pruning: Option<PruneRun>,
    last_check: Instant,
    /// What went wrong with the file, until a new database is open.
    trouble: Option<String>,
    /// The last failure to open a new database that was logged.
    logged: Option<String>,
}

impl Writer {
    /// Say what is wrong with the database: in the log when it first happens (it is
    /// retried at every check, not logged every few seconds), and in the stats always.
    fn report_problem(&mut self, problem: String) {
        if self.logged.as_ref() != Some(&problem) {
            tracing::error!("{problem}");
            self.logged = Some(problem.clone());
        }
        self.shared.set_problem(format!(
            "{}: {problem}",
            labwire_time::rfc3339(SystemTime::now())
        ));
    }

    /// Open or create the database; blocking.
    pub(super) fn open(path: &Path, options: StoreOptions, shared: Arc<Shared>) -> Result<Self> {
        let mut conn = open_db_for_writing(path)?;
        let vars = load_variables(&mut conn)?;
        Ok(Writer {
            path: path.to_path_buf(),
            file: file_id(path),
            journal: journal_ids(path),
            conn: Some(conn),
            vars,
            rollups: Rollups::new(),
            shared,
            options,
            last_prune: None,
            pruning: None,
            last_check: Instant::now(),
            trouble: None,
            logged: None,
        })
    }

    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        let mut batch = Vec::new();
        let mut waiters: Vec<SyncSender<()>> = Vec::new();
        let mut open = true;
        self.prune_if_due();
        while open {
            match rx.recv_timeout(self.idle_wait()) {
                Ok(msg) => self.take(msg, &mut batch, &mut waiters, &mut open),
                Err(RecvTimeoutError::Timeout) => {
                    self.check_file_if_due();
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
                match rx.try_recv() {
                    Ok(msg) => self.take(msg, &mut batch, &mut waiters, &mut open),
                    // A pause, not a wait on the queue: a writer waiting there is woken
                    // by every record, thousands of times a second under many clients.
                    Err(TryRecvError::Empty) => std::thread::sleep(left.min(GATHER_PAUSE)),
                    Err(TryRecvError::Disconnected) => open = false,
                }
            }
            self.check_file_if_due();
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
        self.shared.queued.fetch_sub(1, Ordering::Relaxed);
        match msg {
            Msg::Record(record) => {
                let bytes = record.text_bytes();
                self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                batch.push(record);
            }
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
        self.reconnect_if_lost();
        let Some(conn) = self.conn.as_mut() else {
            // Already logged as the file's trouble; counted, not logged per batch.
            bump(&self.shared.write_errors, 1);
            bump(&self.shared.samples_dropped, samples);
            return;
        };
        let rollups = self.options.rollups.then_some(&mut self.rollups);
        match write_batch(conn, &mut self.vars, rollups, batch) {
            Ok(()) => {
                bump(&self.shared.samples_written, samples);
                bump(&self.shared.batches, 1);
            }
            Err(e) => {
                tracing::error!(error = %e, records = batch.len(), "history batch lost");
                bump(&self.shared.write_errors, 1);
                bump(&self.shared.samples_dropped, samples);
                // Ids handed out inside the rolled-back transaction no longer exist, and
                // buckets closed in it were not stored: both are read again.
                self.vars.clear();
                self.rollups.clear();
            }
        }
    }

    /// A PostgreSQL connection the server closed: connect again (the variables' ids and
    /// open buckets are read again too). Without luck the batch is counted as lost, and
    /// the next one tries again.
    fn reconnect_if_lost(&mut self) {
        let lost = match &self.conn {
            Some(conn) => conn.is_lost(),
            None => matches!(location(&self.path), Location::Postgres { .. }),
        };
        if !lost {
            return;
        }
        self.conn = None;
        self.vars.clear();
        self.rollups.clear();
        self.pruning = None;
        match open_db_for_writing(&self.path)
            .and_then(|mut conn| Ok((load_variables(&mut conn)?, conn)))
        {
            Ok((vars, conn)) => {
                tracing::warn!("history database connection was lost; connected again");
                self.vars = vars;
                self.conn = Some(conn);
            }
            Err(e) => {
                self.report_problem(format!("the history database connection was lost: {e}"));
            }
        }
    }

    /// How long the writer may wait for a record before it has housekeeping to do.
    fn idle_wait(&self) -> Duration {
        let check = self
            .options
            .file_check_interval
            .saturating_sub(self.last_check.elapsed());
        // Floored so tiny intervals cannot turn the idle wait into a busy loop; a run
        // under way takes its next step soon, leaving the writer time for batches.
        let floor = if self.pruning.is_some() {
            Duration::from_millis(5)
        } else {
            Duration::from_secs(1)
        };
        let prune = self
            .next_prune_in()
            .map_or(Duration::MAX, |wait| wait.max(floor));
        check.max(Duration::from_millis(100)).min(prune)
    }

    /// Make sure the path still names the file being written; if it does not (deleted,
    /// replaced, or a new database could not be opened last time), open the one there now.
    fn check_file_if_due(&mut self) {
        if self.last_check.elapsed() < self.options.file_check_interval {
            return;
        }
        self.last_check = Instant::now();
        let Some(opened) = self.file else {
            return; // this platform cannot tell files apart
        };
        let now = file_id(&self.path);
        let trouble = match (&self.trouble, now) {
            (Some(trouble), _) => trouble.clone(),
            (None, Some(now)) if now == opened => return,
            (None, Some(_)) => "was replaced by another file".to_owned(),
            (None, None) => "was deleted".to_owned(),
        };
        self.reopen(trouble);
    }

    fn reopen(&mut self, trouble: String) {
        self.conn = None;
        self.vars.clear();
        self.rollups.clear();
        self.pruning = None;
        remove_stale_journal(&self.path, self.journal);
        let path = self.path.display();
        let opened = open_db_for_writing(&self.path)
            .and_then(|mut conn| Ok((load_variables(&mut conn)?, conn)));
        match opened {
            Ok((vars, conn)) => {
                let problem = format!(
                    "{}: the history database {path} {trouble}; a new one was opened there",
                    labwire_time::rfc3339(SystemTime::now())
                );
                tracing::error!("{problem}");
                self.shared.set_problem(problem);
                bump(&self.shared.reopened, 1);
                self.vars = vars;
                self.rollups.clear();
                // Should the new file vanish at once, the old id makes the next check see it.
                self.file = file_id(&self.path).or(self.file);
                self.journal = journal_ids(&self.path);
                self.conn = Some(conn);
                self.trouble = None;
                self.logged = None;
            }
            Err(e) => {
                self.report_problem(format!(
                    "the history database {path} {trouble}; cannot open a new one: {e}"
                ));
                self.trouble = Some(trouble);
            }
        }
    }

    fn next_prune_in(&self) -> Option<Duration> {
        if self.pruning.is_some() {
            return Some(Duration::ZERO);
        }
        if self.options.retention.is_none()
            && self.options.rollup_retention.iter().all(Option::is_none)
        {
            return None;
        }
        let since = self.last_prune.map_or(Duration::MAX, |at| at.elapsed());
        Some(self.options.prune_interval.saturating_sub(since))
    }

    /// Start a retention run when one is due, and take one bounded step of the run under
    /// way: big deletes (a year of history the first time `retention_days` is set) are
    /// spread over many small transactions between batches.
    fn prune_if_due(&mut self) {
        if self.pruning.is_none() {
            if !self.next_prune_in().is_some_and(|wait| wait.is_zero()) {
                return;
            }
            self.last_prune = Some(Instant::now());
            let now = labwire_time::now_ms();
            let cutoff = |keep: Option<Duration>| {
                keep.map(|keep| {
                    now.saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX))
                })
            };
            let tiers = self.options.rollup_retention.map(cutoff);
            self.pruning = Some(PruneRun::new(cutoff(self.options.retention), tiers));
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let run = self.pruning.as_mut().expect("a run was just started");
        match run.step(conn) {
            Ok(step) => {
                bump(&self.shared.samples_pruned, step.samples);
                if step.done {
                    self.pruning = None;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "history retention failed");
                bump(&self.shared.write_errors, 1);
                self.pruning = None;
            }
        }
    }
}

fn load_variables(conn: &mut Db) -> Result<VarCache> {
    let mut vars = VarCache::new();
    conn.query("SELECT id, client, key FROM variables", &[], |row| {
        vars.entry(row.text(1)?)
            .or_default()
            .insert(row.text(2)?, row.int(0)?);
        Ok(true)
    })?;
    Ok(vars)
}

fn var_id(tx: &mut Db, vars: &mut VarCache, client: &str, key: &str) -> Result<i64> {
    if let Some(&id) = vars.get(client).and_then(|keys| keys.get(key)) {
        return Ok(id);
    }
    let names = [Param::Text(client), Param::Text(key)];
    tx.execute(
        "INSERT INTO variables (client, key) VALUES (?1, ?2) ON CONFLICT (client, key) DO NOTHING",
        &names,
    )?;
    let id = super::tiered::var_id(tx, client, key)?
        .ok_or_else(|| super::StoreError::Schema(format!("variable {client}.{key} has no id")))?;
    vars.entry(client.to_owned())
        .or_default()
        .insert(key.to_owned(), id);
    Ok(id)
}

fn write_batch(
    conn: &mut Db,
    vars: &mut VarCache,
    mut rollups: Option<&mut Rollups>,
    batch: &[Record],
) -> Result<()> {
    conn.transaction(|tx| {
        let mut pending = PendingSamples::new();
        for record in batch {
            match record {
                Record::Sample {
                    client,
                    key,
                    t,
                    value,
                } => {
                    let id = var_id(tx, vars, client, key)?;
                    // Before the insert: a variable's buckets rebuilt from the database
                    // must not hold this sample already.
                    if let Some(rollups) = rollups.as_deref_mut() {
                        roll_up(tx, rollups, id, *t, value)?;
                    }
                    insert_sample(tx, &mut pending, id, *t, value)?;
                }
                Record::Log {
                    t,
                    level,
                    source,
                    message,
                } => {
                    tx.execute(
                        "INSERT INTO logs (t, level, source, message) VALUES (?1, ?2, ?3, ?4)",
                        &[
                            Param::Int(*t),
                            Param::Text(level),
                            Param::Text(source),
                            Param::Text(message),
                        ],
                    )?;
                }
                Record::Event {
                    t,
                    client,
                    kind,
                    detail,
                } => {
                    tx.execute(
                        "INSERT INTO events (t, client, kind, detail) VALUES (?1, ?2, ?3, ?4)",
                        &[
                            Param::Int(*t),
                            Param::Text(client),
                            Param::Text(kind),
                            Param::Text(detail),
                        ],
                    )?;
                }
                Record::Alarm {
                    t,
                    client,
                    key,
                    change,
                    message,
                } => write_alarm(tx, *t, client, key, change, message)?,
            }
        }
        if let Db::Postgres(pg) = tx {
            pg.insert_samples(&mut pending)?;
        }
        Ok(())
    })
}

/// Samples waiting to go to PostgreSQL in one statement at the end of the batch.
type PendingSamples = Vec<(i64, i64, Option<f64>, Option<String>)>;

fn insert_sample(
    tx: &mut Db,
    pending: &mut PendingSamples,
    id: i64,
    t: i64,
    value: &Value,
) -> Result<()> {
    match tx {
        // The hot path: one cached statement, the value bound as it is stored.
        Db::Sqlite(conn) => {
            conn.prepare_cached(INSERT_SAMPLE)?
                .execute((id, t, value))?;
        }
        Db::Postgres(_) => {
            let (num, txt) = match value {
                Value::Number(x) => (Some(*x), None),
                Value::Text(text) => (None, Some(text.clone())),
                Value::Missing => (None, None),
            };
            pending.push((id, t, num, txt));
        }
    }
    Ok(())
}

fn write_alarm(
    tx: &mut Db,
    t: i64,
    client: &str,
    key: &str,
    change: &AlarmChange,
    message: &str,
) -> Result<()> {
    const CLEAR: &str = "UPDATE alarms SET cleared_at = ?1 \
                         WHERE client = ?2 AND key = ?3 AND cleared_at IS NULL";
    let at = [Param::Int(t), Param::Text(client), Param::Text(key)];
    match change {
        AlarmChange::Raised { state, value } => {
            tx.execute(CLEAR, &at)?;
            tx.execute(
                "INSERT INTO alarms (client, key, state, value, raised_at, message) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &[
                    Param::Text(client),
                    Param::Text(key),
                    Param::Text(state),
                    Param::Real(*value),
                    Param::Int(t),
                    Param::Text(message),
                ],
            )?;
        }
        AlarmChange::Cleared => {
            tx.execute(CLEAR, &at)?;
        }
        AlarmChange::Acked => {
            tx.execute(
                "UPDATE alarms SET acked_at = ?1 \
                 WHERE client = ?2 AND key = ?3 AND acked_at IS NULL",
                &at,
            )?;
        }
    }
    Ok(())
}

/// Add a sample to its variable's open buckets, storing those it closes.
fn roll_up(tx: &mut Db, rollups: &mut Rollups, id: i64, t: i64, value: &Value) -> Result<()> {
    let Some(number) = value.rollup_number() else {
        return Ok(());
    };
    let buckets = match rollups.entry(id) {
        Entry::Occupied(entry) => entry.into_mut(),
        Entry::Vacant(entry) => entry.insert(rebuild(tx, id)?),
    };
    let mut stored = Ok(());
    buckets.add(t, number, |closed| {
        if stored.is_ok() {
            stored = store_bucket(tx, id, &closed);
        }
    });
    stored
}

/// A variable's open buckets as the database has them: the raw samples after each tier's
/// last stored bucket (at most one coarsest bucket's worth), buckets they close stored.
fn rebuild(tx: &mut Db, id: i64) -> Result<OpenBuckets> {
    let mut last_stored = [None; TIERS.len()];
    for (last, tier) in last_stored.iter_mut().zip(TIERS) {
        *last = edge(tx, tier.table, id, true)?;
    }
    let last_raw = edge(tx, "samples", id, true)?;
    let since = resume_from(&last_stored, last_raw);
    let mut buckets = OpenBuckets::default();
    let from = since.iter().copied().min().unwrap_or(i64::MAX);
    if from == i64::MAX {
        return Ok(buckets);
    }
    let mut closed = Vec::new();
    let sql = format!(
        "SELECT t, {} FROM samples WHERE var_id = ?1 AND t >= ?2 ORDER BY t",
        tx.value_columns()
    );
    tx.query(&sql, &[Param::Int(id), Param::Int(from)], |row| {
        let Some(number) = row.value(1)?.rollup_number() else {
            return Ok(true);
        };
        buckets.add_since(&since, row.int(0)?, number, |c| closed.push(c));
        Ok(true)
    })?;
    for bucket in &closed {
        store_bucket(tx, id, bucket)?;
    }
    Ok(buckets)
}

/// Store a closed bucket, or fold a late sample into the stored one.
fn store_bucket(tx: &mut Db, id: i64, closed: &Closed) -> Result<()> {
    let bucket = &closed.bucket;
    let stats = bucket.stats();
    // Made once: a bucket closes every few samples, and so does its statement's lookup.
    static STATEMENTS: std::sync::OnceLock<Vec<[String; 2]>> = std::sync::OnceLock::new();
    let statements = STATEMENTS.get_or_init(|| {
        TIERS
            .iter()
            .map(|tier| {
                [
                    bucket_upsert(tier.table, false),
                    bucket_upsert(tier.table, true),
                ]
            })
            .collect()
    });
    let sql = &statements[closed.tier][usize::from(tx.is_postgres())];
    tx.execute(
        sql,
        &[
            Param::Int(id),
            Param::Int(bucket.start),
            Param::Int(bucket.count as i64),
            Param::Int(bucket.missing as i64),
            Param::Real(stats.map(|s| s.0)),
            Param::Real(stats.map(|s| s.1)),
            Param::Real(stats.map(|s| s.2)),
        ],
    )?;
    Ok(())
}

/// The statement that stores a bucket into `table`, or folds one into the stored row.
fn bucket_upsert(table: &str, postgres: bool) -> String {
    // Both sides' extremes, either of which may be NULL: SQLite's two-argument min()
    // is NULL then, PostgreSQL's LEAST skips it.
    let (least, greatest) = if postgres {
        ("LEAST", "GREATEST")
    } else {
        ("min", "max")
    };
    format!(
        "INSERT INTO {table} (var_id, t, count, missing, min, max, mean) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (var_id, t) DO UPDATE SET \
         count = {table}.count + excluded.count, \
         missing = {table}.missing + excluded.missing, \
         min = coalesce({least}({table}.min, excluded.min), {table}.min, excluded.min), \
         max = coalesce({greatest}({table}.max, excluded.max), {table}.max, excluded.max), \
         mean = CASE WHEN {table}.count + excluded.count > 0 THEN \
             (coalesce({table}.mean * {table}.count, 0) \
              + coalesce(excluded.mean * excluded.count, 0)) \
             / ({table}.count + excluded.count) END"
    )
}
