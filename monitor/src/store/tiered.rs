//! History at a resolution: the coarsest rollup tier (see [`super::rollup`]) that still
//! gives at least one bucket per pixel column of a plot ([`Reader::envelope`]) or per
//! step of a history export ([`Reader::steps`]), raw samples otherwise.
//!
//! A tier's answer is read in three parts: raw samples before the tier's first bucket
//! (a file from before rollups, or a tier pruned sooner than the raw samples), the tier's
//! buckets, and raw samples after its last stored bucket (the open one, still in the
//! writer's memory). Where a tier's retention has removed the range but raw samples are
//! gone too, the next coarser tier that still holds it answers.

use std::time::SystemTime;

use super::db::{Db, Param, Row};
use super::rollup::{bucket_start, Bucket, TIERS};
use super::{Reader, Result};
use labwire_time::to_millis;

/// Raw samples read at most for one envelope (the part before a tier's first bucket):
/// a week at 1 Hz.
const MAX_RAW: usize = 1_000_000;

/// A slack for "holds data from the start": the raw samples' own bucket, a minute.
const RAW_SLACK_MS: i64 = 60_000;

impl Reader {
    /// The points to draw `client.key` over `[from, to]` in `columns` pixel columns, from
    /// the coarsest tier with buckets no wider than a column: per bucket its min and max
    /// at the bucket's middle (a NaN where it held only unreadable values), so the plot's
    /// per-column min/max envelope comes out as from raw samples. `None` when no tier is
    /// fine enough: read the raw samples.
    pub fn envelope(
        &self,
        client: &str,
        key: &str,
        from: SystemTime,
        to: SystemTime,
        columns: u32,
    ) -> Result<Option<Vec<(i64, f64)>>> {
        let (from, to) = (to_millis(from), to_millis(to));
        if to <= from || columns == 0 {
            return Ok(None);
        }
        let column_ms = (to - from) / i64::from(columns);
        let Some(coarsest) = TIERS.iter().rposition(|t| t.width_ms <= column_ms) else {
            return Ok(None);
        };
        let mut conn = self.conn()?;
        let Some(id) = var_id(&mut conn, client, key)? else {
            return Ok(Some(Vec::new()));
        };
        let tier = choose(&mut conn, id, from, coarsest, |_| true)?;
        let width = TIERS[tier].width_ms;
        let mut points = Vec::new();
        let mut raw = 0;
        buckets(&mut conn, id, tier, from, to, |bucket, bucket_width| {
            if bucket_width == 0 {
                raw += 1;
                let y = bucket.stats().map_or(f64::NAN, |s| s.0);
                points.push((bucket.start, y));
                return raw < MAX_RAW;
            }
            let middle = (bucket.start + width / 2).clamp(from, to);
            match bucket.stats() {
                None => points.push((middle, f64::NAN)),
                Some((min, max, _)) => {
                    points.push((middle, min));
                    if max != min {
                        points.push((middle, max));
                    }
                }
            }
            true
        })?;
        Ok(Some(points))
    }

    /// The numeric samples of `client.key` with `from <= t <= to` as `(ms, value)`, oldest
    /// first, at most `limit`: an unreadable value is NaN, text is left out. What a plot
    /// reads where no tier is fine enough, without the copies of [`Reader::history`].
    pub fn numbers(
        &self,
        client: &str,
        key: &str,
        from: SystemTime,
        to: SystemTime,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>> {
        let mut conn = self.conn()?;
        let Some(id) = var_id(&mut conn, client, key)? else {
            return Ok(Vec::new());
        };
        let mut points = Vec::new();
        raw_rows(&mut conn, id, to_millis(from), to_millis(to), |b| {
            points.push((b.start, b.stats().map_or(f64::NAN, |s| s.0)));
            points.len() < limit
        })?;
        Ok(points)
    }

    /// `client.key` over `[from, to]` in steps of `step_ms` aligned to multiples of it
    /// since the epoch (the first and last may be partial), oldest first: per step that
    /// holds samples its count, unreadable count, min, max and mean (numbers only; text
    /// values are left out), from the coarsest tier whose width divides the step. At most
    /// `limit` steps.
    pub fn steps(
        &self,
        client: &str,
        key: &str,
        from: SystemTime,
        to: SystemTime,
        step_ms: i64,
        limit: usize,
    ) -> Result<Vec<Bucket>> {
        let (from, to) = (to_millis(from), to_millis(to));
        let step_ms = step_ms.max(1);
        let mut conn = self.conn()?;
        let Some(id) = var_id(&mut conn, client, key)? else {
            return Ok(Vec::new());
        };
        let divides = |tier: usize| step_ms % TIERS[tier].width_ms == 0;
        let coarsest = TIERS
            .iter()
            .enumerate()
            .rev()
            .find(|&(tier, t)| t.width_ms <= step_ms && divides(tier))
            .map(|(tier, _)| tier);
        let mut steps: Vec<Bucket> = Vec::new();
        let mut add = |bucket: &Bucket| {
            let start = bucket_start(bucket.start, step_ms);
            match steps.last_mut() {
                Some(last) if last.start == start => last.merge(bucket),
                _ => {
                    if steps.len() == limit {
                        return false;
                    }
                    let mut fresh = Bucket::empty(start);
                    fresh.merge(bucket);
                    steps.push(fresh);
                }
            }
            true
        };
        match coarsest {
            None => raw_rows(&mut conn, id, from, to, |b| add(&b))?,
            Some(coarsest) => {
                let tier = choose(&mut conn, id, from, coarsest, divides)?;
                buckets(&mut conn, id, tier, from, to, |b, _| add(b))?
            }
        }
        Ok(steps)
    }
}

/// A stored variable's id.
pub(super) fn var_id(conn: &mut Db, client: &str, key: &str) -> Result<Option<i64>> {
    conn.row(
        "SELECT id FROM variables WHERE client = ?1 AND key = ?2",
        &[Param::Text(client), Param::Text(key)],
        |row| row.int(0),
    )
}

/// The first or last `t` of a variable in `table`: one seek in its key.
pub(super) fn edge(conn: &mut Db, table: &str, id: i64, last: bool) -> Result<Option<i64>> {
    let which = if last { "max" } else { "min" };
    Ok(conn
        .row(
            &format!("SELECT {which}(t) FROM {table} WHERE var_id = ?1"),
            &[Param::Int(id)],
            |row| row.opt_int(0),
        )?
        .flatten())
}

/// The tier to read: `coarsest` when it holds the range from its start (or the raw
/// samples do, for the part before it), else the finest coarser tier allowed by `usable`
/// that does.
fn choose(
    conn: &mut Db,
    id: i64,
    from: i64,
    coarsest: usize,
    usable: impl Fn(usize) -> bool,
) -> Result<usize> {
    let raw_first = edge(conn, "samples", id, false)?;
    let mut firsts = [None; TIERS.len()];
    for (first, tier) in firsts.iter_mut().zip(TIERS) {
        *first = edge(conn, tier.table, id, false)?;
    }
    // Before the first stored anything, no tier can be blamed for holding nothing.
    let origin = firsts.iter().chain([&raw_first]).flatten().min().copied();
    let start = origin.map_or(from, |origin| origin.max(from));
    let holds = |first: Option<i64>, slack: i64| first.is_some_and(|f| f <= start + slack);
    if holds(firsts[coarsest], TIERS[coarsest].width_ms) || holds(raw_first, RAW_SLACK_MS) {
        return Ok(coarsest);
    }
    Ok((coarsest + 1..TIERS.len())
        .find(|&tier| usable(tier) && holds(firsts[tier], TIERS[tier].width_ms))
        .unwrap_or(coarsest))
}

/// Every bucket of `tier` that starts in the range, with the raw samples before its first
/// and after its last stored bucket as buckets of width 0, oldest first, until `each`
/// answers false.
fn buckets(
    conn: &mut Db,
    id: i64,
    tier: usize,
    from: i64,
    to: i64,
    mut each: impl FnMut(&Bucket, i64) -> bool,
) -> Result<()> {
    let width = TIERS[tier].width_ms;
    let table = TIERS[tier].table;
    let (Some(first), Some(last)) = (edge(conn, table, id, false)?, edge(conn, table, id, true)?)
    else {
        return raw_rows(conn, id, from, to, |b| each(&b, 0));
    };
    let mut going = true;
    if first > from {
        raw_rows(conn, id, from, to.min(first - 1), |b| {
            going = each(&b, 0);
            going
        })?;
    }
    if !going {
        return Ok(());
    }
    conn.query(
        &format!(
            "SELECT t, count, missing, min, max, mean FROM {table} \
             WHERE var_id = ?1 AND t >= ?2 AND t <= ?3 ORDER BY t"
        ),
        &[
            Param::Int(id),
            Param::Int(bucket_start(from, width).max(first)),
            Param::Int(to),
        ],
        |row| {
            let count = row.int(1)?;
            let mean = row.opt_real(5)?;
            let bucket = Bucket {
                start: row.int(0)?,
                count: count.max(0) as u64,
                missing: row.int(2)?.max(0) as u64,
                min: row.opt_real(3)?.unwrap_or(f64::INFINITY),
                max: row.opt_real(4)?.unwrap_or(f64::NEG_INFINITY),
                sum: mean.map_or(0.0, |m| m * count as f64),
            };
            going = each(&bucket, width);
            Ok(going)
        },
    )?;
    if !going {
        return Ok(());
    }
    raw_rows(conn, id, (last + width).max(from), to, |b| each(&b, 0))
}

/// Raw samples with `from <= t <= to` as one-sample buckets, text left out, oldest first,
/// until `each` answers false.
fn raw_rows(
    conn: &mut Db,
    id: i64,
    from: i64,
    to: i64,
    mut each: impl FnMut(Bucket) -> bool,
) -> Result<()> {
    if to < from {
        return Ok(());
    }
    let sql = format!(
        "SELECT t, {} FROM samples WHERE var_id = ?1 AND t >= ?2 AND t <= ?3 ORDER BY t",
        conn.value_columns()
    );
    conn.query(
        &sql,
        &[Param::Int(id), Param::Int(from), Param::Int(to)],
        |row| match number(row)? {
            Some(number) => Ok(each(Bucket::sample(row.int(0)?, number))),
            None => Ok(true),
        },
    )
}

/// A stored value (column 1) as a plot takes it: `Some(Some(x))` for a number,
/// `Some(None)` for an unreadable value, `None` for text (not plotted). On SQLite it is
/// read in place, without copying text.
fn number(row: &Row<'_>) -> Result<Option<Option<f64>>> {
    use rusqlite::types::ValueRef;
    Ok(match row {
        Row::Sqlite(row) => match row.get_ref(1)? {
            ValueRef::Integer(i) => Some(Some(i as f64)),
            ValueRef::Real(x) => Some(Some(x)),
            ValueRef::Null => Some(None),
            ValueRef::Text(_) | ValueRef::Blob(_) => None,
        },
        Row::Postgres(_) => row.value(1)?.rollup_number(),
    })
}
