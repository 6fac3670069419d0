//! What the monitor stored, read from its SQLite database after it stopped (read-only),
//! held against what the fleet answered. Every poll of a member reporting its poll count
//! ([`crate::fleet::POLLS_KEY`]) carries a value never seen before, so every answered poll
//! should be one stored sample of that variable; a missing value is a lost poll, and one
//! equal to the member's count at a kill was in flight when it was killed.

use crate::fleet::POLLS_KEY;
use crate::Error;
use rusqlite::{Connection, OpenFlags};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The poll counts stored for each client (`fleet<k>`), and the rows that are not one.
#[derive(Debug, Default)]
pub struct Stored {
    pub counts: HashMap<String, BTreeSet<u64>>,
    /// Rows whose value is not a positive integer, or repeats one already stored.
    pub unexpected: u64,
}

/// Reads every stored sample of [`POLLS_KEY`]. Blocking: call it from `spawn_blocking`.
pub fn read(db: &Path) -> Result<Stored, Error> {
    let connection = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|err| format!("cannot open {} read-only: {err}", db.display()))?;
    let mut query = connection.prepare(
        "SELECT v.client, s.value FROM samples s JOIN variables v ON v.id = s.var_id \
         WHERE v.key = ?1",
    )?;
    let mut rows = query.query([POLLS_KEY])?;
    let mut stored = Stored::default();
    while let Some(row) = rows.next()? {
        let client: String = row.get(0)?;
        let count = match row.get_ref(1)? {
            rusqlite::types::ValueRef::Integer(n) => u64::try_from(n).ok().filter(|&n| n > 0),
            _ => None,
        };
        let fresh = count.is_some_and(|n| stored.counts.entry(client).or_default().insert(n));
        if !fresh {
            stored.unexpected += 1;
        }
    }
    Ok(stored)
}

/// One member's answered polls against its stored ones.
#[derive(Debug, Default, PartialEq)]
pub struct Tally {
    pub polled: u64,
    pub stored: u64,
    /// Answered and not stored, being the last poll before a kill.
    pub lost_at_kill: u64,
    /// Answered and not stored otherwise: lost while the member was up.
    pub lost_while_up: u64,
    /// Stored values the member never answered (above its count).
    pub invented: u64,
}

impl Tally {
    /// `polled`: the member's final count (its polls are numbered 1..=polled);
    /// `kill_counts`: its count at each kill, the end of the run included.
    pub fn of(polled: u64, stored: Option<&BTreeSet<u64>>, kill_counts: &[u64]) -> Tally {
        let empty = BTreeSet::new();
        let stored = stored.unwrap_or(&empty);
        let kept = stored.range(1..=polled).count() as u64;
        let missing = polled - kept;
        let lost_at_kill = kill_counts
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|&&count| count > 0 && count <= polled && !stored.contains(&count))
            .count() as u64;
        Tally {
            polled,
            stored: kept,
            lost_at_kill,
            lost_while_up: missing - lost_at_kill,
            invented: stored.len() as u64 - kept,
        }
    }

    pub fn add(&mut self, other: &Tally) {
        self.polled += other.polled;
        self.stored += other.stored;
        self.lost_at_kill += other.lost_at_kill;
        self.lost_while_up += other.lost_while_up;
        self.invented += other.invented;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::TempDir;

    #[test]
    fn a_lost_poll_is_told_from_one_in_flight_at_a_kill() {
        let stored: BTreeSet<u64> = [1, 2, 4, 6, 9].into();
        // Killed after polls 3 and 6, and at the end after 8: of the four not stored, 3 and
        // 8 were in flight at a kill, 5 and 7 lost while up; 9 was never answered.
        let tally = Tally::of(8, Some(&stored), &[3, 6, 8]);
        assert_eq!(
            tally,
            Tally {
                polled: 8,
                stored: 4,
                lost_at_kill: 2,
                lost_while_up: 2,
                invented: 1,
            }
        );
        assert_eq!(Tally::of(2, None, &[2]).lost_while_up, 1);
        assert_eq!(Tally::of(0, None, &[0]), Tally::default());
    }

    #[test]
    fn reads_the_monitors_schema() {
        let dir = TempDir::new().unwrap();
        let db = dir.path().join("h.sqlite");
        let connection = Connection::open(&db).unwrap();
        connection
            .execute_batch(
                "CREATE TABLE variables (id INTEGER PRIMARY KEY, client TEXT NOT NULL, \
                 key TEXT NOT NULL, UNIQUE (client, key));
                 CREATE TABLE samples (var_id INTEGER NOT NULL, t INTEGER NOT NULL, value, \
                 PRIMARY KEY (var_id, t)) WITHOUT ROWID;
                 INSERT INTO variables VALUES (1, 'fleet0', 'polls'), (2, 'fleet0', 'value'),
                     (3, 'fleet1', 'polls');
                 INSERT INTO samples VALUES (1, 10, 1), (1, 11, 2), (1, 12, 2), (2, 10, 5),
                     (3, 10, 1), (3, 11, NULL), (3, 12, 'x');",
            )
            .unwrap();
        drop(connection);
        let stored = read(&db).unwrap();
        assert_eq!(stored.counts["fleet0"], [1, 2].into());
        assert_eq!(stored.counts["fleet1"], [1].into());
        assert_eq!(stored.unexpected, 3);
    }
}
