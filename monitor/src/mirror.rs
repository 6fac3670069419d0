//! What the monitor knows of a lower monitor (a client whose `id` says `type=monitor`):
//! its entries `<client>=<0/1>` and `<client>.<key>=<value>`, taken whole from its paged
//! status and kept current by its `update` lines. Pure bookkeeping, no I/O; the task of
//! [`crate::lower`] owns one.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Mirror {
    entries: Vec<(String, String)>,
    /// Where each key is in `entries`.
    index: HashMap<String, usize>,
    /// Changed since [`Mirror::take_changed`] last answered.
    changed: bool,
}

impl Mirror {
    /// Set each entry, in order; a lower client reported at `0` loses its variables, as
    /// the lower monitor's own status drops them.
    pub fn apply(&mut self, entries: impl IntoIterator<Item = (String, String)>) {
        for (key, value) in entries {
            if value == "0" && !key.contains('.') {
                self.forget_variables_of(&key);
            }
            match self.index.get(&key) {
                Some(&at) => {
                    if self.entries[at].1 != value {
                        self.entries[at].1 = value;
                        self.changed = true;
                    }
                }
                None => {
                    self.index.insert(key.clone(), self.entries.len());
                    self.entries.push((key, value));
                    self.changed = true;
                }
            }
        }
    }

    /// Start over from a whole status: everything not in it again is dropped once
    /// [`Mirror::finish_refresh`] is called with the keys it had.
    pub fn finish_refresh(&mut self, seen: &std::collections::HashSet<String>) {
        if self.entries.len() == seen.len() {
            return;
        }
        self.entries.retain(|(key, _)| seen.contains(key));
        self.reindex();
        self.changed = true;
    }

    /// The entries, if they changed since the last call.
    pub fn take_changed(&mut self) -> Option<Vec<(String, String)>> {
        std::mem::take(&mut self.changed).then(|| self.entries.clone())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn forget_variables_of(&mut self, client: &str) {
        let before = self.entries.len();
        self.entries.retain(|(key, _)| {
            !(key.len() > client.len()
                && key.starts_with(client)
                && key[client.len()..].starts_with('.'))
        });
        if self.entries.len() != before {
            self.reindex();
            self.changed = true;
        }
    }

    fn reindex(&mut self) {
        self.index = self
            .entries
            .iter()
            .enumerate()
            .map(|(at, (key, _))| (key.clone(), at))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn updates_change_entries_in_place_and_a_disconnect_drops_variables() {
        let mut mirror = Mirror::default();
        mirror.apply(pairs(&[
            ("a", "1"),
            ("a.v", "2"),
            ("ab", "1"),
            ("ab.v", "3"),
        ]));
        assert_eq!(mirror.take_changed().unwrap().len(), 4);
        assert_eq!(mirror.take_changed(), None, "nothing new");
        mirror.apply(pairs(&[("a.v", "2")]));
        assert_eq!(mirror.take_changed(), None, "the same value is no change");
        mirror.apply(pairs(&[("a.v", "5"), ("a.w", "6")]));
        assert_eq!(
            mirror.take_changed().unwrap(),
            pairs(&[
                ("a", "1"),
                ("a.v", "5"),
                ("ab", "1"),
                ("ab.v", "3"),
                ("a.w", "6")
            ])
        );
        mirror.apply(pairs(&[("a", "0")]));
        assert_eq!(
            mirror.take_changed().unwrap(),
            pairs(&[("a", "0"), ("ab", "1"), ("ab.v", "3")])
        );
        mirror.apply(pairs(&[("ab.v", "4")]));
        assert_eq!(
            mirror.take_changed().unwrap()[2],
            ("ab.v".into(), "4".into())
        );
    }

    #[test]
    fn a_refresh_drops_what_the_whole_status_no_longer_has() {
        let mut mirror = Mirror::default();
        mirror.apply(pairs(&[("a", "1"), ("a.v", "2"), ("b", "1")]));
        mirror.take_changed();
        let seen: HashSet<String> = ["a".to_string(), "b".to_string()].into();
        mirror.apply(pairs(&[("a", "1"), ("b", "1")]));
        mirror.finish_refresh(&seen);
        assert_eq!(
            mirror.take_changed().unwrap(),
            pairs(&[("a", "1"), ("b", "1")])
        );
        mirror.apply(pairs(&[("a.v", "7")]));
        assert_eq!(mirror.len(), 3);
    }
}
