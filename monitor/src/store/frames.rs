//! The index of stored camera frames (the `frames` table): one row per FITS file under the
//! monitor's `frames_dir`, written once when a frame is complete on disk, read by the web.
//!
//! Frames are rare (one per exposure) and their row must not be dropped like a sample
//! when the writer's queue is full (the file would have no entry), so [`insert_frame`]
//! writes on a connection of its own, from `spawn_blocking`, and answers the new row's id.

use std::path::Path;
use std::time::SystemTime;

use labwire_time::{from_millis, to_millis};

use super::db::{Db, Param, Row};
use super::schema::open_db_for_writing;
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

fn record(row: &Row<'_>, with_header: bool) -> Result<FrameRecord> {
    Ok(FrameRecord {
        id: row.int(0)?,
        client: row.text(1)?,
        time: from_millis(row.int(2)?),
        frame_id: row.opt_int(3)?,
        date_obs: row.text(4)?,
        exposure: row.opt_real(5)?,
        image_type: row.text(6)?,
        object: row.text(7)?,
        width: u32::try_from(row.int(8)?).unwrap_or(0),
        height: u32::try_from(row.int(9)?).unwrap_or(0),
        path: row.text(10)?,
        size: row.int(11)?.max(0) as u64,
        header: if with_header {
            row.text(12)?
        } else {
            String::new()
        },
    })
}

/// Add `frame` (its `id` is ignored) to the index of the database at `db`; answers its id.
/// Blocking.
pub fn insert_frame(db: &Path, frame: &FrameRecord) -> Result<i64> {
    let mut conn = open_db_for_writing(db)?;
    insert(&mut conn, frame)
}

fn insert(conn: &mut Db, frame: &FrameRecord) -> Result<i64> {
    let id = conn.row(
        "INSERT INTO frames (client, t, frame_id, date_obs, exposure, image_type, object, \
         width, height, path, size, header) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
         RETURNING id",
        &[
            Param::Text(&frame.client),
            Param::Int(to_millis(frame.time)),
            Param::OptInt(frame.frame_id),
            Param::Text(&frame.date_obs),
            Param::Real(frame.exposure),
            Param::Text(&frame.image_type),
            Param::Text(&frame.object),
            Param::Int(i64::from(frame.width)),
            Param::Int(i64::from(frame.height)),
            Param::Text(&frame.path),
            Param::Int(i64::try_from(frame.size).unwrap_or(i64::MAX)),
            Param::Text(&frame.header),
        ],
        |row| row.int(0),
    )?;
    Ok(id.unwrap_or_default())
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
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.conn()?.rows(
            &format!(
                "SELECT {COLUMNS} FROM frames WHERE (?1 IS NULL OR client = ?1) \
                 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3"
            ),
            &[
                Param::OptText(client),
                Param::OptInt(before),
                Param::Int(limit),
            ],
            |row| record(row, false),
        )
    }

    /// One frame with its header.
    pub fn frame(&self, id: i64) -> Result<Option<FrameRecord>> {
        self.conn()?.row(
            &format!("SELECT {COLUMNS}, header FROM frames WHERE id = ?1"),
            &[Param::Int(id)],
            |row| record(row, true),
        )
    }

    /// The newest frame of each client, with its header: what the page shows first.
    pub fn latest_frames(&self) -> Result<Vec<FrameRecord>> {
        self.conn()?.rows(
            &format!(
                "SELECT {COLUMNS}, header FROM frames WHERE id IN \
                 (SELECT max(id) FROM frames GROUP BY client) ORDER BY client"
            ),
            &[],
            |row| record(row, true),
        )
    }
}
