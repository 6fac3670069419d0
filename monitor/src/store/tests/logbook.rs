//! The logbook's queries ([`Reader::logs`], [`Reader::alarm_history`]) on both databases.

use super::Place;
use crate::alarms::AlarmChange;
use crate::store::{open_reader, AlarmQuery, AlarmState, LogQuery, Page, Store, StoreOptions};
use crate::store::{LogRecord, Stored};
use labwire_protocol::LogLevel;
use labwire_time::from_millis;
use std::time::{SystemTime, UNIX_EPOCH};

on_both_databases!(
    logs_are_filtered_and_paged_newest_first,
    pages_follow_time_then_id_through_lines_of_the_same_moment,
    alarms_keep_their_raised_acknowledged_and_cleared_times,
);

const T0: i64 = 1_767_225_600_000;

fn at(s: i64) -> SystemTime {
    from_millis(T0 + s * 1000)
}

fn all_logs() -> LogQuery {
    LogQuery {
        source: None,
        min_level: LogLevel::Debug,
        text: None,
        from: UNIX_EPOCH,
        to: at(1000),
        before: None,
        limit: 100,
    }
}

fn messages(page: &Page<Stored<LogRecord>>) -> Vec<&str> {
    page.items
        .iter()
        .map(|s| s.record.message.as_str())
        .collect()
}

fn logs_are_filtered_and_paged_newest_first(place: &Place) {
    let store = Store::open(place.db(), StoreOptions::default()).unwrap();
    for (s, level, source, message) in [
        (1, "debug", "psu1", "polled"),
        (2, "info", "psu1", "Output ON"),
        (3, "warning", "gauge1", "pressure rising"),
        (4, "error", "monitor", "alarm psu1.ch1_current: high"),
        (5, "info", "script", "100% done_ok"),
        (6, "info", "psu1", "output off"),
    ] {
        store.record_log(at(s), level, source, message);
    }
    store.flush().unwrap();
    let reader = open_reader(place.db()).unwrap();

    let all = reader.logs(&all_logs()).unwrap();
    assert_eq!(all.items.len(), 6);
    assert_eq!(all.items[0].record.message, "output off", "newest first");
    assert!(!all.more);

    let q = |change: &dyn Fn(&mut LogQuery)| {
        let mut query = all_logs();
        change(&mut query);
        reader.logs(&query).unwrap()
    };
    let warnings = q(&|q| q.min_level = LogLevel::Warning);
    assert_eq!(
        messages(&warnings),
        ["alarm psu1.ch1_current: high", "pressure rising"]
    );
    let psu = q(&|q| q.source = Some("psu1".into()));
    assert_eq!(messages(&psu), ["output off", "Output ON", "polled"]);
    let output = q(&|q| q.text = Some("OUTPUT".into()));
    assert_eq!(messages(&output), ["output off", "Output ON"]);
    // `%` and `_` are themselves.
    assert_eq!(
        messages(&q(&|q| q.text = Some("0% d".into()))),
        ["100% done_ok"]
    );
    assert!(q(&|q| q.text = Some("t_o".into())).items.is_empty());
    let range = q(&|q| {
        q.from = at(2);
        q.to = at(4);
    });
    assert_eq!(range.items.len(), 3);

    let first = q(&|q| q.limit = 4);
    assert!(first.more);
    let rest = q(&|q| {
        q.limit = 4;
        q.before = Some(first.items[3].id);
    });
    assert!(!rest.more);
    assert_eq!(messages(&rest), ["Output ON", "polled"]);
}

fn pages_follow_time_then_id_through_lines_of_the_same_moment(place: &Place) {
    let store = Store::open(place.db(), StoreOptions::default()).unwrap();
    // Stored out of time order (a line queued late), and three in one millisecond.
    for (s, message) in [(5, "e"), (1, "a"), (3, "b"), (3, "c"), (3, "d")] {
        store.record_log(at(s), "info", "script", message);
    }
    store.flush().unwrap();
    let reader = open_reader(place.db()).unwrap();
    let mut query = LogQuery {
        limit: 1,
        ..all_logs()
    };
    let mut seen = Vec::new();
    loop {
        let page = reader.logs(&query).unwrap();
        seen.extend(messages(&page).iter().map(|m| m.to_string()));
        if !page.more {
            break;
        }
        query.before = Some(page.items[0].id);
    }
    assert_eq!(seen, ["e", "d", "c", "b", "a"]);
}

fn alarms_keep_their_raised_acknowledged_and_cleared_times(place: &Place) {
    let store = Store::open(place.db(), StoreOptions::default()).unwrap();
    let raised = |state: &str| AlarmChange::Raised {
        state: state.into(),
        value: Some(1.7),
    };
    store.record_alarm(at(10), "psu1", "ch1_current", raised("high"), "");
    store.record_alarm(at(15), "psu1", "ch1_current", AlarmChange::Acked, "");
    store.record_alarm(at(20), "psu1", "ch1_current", AlarmChange::Cleared, "");
    store.record_alarm(at(30), "gauge1", "connected", raised("disconnected"), "");
    store.record_alarm(at(40), "cryo", "alarm_fault", raised("device"), "input B");
    store.record_alarm(at(45), "cryo", "alarm_fault", AlarmChange::Acked, "");
    store.flush().unwrap();
    let reader = open_reader(place.db()).unwrap();
    let all = AlarmQuery {
        client: None,
        name: None,
        state: None,
        from: UNIX_EPOCH,
        to: at(1000),
        before: None,
        limit: 100,
    };
    let names = |query: &AlarmQuery| -> Vec<String> {
        reader
            .alarm_history(query)
            .unwrap()
            .items
            .iter()
            .map(|a| format!("{}.{}", a.record.client, a.record.key))
            .collect()
    };
    let page = reader.alarm_history(&all).unwrap();
    assert_eq!(page.items.len(), 3);
    let psu = &page.items[2].record;
    assert_eq!(
        (psu.raised_at, psu.acked_at, psu.cleared_at),
        (at(10), Some(at(15)), Some(at(20)))
    );
    assert_eq!(page.items[0].record.message, "input B");
    let with = |change: &dyn Fn(&mut AlarmQuery)| {
        let mut query = all.clone();
        change(&mut query);
        names(&query)
    };
    assert_eq!(
        with(&|q| q.state = Some(AlarmState::Active)),
        ["cryo.alarm_fault", "gauge1.connected"]
    );
    assert_eq!(
        with(&|q| q.state = Some(AlarmState::Cleared)),
        ["psu1.ch1_current"]
    );
    assert_eq!(
        with(&|q| q.state = Some(AlarmState::Unacknowledged)),
        ["gauge1.connected"]
    );
    assert_eq!(with(&|q| q.state = Some(AlarmState::Acknowledged)).len(), 2);
    assert_eq!(
        with(&|q| q.state = Some(AlarmState::Raised("device".into()))),
        ["cryo.alarm_fault"]
    );
    assert_eq!(
        with(&|q| q.client = Some("psu1".into())),
        ["psu1.ch1_current"]
    );
    assert_eq!(with(&|q| q.name = Some("CH1".into())), ["psu1.ch1_current"]);
    // Listed at some moment of the range: cleared at 20 s is in from 20 s, not 21 s.
    assert_eq!(with(&|q| q.from = at(20)).len(), 3);
    assert_eq!(with(&|q| q.from = at(21)).len(), 2);
    assert_eq!(with(&|q| q.to = at(35)).len(), 2);
    let first = reader
        .alarm_history(&AlarmQuery {
            limit: 2,
            ..all.clone()
        })
        .unwrap();
    assert!(first.more);
    let rest = with(&|q| q.before = Some(first.items[1].id));
    assert_eq!(rest, ["psu1.ch1_current"]);
}
