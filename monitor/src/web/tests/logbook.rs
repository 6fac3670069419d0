//! The logbook's routes (`/monitor/logs`, `/monitor/alarms`, `/monitor/runtime`) and the
//! command port's `logs` and `set interval=` through the page's command line, in-process
//! on the fixture of [`super`].

use super::*;
use crate::alarms::AlarmChange;

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(T0 + s * 1000)
}

/// Five log lines and three alarms, stored.
fn logged() -> Fixture {
    let f = fixture(None);
    let store = f.hub.store().unwrap();
    for (s, level, source, message) in [
        (1, "info", "psu1", "output on"),
        (2, "warning", "gauge1", "pressure rising"),
        (3, "error", "monitor", "alarm psu1.ch1_current: high"),
        (4, "info", "script", "a, \"quoted\" line"),
        (5, "debug", "psu1", "polled"),
    ] {
        store.record_log(at(s), level, source, message);
    }
    let raised = |state: &str, value| AlarmChange::Raised {
        state: state.into(),
        value,
    };
    store.record_alarm(at(3), "psu1", "ch1_current", raised("high", Some(1.7)), "");
    store.record_alarm(at(9), "psu1", "ch1_current", AlarmChange::Acked, "");
    store.record_alarm(at(20), "psu1", "ch1_current", AlarmChange::Cleared, "");
    store.record_alarm(
        at(30),
        "gauge1",
        "connected",
        raised("disconnected", None),
        "",
    );
    store.flush().unwrap();
    f
}

fn range() -> String {
    format!("from={}&to={}", T0 / 1000, T0 / 1000 + 100)
}

#[tokio::test]
async fn logs_are_filtered_paged_and_served_as_json_csv_and_html() {
    let f = logged();
    let answer = get(&f.app, &format!("/monitor/logs?{}", range())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let page = answer.json();
    let messages: Vec<&str> = page["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages[0], "polled", "newest first");
    assert_eq!(messages.len(), 5);
    assert_eq!(page["more"], false);
    assert_eq!(page["next"], serde_json::Value::Null);
    assert_eq!(page["logs"][4]["time"], "2026-01-01T00:00:01.000Z");
    assert_eq!(page["logs"][4]["t"], (T0 / 1000 + 1) as f64);

    let warnings = get(&f.app, &format!("/monitor/logs?level=warning&{}", range()))
        .await
        .json();
    assert_eq!(warnings["logs"].as_array().unwrap().len(), 2);
    let psu = get(
        &f.app,
        &format!("/monitor/logs?source=psu1&text=OUT&{}", range()),
    )
    .await
    .json();
    assert_eq!(psu["logs"].as_array().unwrap().len(), 1);
    assert_eq!(psu["logs"][0]["message"], "output on");

    // Two at a time: the cursor goes on below the last line shown.
    let first = get(&f.app, &format!("/monitor/logs?limit=2&{}", range())).await;
    let next = first.header("x-labwire-next").to_string();
    let first = first.json();
    assert_eq!(first["more"], true);
    assert_eq!(first["next"].to_string(), next);
    let second = get(
        &f.app,
        &format!("/monitor/logs?limit=2&before={next}&{}", range()),
    )
    .await
    .json();
    assert_eq!(second["logs"][0]["message"], "alarm psu1.ch1_current: high");

    let csv = get(
        &f.app,
        &format!("/monitor/logs?format=csv&source=script&{}", range()),
    )
    .await;
    assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
    let text = csv.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,time,utc,level,source,message");
    assert!(
        lines[1].ends_with(",2026-01-01T00:00:04.000Z,info,script,\"a, \"\"quoted\"\" line\""),
        "{}",
        lines[1]
    );

    let html = get(
        &f.app,
        &format!("/monitor/logs?format=html&limit=2&{}", range()),
    )
    .await;
    assert_eq!(html.header("content-type"), "text/html; charset=utf-8");
    let text = html.text();
    assert!(text.contains("<td>polled</td>"), "{text}");
    assert!(
        text.contains(&format!("before={next}&#38;format=html")),
        "{text}"
    );
    assert!(text.contains("rel=\"next\""));

    for (query, why) in [
        ("level=loud", "level=\"loud\""),
        ("from=later", "from=\"later\""),
        ("limit=0", "1 to 1000"),
        ("before=abc", "before=\"abc\""),
        ("colour=red", "unknown parameter \"colour\""),
    ] {
        let answer = get(&f.app, &format!("/monitor/logs?{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(answer.text().contains(why), "{query}: {}", answer.text());
    }
}

#[tokio::test]
async fn the_alarm_history_has_every_time_and_a_plot_around_each() {
    let f = logged();
    let answer = get(&f.app, &format!("/monitor/alarms?{}", range())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let page = answer.json();
    let alarms = page["alarms"].as_array().unwrap();
    assert_eq!(alarms.len(), 2);
    assert_eq!(alarms[0]["variable"], "gauge1.connected");
    assert_eq!(alarms[0]["plot"], serde_json::Value::Null);
    let psu = &alarms[1];
    assert_eq!(psu["state"], "high");
    assert_eq!(psu["value"], 1.7);
    assert_eq!(psu["raised"], "2026-01-01T00:00:03.000Z");
    assert_eq!(psu["acknowledged"], "2026-01-01T00:00:09.000Z");
    assert_eq!(psu["cleared"], "2026-01-01T00:00:20.000Z");
    let plot = psu["plot"].as_str().unwrap();
    assert!(
        plot.starts_with("/monitor/plot?var=psu1.ch1_current&from="),
        "{plot}"
    );
    // The link draws (no samples, but a plot with the raise marked).
    let png = get(&f.app, plot).await;
    assert_eq!(png.status, StatusCode::OK, "{}", png.text());
    assert_eq!(png.header("content-type"), "image/png");

    let active = get(&f.app, &format!("/monitor/alarms?state=active&{}", range()))
        .await
        .json();
    assert_eq!(active["alarms"].as_array().unwrap().len(), 1);
    let named = get(
        &f.app,
        &format!("/monitor/alarms?name=ch1&client=psu1&{}", range()),
    )
    .await
    .json();
    assert_eq!(named["alarms"][0]["key"], "ch1_current");
    let csv = get(&f.app, &format!("/monitor/alarms?format=csv&{}", range()))
        .await
        .text();
    assert!(csv.starts_with("id,variable,state,value,raised,acknowledged,cleared,message\r\n"));
    assert!(csv.contains(",psu1.ch1_current,high,1.7,2026-01-01T00:00:03.000Z,2026-01-01T00:00:09.000Z,2026-01-01T00:00:20.000Z,\r\n"), "{csv}");
    let html = get(&f.app, &format!("/monitor/alarms?format=html&{}", range()))
        .await
        .text();
    assert!(
        html.contains("<a href=\"/monitor/plot?var=psu1.ch1_current&#38;from="),
        "{html}"
    );
    for (query, why) in [
        ("state=bad", "state=\"bad\""),
        ("client=a%20b", "a name"),
        ("format=xml", "format=\"xml\""),
    ] {
        let answer = get(&f.app, &format!("/monitor/alarms?{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(answer.text().contains(why), "{query}: {}", answer.text());
    }
}

#[tokio::test]
async fn logs_and_the_heartbeat_on_the_command_line() {
    let f = logged();
    let reply = call(
        &f.app,
        command(
            &format!("logs level=error {}", range().replace('&', " ")),
            &[JSON],
        ),
    )
    .await
    .json();
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["kwargs"]["n"], "1");
    assert_eq!(reply["kwargs"]["more"], "0");
    let payload: serde_json::Value =
        serde_json::from_str(reply["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        payload["logs"][0]["message"],
        "alarm psu1.ch1_current: high"
    );
    let reply = call(&f.app, command("logs limit=1 format=csv", &[JSON]))
        .await
        .json();
    assert_eq!(reply["kwargs"]["more"], "1");
    assert!(reply["kwargs"]["next"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .is_ok());
    assert!(reply["payload"]
        .as_str()
        .unwrap()
        .starts_with("id,time,utc,level,source,message\r\n"));
    for (line, code, why) in [
        ("logs level=loud", "bad_argument", "level=\"loud\""),
        ("logs format=html", "bad_argument", "format=html"),
        ("logs psu1", "bad_argument", "key=value filters only"),
        ("set", "missing_argument", "usage: set interval="),
        ("set interval=0", "out_of_range", "above 0"),
        ("set interval=-5", "out_of_range", "above 0"),
        ("set interval=fast", "out_of_range", "interval=\"fast\""),
        ("set interval=604801", "out_of_range", "at most 604800"),
        ("set poll=5", "bad_argument", "\"poll\" cannot be set"),
    ] {
        let reply = call(&f.app, command(line, &[JSON])).await.json();
        assert_eq!(reply["kwargs"]["code"], code, "{line}: {reply}");
        let message = reply["kwargs"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{line}: {message}");
    }
    assert_eq!(
        f.hub.store_interval(),
        Duration::from_secs(60),
        "refusals change nothing"
    );
    let reply = call(&f.app, command("set interval=2.5", &[JSON]))
        .await
        .json();
    assert_eq!(reply["reply"], "ok set interval=2.5 was=60");
    assert_eq!(f.hub.store_interval(), Duration::from_millis(2500));

    let runtime = get(&f.app, "/monitor/runtime").await;
    assert_eq!(runtime.status, StatusCode::OK);
    let runtime = runtime.json();
    assert_eq!(runtime["store"]["heartbeat_seconds"], 2.5);
    assert_eq!(runtime["clients"], 3);
    assert_eq!(runtime["connected"], 0);
    assert!(runtime["store"]["database_bytes"].as_u64().unwrap() > 0);
    assert_eq!(
        runtime["store"]["queue_capacity"],
        StoreOptions::default().queue_capacity
    );
    assert!(runtime["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(runtime["web"]["busy_total"], 0);
}
