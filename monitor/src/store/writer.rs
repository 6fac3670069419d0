//! The writer thread: gathers queued records into batches, commits each batch as one
//! transaction, applies retention, and keeps writing to the file the path names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{Connection, Transaction};

use super::file::{file_id, journal_ids, remove_stale_journal, FileId};
use super::schema::open_for_writing;
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

pub(super) struct Writer {
    path: PathBuf,
    /// `None` after the database file vanished and no new one could be opened yet.
    conn: Option<Connection>,
    /// The file `conn` writes; `None` where the platform cannot tell.
    file: Option<FileId>,
    /// Its `-wal` and `-shm` files.
    journal: [Option<FileId>; 2],
    vars: VarCache,
    shared: Arc<Shared>,
    options: StoreOptions,
    last_prune: Option<Instant>,
    last_check: Instant,
    /// What went wrong with the file, until a new database is open.
    trouble: Option<String>,
    /// The last failure to open a new database that was logged.
    logged: Option<String>,
}

impl Writer {
    /// Open or create the database; blocking.
    pub(super) fn open(path: &Path, options: StoreOptions, shared: Arc<Shared>) -> Result<Self> {
        let conn = open_for_writing(path)?;
        let vars = load_variables(&conn)?;
        Ok(Writer {
            path: path.to_path_buf(),
            file: file_id(path),
            journal: journal_ids(path),
            conn: Some(conn),
            vars,
            shared,
            options,
            last_prune: None,
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
        let Some(conn) = self.conn.as_mut() else {
            // Already logged as the file's trouble; counted, not logged per batch.
            bump(&self.shared.write_errors, 1);
            bump(&self.shared.samples_dropped, samples);
            return;
        };
        match write_batch(conn, &mut self.vars, batch) {
            Ok(()) => {
                bump(&self.shared.samples_written, samples);
                bump(&self.shared.batches, 1);
            }
            Err(e) => {
                tracing::error!(error = %e, records = batch.len(), "history batch lost");
                bump(&self.shared.write_errors, 1);
                bump(&self.shared.samples_dropped, samples);
                // Ids handed out inside the rolled-back transaction no longer exist.
                self.vars.clear();
            }
        }
    }

    /// How long the writer may wait for a record before it has housekeeping to do.
    fn idle_wait(&self) -> Duration {
        let check = self
            .options
            .file_check_interval
            .saturating_sub(self.last_check.elapsed());
        // Floored so tiny intervals cannot turn the idle wait into a busy loop.
        let prune = self
            .next_prune_in()
            .map_or(Duration::MAX, |wait| wait.max(Duration::from_secs(1)));
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
        remove_stale_journal(&self.path, self.journal);
        let path = self.path.display();
        let opened =
            open_for_writing(&self.path).and_then(|conn| Ok((load_variables(&conn)?, conn)));
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
                // Should the new file vanish at once, the old id makes the next check see it.
                self.file = file_id(&self.path).or(self.file);
                self.journal = journal_ids(&self.path);
                self.conn = Some(conn);
                self.trouble = None;
                self.logged = None;
            }
            Err(e) => {
                let problem =
                    format!("the history database {path} {trouble}; cannot open a new one: {e}");
                // Retried at every check: logged when it first happens, not every few seconds.
                if self.logged.as_ref() != Some(&problem) {
                    tracing::error!("{problem}");
                    self.logged = Some(problem.clone());
                }
                self.shared.set_problem(format!(
                    "{}: {problem}",
                    labwire_time::rfc3339(SystemTime::now())
                ));
                self.trouble = Some(trouble);
            }
        }
    }

    fn next_prune_in(&self) -> Option<Duration> {
        self.options.retention?;
        let since = self.last_prune.map_or(Duration::MAX, |at| at.elapsed());
        Some(self.options.prune_interval.saturating_sub(since))
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
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        self.last_prune = Some(Instant::now());
        let keep = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let cutoff = labwire_time::now_ms().saturating_sub(keep);
        match prune(conn, cutoff) {
            Ok(deleted) => bump(&self.shared.samples_pruned, deleted),
            Err(e) => {
                tracing::error!(error = %e, "history retention failed");
                bump(&self.shared.write_errors, 1);
            }
        }
    }
}

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
                    message,
                } => write_alarm(&tx, *t, client, key, change, message)?,
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
    message: &str,
) -> rusqlite::Result<()> {
    const CLEAR: &str = "UPDATE alarms SET cleared_at = ?1 \
                         WHERE client = ?2 AND key = ?3 AND cleared_at IS NULL";
    match change {
        AlarmChange::Raised { state, value } => {
            tx.prepare_cached(CLEAR)?.execute((t, client, key))?;
            tx.prepare_cached(
                "INSERT INTO alarms (client, key, state, value, raised_at, message) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute((client, key, state, value, t, message))?;
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
