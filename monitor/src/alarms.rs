//! Alarms: limits per variable from `[[alarms]]`, plus a client's connection. An alarm
//! raises when a value leaves its range (or the client disconnects) and latches: it stays
//! listed until it is acknowledged AND its value is back in range, whichever comes last.
//! The book is plain state; the hub stores, logs and publishes what it reports.

use crate::config::AlarmLimit;
use crate::store::Value;
use std::collections::HashMap;
use std::time::SystemTime;

/// The key of a client's connection alarm (`<client>.connected`).
pub const CONNECTION_KEY: &str = "connected";

/// An alarm that is active or not yet acknowledged.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmView {
    pub client: String,
    pub key: String,
    /// `high`, `low` or `disconnected`.
    pub state: String,
    /// The value that raised it (latest while still active); "" when there is none.
    pub value: String,
    pub since: SystemTime,
    /// Still out of range.
    pub active: bool,
    pub acknowledged: bool,
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

    /// Check a client's fresh variables against its limits.
    pub fn observe(
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
            .position(|a| a.client == client && a.key == key);
        let transition = |change| Transition {
            client: client.to_string(),
            key: key.to_string(),
            change,
        };
        match (index, state) {
            (None, None) => None,
            (None, Some(state)) => {
                self.alarms.push(AlarmView {
                    client: client.to_string(),
                    key: key.to_string(),
                    state: state.to_string(),
                    value: value.to_string(),
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

    /// Acknowledge `<client>.<key>` or `all`; returns what was acknowledged.
    pub fn acknowledge(&mut self, target: &str) -> Result<Vec<Transition>, String> {
        let matches =
            |a: &AlarmView| target == "all" || format!("{}.{}", a.client, a.key) == target;
        if target != "all" && !self.alarms.iter().any(&matches) {
            return Err(format!("no alarm {target:?} to acknowledge"));
        }
        let mut transitions = Vec::new();
        for alarm in self
            .alarms
            .iter_mut()
            .filter(|a| matches(a) && !a.acknowledged)
        {
            alarm.acknowledged = true;
            transitions.push(Transition {
                client: alarm.client.clone(),
                key: alarm.key.clone(),
                change: AlarmChange::Acked,
            });
        }
        self.alarms.retain(|a| a.active || !a.acknowledged);
        Ok(transitions)
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
        assert_eq!(acked[0].change, AlarmChange::Acked);
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
        assert!(book.acknowledge("all").unwrap().is_empty());
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
}
