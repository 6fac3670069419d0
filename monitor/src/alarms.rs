//! Alarms: limits per variable from `[[alarms]]`, a client's connection, and the alarms a
//! daemon raises itself. A limit or connection alarm raises when a value leaves its range
//! (or the client disconnects) and latches: it stays listed until it is acknowledged AND
//! its value is back in range, whichever comes last.
//!
//! A device alarm (docs/protocol.md, "Alarms raised by a device") is latched by the daemon,
//! which is the truth about it: listed while the daemon reports `alarm_<code>=1`, gone
//! when it reports 0. Acknowledging one is the daemon's business too: [`AlarmBook::acknowledge`]
//! hands it back to be forwarded as `ack_alarm`, and [`AlarmBook::acknowledge_device`]
//! marks it once the daemon said `ok`.
//!
//! The book is plain state; the hub stores, logs and publishes what it reports.

use crate::config::AlarmLimit;
use crate::store::Value;
use std::collections::HashMap;
use std::time::SystemTime;

/// The key of a client's connection alarm (`<client>.connected`).
pub const CONNECTION_KEY: &str = "connected";

/// The state of an alarm the daemon raised itself (`alarm_<code>=1`).
pub const DEVICE_STATE: &str = "device";

/// The prefix of a device alarm's variable, and the suffix of its companion message.
const DEVICE_PREFIX: &str = "alarm_";
const MESSAGE_SUFFIX: &str = "_message";

/// An alarm that is active or not yet acknowledged.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmView {
    pub client: String,
    pub key: String,
    /// `high`, `low`, `disconnected` or [`DEVICE_STATE`].
    pub state: String,
    /// The value that raised it (latest while still active); "" when there is none.
    pub value: String,
    /// A device alarm's message, in the daemon's words (latest while latched); "" for the
    /// monitor's own alarms.
    pub message: String,
    pub since: SystemTime,
    /// Still out of range.
    pub active: bool,
    pub acknowledged: bool,
}

impl AlarmView {
    /// Raised by the daemon (`alarm_<code>`), not by the monitor's limits.
    pub fn is_device(&self) -> bool {
        self.state == DEVICE_STATE
    }
}

/// What happened to the alarm of one variable, as the store records it.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmChange {
    /// The value left its limits; `state` says how (`low`, `high`, ...). A still uncleared
    /// alarm of the same variable is cleared at the same time.
    Raised { state: String, value: Option<f64> },
    /// The value is back within its limits.
    Cleared,
    /// Someone acknowledged it.
    Acked,
}

/// What changed, for the store and the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub client: String,
    pub key: String,
    pub change: AlarmChange,
    /// A device alarm's message; `None` for the monitor's own alarms.
    pub message: Option<String>,
}

impl Transition {
    /// The log line: `alarm psu1.ch1_current: high`, `alarm cryo.alarm_sensor_fault:
    /// device: input B open`.
    pub fn log_text(&self) -> String {
        let what = match (&self.change, &self.message) {
            (AlarmChange::Raised { state, .. }, Some(message)) => format!("{state}: {message}"),
            (AlarmChange::Raised { state, .. }, None) => state.clone(),
            (AlarmChange::Cleared, Some(_)) => "cleared by the daemon".to_string(),
            (AlarmChange::Cleared, None) => "back in range".to_string(),
            (AlarmChange::Acked, _) => "acknowledged".to_string(),
        };
        format!("alarm {}.{}: {what}", self.client, self.key)
    }
}

/// One device alarm as a daemon reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceAlarm<'a> {
    /// `alarm_<code>`.
    pub key: &'a str,
    pub latched: bool,
    pub message: &'a str,
}

impl DeviceAlarm<'_> {
    /// `<code>` of `alarm_<code>`, as `ack_alarm code=` wants it.
    pub fn code(&self) -> &str {
        device_code(self.key).unwrap_or(self.key)
    }
}

/// `<code>` of a device alarm's key `alarm_<code>`.
pub fn device_code(key: &str) -> Option<&str> {
    key.strip_prefix(DEVICE_PREFIX)
        .filter(|code| !code.is_empty())
}

/// The device alarms among a client's variables: `alarm_<code>` with the value 0 or 1
/// whose `alarm_<code>_message` is reported too. Anything else that starts with `alarm_`
/// (the Cryo-con's `alarm_state_a=HI`, a message itself) is an ordinary variable.
pub fn device_alarms(vars: &[(String, String)]) -> Vec<DeviceAlarm<'_>> {
    let candidates: Vec<&(String, String)> = vars
        .iter()
        .filter(|(key, value)| {
            device_code(key).is_some()
                && !key.ends_with(MESSAGE_SUFFIX)
                && matches!(value.as_str(), "0" | "1")
        })
        .collect();
    if candidates.is_empty() {
        return Vec::new();
    }
    let messages: HashMap<&str, &str> = vars
        .iter()
        .filter_map(|(key, value)| Some((key.strip_suffix(MESSAGE_SUFFIX)?, value.as_str())))
        .collect();
    candidates
        .into_iter()
        .filter_map(|(key, value)| {
            Some(DeviceAlarm {
                key,
                latched: value == "1",
                message: messages.get(key.as_str())?,
            })
        })
        .collect()
}

/// What an acknowledgement did, and what it leaves to the daemons.
#[derive(Debug, Default, PartialEq)]
pub struct Acknowledgement {
    /// The monitor's own alarms, acknowledged now.
    pub transitions: Vec<Transition>,
    /// Unacknowledged device alarms as `(client, key)`: forward `ack_alarm` to each
    /// daemon, then [`AlarmBook::acknowledge_device`] on its `ok`.
    pub forward: Vec<(String, String)>,
}

#[derive(Default)]
pub struct AlarmBook {
    limits: HashMap<String, Vec<AlarmLimit>>,
    /// In the order raised.
    alarms: Vec<AlarmView>,
}

impl AlarmBook {
    pub fn set_limits(&mut self, client: &str, limits: Vec<AlarmLimit>) {
        self.limits.insert(client.to_string(), limits);
    }

    /// Check a client's fresh variables against its limits and take its device alarms.
    pub fn observe(
        &mut self,
        client: &str,
        vars: &[(String, String)],
        now: SystemTime,
    ) -> Vec<Transition> {
        let mut transitions = self.observe_limits(client, vars, now);
        transitions.extend(self.observe_device(client, vars, now));
        transitions
    }

    fn observe_limits(
        &mut self,
        client: &str,
        vars: &[(String, String)],
        now: SystemTime,
    ) -> Vec<Transition> {
        let Some(limits) = self.limits.get(client).cloned() else {
            return Vec::new();
        };
        let mut transitions = Vec::new();
        for limit in &limits {
            let Some((_, text)) = vars.iter().find(|(key, _)| *key == limit.key) else {
                continue;
            };
            // A value that could not be read is not a value out of range.
            let Some(value) = Value::from_wire(text).as_number() else {
                continue;
            };
            let state = match (limit.low, limit.high) {
                (Some(low), _) if value < low => Some("low"),
                (_, Some(high)) if value > high => Some("high"),
                _ => None,
            };
            transitions.extend(self.update(client, &limit.key, state, text, now));
        }
        transitions
    }

    /// The daemon's `alarm_<code>` is the truth: listed at 1, gone at 0 (which the daemon
    /// reports only once it was acknowledged, possibly by someone asking it directly).
    fn observe_device(
        &mut self,
        client: &str,
        vars: &[(String, String)],
        now: SystemTime,
    ) -> Vec<Transition> {
        let mut transitions = Vec::new();
        for alarm in device_alarms(vars) {
            let index = self
                .alarms
                .iter()
                .position(|a| a.client == client && a.key == alarm.key && a.is_device());
            let transition = |change| Transition {
                client: client.to_string(),
                key: alarm.key.to_string(),
                change,
                message: Some(alarm.message.to_string()),
            };
            match (index, alarm.latched) {
                (None, false) => {}
                (None, true) => {
                    self.alarms.push(AlarmView {
                        client: client.to_string(),
                        key: alarm.key.to_string(),
                        state: DEVICE_STATE.to_string(),
                        value: String::new(),
                        message: alarm.message.to_string(),
                        since: now,
                        active: true,
                        acknowledged: false,
                    });
                    transitions.push(transition(AlarmChange::Raised {
                        state: DEVICE_STATE.to_string(),
                        value: None,
                    }));
                }
                (Some(i), true) => {
                    if self.alarms[i].message != alarm.message {
                        self.alarms[i].message = alarm.message.to_string();
                    }
                }
                (Some(i), false) => {
                    let view = self.alarms.remove(i);
                    transitions.push(transition(AlarmChange::Cleared));
                    if !view.acknowledged {
                        // Acknowledged at the daemon, not through the monitor.
                        transitions.push(transition(AlarmChange::Acked));
                    }
                }
            }
        }
        transitions
    }

    /// A client connected (`true`) or was lost (`false`).
    pub fn connection(
        &mut self,
        client: &str,
        connected: bool,
        now: SystemTime,
    ) -> Vec<Transition> {
        let state = (!connected).then_some("disconnected");
        self.update(client, CONNECTION_KEY, state, "", now)
            .into_iter()
            .collect()
    }

    fn update(
        &mut self,
        client: &str,
        key: &str,
        state: Option<&str>,
        value: &str,
        now: SystemTime,
    ) -> Option<Transition> {
        let index = self
            .alarms
            .iter()
            .position(|a| a.client == client && a.key == key && !a.is_device());
        let transition = |change| Transition {
            client: client.to_string(),
            key: key.to_string(),
            change,
            message: None,
        };
        match (index, state) {
            (None, None) => None,
            (None, Some(state)) => {
                self.alarms.push(AlarmView {
                    client: client.to_string(),
                    key: key.to_string(),
                    state: state.to_string(),
                    value: value.to_string(),
                    message: String::new(),
                    since: now,
                    active: true,
                    acknowledged: false,
                });
                Some(transition(raised(state, value)))
            }
            (Some(i), Some(state)) => {
                let alarm = &mut self.alarms[i];
                let changed = !alarm.active || alarm.state != state;
                alarm.value = value.to_string();
                if !changed {
                    return None;
                }
                // Out of range again, or the other side: a new alarm to acknowledge.
                *alarm = AlarmView {
                    state: state.to_string(),
                    since: now,
                    active: true,
                    acknowledged: false,
                    ..alarm.clone()
                };
                Some(transition(raised(state, value)))
            }
            (Some(i), None) => {
                let alarm = &mut self.alarms[i];
                if !alarm.active {
                    return None;
                }
                alarm.active = false;
                if alarm.acknowledged {
                    self.alarms.remove(i);
                }
                Some(transition(AlarmChange::Cleared))
            }
        }
    }

    /// Acknowledge `<client>.<key>` or `all`: the monitor's own alarms now; the device
    /// alarms are handed back to be forwarded to their daemons.
    pub fn acknowledge(&mut self, target: &str) -> Result<Acknowledgement, String> {
        let matches =
            |a: &AlarmView| target == "all" || format!("{}.{}", a.client, a.key) == target;
        if target != "all" && !self.alarms.iter().any(&matches) {
            return Err(format!("no alarm {target:?} to acknowledge"));
        }
        let mut acknowledgement = Acknowledgement::default();
        for alarm in self
            .alarms
            .iter_mut()
            .filter(|a| matches(a) && !a.acknowledged)
        {
            if alarm.is_device() {
                acknowledgement
                    .forward
                    .push((alarm.client.clone(), alarm.key.clone()));
                continue;
            }
            alarm.acknowledged = true;
            acknowledgement.transitions.push(Transition {
                client: alarm.client.clone(),
                key: alarm.key.clone(),
                change: AlarmChange::Acked,
                message: None,
            });
        }
        self.alarms.retain(|a| a.active || !a.acknowledged);
        Ok(acknowledgement)
    }

    /// The daemon answered `ok` to `ack_alarm` for `<client>.<key>`: the alarm stays
    /// listed, acknowledged, until the daemon reports it 0.
    pub fn acknowledge_device(&mut self, client: &str, key: &str) -> Option<Transition> {
        let alarm = self
            .alarms
            .iter_mut()
            .find(|a| a.client == client && a.key == key && a.is_device() && !a.acknowledged)?;
        alarm.acknowledged = true;
        Some(Transition {
            client: client.to_string(),
            key: key.to_string(),
            change: AlarmChange::Acked,
            message: Some(alarm.message.clone()),
        })
    }

    pub fn views(&self) -> Vec<AlarmView> {
        self.alarms.clone()
    }
}

fn raised(state: &str, value: &str) -> AlarmChange {
    AlarmChange::Raised {
        state: state.to_string(),
        value: Value::from_wire(value).as_number(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn vars(current: &str) -> Vec<(String, String)> {
        vec![
            ("ch1_current".into(), current.into()),
            ("other".into(), "9".into()),
        ]
    }

    fn book() -> AlarmBook {
        let mut book = AlarmBook::default();
        book.set_limits(
            "psu1",
            vec![AlarmLimit {
                key: "ch1_current".into(),
                low: Some(0.0),
                high: Some(1.5),
            }],
        );
        book
    }

    #[test]
    fn raise_latch_clear_and_acknowledge() {
        let mut book = book();
        assert!(book.observe("psu1", &vars("1.0"), at(1)).is_empty());
        let raised = book.observe("psu1", &vars("1.7"), at(2));
        assert_eq!(raised.len(), 1);
        assert!(
            matches!(&raised[0].change, AlarmChange::Raised { state, value: Some(v) } if state == "high" && *v == 1.7)
        );
        assert!(
            book.observe("psu1", &vars("1.8"), at(3)).is_empty(),
            "no second raise"
        );
        assert_eq!(book.views()[0].value, "1.8");

        let cleared = book.observe("psu1", &vars("1.0"), at(4));
        assert_eq!(cleared[0].change, AlarmChange::Cleared);
        let view = &book.views()[0];
        assert!(
            !view.active && !view.acknowledged,
            "latched until acknowledged"
        );
        assert_eq!(view.since, at(2));

        let acked = book.acknowledge("psu1.ch1_current").unwrap();
        assert_eq!(acked.transitions[0].change, AlarmChange::Acked);
        assert!(acked.forward.is_empty());
        assert!(book.views().is_empty());
    }

    #[test]
    fn acknowledged_alarm_stays_until_back_in_range() {
        let mut book = book();
        book.observe("psu1", &vars("-0.2"), at(1));
        assert_eq!(book.views()[0].state, "low");
        book.acknowledge("all").unwrap();
        assert!(book.views()[0].acknowledged && book.views()[0].active);
        book.observe("psu1", &vars("0.5"), at(2));
        assert!(book.views().is_empty());
    }

    #[test]
    fn a_new_excursion_needs_a_new_acknowledgement() {
        let mut book = book();
        book.observe("psu1", &vars("2"), at(1));
        book.acknowledge("all").unwrap();
        let again = book.observe("psu1", &vars("-1"), at(2));
        assert!(matches!(&again[0].change, AlarmChange::Raised { state, .. } if state == "low"));
        assert!(!book.views()[0].acknowledged);
    }

    #[test]
    fn unreadable_values_and_unknown_targets() {
        let mut book = book();
        assert!(book.observe("psu1", &vars(""), at(1)).is_empty());
        assert!(book.observe("psu1", &vars("n/a"), at(1)).is_empty());
        assert!(book.acknowledge("psu1.ch1_current").is_err());
        assert_eq!(book.acknowledge("all").unwrap(), Acknowledgement::default());
    }

    #[test]
    fn disconnection_is_an_alarm() {
        let mut book = AlarmBook::default();
        let raised = book.connection("gauge1", false, at(5));
        assert_eq!(raised[0].key, CONNECTION_KEY);
        assert_eq!(book.views()[0].state, "disconnected");
        book.connection("gauge1", true, at(6));
        book.acknowledge("gauge1.connected").unwrap();
        assert!(book.views().is_empty());
    }

    fn cryo(fault: &str, message: &str) -> Vec<(String, String)> {
        vec![
            ("temp_a".into(), "77.1".into()),
            ("alarm_state_a".into(), "HI".into()),
            ("alarm_sensor_fault".into(), fault.into()),
            ("alarm_sensor_fault_message".into(), message.into()),
        ]
    }

    #[test]
    fn device_alarms_need_a_message_and_a_flag() {
        let vars = cryo("1", "input B open");
        let found = device_alarms(&vars);
        assert_eq!(
            found,
            [DeviceAlarm {
                key: "alarm_sensor_fault",
                latched: true,
                message: "input B open",
            }]
        );
        assert_eq!(found[0].code(), "sensor_fault");
        let not_alarms = [
            // The Cryo-con's alarm state per input: no message, not 0/1.
            ("alarm_state_a", "HI"),
            // 0/1 but no companion message.
            ("alarm_state_b", "0"),
            // A message without its flag; and a flag that is neither 0 nor 1.
            ("alarm_lone_message", "text"),
            ("alarm_odd", "2"),
            ("alarm_odd_message", "x"),
            ("alarm_", "1"),
            ("alarm__message", ""),
        ];
        let vars: Vec<(String, String)> = not_alarms
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(
            device_alarms(&vars).is_empty(),
            "{:?}",
            device_alarms(&vars)
        );
    }

    #[test]
    fn alarm_state_a_never_raises_an_alarm() {
        let mut book = AlarmBook::default();
        let vars = vec![
            ("alarm_state_a".to_string(), "1".to_string()),
            ("alarm_state_b".to_string(), "HI".to_string()),
        ];
        assert!(book.observe("cryo", &vars, at(1)).is_empty());
        assert!(book.views().is_empty());
    }

    #[test]
    fn a_device_alarm_follows_the_daemon() {
        let mut book = AlarmBook::default();
        assert!(book.observe("cryo", &cryo("0", ""), at(1)).is_empty());
        let raised = book.observe("cryo", &cryo("1", "input B open"), at(2));
        assert_eq!(raised.len(), 1);
        assert_eq!(
            raised[0].log_text(),
            "alarm cryo.alarm_sensor_fault: device: input B open"
        );
        assert_eq!(
            raised[0].change,
            AlarmChange::Raised {
                state: DEVICE_STATE.into(),
                value: None
            }
        );
        let view = &book.views()[0];
        assert!(view.is_device() && view.active && !view.acknowledged);
        assert_eq!(view.message, "input B open");
        // The message follows the daemon, without a new raise.
        assert!(book
            .observe("cryo", &cryo("1", "input B shorted"), at(3))
            .is_empty());
        assert_eq!(book.views()[0].message, "input B shorted");

        // Acknowledging hands it to the daemon; only its ok marks it.
        let ack = book.acknowledge("all").unwrap();
        assert!(ack.transitions.is_empty());
        assert_eq!(
            ack.forward,
            [("cryo".to_string(), "alarm_sensor_fault".to_string())]
        );
        assert!(!book.views()[0].acknowledged);
        let acked = book
            .acknowledge_device("cryo", "alarm_sensor_fault")
            .unwrap();
        assert_eq!(acked.change, AlarmChange::Acked);
        assert!(book
            .acknowledge_device("cryo", "alarm_sensor_fault")
            .is_none());
        assert!(
            book.views()[0].acknowledged,
            "listed until the daemon says 0"
        );
        assert!(book.acknowledge("all").unwrap().forward.is_empty());

        let cleared = book.observe("cryo", &cryo("0", ""), at(4));
        assert_eq!(cleared.len(), 1);
        assert_eq!(cleared[0].change, AlarmChange::Cleared);
        assert!(book.views().is_empty());
    }

    #[test]
    fn a_device_alarm_acknowledged_at_the_daemon_leaves_acknowledged() {
        let mut book = AlarmBook::default();
        book.observe("cryo", &cryo("1", "open"), at(1));
        let changes: Vec<AlarmChange> = book
            .observe("cryo", &cryo("0", ""), at(2))
            .into_iter()
            .map(|t| t.change)
            .collect();
        assert_eq!(changes, [AlarmChange::Cleared, AlarmChange::Acked]);
        assert!(book.views().is_empty());
    }
}
