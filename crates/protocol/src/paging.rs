//! Paged replies, for answers too long for one line (a monitor's status of hundreds of
//! clients passes the 64 KiB line limit): `get_status page=<n>` answers the entries from
//! position `n` on, as many as fit in [`PAGE_BYTES`], and `next=<m>` when more remain;
//! the asker goes on with `page=<m>` until a page has no `next=`. The first page is
//! `page=0`. A reply is bounded whatever the number of entries, since one entry (a key
//! and a value of bounded length) always fits.

use crate::encode::{write_value, LineWriter, TextSink};
use crate::message::Message;

/// The request's kwarg naming the first entry wanted, echoed in the reply.
pub const PAGE_KEY: &str = "page";
/// The reply's kwarg naming the page to ask for next; absent on the last page.
pub const NEXT_KEY: &str = "next";
/// The entries of one page stop before they pass this many bytes (the line limit is
/// 64 KiB, and the header and one long entry must still fit).
pub const PAGE_BYTES: usize = 32 * 1024;

/// The page a request asks for: `None` when it asks for everything at once, an error
/// text when `page=` is not a non-negative whole number.
pub fn requested_page(request: &Message) -> Result<Option<usize>, String> {
    match request.get(PAGE_KEY) {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            format!("{PAGE_KEY}={text:?}: the number of the first entry, 0 for the first page")
        }),
    }
}

/// The page to ask for after `reply`, if it says more remain.
pub fn next_page(reply: &Message) -> Option<usize> {
    reply.get(NEXT_KEY)?.parse().ok()
}

/// Collects one page's entries: offered in order from position 0, it keeps those from
/// the page's first position on while they fit in `budget` bytes (always at least one).
#[derive(Debug)]
pub struct PageBuilder {
    first: usize,
    budget: usize,
    offered: usize,
    body: String,
    full: bool,
}

impl PageBuilder {
    /// A page starting at entry `first`, of at most [`PAGE_BYTES`] of entries.
    pub fn new(first: usize) -> Self {
        PageBuilder::with_budget(first, PAGE_BYTES)
    }

    pub fn with_budget(first: usize, budget: usize) -> Self {
        PageBuilder {
            first,
            budget,
            offered: 0,
            body: String::new(),
            full: false,
        }
    }

    /// Offer the next entry; answers `false` once the page is full, after which the
    /// caller can stop offering.
    pub fn offer(&mut self, key: &str, value: &str) -> bool {
        if self.full {
            return false;
        }
        let position = self.offered;
        self.offered += 1;
        if position < self.first {
            return true;
        }
        let before = self.body.len();
        if before > 0 {
            self.body.push(' ');
        }
        debug_assert!(crate::is_valid_name(key), "invalid key {key:?}");
        self.body.push_str(key);
        self.body.push('=');
        write_value(&mut self.body, value, false);
        if self.body.len() > self.budget && before > 0 {
            self.body.truncate(before);
            self.offered -= 1;
            self.full = true;
            return false;
        }
        true
    }

    /// Pass over `count` entries at once when they all come before the page (so the
    /// caller need not build them); answers whether it did.
    pub fn skip_before_page(&mut self, count: usize) -> bool {
        let skipped = !self.full && self.offered + count <= self.first;
        if skipped {
            self.offered += count;
        }
        skipped
    }

    /// Whether entries were left out (offered after the page filled up).
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Whether the page holds no entry.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The reply line: `[@tag] <name> page=<first> [next=<m>] <header...> <entries...>`,
    /// the paging keys and the header before the entries. `next=` is there when the page
    /// filled up. By convention the header (counts and the like) is given for page 0 only,
    /// so the pages' entries can be joined as they come.
    pub fn write<S: TextSink>(
        &self,
        out: &mut S,
        tag: Option<&str>,
        name: &str,
        header: &[(&str, &str)],
    ) {
        let first = self.first.to_string();
        let mut writer = LineWriter::start(out, tag, name).kwarg(PAGE_KEY, &first);
        if self.full {
            writer = writer.kwarg(NEXT_KEY, &self.offered.to_string());
        }
        for (key, value) in header {
            writer = writer.kwarg(key, value);
        }
        writer.raw_kwargs(&self.body).finish();
    }

    /// The entries alone, for a line written another way (an `update` line cut in pieces).
    pub fn write_entries<S: TextSink>(&self, out: &mut S, tag: Option<&str>, name: &str) {
        LineWriter::start(out, tag, name)
            .raw_kwargs(&self.body)
            .finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_line;

    fn page(first: usize, budget: usize, entries: &[(String, String)]) -> Message {
        let mut builder = PageBuilder::with_budget(first, budget);
        for (key, value) in entries {
            if !builder.offer(key, value) {
                break;
            }
        }
        let mut line = String::new();
        builder.write(&mut line, Some("t1"), "status", &[("nclients", "3")]);
        parse_line(line.trim_end()).unwrap()
    }

    #[test]
    fn pages_cover_every_entry_once_within_their_budget() {
        let entries: Vec<(String, String)> = (0..500)
            .map(|n| (format!("c{n}.value"), format!("v a l {n}")))
            .collect();
        let mut seen = Vec::new();
        let mut at = Some(0);
        let mut pages = 0;
        while let Some(first) = at {
            let reply = page(first, 1000, &entries);
            assert_eq!(reply.tag.as_deref(), Some("t1"));
            assert_eq!(reply.get(PAGE_KEY), Some(first.to_string().as_str()));
            assert_eq!(reply.get("nclients"), Some("3"));
            let body: Vec<_> = reply
                .kwargs
                .iter()
                .filter(|(k, _)| k.starts_with('c'))
                .cloned()
                .collect();
            assert!(!body.is_empty());
            assert!(reply.to_line().len() < 1100, "{}", reply.to_line().len());
            seen.extend(body);
            at = next_page(&reply);
            pages += 1;
        }
        assert_eq!(seen, entries);
        assert!(pages > 10, "{pages}");
    }

    #[test]
    fn one_entry_larger_than_the_budget_still_makes_a_page() {
        let entries = vec![
            ("a".to_string(), "x".repeat(50)),
            ("b".to_string(), "y".to_string()),
        ];
        let first = page(0, 10, &entries);
        assert_eq!(first.get("a").map(str::len), Some(50));
        assert_eq!(next_page(&first), Some(1));
        let second = page(1, 10, &entries);
        assert_eq!(second.get("b"), Some("y"));
        assert_eq!(next_page(&second), None);
        let mut skipping = PageBuilder::with_budget(3, 100);
        assert!(skipping.skip_before_page(2));
        assert!(!skipping.skip_before_page(2), "entry 3 is on the page");
        assert!(skipping.offer("c", "1") && skipping.is_empty());
        assert!(skipping.offer("d", "2") && !skipping.is_empty());
        // Past the end: an empty last page.
        let past = page(9, 10, &entries);
        assert_eq!(past.kwargs.len(), 2, "{past}");
    }

    #[test]
    fn page_numbers_are_checked() {
        let ask = |line: &str| requested_page(&parse_line(line).unwrap());
        assert_eq!(ask("get_status"), Ok(None));
        assert_eq!(ask("get_status page=0"), Ok(Some(0)));
        assert_eq!(ask("get_status page=12"), Ok(Some(12)));
        for bad in [
            "get_status page=-1",
            "get_status page=x",
            "get_status page=",
        ] {
            assert!(ask(bad).unwrap_err().contains("page="), "{bad}");
        }
    }
}
