//! The stored log lines and alarms as a logbook: filtered, newest first, in pages that
//! continue below a row (its id is the cursor, so lines stored meanwhile neither shift
//! nor repeat a page the way an offset would).
//!
//! An alarm's row holds its whole life: raised, acknowledged and cleared times
//! (`alarms.raised_at`, `acked_at`, `cleared_at`, written by the writer as they happen),
//! so the history needs no table of its own.

use std::time::SystemTime;

use labwire_protocol::LogLevel;
use labwire_time::{from_millis, to_millis};

use super::db::Param;
use super::snapshot::{like_pattern, page};
use super::{AlarmRecord, LogRecord, Page, Reader, Result};

/// A stored row and its id, the cursor of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<T> {
    pub id: i64,
    pub record: T,
}

/// Which log lines, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct LogQuery {
    /// Only this source (a client's name, `monitor`, `script`).
    pub source: Option<String>,
    /// This level and the more severe ones.
    pub min_level: LogLevel,
    /// Messages containing this (any case, for ASCII letters).
    pub text: Option<String>,
    pub from: SystemTime,
    pub to: SystemTime,
    /// Only lines after this one (by time, then id) in the order of the pages: the
    /// previous page's last.
    pub before: Option<i64>,
    pub limit: usize,
}

/// Which alarms by where they are in their life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmState {
    /// Not yet cleared (still out of range, or a device alarm the daemon still latches).
    Active,
    Cleared,
    Acknowledged,
    Unacknowledged,
    /// Raised as this: `high`, `low`, `disconnected`, `device`.
    Raised(String),
}

/// Which alarms, newest first: those raised before `to` and not cleared before `from`,
/// that is, alarms that were listed at some moment of the range.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmQuery {
    /// Only this client's.
    pub client: Option<String>,
    /// `<client>.<key>` containing this (any case, for ASCII letters).
    pub name: Option<String>,
    pub state: Option<AlarmState>,
    pub from: SystemTime,
    pub to: SystemTime,
    pub before: Option<i64>,
    pub limit: usize,
}

/// The levels at `min` or above, in as many slots as there are levels (the last one
/// repeated), for `level IN (...)` with a fixed number of parameters.
fn levels_from(min: LogLevel) -> [&'static str; LogLevel::ALL.len()] {
    let mut levels = [LogLevel::ALL[LogLevel::ALL.len() - 1].as_str(); LogLevel::ALL.len()];
    for (slot, level) in levels
        .iter_mut()
        .zip(LogLevel::ALL.into_iter().filter(|level| *level >= min))
    {
        *slot = level.as_str();
    }
    levels
}

/// 1 or 0 for a wanted yes or no, for `(... IS NOT NULL) = ?` on both databases.
fn flag(wanted: Option<bool>) -> Param<'static> {
    Param::OptInt(wanted.map(i64::from))
}

impl Reader {
    /// Log lines as `query` asks, newest first. In the order of `logs_t`, the index on
    /// `(t, id)`, read backwards: a page is one range of the index that stops at its
    /// limit, however long the log, never a sort of everything in the range.
    pub fn logs(&self, query: &LogQuery) -> Result<Page<Stored<LogRecord>>> {
        let mut conn = self.conn()?;
        let [l1, l2, l3, l4] = levels_from(query.min_level);
        let pattern = query.text.as_deref().map(like_pattern);
        let like = conn.case_blind_like();
        let sql = format!(
            "SELECT id, t, level, source, message FROM logs \
             WHERE t >= ?1 AND t <= ?2 AND level IN (?3, ?4, ?5, ?6) \
             AND (CAST(?7 AS TEXT) IS NULL OR source = ?7) \
             AND (CAST(?8 AS TEXT) IS NULL OR message {like} ?8 ESCAPE '\\') \
             AND (CAST(?9 AS BIGINT) IS NULL OR (t, id) < ((SELECT t FROM logs WHERE id = ?9), ?9)) \
             ORDER BY t DESC, id DESC LIMIT ?10"
        );
        let params = [
            Param::Int(to_millis(query.from)),
            Param::Int(to_millis(query.to)),
            Param::Text(l1),
            Param::Text(l2),
            Param::Text(l3),
            Param::Text(l4),
            Param::OptText(query.source.as_deref()),
            Param::OptText(pattern.as_deref()),
            Param::OptInt(query.before),
            Param::Int(sql_limit(query.limit)),
        ];
        // The casts tell PostgreSQL the type of a parameter that may be NULL.
        let rows = conn.rows(&sql, &params, |row| {
            Ok(Stored {
                id: row.int(0)?,
                record: LogRecord {
                    time: from_millis(row.int(1)?),
                    level: row.text(2)?,
                    source: row.text(3)?,
                    message: row.text(4)?,
                },
            })
        })?;
        Ok(page(rows, query.limit))
    }

    /// Alarms as `query` asks, newest first, each with its raised, acknowledged and
    /// cleared times.
    pub fn alarm_history(&self, query: &AlarmQuery) -> Result<Page<Stored<AlarmRecord>>> {
        let mut conn = self.conn()?;
        let (raised_as, cleared, acked) = match &query.state {
            None => (None, None, None),
            Some(AlarmState::Active) => (None, Some(false), None),
            Some(AlarmState::Cleared) => (None, Some(true), None),
            Some(AlarmState::Acknowledged) => (None, None, Some(true)),
            Some(AlarmState::Unacknowledged) => (None, None, Some(false)),
            Some(AlarmState::Raised(state)) => (Some(state.as_str()), None, None),
        };
        let pattern = query.name.as_deref().map(like_pattern);
        let like = conn.case_blind_like();
        let sql = format!(
            "SELECT id, client, key, state, value, raised_at, cleared_at, acked_at, message \
             FROM alarms \
             WHERE raised_at <= ?1 AND (cleared_at IS NULL OR cleared_at >= ?2) \
             AND (CAST(?3 AS TEXT) IS NULL OR client = ?3) \
             AND (CAST(?4 AS TEXT) IS NULL OR client || '.' || key {like} ?4 ESCAPE '\\') \
             AND (CAST(?5 AS TEXT) IS NULL OR state = ?5) \
             AND (CAST(?6 AS BIGINT) IS NULL OR (CASE WHEN cleared_at IS NULL THEN 0 ELSE 1 END) = ?6) \
             AND (CAST(?7 AS BIGINT) IS NULL OR (CASE WHEN acked_at IS NULL THEN 0 ELSE 1 END) = ?7) \
             AND (CAST(?8 AS BIGINT) IS NULL OR id < ?8) \
             ORDER BY id DESC LIMIT ?9"
        );
        let params = [
            Param::Int(to_millis(query.to)),
            Param::Int(to_millis(query.from)),
            Param::OptText(query.client.as_deref()),
            Param::OptText(pattern.as_deref()),
            Param::OptText(raised_as),
            flag(cleared),
            flag(acked),
            Param::OptInt(query.before),
            Param::Int(sql_limit(query.limit)),
        ];
        let rows = conn.rows(&sql, &params, |row| {
            Ok(Stored {
                id: row.int(0)?,
                record: AlarmRecord {
                    client: row.text(1)?,
                    key: row.text(2)?,
                    state: row.text(3)?,
                    value: row.opt_real(4)?,
                    raised_at: from_millis(row.int(5)?),
                    cleared_at: row.opt_int(6)?.map(from_millis),
                    acked_at: row.opt_int(7)?.map(from_millis),
                    message: row.text(8)?,
                },
            })
        })?;
        Ok(page(rows, query.limit))
    }
}

/// One more than the page holds, to tell whether more follow.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX)
}
