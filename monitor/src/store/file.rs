//! Which file a database path names right now, so the writer and the readers notice when
//! the database is deleted or replaced under them: an open SQLite connection keeps using
//! the old, unlinked file, and nothing else would ever say so.

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

/// Remove the `-wal` and `-shm` files left at `path` by a database file that is gone:
/// SQLite would otherwise replay the old database's journal into the new one.
pub(super) fn remove_orphaned_journal(path: &Path) {
    if path.exists() {
        return;
    }
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}
