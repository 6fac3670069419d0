//! The index of stored camera frames (the `frames` table): one row per FITS file under the
//! monitor's `frames_dir`, written once when a frame is complete on disk, read by the web.
//!
//! Frames are rare (one per exposure) and their row must not be dropped like a sample
//! when the writer's queue is full (the file would have no entry), so [`insert_frame`]
//! writes on a connection of its own, from `spawn_blocking`, and answers the new row's id.

use std::path::Path;
use std::time::SystemTime;

use labwire_time::{from_millis, to_millis};
use rusqlite::{Connection, OptionalExtension, Row};

use super::schema::open_for_writing;
use super::{Reader, Result};

/// One stored frame as the index knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameRecord {
    /// The monitor's number for the frame (`/monitor/frame/<id>.fits`).
    pub id: i64,
    pub client: String,
    /// When the monitor stored it.
    pub time: SystemTime,
    /// The camera's own frame number (`frame_id`), which restarts with the daemon.
    pub frame_id: Option<i64>,
    /// `DATE-OBS` from the header, as written there ("" when missing).
    pub date_obs: String,
    /// `EXPTIME`, seconds.
    pub exposure: Option<f64>,
    /// `IMAGETYP` (object, bias, dark, flat).
    pub image_type: String,
    pub object: String,
    pub width: u32,
    pub height: u32,
    /// Relative to `frames_dir`.
    pub path: String,
    /// Bytes of the file.
    pub size: u64,
    /// The FITS header as its 80-character cards, up to `END`; empty in lists.
    pub header: String,
}

const COLUMNS: &str =
    "id, client, t, frame_id, date_obs, exposure, image_type, object, width, height, path, size";

fn record(row: &Row<'_>, with_header: bool) -> rusqlite::Result<FrameRecord> {
    Ok(FrameRecord {
        id: row.get(0)?,
        client: row.get(1)?,
        time: from_millis(row.get(2)?),
        frame_id: row.get(3)?,
        date_obs: row.get(4)?,
        exposure: row.get(5)?,
        image_type: row.get(6)?,
        object: row.get(7)?,
        width: row.get(8)?,
        height: row.get(9)?,
        path: row.get(10)?,
        size: row.get::<_, i64>(11)?.max(0) as u64,
        header: if with_header {
            row.get(12)?
        } else {
            String::new()
        },
    })
}

/// Add `frame` (its `id` is ignored) to the index of the database at `db`; answers its id.
/// Blocking.
pub fn insert_frame(db: &Path, frame: &FrameRecord) -> Result<i64> {
    let conn = open_for_writing(db)?;
    insert(&conn, frame)
}

fn insert(conn: &Connection, frame: &FrameRecord) -> Result<i64> {
    conn.execute(
        "INSERT INTO frames (client, t, frame_id, date_obs, exposure, image_type, object, \
         width, height, path, size, header) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        rusqlite::params![
            frame.client,
            to_millis(frame.time),
            frame.frame_id,
            frame.date_obs,
            frame.exposure,
            frame.image_type,
            frame.object,
            frame.width,
            frame.height,
            frame.path,
            i64::try_from(frame.size).unwrap_or(i64::MAX),
            frame.header,
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

impl Reader {
    /// Frames newest first, at most `limit`, of `client` (all clients: `None`), with ids
    /// below `before` when given (the next page of a list). Without headers.
    pub fn frames(
        &self,
        client: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<FrameRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM frames WHERE (?1 IS NULL OR client = ?1) \
             AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3"
        ))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map((client, before, limit), |row| record(row, false))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One frame with its header.
    pub fn frame(&self, id: i64) -> Result<Option<FrameRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS}, header FROM frames WHERE id = ?1"
        ))?;
        Ok(stmt.query_row([id], |row| record(row, true)).optional()?)
    }

    /// The newest frame of each client, with its header: what the page shows first.
    pub fn latest_frames(&self) -> Result<Vec<FrameRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS}, header FROM frames WHERE id IN \
             (SELECT max(id) FROM frames GROUP BY client) ORDER BY client"
        ))?;
        let rows = stmt.query_map([], |row| record(row, true))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
