//! The two databases the store can keep history in, behind one small interface: SQLite
//! (a file, the default) and PostgreSQL (`postgresql://user@host[:port]/db`, for a
//! department that runs one). The writer and the readers speak [`Db`]; most statements
//! are written once, with SQLite's `?N` parameters (turned into PostgreSQL's `$N` when
//! prepared there), and the few that differ are chosen by [`Db::is_postgres`].
//!
//! On PostgreSQL several monitors share one database: each keeps its tables in a schema
//! of its own named after the monitor (`labwire_<name>`), chosen through the connection's
//! `search_path`, so every statement is the same as on SQLite. A sample's value is two
//! columns there (`num` and `txt`, both NULL for a value that could not be read), since a
//! PostgreSQL column has one type.

use std::collections::HashMap;

use postgres::types::{to_sql_checked, IsNull, ToSql as PgToSql, Type};
use postgres::{Client, NoTls, Statement};
use rusqlite::types::{ToSql as SqliteToSql, ToSqlOutput};

use super::{Result, StoreError, Value};

/// Where a store keeps its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(std::path::PathBuf),
    /// A PostgreSQL URL and the schema (one per monitor) inside that database.
    Postgres {
        url: String,
        schema: String,
    },
}

/// Whether `db` (the `db` key or `--db`) names a PostgreSQL database.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgresql://") || db.starts_with("postgres://")
}

/// The schema a monitor's tables live in: `labwire_` and its name, lower case, with
/// anything but letters, digits and `_` made `_`.
pub fn schema_for(monitor: &str) -> String {
    let name: String = monitor
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("labwire_{name}")
}

/// A parameter of a statement.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Int(i64),
    Real(Option<f64>),
    Text(&'a str),
    OptInt(Option<i64>),
    OptText(Option<&'a str>),
}

impl SqliteToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Param::Int(i) => SqliteToSql::to_sql(i),
            Param::Real(x) => SqliteToSql::to_sql(x),
            Param::Text(s) => SqliteToSql::to_sql(s),
            Param::OptInt(i) => SqliteToSql::to_sql(i),
            Param::OptText(s) => SqliteToSql::to_sql(s),
        }
    }
}

impl PgToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Int(i) => PgToSql::to_sql(i, ty, out),
            Param::Real(x) => PgToSql::to_sql(x, ty, out),
            Param::Text(s) => PgToSql::to_sql(s, ty, out),
            Param::OptInt(i) => PgToSql::to_sql(i, ty, out),
            Param::OptText(s) => PgToSql::to_sql(s, ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        // Every column the store binds is BIGINT, DOUBLE PRECISION or TEXT, as the
        // variants are; a mismatch is the server's error, not a silent conversion.
        true
    }

    to_sql_checked!();
}

/// One row of an answer.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

impl Row<'_> {
    pub fn int(&self, i: usize) -> Result<i64> {
        Ok(match self {
            Row::Sqlite(row) => row.get(i)?,
            Row::Postgres(row) => row.try_get(i)?,
        })
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok(match self {
            Row::Sqlite(row) => row.get(i)?,
            Row::Postgres(row) => row.try_get(i)?,
        })
    }

    pub fn opt_real(&self, i: usize) -> Result<Option<f64>> {
        Ok(match self {
            Row::Sqlite(row) => row.get(i)?,
            Row::Postgres(row) => row.try_get(i)?,
        })
    }

    pub fn text(&self, i: usize) -> Result<String> {
        Ok(match self {
            Row::Sqlite(row) => row.get(i)?,
            Row::Postgres(row) => row.try_get(i)?,
        })
    }

    /// A sample's value: column `i` on SQLite, columns `i` (`num`) and `i + 1` (`txt`) on
    /// PostgreSQL; statements select [`Db::value_columns`] there.
    pub fn value(&self, i: usize) -> Result<Value> {
        match self {
            Row::Sqlite(row) => Ok(row.get(i)?),
            Row::Postgres(row) => {
                let num: Option<f64> = row.try_get(i)?;
                let txt: Option<String> = row.try_get(i + 1)?;
                Ok(match (num, txt) {
                    (Some(x), _) => Value::Number(x),
                    (None, Some(text)) => Value::Text(text),
                    (None, None) => Value::Missing,
                })
            }
        }
    }
}

/// A connection to either database.
pub enum Db {
    Sqlite(rusqlite::Connection),
    /// Boxed: its client and statement cache are larger than a SQLite connection.
    Postgres(Box<Pg>),
}

/// A PostgreSQL connection and the statements it has prepared.
pub struct Pg {
    /// `None` only while it is dropped.
    client: Option<Client>,
    statements: HashMap<String, Statement>,
}

impl Pg {
    /// Connect to `url` with `schema` first on the search path.
    pub fn connect(url: &str, schema: &str) -> Result<Pg> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Schema(format!("bad PostgreSQL URL {url:?}: {e}")))?;
        config.options(&format!("-c search_path={schema}"));
        config.application_name("labwire-monitor");
        config.connect_timeout(std::time::Duration::from_secs(10));
        let client = off_runtime(|| config.connect(NoTls))?;
        Ok(Pg {
            client: Some(client),
            statements: HashMap::new(),
        })
    }

    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let client = self.client.as_mut().expect("open until dropped");
        let statement = off_runtime(|| client.prepare(&dollar_parameters(sql)))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let statement = self.statement(sql)?;
        let client = self.client.as_mut().expect("open until dropped");
        Ok(off_runtime(|| {
            client.execute(&statement, &pg_params(params))
        })?)
    }

    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<postgres::Row>> {
        let statement = self.statement(sql)?;
        let client = self.client.as_mut().expect("open until dropped");
        Ok(off_runtime(|| {
            client.query(&statement, &pg_params(params))
        })?)
    }

    /// Samples as `(var_id, t, num, txt)`, in one statement: a round trip to the server
    /// per sample would cap the writer at a few thousand a second. A later sample of the
    /// same variable and millisecond replaces an earlier one, as on SQLite.
    pub fn insert_samples(
        &mut self,
        rows: &mut Vec<(i64, i64, Option<f64>, Option<String>)>,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // One statement may not change a row twice: keep each key's last sample.
        rows.reverse();
        let mut seen = std::collections::HashSet::with_capacity(rows.len());
        rows.retain(|row| seen.insert((row.0, row.1)));
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let times: Vec<i64> = rows.iter().map(|r| r.1).collect();
        let nums: Vec<Option<f64>> = rows.iter().map(|r| r.2).collect();
        let texts: Vec<Option<&str>> = rows.iter().map(|r| r.3.as_deref()).collect();
        let statement = self.statement(
            "INSERT INTO samples (var_id, t, num, txt) \
             SELECT * FROM unnest(?1::bigint[], ?2::bigint[], ?3::float8[], ?4::text[]) \
             ON CONFLICT (var_id, t) DO UPDATE SET num = excluded.num, txt = excluded.txt",
        )?;
        let client = self.client.as_mut().expect("open until dropped");
        off_runtime(|| client.execute(&statement, &[&ids, &times, &nums, &texts]))?;
        rows.clear();
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        let client = self.client.as_mut().expect("open until dropped");
        Ok(off_runtime(|| client.batch_execute(sql))?)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // Closing the connection blocks on the client's runtime too.
        if let Some(client) = self.client.take() {
            off_runtime(move || drop(client));
        }
    }
}

/// PostgreSQL's blocking client drives a runtime of its own, which tokio refuses to start
/// inside async code (the monitor opens its store and reads its frames' index there, at
/// start-up): there it runs on a thread of its own; everywhere else (the writer's thread,
/// the web's workers) on the caller's.
fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|scope| {
            scope
                .spawn(work)
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    } else {
        work()
    }
}

/// `?N` parameters as PostgreSQL's `$N` (outside quotes).
fn dollar_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '?' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn sqlite_params<'p>(
    params: &'p [Param<'p>],
) -> rusqlite::ParamsFromIter<std::slice::Iter<'p, Param<'p>>> {
    rusqlite::params_from_iter(params.iter())
}

fn pg_params<'p>(params: &'p [Param<'p>]) -> Vec<&'p (dyn PgToSql + Sync)> {
    params.iter().map(|p| p as &(dyn PgToSql + Sync)).collect()
}

impl Db {
    /// A PostgreSQL connection the server has closed (it restarted, or the network went):
    /// connect again. A SQLite connection never is.
    pub fn is_lost(&self) -> bool {
        match self {
            Db::Sqlite(_) => false,
            Db::Postgres(pg) => pg.client.as_ref().is_none_or(Client::is_closed),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    /// What a statement selects for a sample's value (see [`Row::value`]).
    pub fn value_columns(&self) -> &'static str {
        if self.is_postgres() {
            "num, txt"
        } else {
            "value"
        }
    }

    /// The operator for a match that ignores case (for ASCII letters): LIKE is case-blind
    /// on SQLite, PostgreSQL's ILIKE is its match.
    pub fn case_blind_like(&self) -> &'static str {
        if self.is_postgres() {
            "ILIKE"
        } else {
            "LIKE"
        }
    }

    /// Run statements that take no parameters (`BEGIN`, a schema).
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        match self {
            Db::Sqlite(conn) => conn.execute_batch(sql)?,
            Db::Postgres(pg) => pg.batch(sql)?,
        }
        Ok(())
    }

    /// Run one statement; answers the rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        match self {
            Db::Sqlite(conn) => {
                Ok(conn.prepare_cached(sql)?.execute(sqlite_params(params))? as u64)
            }
            Db::Postgres(pg) => pg.execute(sql, params),
        }
    }

    /// Run a query, handing each row to `each` until it answers false.
    pub fn query(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        mut each: impl FnMut(&Row<'_>) -> Result<bool>,
    ) -> Result<()> {
        match self {
            Db::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                let mut rows = stmt.query(sqlite_params(params))?;
                while let Some(row) = rows.next()? {
                    if !each(&Row::Sqlite(row))? {
                        break;
                    }
                }
            }
            Db::Postgres(pg) => {
                for row in pg.query(sql, params)? {
                    if !each(&Row::Postgres(&row))? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// The rows of a query, each made by `make`.
    pub fn rows<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        mut make: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.query(sql, params, |row| {
            out.push(make(row)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// The first row of a query, if any.
    pub fn row<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        make: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut make = Some(make);
        let mut out = None;
        self.query(sql, params, |row| {
            if let Some(make) = make.take() {
                out = Some(make(row)?);
            }
            Ok(false)
        })?;
        Ok(out)
    }

    /// Run `work` in a transaction: committed when it succeeds, rolled back when not.
    pub fn transaction<T>(&mut self, work: impl FnOnce(&mut Db) -> Result<T>) -> Result<T> {
        self.batch("BEGIN")?;
        match work(self) {
            Ok(out) => {
                self.batch("COMMIT")?;
                Ok(out)
            }
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_and_schemas() {
        assert_eq!(
            dollar_parameters("SELECT '?1', x FROM t WHERE a = ?1 AND b < ?12 OR c = ?"),
            "SELECT '?1', x FROM t WHERE a = $1 AND b < $12 OR c = ?"
        );
        assert_eq!(schema_for("Lab-2.north"), "labwire_lab_2_north");
        assert!(is_postgres_url("postgresql://u@h/db"));
        assert!(!is_postgres_url("labwire.sqlite"));
    }
}
