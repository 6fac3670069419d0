//! The planned profile in a plot. A plotted `profile_setpoint` (a fermentation chamber's)
//! or `loop<N>_profile_setpoint` (a temperature controller loop's) is not drawn from the
//! history: the plot route asks the daemon `profile_status` (`profile_status loop=<N>`)
//! on the client's relay path and draws the loaded points placed in time by the run, the
//! part still to come included, dashed (docs/monitor.md, "Plots").
//!
//! The reply names the points (`profile_points=0s:20,2h:-100,...`) and when the last one
//! is (was) reached (`profile_end`); the run started the profile's duration before that.
//! A loaded profile that is not started (`profile=idle`) has no place in time, and a
//! daemon that does not answer in [`PLAN_TIMEOUT`] has no plan: then the variable is
//! drawn from the history like any other.

use crate::hub::Hub;
use labwire_daemon::profile::{parse_start_time, Profile};
use labwire_protocol::Message;
use labwire_time::unix_seconds;
use std::time::Duration;

/// How long a plot waits for the daemon's `profile_status`.
pub const PLAN_TIMEOUT: Duration = Duration::from_secs(2);

/// Suffix of the plotted variables drawn as a plan.
const PROFILE_SETPOINT: &str = "profile_setpoint";

/// One plotted variable's plan: `(unix seconds, setpoint)` from the first point to the
/// last.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub key: String,
    pub points: Vec<(f64, f64)>,
}

impl Plan {
    /// When the last point is reached, unix seconds.
    pub fn end(&self) -> f64 {
        self.points.last().map_or(f64::NEG_INFINITY, |p| p.0)
    }
}

/// The `profile_status` request that gives `key`'s plan, when `key` is drawn as one.
pub fn request_for(key: &str) -> Option<Message> {
    if key == PROFILE_SETPOINT {
        return Some(Message::new("profile_status"));
    }
    let digits = key
        .strip_prefix("loop")?
        .strip_suffix(PROFILE_SETPOINT)?
        .strip_suffix('_')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Message::new("profile_status").kwarg("loop", digits))
}

/// `key`'s plan from the daemon's `profile_status` reply; `None` for an error, a profile
/// not started, or a reply that does not say where the run is.
pub fn from_reply(key: &str, reply: &Message) -> Option<Plan> {
    if reply.is_error() || !matches!(reply.get("profile")?, "waiting" | "running" | "done") {
        return None;
    }
    let profile = Profile::parse(reply.get("profile_points")?, |_| Ok(())).ok()?;
    let end = unix_seconds(parse_start_time(reply.get("profile_end")?).ok()?);
    let start = end - profile.duration().as_secs_f64();
    let points = profile
        .points()
        .iter()
        .map(|p| (start + p.at.as_secs_f64(), p.setpoint))
        .collect();
    Some(Plan {
        key: key.to_string(),
        points,
    })
}

/// The plans of `keys` (a plot's variables) that `client`'s daemon gives now. Asked one
/// after the other on the relay path, only while the client is connected and speaks
/// labwire (a legacy daemon has no profiles).
pub async fn fetch(hub: &Hub, client: &str, keys: &[String]) -> Vec<Plan> {
    let Some(slot) = hub.slot(client) else {
        return Vec::new();
    };
    let view = slot.view();
    if !view.connected || view.legacy {
        return Vec::new();
    }
    let mut plans = Vec::new();
    for key in keys {
        let Some(request) = request_for(key) else {
            continue;
        };
        let reply = tokio::time::timeout(PLAN_TIMEOUT, slot.relay.send(request, false)).await;
        if let Some(plan) = reply
            .ok()
            .and_then(Result::ok)
            .and_then(|r| from_reply(key, &r))
        {
            plans.push(plan);
        }
    }
    plans
}

/// How far past now a plot with plans reaches when no `to` was asked: as far ahead as it
/// looks back, but not past the end of the last plan.
pub fn reach_ahead(plans: &[Plan], (from, now): (f64, f64)) -> f64 {
    let end = plans
        .iter()
        .map(Plan::end)
        .fold(f64::NEG_INFINITY, f64::max);
    if end > now {
        now + (end - now).min(now - from)
    } else {
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_protocol::parse_line;

    #[test]
    fn profile_setpoints_are_asked_of_the_daemon() {
        assert_eq!(
            request_for("profile_setpoint").unwrap().to_line(),
            "profile_status"
        );
        assert_eq!(
            request_for("loop2_profile_setpoint").unwrap().to_line(),
            "profile_status loop=2"
        );
        for other in [
            "setpoint",
            "loop1_setpoint",
            "loop_profile_setpoint",
            "loopx_profile_setpoint",
            "loop1profile_setpoint",
            "temp_a",
        ] {
            assert!(request_for(other).is_none(), "{other}");
        }
    }

    #[test]
    fn a_running_profile_is_placed_from_its_end() {
        let reply = parse_line(
            "ok profile_status loop=1 profile=running profile_step=0 profile_elapsed=600 \
             profile_setpoint=19 profile_end=2026-12-05T02:00:00Z \
             profile_points=0s:20,2h:-100,3d:-100,74h:20",
        )
        .unwrap();
        let plan = from_reply("loop1_profile_setpoint", &reply).unwrap();
        let end = 1_796_436_000.0; // 2026-12-05T02:00:00Z
        let start = end - 74.0 * 3600.0;
        assert_eq!(
            plan.points,
            vec![
                (start, 20.0),
                (start + 7200.0, -100.0),
                (start + 3.0 * 86_400.0, -100.0),
                (end, 20.0)
            ]
        );
        assert_eq!(plan.end(), end);
    }

    #[test]
    fn no_plan_without_a_run() {
        for line in [
            "ok profile_status profile=idle profile_end=\"\" profile_points=0s:18,4d:18",
            "ok profile_status profile=running profile_end=2026-12-05T02:00:00Z",
            "ok profile_status profile=running profile_end=soon profile_points=0s:18",
            "ok profile_status profile=running profile_end=2026-12-05T02:00:00Z profile_points=",
            "error profile_status code=bad_argument message=\"no\"",
        ] {
            let reply = parse_line(line).unwrap();
            assert!(from_reply("profile_setpoint", &reply).is_none(), "{line}");
        }
        let waiting = parse_line(
            "ok profile_status profile=waiting profile_end=2027-01-01T08:00:00Z \
             profile_points=0s:18,4d:18,5d:21,7d:21,8d:2",
        )
        .unwrap();
        assert!(from_reply("profile_setpoint", &waiting).is_some());
    }

    #[test]
    fn the_plot_reaches_ahead_as_far_as_it_looks_back() {
        let plan = |end: f64| Plan {
            key: "profile_setpoint".into(),
            points: vec![(0.0, 1.0), (end, 2.0)],
        };
        assert_eq!(reach_ahead(&[plan(10_000.0)], (1000.0, 4600.0)), 8200.0);
        assert_eq!(reach_ahead(&[plan(5000.0)], (1000.0, 4600.0)), 5000.0);
        assert_eq!(reach_ahead(&[plan(3000.0)], (1000.0, 4600.0)), 4600.0);
        assert_eq!(reach_ahead(&[], (1000.0, 4600.0)), 4600.0);
    }
}
