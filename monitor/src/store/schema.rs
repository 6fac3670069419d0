//! The database layout and how a connection to it is opened: the writer's (WAL, schema
//! created or checked) and a reader's (read-only, schema version checked).
//!
//! `samples(var_id, t, value)` is keyed by `(var_id, t)` in a `WITHOUT ROWID` table, so one
//! variable between two times is a single contiguous B-tree range, and a sample costs only
//! its key and value (no rowid, no second index). `t` is milliseconds since the Unix epoch.
//! `value` has no declared type so each sample keeps its own storage class (see
//! [`super::Value`]).
//!
//! `frames` indexes the camera frames stored as files under the monitor's `frames_dir`
//! (one row per frame, `path` relative to that directory). Version 2 added it; a version 1
//! database is migrated in place by the same idempotent statements (every `CREATE` is
//! `IF NOT EXISTS`), so its history is kept as it is.
//!
//! `rollup_1m`, `rollup_10m` and `rollup_1h` (version 3, see [`super::rollup`]) hold one
//! row per variable and bucket: `t` is the bucket's start, `count` its numeric samples,
//! `missing` its unreadable ones, `min`/`max`/`mean` over the numbers (NULL when there
//! were none). Keyed like `samples`, so a range of buckets is one B-tree range too.
//! `store_meta` holds a few named facts about the file, such as `rollups_since`: when
//! this file started keeping rollups (older samples of a migrated file have none).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{Result, StoreError};

/// The schema version this code writes (`PRAGMA user_version`). Version 2 added the
/// alarms' `message` (a device alarm's text) and the `frames` index, version 3 the rollup
/// tiers and `store_meta`; an older file is brought up to date in place ([`migrate`]),
/// keeping every row.
pub const SCHEMA_VERSION: i64 = 3;

/// The columns added to existing tables since version 1, as (table, column, definition).
/// New tables need nothing here: the schema's `CREATE ... IF NOT EXISTS` adds them.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[("alarms", "message", "TEXT NOT NULL DEFAULT ''")];

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
    acked_at INTEGER,
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alarms_var ON alarms (client, key);
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY,
    client TEXT NOT NULL,
    t INTEGER NOT NULL,
    frame_id INTEGER,
    date_obs TEXT NOT NULL,
    exposure REAL,
    image_type TEXT NOT NULL,
    object TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    header TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS frames_client ON frames (client, id);
CREATE TABLE IF NOT EXISTS rollup_1m (
    var_id INTEGER NOT NULL,
    t INTEGER NOT NULL,
    count INTEGER NOT NULL,
    missing INTEGER NOT NULL,
    min REAL,
    max REAL,
    mean REAL,
    PRIMARY KEY (var_id, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_10m (
    var_id INTEGER NOT NULL,
    t INTEGER NOT NULL,
    count INTEGER NOT NULL,
    missing INTEGER NOT NULL,
    min REAL,
    max REAL,
    mean REAL,
    PRIMARY KEY (var_id, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_1h (
    var_id INTEGER NOT NULL,
    t INTEGER NOT NULL,
    count INTEGER NOT NULL,
    missing INTEGER NOT NULL,
    min REAL,
    max REAL,
    mean REAL,
    PRIMARY KEY (var_id, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// Open or create the database for writing: WAL mode, the writer's pragmas, the schema.
pub(crate) fn open_for_writing(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
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
    create_schema(&conn, path)?;
    Ok(conn)
}

fn create_schema(conn: &Connection, path: &Path) -> Result<()> {
    let version = schema_version(conn)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Schema(format!(
            "{} has schema version {version}; this monitor knows up to {SCHEMA_VERSION}",
            path.display()
        )));
    }
    conn.execute_batch("BEGIN")?;
    migrate(conn)?;
    conn.execute_batch(SCHEMA)?;
    // Kept from the first time: a migrated file's older samples have no rollups.
    conn.execute(
        "INSERT INTO store_meta (key, value) VALUES ('rollups_since', ?1) \
         ON CONFLICT (key) DO NOTHING",
        [labwire_time::now_ms().to_string()],
    )?;
    conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"))?;
    Ok(())
}

/// Add the columns an older file lacks, in the open transaction. Decided by what the file
/// holds rather than by its version number, so a file someone half-migrated by hand, or
/// written by a build between two versions, is brought to the same layout.
fn migrate(conn: &Connection) -> Result<()> {
    for (table, column, definition) in ADDED_COLUMNS {
        let exists: bool = conn.query_row(
            &format!(
                "SELECT count(*) = 1 FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
            ),
            [],
            |row| row.get(0),
        )?;
        let has_column: bool = conn.query_row(
            &format!(
                "SELECT count(*) = 1 FROM pragma_table_info('{table}') WHERE name = '{column}'"
            ),
            [],
            |row| row.get(0),
        )?;
        if exists && !has_column {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {definition};"
            ))?;
        }
    }
    Ok(())
}

/// Open a read-only connection to a database a writer has created.
pub(super) fn open_for_reading(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let version = schema_version(&conn)?;
    if version != SCHEMA_VERSION {
        return Err(StoreError::Schema(format!(
            "{} has schema version {version}, expected {SCHEMA_VERSION}",
            path.display()
        )));
    }
    Ok(conn)
}

fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}
