//! Read-only history queries. A [`Reader`] follows its path: when the database there has
//! been replaced (the writer opened a new one after the old was deleted), the next query
//! reopens, so nobody keeps answering from a file that is gone.

use std::cell::{Cell, Ref, RefCell};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use labwire_time::{from_millis, to_millis};
use rusqlite::{Connection, OptionalExtension};

use super::file::{file_id, journal_paths, FileId};
use super::schema::open_for_reading;
use super::{Result, StoreError, Value};

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

/// A stored alarm: when it was raised, and when acknowledged and cleared once it was
/// ([`Reader::active_alarms`]: those still active or not yet acknowledged).
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRecord {
    pub client: String,
    pub key: String,
    pub state: String,
    pub value: Option<f64>,
    pub raised_at: SystemTime,
    pub cleared_at: Option<SystemTime>,
    pub acked_at: Option<SystemTime>,
    /// A device alarm's text as the daemon gave it when raised; "" for the monitor's own.
    pub message: String,
}

/// A read-only connection for history queries; blocking, so use it from `spawn_blocking`
/// (it is `Send`, not `Sync`: one per task, or behind a mutex).
pub struct Reader {
    path: PathBuf,
    /// The file `conn` reads and its `-shm` (a new database gets a new one, even when a
    /// reader opened the new file before the writer removed the old journal); `None`
    /// where the platform cannot tell.
    file: Cell<Option<(FileId, Option<FileId>)>>,
    pub(super) conn: RefCell<Connection>,
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Open a read-only connection to a database a [`super::Store`] has created.
pub fn open_reader(path: impl AsRef<Path>) -> Result<Reader> {
    let path = path.as_ref();
    // Taken before opening: should the file change in between, the next query reopens.
    let file = identity(path);
    let conn = open_for_reading(path)?;
    Ok(Reader {
        path: path.to_path_buf(),
        file: Cell::new(file),
        conn: RefCell::new(conn),
    })
}

/// The database file at `path` and its `-shm`.
fn identity(path: &Path) -> Option<(FileId, Option<FileId>)> {
    let [_, shm] = journal_paths(path);
    Some((file_id(path)?, file_id(&shm)))
}

impl Reader {
    /// The connection to the file the path names now: reopened if the file was replaced;
    /// an error while there is none (deleted, the writer has not yet opened a new one).
    pub(super) fn conn(&self) -> Result<Ref<'_, Connection>> {
        if let Some(opened) = self.file.get() {
            match identity(&self.path) {
                Some(now) if now == opened => {}
                Some(now) => {
                    *self.conn.borrow_mut() = open_for_reading(&self.path)?;
                    self.file.set(Some(now));
                }
                None => return Err(StoreError::Deleted(self.path.clone())),
            }
        }
        Ok(self.conn.borrow())
    }

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
        let conn = self.conn()?;
        let id: Option<i64> = conn
            .prepare_cached("SELECT id FROM variables WHERE client = ?1 AND key = ?2")?
            .query_row((client, key), |row| row.get(0))
            .optional()?;
        let Some(id) = id else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = conn.prepare_cached(
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
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
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
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
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
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT client, key, state, value, raised_at, cleared_at, acked_at, message FROM alarms \
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
                    message: row.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(alarms)
    }
}
