//! A client that is itself a monitor (its `id` says `type=monitor`), whatever its size:
//! its status of every client would pass the line limit above a few hundred of them, so
//! instead of polling it the task subscribes to its `update` and `log` lines, reads its
//! whole status page by page (`get_status page=<n>`) at the start and every
//! [`REFRESH_EVERY`] polls (at once when an update line was dropped), and otherwise asks
//! only `get_id` on each poll to know it still answers. What it reports is passed to the
//! hub a few times per poll interval, as one poll of a client whose variables are the
//! lower monitor's `<client>.<key>`; the hub shows them as `<monitor>.<client>.<key>`.

use crate::hub::{Hub, Link, Slot};
use crate::mirror::Mirror;
use crate::poller::{is_forbidden, refusal, LogForwarder, PollSettings, SessionEnd};
use labwire_client::{Client, ClientError, Events};
use labwire_protocol::{LogLevel, Message};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use tokio::time::{interval, MissedTickBehavior};
use tracing::{debug, warn};

/// Polls between two readings of the whole status.
pub const REFRESH_EVERY: u32 = 10;
/// Passes to the hub per poll interval, so a change reaches the page (and the monitor
/// above) within a fraction of an interval.
const FLUSHES_PER_POLL: u32 = 4;

/// Follow the lower monitor on `client` until the connection fails or it refuses.
pub(crate) async fn session(
    hub: &Hub,
    slot: &Slot,
    client: &Client,
    settings: &PollSettings,
    kind: &str,
) -> SessionEnd {
    let Some(mut events) = client.take_events() else {
        return SessionEnd::Lost;
    };
    for topic in ["status", "log"] {
        match client.request(Message::new("subscribe").arg(topic)).await {
            Ok(reply) if reply.name == "ok" => {}
            Ok(refused) if is_forbidden(&refused) => {
                return SessionEnd::Refused(refusal("subscribe", &refused))
            }
            Ok(other) => warn!("subscribe {topic} answered {other}"),
            Err(err) => {
                debug!("no answer to subscribe {topic}: {err}");
                return SessionEnd::Lost;
            }
        }
    }
    let mut mirror = Mirror::default();
    let mut forwarder = LogForwarder::for_monitor();
    if let Err(end) = refresh(hub, slot, client, &mut events, &mut mirror, &mut forwarder).await {
        return end;
    }
    let link = Link {
        client: client.clone(),
        legacy: false,
    };
    hub.set_link(slot, Some(link), kind);
    if let Some(vars) = mirror.take_changed() {
        hub.record_status(slot, vars);
    }
    let mut polls = interval(settings.interval);
    polls.set_missed_tick_behavior(MissedTickBehavior::Skip);
    polls.tick().await;
    let mut flushes = interval(settings.interval / FLUSHES_PER_POLL);
    flushes.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut since_refresh = 0;
    let mut dropped = client.events_dropped();
    loop {
        tokio::select! {
            _ = polls.tick() => {
                since_refresh += 1;
                let lost_lines = client.events_dropped() != dropped;
                if since_refresh >= REFRESH_EVERY || lost_lines {
                    dropped = client.events_dropped();
                    since_refresh = 0;
                    if let Err(end) =
                        refresh(hub, slot, client, &mut events, &mut mirror, &mut forwarder).await
                    {
                        return end;
                    }
                } else if let Err(end) = still_answers(hub, slot, client).await {
                    return end;
                }
            }
            _ = flushes.tick() => {
                if let Some(vars) = mirror.take_changed() {
                    hub.record_status(slot, vars);
                }
            }
            event = events.recv() => match event {
                Some(event) => take_event(hub, slot, event, &mut mirror, &mut forwarder),
                None => return SessionEnd::Lost,
            },
        }
    }
}

fn take_event(
    hub: &Hub,
    slot: &Slot,
    event: Message,
    mirror: &mut Mirror,
    forwarder: &mut LogForwarder,
) {
    match event.name.as_str() {
        "update" => mirror.apply(event.kwargs),
        "log" => forwarder.forward(hub, slot, &event),
        _ => {}
    }
}

/// Read the whole status page by page into `mirror`. The lines that arrived before each
/// page are applied before it: they are older than the page, and the ones after it newer.
async fn refresh(
    hub: &Hub,
    slot: &Slot,
    client: &Client,
    events: &mut Events,
    mirror: &mut Mirror,
    forwarder: &mut LogForwarder,
) -> Result<(), SessionEnd> {
    let mut seen = HashSet::with_capacity(mirror.len());
    let mut page = Some(0);
    while let Some(first) = page {
        let (reply, next) = match client.status_page(first).await {
            Ok(answer) => answer,
            Err(err) => return Err(lost(hub, slot, "get_status", err)),
        };
        while let Ok(event) = events.try_recv() {
            take_event(hub, slot, event, mirror, forwarder);
        }
        if reply.name != "status" {
            hub.counters.poll_failures.fetch_add(1, Ordering::Relaxed);
            if is_forbidden(&reply) {
                return Err(SessionEnd::Refused(refusal("get_status", &reply)));
            }
            warn!("get_status page={first} answered {reply}");
            return Err(SessionEnd::Lost);
        }
        seen.extend(reply.kwargs.iter().map(|(key, _)| key.clone()));
        mirror.apply(reply.kwargs);
        page = next;
    }
    mirror.finish_refresh(&seen);
    Ok(())
}

/// The poll between two refreshes: the cheapest request there is.
async fn still_answers(hub: &Hub, slot: &Slot, client: &Client) -> Result<(), SessionEnd> {
    match client.request(Message::new("get_id")).await {
        Ok(_) => Ok(()),
        Err(err) => Err(lost(hub, slot, "get_id", err)),
    }
}

fn lost(hub: &Hub, slot: &Slot, asked: &str, err: ClientError) -> SessionEnd {
    hub.counters.poll_failures.fetch_add(1, Ordering::Relaxed);
    if matches!(err, ClientError::Timeout) {
        hub.log(
            LogLevel::Warning,
            "monitor",
            &format!("{} stopped answering {asked}", slot.name),
        );
    }
    SessionEnd::Lost
}
