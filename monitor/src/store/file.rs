//! Which files a database path names right now, so the writer and the readers notice when
//! the database is deleted or replaced under them: an open SQLite connection keeps using
//! the old, unlinked file, and nothing else would ever say so.
//!
//! SQLite does not remove the `-wal` and `-shm` files of a database file that has moved
//! when it closes it, and would replay that journal into whatever file is at the path
//! next. So the writer remembers which journal files are its own and removes them before
//! it opens the new database.

use std::path::{Path, PathBuf};

/// A file's identity: device and inode number. Another file at the same path, or none at
/// all, gives another answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileId {
    dev: u64,
    ino: u64,
}

/// The identity of the file at `path`; `None` when there is none (or the platform cannot
/// say, in which case a replaced database goes unnoticed).
#[cfg(unix)]
pub(super) fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

#[cfg(not(unix))]
pub(super) fn file_id(_path: &Path) -> Option<FileId> {
    None
}

/// The database's journal files, `-wal` then `-shm`.
pub(super) fn journal_paths(path: &Path) -> [PathBuf; 2] {
    ["-wal", "-shm"].map(|suffix| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// The identities of the journal files at `path` now.
pub(super) fn journal_ids(path: &Path) -> [Option<FileId>; 2] {
    journal_paths(path).map(|journal| file_id(&journal))
}

/// Remove the journal files at `path` that belong to a database no longer there: the
/// ones the writer opened itself (`own`), or any when there is no database file at all.
pub(super) fn remove_stale_journal(path: &Path, own: [Option<FileId>; 2]) {
    let no_database = !path.exists();
    for (journal, own) in journal_paths(path).iter().zip(own) {
        let id = file_id(journal);
        if id.is_some() && (no_database || id == own) {
            let _ = std::fs::remove_file(journal);
        }
    }
}
