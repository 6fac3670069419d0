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

/// `,info,warning,error,`: the levels at `min` or above, for `instr()`.
fn levels_from(min: LogLevel) -> String {
    let mut levels = String::from(",");
    for level in LogLevel::ALL.into_iter().filter(|level| *level >= min) {
        levels.push_str(level.as_str());
        levels.push(',');
    }
    levels
}

impl Reader {
    /// Log lines as `query` asks, newest first. In the order of `logs_t`, the index on
    /// `(t, rowid)`, read backwards: a page is one range of the index that stops at its
    /// limit, however long the log, never a sort of everything in the range.
    pub fn logs(&self, query: &LogQuery) -> Result<Page<Stored<LogRecord>>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, t, level, source, message FROM logs \
             WHERE t >= ?1 AND t <= ?2 AND instr(?3, ',' || level || ',') > 0 \
             AND (?4 IS NULL OR source = ?4) \
             AND (?5 IS NULL OR message LIKE ?5 ESCAPE '\\') \
             AND (?6 IS NULL OR (t, id) < ((SELECT t FROM logs WHERE id = ?6), ?6)) \
             ORDER BY t DESC, id DESC LIMIT ?7",
        )?;
        let params = (
            to_millis(query.from),
            to_millis(query.to),
            levels_from(query.min_level),
            query.source.as_deref(),
            query.text.as_deref().map(like_pattern),
            query.before,
            sql_limit(query.limit),
        );
        let rows = stmt.query_map(params, |row| {
            Ok(Stored {
                id: row.get(0)?,
                record: LogRecord {
                    time: from_millis(row.get(1)?),
                    level: row.get(2)?,
                    source: row.get(3)?,
                    message: row.get(4)?,
                },
            })
        })?;
        Ok(page(rows.collect::<rusqlite::Result<_>>()?, query.limit))
    }

    /// Alarms as `query` asks, newest first, each with its raised, acknowledged and
    /// cleared times.
    pub fn alarm_history(&self, query: &AlarmQuery) -> Result<Page<Stored<AlarmRecord>>> {
        let conn = self.conn()?;
        let (raised_as, cleared, acked) = match &query.state {
            None => (None, None, None),
            Some(AlarmState::Active) => (None, Some(false), None),
            Some(AlarmState::Cleared) => (None, Some(true), None),
            Some(AlarmState::Acknowledged) => (None, None, Some(true)),
            Some(AlarmState::Unacknowledged) => (None, None, Some(false)),
            Some(AlarmState::Raised(state)) => (Some(state.as_str()), None, None),
        };
        let mut stmt = conn.prepare_cached(
            "SELECT id, client, key, state, value, raised_at, cleared_at, acked_at, message \
             FROM alarms \
             WHERE raised_at <= ?1 AND (cleared_at IS NULL OR cleared_at >= ?2) \
             AND (?3 IS NULL OR client = ?3) \
             AND (?4 IS NULL OR client || '.' || key LIKE ?4 ESCAPE '\\') \
             AND (?5 IS NULL OR state = ?5) \
             AND (?6 IS NULL OR (cleared_at IS NOT NULL) = ?6) \
             AND (?7 IS NULL OR (acked_at IS NOT NULL) = ?7) \
             AND (?8 IS NULL OR id < ?8) \
             ORDER BY id DESC LIMIT ?9",
        )?;
        let params = rusqlite::params![
            to_millis(query.to),
            to_millis(query.from),
            query.client.as_deref(),
            query.name.as_deref().map(like_pattern),
            raised_as,
            cleared,
            acked,
            query.before,
            sql_limit(query.limit),
        ];
        let rows = stmt.query_map(params, |row| {
            Ok(Stored {
                id: row.get(0)?,
                record: AlarmRecord {
                    client: row.get(1)?,
                    key: row.get(2)?,
                    state: row.get(3)?,
                    value: row.get(4)?,
                    raised_at: from_millis(row.get(5)?),
                    cleared_at: row.get::<_, Option<i64>>(6)?.map(from_millis),
                    acked_at: row.get::<_, Option<i64>>(7)?.map(from_millis),
                    message: row.get(8)?,
                },
            })
        })?;
        Ok(page(rows.collect::<rusqlite::Result<_>>()?, query.limit))
    }
}

/// One more than the page holds, to tell whether more follow.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarms::AlarmChange;
    use crate::store::{open_reader, Store, StoreOptions};
    use labwire_testkit::TempDir;
    use std::time::UNIX_EPOCH;

    const T0: i64 = 1_767_225_600_000;

    fn at(s: i64) -> SystemTime {
        from_millis(T0 + s * 1000)
    }

    fn all_logs() -> LogQuery {
        LogQuery {
            source: None,
            min_level: LogLevel::Debug,
            text: None,
            from: UNIX_EPOCH,
            to: at(1000),
            before: None,
            limit: 100,
        }
    }

    fn messages(page: &Page<Stored<LogRecord>>) -> Vec<&str> {
        page.items
            .iter()
            .map(|s| s.record.message.as_str())
            .collect()
    }

    #[test]
    fn logs_are_filtered_and_paged_newest_first() {
        let dir = TempDir::new("logbook-logs");
        let store = Store::open(dir.path().join("h.sqlite"), StoreOptions::default()).unwrap();
        for (s, level, source, message) in [
            (1, "debug", "psu1", "polled"),
            (2, "info", "psu1", "Output ON"),
            (3, "warning", "gauge1", "pressure rising"),
            (4, "error", "monitor", "alarm psu1.ch1_current: high"),
            (5, "info", "script", "100% done_ok"),
            (6, "info", "psu1", "output off"),
        ] {
            store.record_log(at(s), level, source, message);
        }
        store.flush().unwrap();
        let reader = open_reader(store.path()).unwrap();

        let all = reader.logs(&all_logs()).unwrap();
        assert_eq!(all.items.len(), 6);
        assert_eq!(all.items[0].record.message, "output off", "newest first");
        assert!(!all.more);

        let q = |change: &dyn Fn(&mut LogQuery)| {
            let mut query = all_logs();
            change(&mut query);
            reader.logs(&query).unwrap()
        };
        let warnings = q(&|q| q.min_level = LogLevel::Warning);
        assert_eq!(
            messages(&warnings),
            ["alarm psu1.ch1_current: high", "pressure rising"]
        );
        let psu = q(&|q| q.source = Some("psu1".into()));
        assert_eq!(messages(&psu), ["output off", "Output ON", "polled"]);
        let output = q(&|q| q.text = Some("OUTPUT".into()));
        assert_eq!(messages(&output), ["output off", "Output ON"]);
        // `%` and `_` are themselves.
        assert_eq!(
            messages(&q(&|q| q.text = Some("0% d".into()))),
            ["100% done_ok"]
        );
        assert!(q(&|q| q.text = Some("t_o".into())).items.is_empty());
        let range = q(&|q| {
            q.from = at(2);
            q.to = at(4);
        });
        assert_eq!(range.items.len(), 3);

        let first = q(&|q| q.limit = 4);
        assert!(first.more);
        let rest = q(&|q| {
            q.limit = 4;
            q.before = Some(first.items[3].id);
        });
        assert!(!rest.more);
        assert_eq!(messages(&rest), ["Output ON", "polled"]);
    }

    #[test]
    fn pages_follow_time_then_id_through_lines_of_the_same_moment() {
        let dir = TempDir::new("logbook-order");
        let store = Store::open(dir.path().join("h.sqlite"), StoreOptions::default()).unwrap();
        // Stored out of time order (a line queued late), and three in one millisecond.
        for (s, message) in [(5, "e"), (1, "a"), (3, "b"), (3, "c"), (3, "d")] {
            store.record_log(at(s), "info", "script", message);
        }
        store.flush().unwrap();
        let reader = open_reader(store.path()).unwrap();
        let mut query = LogQuery {
            limit: 1,
            ..all_logs()
        };
        let mut seen = Vec::new();
        loop {
            let page = reader.logs(&query).unwrap();
            seen.extend(messages(&page).iter().map(|m| m.to_string()));
            if !page.more {
                break;
            }
            query.before = Some(page.items[0].id);
        }
        assert_eq!(seen, ["e", "d", "c", "b", "a"]);
    }

    #[test]
    fn alarms_keep_their_raised_acknowledged_and_cleared_times() {
        let dir = TempDir::new("logbook-alarms");
        let store = Store::open(dir.path().join("h.sqlite"), StoreOptions::default()).unwrap();
        let raised = |state: &str| AlarmChange::Raised {
            state: state.into(),
            value: Some(1.7),
        };
        store.record_alarm(at(10), "psu1", "ch1_current", raised("high"), "");
        store.record_alarm(at(15), "psu1", "ch1_current", AlarmChange::Acked, "");
        store.record_alarm(at(20), "psu1", "ch1_current", AlarmChange::Cleared, "");
        store.record_alarm(at(30), "gauge1", "connected", raised("disconnected"), "");
        store.record_alarm(at(40), "cryo", "alarm_fault", raised("device"), "input B");
        store.record_alarm(at(45), "cryo", "alarm_fault", AlarmChange::Acked, "");
        store.flush().unwrap();
        let reader = open_reader(store.path()).unwrap();
        let all = AlarmQuery {
            client: None,
            name: None,
            state: None,
            from: UNIX_EPOCH,
            to: at(1000),
            before: None,
            limit: 100,
        };
        let names = |query: &AlarmQuery| -> Vec<String> {
            reader
                .alarm_history(query)
                .unwrap()
                .items
                .iter()
                .map(|a| format!("{}.{}", a.record.client, a.record.key))
                .collect()
        };
        let page = reader.alarm_history(&all).unwrap();
        assert_eq!(page.items.len(), 3);
        let psu = &page.items[2].record;
        assert_eq!(
            (psu.raised_at, psu.acked_at, psu.cleared_at),
            (at(10), Some(at(15)), Some(at(20)))
        );
        assert_eq!(page.items[0].record.message, "input B");
        let with = |change: &dyn Fn(&mut AlarmQuery)| {
            let mut query = all.clone();
            change(&mut query);
            names(&query)
        };
        assert_eq!(
            with(&|q| q.state = Some(AlarmState::Active)),
            ["cryo.alarm_fault", "gauge1.connected"]
        );
        assert_eq!(
            with(&|q| q.state = Some(AlarmState::Cleared)),
            ["psu1.ch1_current"]
        );
        assert_eq!(
            with(&|q| q.state = Some(AlarmState::Unacknowledged)),
            ["gauge1.connected"]
        );
        assert_eq!(with(&|q| q.state = Some(AlarmState::Acknowledged)).len(), 2);
        assert_eq!(
            with(&|q| q.state = Some(AlarmState::Raised("device".into()))),
            ["cryo.alarm_fault"]
        );
        assert_eq!(
            with(&|q| q.client = Some("psu1".into())),
            ["psu1.ch1_current"]
        );
        assert_eq!(with(&|q| q.name = Some("CH1".into())), ["psu1.ch1_current"]);
        // Listed at some moment of the range: cleared at 20 s is in from 20 s, not 21 s.
        assert_eq!(with(&|q| q.from = at(20)).len(), 3);
        assert_eq!(with(&|q| q.from = at(21)).len(), 2);
        assert_eq!(with(&|q| q.to = at(35)).len(), 2);
        let first = reader
            .alarm_history(&AlarmQuery {
                limit: 2,
                ..all.clone()
            })
            .unwrap();
        assert!(first.more);
        let rest = with(&|q| q.before = Some(first.items[1].id));
        assert_eq!(rest, ["psu1.ch1_current"]);
    }
}
