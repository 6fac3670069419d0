//! State a daemon keeps across restarts (names a user gave, profiles, orders): one JSON
//! file per daemon, read once at start and replaced atomically on every save.
//!
//! - A missing file means "nothing saved yet". A file that cannot be read or is not JSON
//!   stops the daemon at start with the file's name (exit 2): it is never silently
//!   replaced, so a typo in `--state-file` or a damaged file loses nothing.
//! - Saving writes a temporary file in the same directory, syncs it, renames it over the
//!   old one and syncs the directory: a crash leaves either the old or the new state.
//! - Saved state describes the daemon, not the hardware: restoring it must never send
//!   anything to the instrument (starting a daemon never changes the hardware's state).
//!
//! The default path is `$XDG_STATE_HOME/labwire/<name>.state` (XDG base directories),
//! else `~/.local/state/labwire/<name>.state`, else `./<name>.state` when there is no
//! home; `<name>` is the daemon's `--name`, so two daemons of one type keep apart.

use crate::device::Error;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Largest state file accepted, in bytes: state is names and settings, not data.
pub const MAX_STATE_BYTES: u64 = 1 << 20;

/// The default state file of the daemon called `name` (see the module documentation).
pub fn default_path(name: &str) -> PathBuf {
    let env_dir = |key: &str| {
        std::env::var_os(key)
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute())
    };
    let base = env_dir("XDG_STATE_HOME")
        .or_else(|| env_dir("HOME").map(|home| home.join(".local").join("state")))
        .map(|dir| dir.join("labwire"))
        .unwrap_or_else(|| PathBuf::from("."));
    let file_name: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect();
    base.join(format!("{}.state", file_name.trim_start_matches('.')))
}

/// A daemon's state file, read when opened. A device gets it at construction,
/// [`load`](StateFile::load)s what it saved last time and [`save`](StateFile::save)s
/// after a command that changes it.
#[derive(Clone, Debug)]
pub struct StateFile {
    path: PathBuf,
    saved: Option<serde_json::Value>,
    writes: Arc<Writes>,
}

/// Orders saves: a save whose future was dropped (a command that timed out) may still be
/// writing; an older state never replaces a newer one, and one write runs at a time.
#[derive(Debug, Default)]
struct Writes {
    next: AtomicU64,
    last_written: Mutex<u64>,
}

impl StateFile {
    /// Read `path`: a missing file is no saved state; anything else that stops it being
    /// read as JSON is an error naming the file.
    pub fn open(path: impl Into<PathBuf>) -> Result<StateFile, String> {
        let path = path.into();
        let saved =
            read_json(&path).map_err(|err| format!("state file {}: {err}", path.display()))?;
        Ok(StateFile {
            path,
            saved,
            writes: Arc::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What was saved in the file when the daemon started (`None`: nothing). A file
    /// whose content does not fit `T` is an error naming the file.
    pub fn load<T: DeserializeOwned>(&self) -> Result<Option<T>, String> {
        self.saved
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|err| format!("state file {}: {err}", self.path.display()))
    }

    /// Replace the file with `state`, atomically, on a blocking thread (the async
    /// runtime is not held up by the disk). The error names the file.
    pub async fn save<T: Serialize>(&self, state: &T) -> Result<(), Error> {
        let failed = |err: &dyn std::fmt::Display| {
            Error::new(
                labwire_protocol::ErrorCode::Internal,
                format!("cannot save state to {}: {err}", self.path.display()),
            )
        };
        let mut bytes = serde_json::to_vec_pretty(state).map_err(|err| failed(&err))?;
        bytes.push(b'\n');
        let sequence = self.writes.next.fetch_add(1, Ordering::SeqCst) + 1;
        let writes = self.writes.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut last_written = writes
                .last_written
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if *last_written > sequence {
                return Ok(());
            }
            write_atomically(&path, &bytes)?;
            *last_written = sequence;
            Ok(())
        })
        .await
        .map_err(|err| failed(&err))?
        .map_err(|err: io::Error| failed(&err))
    }
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>, String> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(format!("cannot read: {err}")),
    };
    let mut bytes = Vec::new();
    file.take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot read: {err}"))?;
    if bytes.len() as u64 > MAX_STATE_BYTES {
        return Err(format!("larger than {MAX_STATE_BYTES} bytes"));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|err| format!("not a state file (JSON): {err}"))
}

/// Write `bytes` to a temporary file beside `path`, sync it, rename it over `path`, and
/// sync the directory so the rename itself survives a power cut.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let temporary = dir.join(format!(".{}.tmp", file_name.to_string_lossy()));
    let written = File::create(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(err) = written.and_then(|()| std::fs::rename(&temporary, path)) {
        let _ = std::fs::remove_file(&temporary);
        return Err(err);
    }
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Saved {
        names: Vec<String>,
    }

    fn scratch(label: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("labwire-state-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn saved_state_is_loaded_by_the_next_start() {
        let dir = scratch("roundtrip");
        let path = dir.join("sub").join("psu.state");
        let first = StateFile::open(&path).unwrap();
        assert_eq!(first.load::<Saved>(), Ok(None), "missing: nothing saved");
        let saved = Saved {
            names: vec!["det".into(), "a \"quoted\" name".into()],
        };
        first.save(&saved).await.unwrap();
        first.save(&saved).await.unwrap();
        let second = StateFile::open(&path).unwrap();
        assert_eq!(second.load::<Saved>(), Ok(Some(saved)));
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_unreadable_or_misshapen_files_are_errors_naming_the_file() {
        let dir = scratch("corrupt");
        let corrupt = dir.join("corrupt.state");
        std::fs::write(&corrupt, "{\"names\": [").unwrap();
        let err = StateFile::open(&corrupt).unwrap_err();
        assert!(
            err.contains("corrupt.state") && err.contains("JSON"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&corrupt).unwrap(),
            "{\"names\": [",
            "kept"
        );

        let err = StateFile::open(&dir).unwrap_err();
        assert!(err.contains("cannot read"), "a directory: {err}");

        let misshapen = dir.join("misshapen.state");
        std::fs::write(&misshapen, "{\"names\": 3}").unwrap();
        let err = StateFile::open(&misshapen)
            .unwrap()
            .load::<Saved>()
            .unwrap_err();
        assert!(err.contains("misshapen.state"), "{err}");

        let huge = dir.join("huge.state");
        std::fs::write(&huge, vec![b' '; MAX_STATE_BYTES as usize + 1]).unwrap();
        assert!(StateFile::open(&huge).unwrap_err().contains("larger than"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_failed_save_is_an_error_naming_the_file() {
        let dir = scratch("unwritable");
        let state = StateFile::open(dir.join("sub").join("x.state")).unwrap();
        // Its directory cannot be made once a file has that name.
        std::fs::write(dir.join("sub"), "").unwrap();
        let err = state.save(&1).await.unwrap_err();
        assert!(err.message.contains("x.state"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn default_paths_are_per_daemon_name_and_stay_in_their_directory() {
        let path = default_path("psu");
        assert!(path.ends_with("labwire/psu.state") || path == Path::new("./psu.state"));
        assert_eq!(default_path("../x/y").file_name().unwrap(), "_x_y.state");
    }
}
