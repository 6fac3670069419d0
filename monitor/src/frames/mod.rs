//! Camera frames: for every client of type `ccd`, the monitor keeps the camera's
//! `set_keywords` current with the state of every other client, fetches each new frame
//! over a connection of its own, stores it as a FITS file under `frames_dir`, indexes it
//! in the store, and tells the web page.
//!
//! Layout:
//! - [`watch`]: one supervisor task that follows the hub and one task per camera that
//!   sends keywords and fetches frames; how the monitor knows when (see there).
//! - [`keywords`]: the `set_keywords` line built from the other clients' state.
//! - [`link`]: the connection to a camera: a payload streamed from the socket to a file.
//! - [`file_sink`]: that file, written on a thread of its own while the socket is read.
//! - [`fits`]: reading a stored file back: header cards, layout, pixels row by row.
//! - [`preview`]: the PNG preview with a percentile stretch and a histogram.
//!
//! [`Frames`] is what the parts share: the directory, the latest frame per camera, the
//! recent frames (what the page shows first) and the stream of new ones (the page's
//! live `frame` events), and counters for `/metrics` and the bench.

pub mod file_sink;
pub mod fits;
pub mod keywords;
pub mod link;
pub mod preview;
pub mod watch;

use crate::store::{from_millis, insert_frame, open_reader, to_millis, FrameRecord};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::broadcast;

/// Frames the page lists (newest first); older ones are in `GET /monitor/frames`.
pub const RECENT: usize = 20;

/// Counters for `/metrics` and `labwire-bench frames`; all monotonic.
#[derive(Default, Debug)]
pub struct FrameCounters {
    pub stored: AtomicU64,
    pub bytes: AtomicU64,
    /// Microseconds from each `get_frame` written to its last byte in the file.
    pub transfer_micros: AtomicU64,
    /// Microseconds from each `get_frame` written to its last byte read off the socket.
    pub receive_micros: AtomicU64,
    pub failures: AtomicU64,
    pub keyword_updates: AtomicU64,
}

pub struct Frames {
    dir: PathBuf,
    /// The history database the index lives in; `None`: frames are not fetched.
    db: Option<PathBuf>,
    latest: Mutex<BTreeMap<String, FrameRecord>>,
    recent: Mutex<VecDeque<FrameRecord>>,
    news: broadcast::Sender<Arc<FrameRecord>>,
    pub counters: FrameCounters,
}

impl Frames {
    /// Frames under `dir`, indexed in the database at `db`, whose latest and recent
    /// entries are read now (blocking: at start-up). Without a database no frame is
    /// fetched (there would be no index to find it by).
    pub fn open(dir: PathBuf, db: Option<PathBuf>) -> Frames {
        let frames = Frames {
            dir,
            db,
            latest: Mutex::default(),
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            news: broadcast::channel(64).0,
            counters: FrameCounters::default(),
        };
        if let Some(reader) = frames.db.as_ref().and_then(|db| open_reader(db).ok()) {
            if let Ok(latest) = reader.latest_frames() {
                let mut map = frames.latest.lock().expect("latest frames");
                for frame in latest {
                    map.insert(frame.client.clone(), frame);
                }
            }
            if let Ok(recent) = reader.frames(None, None, RECENT) {
                frames.recent.lock().expect("recent frames").extend(recent);
            }
        }
        frames
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn db(&self) -> Option<&Path> {
        self.db.as_deref()
    }

    /// The newest frame of `client`, with its header.
    pub fn latest(&self, client: &str) -> Option<FrameRecord> {
        self.latest
            .lock()
            .expect("latest frames")
            .get(client)
            .cloned()
    }

    /// The newest frames of every camera, newest first, without headers.
    pub fn recent(&self) -> Vec<FrameRecord> {
        self.recent
            .lock()
            .expect("recent frames")
            .iter()
            .cloned()
            .collect()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FrameRecord>> {
        self.news.subscribe()
    }

    /// A frame is stored and indexed: remember it and tell the page.
    pub fn publish(&self, frame: FrameRecord) {
        {
            let mut recent = self.recent.lock().expect("recent frames");
            if recent.len() == RECENT {
                recent.pop_back();
            }
            recent.push_front(FrameRecord {
                header: String::new(),
                ..frame.clone()
            });
        }
        self.latest
            .lock()
            .expect("latest frames")
            .insert(frame.client.clone(), frame.clone());
        let _ = self.news.send(Arc::new(frame));
    }

    /// Move the complete file `incoming` to its place, index it and publish it; answers
    /// the index entry. Blocking. The file is checked first: a payload that is not a
    /// FITS image is removed, never indexed.
    pub fn store(
        &self,
        client: &str,
        frame_id: Option<i64>,
        incoming: &Path,
    ) -> Result<FrameRecord, String> {
        let refuse = |why: String| {
            let _ = std::fs::remove_file(incoming);
            Err(why)
        };
        let size = match std::fs::metadata(incoming) {
            Ok(meta) => meta.len(),
            Err(err) => return refuse(format!("{}: {err}", incoming.display())),
        };
        let header = match std::fs::File::open(incoming)
            .map_err(|err| err.to_string())
            .and_then(|mut file| fits::Header::read(&mut std::io::BufReader::new(&mut file)))
        {
            Ok(header) => header,
            Err(why) => return refuse(format!("not a FITS file: {why}")),
        };
        let layout = match header.image() {
            Ok(layout) => layout,
            Err(why) => return refuse(format!("not a FITS image: {why}")),
        };
        if layout.data_offset + layout.data_bytes() > size {
            return refuse(format!(
                "the FITS file is cut short: {size} bytes for a {}x{} image",
                layout.width, layout.height
            ));
        }
        let Some(db) = &self.db else {
            return refuse("no history database to index frames in".into());
        };
        // Whole milliseconds, as the index keeps times.
        let time = from_millis(to_millis(SystemTime::now()));
        let relative = self.place(client, frame_id, time);
        let path = self.dir.join(&relative);
        if let Err(err) = std::fs::rename(incoming, &path) {
            return refuse(format!(
                "cannot move the frame to {}: {err}",
                path.display()
            ));
        }
        let mut record = FrameRecord {
            id: 0,
            client: client.to_string(),
            time,
            frame_id,
            date_obs: header.value("DATE-OBS").unwrap_or_default(),
            exposure: header.number("EXPTIME"),
            image_type: header.value("IMAGETYP").unwrap_or_default(),
            object: header.value("OBJECT").unwrap_or_default(),
            width: layout.width,
            height: layout.height,
            path: relative.to_string_lossy().into_owned(),
            size,
            header: header.text(),
        };
        record.id = insert_frame(db, &record)
            .map_err(|err| format!("stored {} but could not index it: {err}", path.display()))?;
        self.counters.stored.fetch_add(1, Ordering::Relaxed);
        self.counters.bytes.fetch_add(size, Ordering::Relaxed);
        self.publish(record.clone());
        Ok(record)
    }

    /// Where an incoming frame of `client` is written until it is complete; the directory
    /// is created. Names starting with `.` are never indexed or served.
    pub fn incoming(&self, client: &str) -> std::io::Result<PathBuf> {
        let dir = self.dir.join(client);
        std::fs::create_dir_all(&dir)?;
        Ok(dir.join(".incoming.fits"))
    }

    /// `<client>/<client>-<UTC yyyymmddThhmmss.mmm>[-<frame id>].fits`, relative to the
    /// directory; a name already taken gets a counter.
    fn place(&self, client: &str, frame_id: Option<i64>, time: SystemTime) -> PathBuf {
        let stamp: String = labwire_time::rfc3339_millis(time)
            .chars()
            .filter(|c| c.is_ascii_digit() || matches!(c, 'T' | '.'))
            .collect();
        let id = frame_id.map(|n| format!("-{n}")).unwrap_or_default();
        let base = format!("{client}-{stamp}{id}");
        let mut name = PathBuf::from(client).join(format!("{base}.fits"));
        let mut n = 1;
        while self.dir.join(&name).exists() {
            n += 1;
            name = PathBuf::from(client).join(format!("{base}-{n}.fits"));
        }
        name
    }

    /// The stored file of an index entry, if it is still inside the directory.
    pub fn file_of(&self, record: &FrameRecord) -> Option<PathBuf> {
        let relative = Path::new(&record.path);
        let inside = relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        inside.then(|| self.dir.join(relative))
    }

    /// Count a failed fetch.
    pub fn failed(&self) {
        self.counters.failures.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, StoreOptions};

    #[test]
    fn a_stored_frame_is_moved_indexed_and_published() {
        let scratch = labwire_testkit::TempDir::new("frames-store");
        let db = scratch.path().join("h.sqlite");
        let store = Store::open(&db, StoreOptions::default()).unwrap();
        let frames = Frames::open(scratch.path().join("frames"), Some(db.clone()));
        let mut news = frames.subscribe();
        let incoming = frames.incoming("cam1").unwrap();
        std::fs::write(&incoming, fits::tests::u16_fits(8, 4, |x, _| x as u16)).unwrap();
        let record = frames.store("cam1", Some(3), &incoming).unwrap();
        assert!(!incoming.exists());
        assert_eq!((record.width, record.height), (8, 4));
        assert_eq!(record.exposure, Some(1.5));
        assert_eq!(record.image_type, "object");
        assert_eq!(record.date_obs, "2026-12-02T01:30:00.000");
        assert!(record.path.starts_with("cam1/cam1-") && record.path.ends_with("-3.fits"));
        assert!(frames.file_of(&record).unwrap().is_file());
        assert_eq!(news.try_recv().unwrap().id, record.id);
        let reader = store.reader().unwrap();
        let listed = reader.frames(Some("cam1"), None, 10).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].header, "", "lists leave headers out");
        let one = reader.frame(record.id).unwrap().unwrap();
        assert!(one.header.contains("IMAGETYP= 'object  '"));
        assert_eq!(one, record);
        // Opened again (a restart), the index gives the latest and recent frames.
        let again = Frames::open(scratch.path().join("frames"), Some(db));
        assert_eq!(again.latest("cam1").unwrap().id, record.id);
        assert_eq!(again.recent().len(), 1);
    }

    #[test]
    fn a_payload_that_is_no_image_is_removed() {
        let scratch = labwire_testkit::TempDir::new("frames-bad");
        let db = scratch.path().join("h.sqlite");
        let store = Store::open(&db, StoreOptions::default()).unwrap();
        let frames = Frames::open(scratch.path().join("frames"), Some(db));
        let incoming = frames.incoming("cam1").unwrap();
        std::fs::write(&incoming, b"hello").unwrap();
        let err = frames.store("cam1", None, &incoming).unwrap_err();
        assert!(err.contains("not a FITS file"), "{err}");
        assert!(!incoming.exists());
        let mut short = fits::tests::u16_fits(100, 100, |_, _| 1);
        short.truncate(fits::BLOCK + 100);
        std::fs::write(&incoming, short).unwrap();
        let err = frames.store("cam1", None, &incoming).unwrap_err();
        assert!(err.contains("cut short"), "{err}");
        assert!(store
            .reader()
            .unwrap()
            .frames(None, None, 10)
            .unwrap()
            .is_empty());
    }
}
