//! What the archive holds, beyond one variable's samples: the list of every stored
//! variable (the page's plot builder searches it) and every variable's last value at or
//! before a moment (the page's "state at any time"). Both are bounded pages, ordered by
//! client and key, so a monitor of thousands of clients answers them in small parts.
//!
//! The last value of a variable at a moment is one lookup in the `(var_id, t)` key of
//! `samples`, so a page of variables costs one index seek each, however long the history.

use std::time::SystemTime;

use labwire_time::{from_millis, to_millis};

use super::db::{Param, Row};
use super::{Reader, Result, Value};

/// A stored variable: `<client>.<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVariable {
    pub client: String,
    pub key: String,
}

impl StoredVariable {
    pub fn full(&self) -> String {
        format!("{}.{}", self.client, self.key)
    }
}

/// A variable's last stored sample at or before a moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueAt {
    pub variable: StoredVariable,
    pub time: SystemTime,
    pub value: Value,
}

/// One page of a longer list: its items, and whether more follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

pub(super) fn page<T>(mut items: Vec<T>, limit: usize) -> Page<T> {
    let more = items.len() > limit;
    items.truncate(limit);
    Page { items, more }
}

/// SQLite's LIMIT and OFFSET: one more than asked, to tell whether more follow.
fn bounds(offset: usize, limit: usize) -> (i64, i64) {
    let limit = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    (limit, i64::try_from(offset).unwrap_or(i64::MAX))
}

/// `text` for a LIKE pattern with `\` as the escape: its own `%`, `_` and `\` match
/// themselves.
pub(super) fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Reader {
    /// Stored variables whose `<client>.<key>` contains `search` (any case, for ASCII
    /// letters; "" for all), ordered by client and key, `limit` of them from `offset`.
    pub fn variables(
        &self,
        search: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Page<StoredVariable>> {
        let mut conn = self.conn()?;
        let (sql_limit, sql_offset) = bounds(offset, limit);
        let like = conn.case_blind_like();
        let pattern = like_pattern(search);
        let rows = conn.rows(
            &format!(
                "SELECT client, key FROM variables WHERE client || '.' || key {like} ?1 \
                 ESCAPE '\\' ORDER BY client, key LIMIT ?2 OFFSET ?3"
            ),
            &[
                Param::Text(&pattern),
                Param::Int(sql_limit),
                Param::Int(sql_offset),
            ],
            stored_variable,
        )?;
        Ok(page(rows, limit))
    }

    /// The stored variable named `<client>.<key>` (a client's name may hold dots, so the
    /// name is matched whole), if there is one.
    pub fn variable_named(&self, name: &str) -> Result<Option<StoredVariable>> {
        self.conn()?.row(
            "SELECT client, key FROM variables WHERE client || '.' || key = ?1 \
             ORDER BY length(client) DESC LIMIT 1",
            &[Param::Text(name)],
            stored_variable,
        )
    }

    /// Each variable's last sample at or before `at` (variables with none left out),
    /// ordered by client and key, only `client`'s when given; `limit` of them from
    /// `offset`.
    pub fn values_at(
        &self,
        at: SystemTime,
        client: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<Page<ValueAt>> {
        let mut conn = self.conn()?;
        let (sql_limit, sql_offset) = bounds(offset, limit);
        let value = if conn.is_postgres() {
            "s.num, s.txt"
        } else {
            "s.value"
        };
        let rows = conn.rows(
            &format!(
                "SELECT v.client, v.key, s.t, {value} FROM variables v \
                 JOIN samples s ON s.var_id = v.id AND s.t = \
                   (SELECT max(t) FROM samples WHERE var_id = v.id AND t <= ?1) \
                 WHERE ?2 IS NULL OR v.client = ?2 \
                 ORDER BY v.client, v.key LIMIT ?3 OFFSET ?4"
            ),
            &[
                Param::Int(to_millis(at)),
                Param::OptText(client),
                Param::Int(sql_limit),
                Param::Int(sql_offset),
            ],
            |row| {
                Ok(ValueAt {
                    variable: stored_variable(row)?,
                    time: from_millis(row.int(2)?),
                    value: row.value(3)?,
                })
            },
        )?;
        Ok(page(rows, limit))
    }
}

fn stored_variable(row: &Row<'_>) -> Result<StoredVariable> {
    Ok(StoredVariable {
        client: row.text(0)?,
        key: row.text(1)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{open_reader, Store, StoreOptions};
    use labwire_testkit::TempDir;

    const T0: i64 = 1_767_225_600_000;

    fn name(v: &ValueAt) -> String {
        v.variable.full()
    }

    #[test]
    fn the_last_value_at_or_before_the_moment() {
        let dir = TempDir::new("snapshot-at");
        let store = Store::open(dir.path().join("h.sqlite"), StoreOptions::default()).unwrap();
        let at = |s: i64| from_millis(T0 + s * 1000);
        store.record_value("psu1", "ch1_voltage", at(0), Value::Number(1.0));
        store.record_value("psu1", "ch1_voltage", at(10), Value::Number(2.0));
        store.record_value("psu1", "ch1_voltage", at(20), Value::Number(3.0));
        store.record_value("psu1", "mode", at(5), Value::Text("CV".into()));
        store.record_value("psu1", "late", at(30), Value::Number(9.0));
        store.record_value("lab.hall", "door", at(1), Value::Missing);
        store.flush().unwrap();
        let reader = open_reader(store.path()).unwrap();

        let page = reader.values_at(at(10), None, 0, 100).unwrap();
        let names: Vec<String> = page.items.iter().map(name).collect();
        assert_eq!(names, ["lab.hall.door", "psu1.ch1_voltage", "psu1.mode"]);
        assert!(!page.more);
        assert_eq!(page.items[0].value, Value::Missing);
        // Exactly at a sample: that sample; just before it: the one before.
        assert_eq!(page.items[1].value, Value::Number(2.0));
        assert_eq!(page.items[1].time, at(10));
        let before = reader
            .values_at(from_millis(T0 + 9_999), Some("psu1"), 0, 100)
            .unwrap();
        assert_eq!(before.items[0].value, Value::Number(1.0));
        assert_eq!(before.items[0].time, at(0));
        assert_eq!(before.items.len(), 2, "psu1's only");

        let first = reader.values_at(at(40), None, 0, 2).unwrap();
        assert!(first.more);
        let rest = reader.values_at(at(40), None, 2, 2).unwrap();
        let names: Vec<String> = first.items.iter().chain(&rest.items).map(name).collect();
        assert_eq!(
            names,
            [
                "lab.hall.door",
                "psu1.ch1_voltage",
                "psu1.late",
                "psu1.mode"
            ]
        );
        assert!(!rest.more);
        assert!(reader
            .values_at(at(-1), None, 0, 10)
            .unwrap()
            .items
            .is_empty());
    }

    #[test]
    fn variables_are_listed_searched_and_found_by_name() {
        let dir = TempDir::new("snapshot-variables");
        let store = Store::open(dir.path().join("h.sqlite"), StoreOptions::default()).unwrap();
        for (client, key) in [
            ("psu1", "ch1_voltage"),
            ("psu1", "ch2_voltage"),
            ("psu1", "ch1_current"),
            ("lab.hall", "door"),
            ("lab", "hall.door"),
            ("gauge1", "100%_open"),
        ] {
            store.record_value(client, key, from_millis(T0), Value::Number(1.0));
        }
        store.flush().unwrap();
        let reader = open_reader(store.path()).unwrap();
        let all = reader.variables("", 0, 100).unwrap();
        assert_eq!(all.items.len(), 6);
        assert_eq!(all.items[0].full(), "gauge1.100%_open");
        let voltages = reader.variables("VOLT", 0, 100).unwrap();
        let names: Vec<String> = voltages.items.iter().map(StoredVariable::full).collect();
        assert_eq!(names, ["psu1.ch1_voltage", "psu1.ch2_voltage"]);
        // `%` and `_` are themselves, not wildcards.
        assert_eq!(reader.variables("0%_", 0, 100).unwrap().items.len(), 1);
        assert_eq!(reader.variables("h_v", 0, 100).unwrap().items.len(), 0);
        let page = reader.variables("psu1", 1, 1).unwrap();
        assert_eq!(page.items[0].full(), "psu1.ch1_voltage");
        assert!(page.more);

        let found = reader.variable_named("lab.hall.door").unwrap().unwrap();
        assert_eq!(
            (found.client.as_str(), found.key.as_str()),
            ("lab.hall", "door")
        );
        assert!(reader.variable_named("psu1.nothing").unwrap().is_none());
    }
}
