//! Retention in small steps: each tier (raw samples, every rollup table) has its own
//! cutoff, and a run deletes what is older variable by variable, at most
//! [`STEP_ROWS`] rows and [`STEP_RANGES`] ranges per transaction, so that even the first run
//! after `retention_days` is set on a year of history never holds the writer up for more
//! than a few milliseconds between two batches.
//!
//! Each delete is one range at the front of one variable's key (`var_id, t`), cut to a
//! number of rows by the `t` of the row that many further on.

use super::db::{Db, Param};
use super::rollup::TIERS;
use super::Result;

/// Rows deleted per step at most.
pub const STEP_ROWS: usize = 20_000;
/// (table, variable) ranges looked at per step at most, deleted from or not.
pub const STEP_RANGES: usize = 500;

/// One retention run over every table that has a cutoff.
#[derive(Debug)]
pub struct PruneRun {
    /// (table, cutoff ms, whether it is the raw samples) still to do.
    tables: Vec<(&'static str, i64, bool)>,
    /// Cutoff for logs, events and finished alarms (the raw retention), until done.
    records: Option<i64>,
    /// Variable ids, read at the first step.
    ids: Option<Vec<i64>>,
    /// Next variable of the first table in `tables`.
    next: usize,
}

/// What one step did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Raw samples deleted.
    pub samples: u64,
    pub done: bool,
}

impl PruneRun {
    /// `raw` is the cutoff of samples, logs and events; `tiers` one per rollup tier.
    pub fn new(raw: Option<i64>, tiers: [Option<i64>; TIERS.len()]) -> PruneRun {
        let mut tables = Vec::new();
        if let Some(cutoff) = raw {
            tables.push(("samples", cutoff, true));
        }
        for (tier, cutoff) in TIERS.iter().zip(tiers) {
            if let Some(cutoff) = cutoff {
                tables.push((tier.table, cutoff, false));
            }
        }
        PruneRun {
            tables,
            records: raw,
            ids: None,
            next: 0,
        }
    }

    /// Delete one bounded slice, in one transaction.
    pub fn step(&mut self, conn: &mut Db) -> Result<Step> {
        conn.transaction(|tx| self.step_in(tx))
    }

    fn step_in(&mut self, tx: &mut Db) -> Result<Step> {
        let mut step = Step::default();
        if self.ids.is_none() {
            let ids = tx.rows("SELECT id FROM variables ORDER BY id", &[], |row| {
                row.int(0)
            })?;
            self.ids = Some(ids);
        }
        let (mut rows, mut ranges) = (0, 0);
        while let Some(&(table, cutoff, raw)) = self.tables.first() {
            if rows >= STEP_ROWS || ranges >= STEP_RANGES {
                break;
            }
            let Some(&id) = self.ids.as_ref().and_then(|ids| ids.get(self.next)) else {
                self.tables.remove(0);
                self.next = 0;
                continue;
            };
            let budget = STEP_ROWS - rows;
            let deleted = tx.execute(
                &format!(
                    "DELETE FROM {table} WHERE var_id = ?1 AND t < ?2 AND t < coalesce(\
                     (SELECT t FROM {table} WHERE var_id = ?1 ORDER BY t LIMIT 1 OFFSET ?3), ?2)"
                ),
                &[
                    Param::Int(id),
                    Param::Int(cutoff),
                    Param::Int(budget as i64),
                ],
            )? as usize;
            rows += deleted;
            ranges += 1;
            if raw {
                step.samples += deleted as u64;
            }
            // A full budget may have left more of this variable for the next step.
            if deleted < budget {
                self.next += 1;
            }
        }
        if self.tables.is_empty() && rows < STEP_ROWS {
            if let Some(cutoff) = self.records {
                let budget = (STEP_ROWS - rows) as i64;
                let mut left = 0;
                for table in ["logs", "events"] {
                    let deleted = tx.execute(
                        &format!(
                            "DELETE FROM {table} WHERE id IN \
                             (SELECT id FROM {table} WHERE t < ?1 LIMIT ?2)"
                        ),
                        &[Param::Int(cutoff), Param::Int(budget)],
                    )?;
                    left += usize::from(deleted as i64 == budget);
                }
                tx.execute(
                    "DELETE FROM alarms WHERE cleared_at < ?1 AND acked_at IS NOT NULL",
                    &[Param::Int(cutoff)],
                )?;
                if left == 0 {
                    self.records = None;
                }
            }
            step.done = self.records.is_none();
        }
        Ok(step)
    }
}
