//! When the monitor talks to a camera, and why then.
//!
//! **Keywords.** A frame's header should hold the lab's state when the exposure starts.
//! The monitor does not wait to see `state=exposing`: by the time a poll shows it, the
//! exposure has started, and an exposure started by a script talking to the daemon
//! directly, or the next one of a sequence, would never be announced at all. Instead it
//! keeps the camera's keywords current: whenever the state of another client changes,
//! the camera gets a new `set_keywords` (coalesced: a camera task always sends the newest
//! line, never a backlog). So at any moment, whoever starts an exposure and however, the
//! daemon holds keywords at most one poll behind. An `expose` relayed through the
//! monitor (`send <camera> expose ...`) gets a fresh `set_keywords` on the relay
//! connection right before it (monitor/src/service.rs), so those are exact.
//!
//! **Frames.** Each poll of a camera reports `frame_id` (and `frame_time`); when it
//! changes, the camera task fetches the new frame (and the ones in between, when polls
//! missed some, up to [`MAX_BACKFILL`]) with `get_frame id=<n>` over its own
//! [`CameraLink`], streams it to a file, and hands it to [`Frames::store`]. The last frame
//! stored is known from the index at start, so a monitor restart fetches nothing twice;
//! a daemon restart (its numbers start again) is noticed by `frame_time` changing.
//!
//! One supervisor task follows the hub (every poll that changes something bumps it) and
//! starts a task per camera the first time a client of type `ccd` is connected. Polls
//! and relayed commands never wait for a frame: the camera task has its own connection.

use super::keywords;
use super::link::{CameraLink, LinkError};
use super::Frames;
use crate::hub::{ClientView, Hub, Slot};
use labwire_protocol::{LogLevel, Message};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

/// The `type=` of a camera daemon's `id` reply.
pub const CAMERA_KIND: &str = "ccd";
/// Frames fetched when polls missed several: the daemon keeps only the last few.
pub const MAX_BACKFILL: i64 = 4;
/// Changes that arrive together are handled together.
const COALESCE: Duration = Duration::from_millis(50);

/// A frame as a poll reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameKey {
    pub id: i64,
    /// `frame_time`; `None` when not known (the index does not keep it).
    pub time: Option<String>,
}

impl FrameKey {
    /// The latest frame a camera's status names, if it has taken one.
    pub fn of(view: &ClientView) -> Option<FrameKey> {
        let get = |key: &str| {
            view.vars
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let id: i64 = get("frame_id")?.parse().ok()?;
        (id > 0).then(|| FrameKey {
            id,
            time: get("frame_time")
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        })
    }

    /// Which frames to fetch when the status says `self` and `last` was stored last.
    pub fn to_fetch(&self, last: Option<&FrameKey>) -> Vec<i64> {
        let Some(last) = last else {
            return vec![self.id];
        };
        let same_time = match (&last.time, &self.time) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        if last.id == self.id && same_time {
            return Vec::new();
        }
        if self.id > last.id {
            // The same run of the daemon (its numbers only grow): the ones in between too.
            let first = (last.id + 1).max(self.id - MAX_BACKFILL + 1);
            return (first..=self.id).collect();
        }
        vec![self.id]
    }
}

/// What a camera task should bring about.
#[derive(Clone, Debug, PartialEq)]
struct Want {
    frame: Option<FrameKey>,
    keywords: Message,
    left_out: usize,
}

/// Follow the hub until `shutdown`, with a task per camera on `tracker`.
pub async fn run(
    hub: Arc<Hub>,
    frames: Arc<Frames>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    if frames.db().is_none() {
        return;
    }
    let mut changes = hub.changes();
    let mut cameras: HashMap<String, watch::Sender<Want>> = HashMap::new();
    loop {
        for slot in hub.slots() {
            // Looked at in place: with thousands of clients, cloning every view on every
            // change was most of the monitor's work.
            if !slot.with_view(|view| view.connected && view.kind == CAMERA_KIND) {
                continue;
            }
            let view = slot.view();
            let (keywords, left_out) = keywords::for_camera(&hub, &slot.name);
            let want = Want {
                frame: FrameKey::of(&view),
                keywords,
                left_out,
            };
            match cameras.get(&slot.name) {
                Some(sender) => {
                    sender.send_if_modified(|current| {
                        let changed = *current != want;
                        *current = want;
                        changed
                    });
                }
                None => {
                    let (sender, receiver) = watch::channel(want);
                    let task = camera(
                        hub.clone(),
                        frames.clone(),
                        slot.clone(),
                        receiver,
                        shutdown.clone(),
                    );
                    tracker.spawn(task);
                    cameras.insert(slot.name.clone(), sender);
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(COALESCE) => {}
        }
        changes.borrow_and_update();
    }
}

async fn camera(
    hub: Arc<Hub>,
    frames: Arc<Frames>,
    slot: Arc<Slot>,
    mut wants: watch::Receiver<Want>,
    shutdown: CancellationToken,
) {
    let mut link = CameraLink::new(slot.address.clone(), slot.token.clone());
    let mut last: Option<FrameKey> = frames
        .latest(&slot.name)
        .and_then(|f| f.frame_id.map(|id| FrameKey { id, time: None }));
    let mut sent: Option<Message> = None;
    let mut warned_left_out = false;
    let mut refused_keywords = false;
    // The first want is there already: act on it at once.
    wants.mark_changed();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = wants.changed() => if changed.is_err() { return },
        }
        let want = wants.borrow_and_update().clone();
        if let Some(key) = &want.frame {
            let ids = key.to_fetch(last.as_ref());
            for id in ids {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = fetch(&hub, &frames, &slot, &mut link, id) => {}
                }
            }
            last = Some(key.clone());
        }
        if want.left_out > 0 && !warned_left_out {
            warned_left_out = true;
            hub.log(
                LogLevel::Warning,
                "monitor",
                &format!(
                    "{}: {} keywords of other clients do not fit in one set_keywords line; \
                     they are left out of its frame headers",
                    slot.name, want.left_out
                ),
            );
        }
        if sent.as_ref() != Some(&want.keywords) {
            match link.request(want.keywords.clone()).await {
                Ok(_) => {
                    frames
                        .counters
                        .keyword_updates
                        .fetch_add(1, Ordering::Relaxed);
                    sent = Some(want.keywords);
                    refused_keywords = false;
                }
                Err(LinkError::Refused(why)) => {
                    if !refused_keywords {
                        hub.log(
                            LogLevel::Warning,
                            "monitor",
                            &format!("{} refused the monitor's keywords: {why}", slot.name),
                        );
                        refused_keywords = true;
                    }
                    // The same line would be refused again; the next change is tried.
                    sent = Some(want.keywords);
                }
                // Tried again with the next change.
                Err(LinkError::Connection(why)) => debug!("{}: set_keywords: {why}", slot.name),
            }
        }
    }
}

/// Fetch frame `id` of the camera into its incoming file, then store it. Failures are
/// logged and counted; a partial file is removed, never indexed.
async fn fetch(hub: &Hub, frames: &Arc<Frames>, slot: &Slot, link: &mut CameraLink, id: i64) {
    let incoming = match frames.incoming(&slot.name) {
        Ok(path) => path,
        Err(err) => {
            frames.failed();
            hub.log(
                LogLevel::Error,
                "monitor",
                &format!("cannot store frames in {}: {err}", frames.dir().display()),
            );
            return;
        }
    };
    let started = Instant::now();
    let request = Message::new("get_frame").kwarg("id", id.to_string());
    let fetched = match link.fetch(request, &incoming).await {
        Ok(fetched) => fetched,
        Err(err) => {
            frames.failed();
            let _ = tokio::fs::remove_file(&incoming).await;
            warn!("{}: frame {id} not fetched: {err}", slot.name);
            hub.log(
                LogLevel::Warning,
                "monitor",
                &format!("frame {id} of {} not stored: {err}", slot.name),
            );
            return;
        }
    };
    let elapsed = started.elapsed();
    let micros = |d: std::time::Duration| d.as_micros() as u64;
    let counters = &frames.counters;
    counters
        .transfer_micros
        .fetch_add(micros(elapsed), Ordering::Relaxed);
    counters.receive_micros.fetch_add(
        micros(fetched.received.saturating_duration_since(started)),
        Ordering::Relaxed,
    );
    let (store, client) = (frames.clone(), slot.name.clone());
    let stored =
        tokio::task::spawn_blocking(move || store.store(&client, Some(id), &incoming)).await;
    match stored {
        Ok(Ok(record)) => {
            hub.log(
                LogLevel::Info,
                "monitor",
                &format!(
                    "frame {id} of {} stored as #{} ({}x{}, {} bytes, {:.0} MB/s): {}",
                    slot.name,
                    record.id,
                    record.width,
                    record.height,
                    record.size,
                    record.size as f64 / elapsed.as_secs_f64().max(1e-6) / 1e6,
                    record.path
                ),
            );
        }
        Ok(Err(why)) => {
            frames.failed();
            hub.log(
                LogLevel::Warning,
                "monitor",
                &format!("frame {id} of {} not stored: {why}", slot.name),
            );
        }
        Err(err) => {
            frames.failed();
            warn!("storing a frame failed: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: i64, time: Option<&str>) -> FrameKey {
        FrameKey {
            id,
            time: time.map(str::to_owned),
        }
    }

    #[test]
    fn which_frames_to_fetch() {
        let t = Some("2026-12-02T01:00:00");
        let u = Some("2026-12-02T02:00:00");
        assert_eq!(key(3, t).to_fetch(None), [3]);
        assert!(key(3, t).to_fetch(Some(&key(3, t))).is_empty());
        assert!(
            key(3, t).to_fetch(Some(&key(3, None))).is_empty(),
            "known from the index"
        );
        assert_eq!(key(4, u).to_fetch(Some(&key(3, t))), [4]);
        assert_eq!(key(6, u).to_fetch(Some(&key(3, t))), [4, 5, 6]);
        assert_eq!(key(20, u).to_fetch(Some(&key(3, t))), [17, 18, 19, 20]);
        // The daemon restarted: its numbers began again.
        assert_eq!(key(1, u).to_fetch(Some(&key(7, t))), [1]);
        assert_eq!(key(3, u).to_fetch(Some(&key(3, t))), [3]);
    }

    #[test]
    fn a_status_names_its_frame() {
        let view = |pairs: &[(&str, &str)]| ClientView {
            vars: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..ClientView::default()
        };
        assert_eq!(FrameKey::of(&view(&[("frame_id", "0")])), None);
        assert_eq!(FrameKey::of(&view(&[("frame_id", "")])), None);
        assert_eq!(
            FrameKey::of(&view(&[("frame_id", "2"), ("frame_time", "")])),
            Some(key(2, None))
        );
        assert_eq!(
            FrameKey::of(&view(&[("frame_time", "x"), ("frame_id", "5")])),
            Some(key(5, Some("x")))
        );
    }
}
