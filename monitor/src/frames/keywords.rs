//! The `set_keywords` line a camera gets: the state of every other connected client as
//! `<client>.<key>=<value>`, so each frame's header records what the rest of the lab
//! was doing (the daemon writes them as ESO `HIERARCH` cards).
//!
//! The line starts with `clear=1`, so it replaces what the camera held: a client that
//! went away leaves no stale values in later headers. Left out: `status_age` (it changes
//! at every poll and says nothing about the frame), values that could not be read
//! (empty), clients that are not connected, and keys that cannot be a FITS keyword
//! (`labwire-fits` decides, as the daemon does). At most [`MAX_KEYWORDS`] keywords (what
//! labwire-ccd keeps) within [`MAX_LINE`] bytes: the rest is left out and counted, so a
//! lab with many clients still gets a request the camera accepts.

use crate::hub::{ClientView, Hub};
use labwire_protocol::Message;

/// The longest `set_keywords` line the monitor writes, well within the daemon's 64 KiB.
pub const MAX_LINE: usize = 60 * 1024;
/// The most keywords labwire-ccd keeps; it refuses a `set_keywords` with more.
pub const MAX_KEYWORDS: usize = 512;

/// `set_keywords` for the camera `camera`, and how many keywords did not fit.
pub fn for_camera(hub: &Hub, camera: &str) -> (Message, usize) {
    build(
        camera,
        // Only the views that give keywords are copied (a lower monitor's is large).
        hub.slots()
            .iter()
            .filter(|slot| slot.name != camera && slot.with_view(|view| view.connected))
            .map(|slot| (slot.name.clone(), slot.view())),
    )
}

/// [`for_camera`] from the clients' views, in configuration order.
pub fn build(
    camera: &str,
    clients: impl IntoIterator<Item = (String, ClientView)>,
) -> (Message, usize) {
    let mut message = Message::new("set_keywords").kwarg("clear", "1");
    let mut length = message.to_line().len();
    let mut left_out = 0;
    for (client, view) in clients {
        if client == camera || !view.connected {
            continue;
        }
        for (key, value) in view.vars {
            if key == "status_age" || value.is_empty() {
                continue;
            }
            let name = format!("{client}.{key}");
            let card =
                labwire_fits::Card::new(&name, labwire_fits::Value::Text(value.clone()), None);
            if card.is_err() {
                left_out += 1;
                continue;
            }
            // Quotes and escapes at most double a value; an estimate that errs long.
            let cost = 2 + name.len() + 2 * value.len() + 2;
            if length + cost > MAX_LINE || message.kwargs.len() > MAX_KEYWORDS {
                left_out += 1;
                continue;
            }
            length += cost;
            message.kwargs.push((name, value));
        }
    }
    (message, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(connected: bool, pairs: &[(&str, &str)]) -> ClientView {
        ClientView {
            connected,
            vars: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..ClientView::default()
        }
    }

    #[test]
    fn every_other_connected_client_and_nothing_stale() {
        let clients = [
            ("cam".to_string(), view(true, &[("state", "idle")])),
            (
                "gauge1".to_string(),
                view(
                    true,
                    &[
                        ("pressure", "1.2e-05"),
                        ("status_age", "0.1"),
                        ("bad", ""),
                        ("no..level", "1"),
                    ],
                ),
            ),
            ("psu1".to_string(), view(false, &[("ch1_voltage", "5")])),
            ("label".to_string(), view(true, &[("text", "a b \"c\"")])),
        ];
        let (message, left_out) = build("cam", clients);
        assert_eq!(left_out, 1, "no FITS keyword has an empty level");
        assert_eq!(
            message.to_line(),
            "set_keywords clear=1 gauge1.pressure=1.2e-05 label.text=\"a b \\\"c\\\"\""
        );
    }

    #[test]
    fn the_line_stays_within_its_limit() {
        let many: Vec<(String, String)> = (0..5000)
            .map(|n| (format!("key{n}"), "v".repeat(20)))
            .collect();
        let clients = [(
            "big".to_string(),
            ClientView {
                connected: true,
                vars: many,
                ..ClientView::default()
            },
        )];
        let (message, left_out) = build("cam", clients);
        assert!(left_out > 0);
        assert_eq!(
            message.kwargs.len(),
            1 + MAX_KEYWORDS,
            "clear=1 and the keywords"
        );
        assert_eq!(message.kwargs.len() - 1 + left_out, 5000);
        assert!(message.to_line().len() <= MAX_LINE);
    }
}
