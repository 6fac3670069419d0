//! Read-only history queries. A [`Reader`] follows its path: when the database there has
//! been replaced (the writer opened a new one after the old was deleted), the next query
//! reopens, so nobody keeps answering from a file that is gone.

use std::cell::{Cell, RefCell, RefMut};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use labwire_time::{from_millis, to_millis};

use super::db::{Db, Param};
use super::file::{file_id, journal_paths, FileId};
use super::schema::open_db_for_reading;
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
    pub(super) conn: RefCell<Db>,
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
    let conn = open_db_for_reading(path)?;
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
    pub(super) fn conn(&self) -> Result<RefMut<'_, Db>> {
        if self.conn.borrow().is_lost() {
            // The PostgreSQL server closed the connection (it restarted): connect again.
            *self.conn.borrow_mut() = open_db_for_reading(&self.path)?;
        }
        if let Some(opened) = self.file.get() {
            match identity(&self.path) {
                Some(now) if now == opened => {}
                Some(now) => {
                    *self.conn.borrow_mut() = open_db_for_reading(&self.path)?;
                    self.file.set(Some(now));
                }
                None => return Err(StoreError::Deleted(self.path.clone())),
            }
        }
        Ok(self.conn.borrow_mut())
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
        let mut conn = self.conn()?;
        let Some(id) = super::tiered::var_id(&mut conn, client, key)? else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT t, {} FROM samples WHERE var_id = ?1 AND t >= ?2 AND t <= ?3 \
             ORDER BY t LIMIT ?4",
            conn.value_columns()
        );
        let params = [
            Param::Int(id),
            Param::Int(to_millis(from)),
            Param::Int(to_millis(to)),
            Param::Int(limit),
        ];
        conn.rows(&sql, &params, |row| {
            Ok((from_millis(row.int(0)?), row.value(1)?))
        })
    }

    /// Bytes the history takes now. SQLite: its file and its write-ahead log (two
    /// `stat`s). PostgreSQL: this monitor's tables and their indexes (its schema, the
    /// connection's search path), whose files are the server's.
    pub fn disk_bytes(&self) -> Result<u64> {
        let mut conn = self.conn()?;
        if !conn.is_postgres() {
            let [wal, _] = journal_paths(&self.path);
            return Ok([self.path.as_path(), wal.as_path()]
                .iter()
                .filter_map(|path| std::fs::metadata(path).ok())
                .map(|meta| meta.len())
                .sum());
        }
        let bytes = conn.row(
            "SELECT CAST(COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS BIGINT) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind = 'r'",
            &[],
            |row| row.int(0),
        )?;
        Ok(bytes.map_or(0, |b| u64::try_from(b).unwrap_or(0)))
    }

    /// The last `n` log lines, oldest first.
    pub fn recent_logs(&self, n: usize) -> Result<Vec<LogRecord>> {
        let mut logs = self.conn()?.rows(
            "SELECT t, level, source, message FROM logs ORDER BY id DESC LIMIT ?1",
            &[Param::Int(i64::try_from(n).unwrap_or(i64::MAX))],
            |row| {
                Ok(LogRecord {
                    time: from_millis(row.int(0)?),
                    level: row.text(1)?,
                    source: row.text(2)?,
                    message: row.text(3)?,
                })
            },
        )?;
        logs.reverse();
        Ok(logs)
    }

    /// The last `n` client events, oldest first.
    pub fn recent_events(&self, n: usize) -> Result<Vec<EventRecord>> {
        let mut events = self.conn()?.rows(
            "SELECT t, client, kind, detail FROM events ORDER BY id DESC LIMIT ?1",
            &[Param::Int(i64::try_from(n).unwrap_or(i64::MAX))],
            |row| {
                Ok(EventRecord {
                    time: from_millis(row.int(0)?),
                    client: row.text(1)?,
                    kind: row.text(2)?,
                    detail: row.text(3)?,
                })
            },
        )?;
        events.reverse();
        Ok(events)
    }

    /// Alarms still active or not yet acknowledged, oldest first: what the page lists and
    /// what an alarm engine restores after a restart.
    pub fn active_alarms(&self) -> Result<Vec<AlarmRecord>> {
        self.conn()?.rows(
            "SELECT client, key, state, value, raised_at, cleared_at, acked_at, message FROM alarms \
             WHERE cleared_at IS NULL OR acked_at IS NULL ORDER BY raised_at, id",
            &[],
            |row| {
                Ok(AlarmRecord {
                    client: row.text(0)?,
                    key: row.text(1)?,
                    state: row.text(2)?,
                    value: row.opt_real(3)?,
                    raised_at: from_millis(row.int(4)?),
                    cleared_at: row.opt_int(5)?.map(from_millis),
                    acked_at: row.opt_int(6)?.map(from_millis),
                    message: row.text(7)?,
                })
            },
        )
    }
}
