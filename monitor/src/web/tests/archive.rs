//! The routes that read the archive as a whole: `/monitor/plot?var=` (any variables),
//! `/monitor/variables` and `/monitor/status?at=`, in-process on the fixture of
//! [`super`].

use super::*;

/// Width, height and the plot area (`labwire-plot-area`) of a PNG, decoded whole.
fn decode(png_bytes: &[u8]) -> (u32, u32, std::collections::HashMap<String, f64>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("a PNG");
    let area = reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .find(|c| c.keyword == labwire_plot::AREA_KEYWORD)
        .map(|c| {
            c.text
                .split(' ')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgb).expect("the PNG's pixels");
    (info.width, info.height, area)
}

fn seconds(ms: u64) -> u64 {
    ms / 1000
}

/// Ten minutes of a voltage, a current and a pressure; and a variable of a client that
/// is no longer configured.
fn recorded() -> Fixture {
    let f = fixture(None);
    let wave = |scale: f64| -> Vec<(u64, Value)> {
        (0..600)
            .map(|i| {
                (
                    T0 + i * 1000,
                    Value::Number(scale * (1.5 + (i as f64 / 60.0).sin())),
                )
            })
            .collect()
    };
    record(&f.hub, "psu1", "ch1_voltage", &wave(1.0));
    record(&f.hub, "psu1", "ch2_voltage", &wave(2.0));
    record(&f.hub, "psu1", "ch1_current", &wave(0.01));
    record(&f.hub, "gauge1", "pressure", &wave(1e-3));
    record(&f.hub, "old", "temp", &wave(100.0));
    f
}

#[tokio::test]
async fn any_stored_variables_are_drawn_at_the_asked_size() {
    let f = recorded();
    let range = format!("from={}&to={}", seconds(T0), seconds(T0) + 600);
    let plot = |query: String| {
        let app = f.app.clone();
        async move { get(&app, &format!("/monitor/plot?{query}")).await }
    };

    let one = plot(format!(
        "var=psu1.ch1_voltage&var=psu1.ch2_voltage&{range}&width=500&height=200"
    ))
    .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text());
    assert_eq!(one.header("content-type"), "image/png");
    let (w, h, single) = decode(&one.body);
    assert_eq!((w, h), (500, 200));
    assert_eq!(single["x0"], seconds(T0) as f64);
    assert_eq!(single["x1"], seconds(T0) as f64 + 600.0);
    // Both voltages are drawn, in the first two colours.
    assert!(!pixels_of(&one.body, MEASURED, 30).is_empty());
    assert!(!pixels_of(&one.body, PLANNED, 30).is_empty());

    // Volts and amperes: the amperes get the axis on the right, so the area ends earlier.
    let two = plot(format!(
        "var=psu1.ch1_voltage&var=psu1.ch1_current&{range}&width=500&height=200"
    ))
    .await;
    assert_eq!(two.status, StatusCode::OK, "{}", two.text());
    let (_, _, double) = decode(&two.body);
    assert!(
        double["right"] + 30.0 < single["right"],
        "a second axis: {double:?} vs {single:?}"
    );

    // Defaults: 800 x 300, the last hour; a log scale; a client no longer configured.
    let answer = plot("var=gauge1.pressure&yscale=log".into()).await;
    assert_eq!(decode(&answer.body).0, 800);
    let old = plot(format!("var=old.temp&{range}")).await;
    assert_eq!(old.status, StatusCode::OK, "{}", old.text());
    assert!(
        !pixels_of(&old.body, MEASURED, 30).is_empty(),
        "drawn from the store"
    );

    // A moment marked inside the range: a black line; outside: none.
    let mid = seconds(T0) + 300;
    let marked = plot(format!("var=psu1.ch1_voltage&{range}&at={mid}")).await;
    let black = pixels_of(&marked.body, [0, 0, 0], 0);
    assert!(black.len() > 50, "{} black pixels", black.len());
    let outside = plot(format!("var=psu1.ch1_voltage&{range}&at={}", mid + 3600)).await;
    assert!(pixels_of(&outside.body, [0, 0, 0], 0).is_empty());

    // Three units do not fit two axes.
    let three = plot(format!(
        "var=psu1.ch1_voltage&var=psu1.ch1_current&var=gauge1.pressure&{range}"
    ))
    .await;
    assert_eq!(three.status, StatusCode::BAD_REQUEST);
    assert!(
        three.text().contains("at most 2 units") && three.text().contains("V (psu1.ch1_voltage)"),
        "{}",
        three.text()
    );
    let unknown = plot("var=psu1.nothing_stored_x&var=nobody.x".into()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text());
    assert!(unknown.text().contains("nobody.x"), "{}", unknown.text());

    for (query, why) in [
        ("", "give 1 to 16"),
        ("var=psu1.ch1_voltage&yscale=cubic", "yscale"),
        ("var=psu1.ch1_voltage&width=big", "pixels"),
        ("var=psu1.ch1_voltage&from=last+week", "from="),
        ("var=psu1.ch1_voltage&from=-60&to=-120", "before"),
        (
            "var=psu1.ch1_voltage&at=2026-02-30T00:00:00Z",
            "no such date",
        ),
        ("var=psu1.ch1_voltage&colour=red", "unknown parameter"),
    ] {
        let answer = plot(query.into()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(answer.text().contains(why), "{query}: {}", answer.text());
    }
}

#[tokio::test]
async fn the_stored_variables_are_listed_with_their_units() {
    let f = recorded();
    let all = get(&f.app, "/monitor/variables").await.json();
    let names: Vec<&str> = all["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["variable"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "gauge1.pressure",
            "old.temp",
            "psu1.ch1_current",
            "psu1.ch1_voltage",
            "psu1.ch2_voltage"
        ]
    );
    assert_eq!(all["more"], false);
    let volts = get(&f.app, "/monitor/variables?search=VOLT&limit=1")
        .await
        .json();
    assert_eq!(volts["variables"][0]["variable"], "psu1.ch1_voltage");
    // The fixture's plot of psu1 is titled "Voltage [V]".
    assert_eq!(volts["variables"][0]["unit"], "V");
    assert_eq!(volts["variables"][0]["axis"], "Voltage [V]");
    assert_eq!(volts["more"], true);
    let next = get(&f.app, "/monitor/variables?search=volt&offset=1")
        .await
        .json();
    assert_eq!(next["variables"][0]["variable"], "psu1.ch2_voltage");
    for query in ["limit=0", "offset=x", "name=psu1"] {
        let answer = get(&f.app, &format!("/monitor/variables?{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
    }
}

#[tokio::test]
async fn the_status_at_a_time_is_the_value_stored_before_it() {
    let f = fixture(None);
    record(
        &f.hub,
        "psu1",
        "ch1_voltage",
        &[(T0, Value::Number(1.0)), (T0 + 10_000, Value::Number(2.0))],
    );
    record(
        &f.hub,
        "psu1",
        "mode",
        &[(T0 + 2000, Value::Text("CV".into()))],
    );
    record(
        &f.hub,
        "gauge1",
        "pressure",
        &[(T0 + 20_000, Value::Missing)],
    );

    // 5 s after the first voltage, before the second: the first, 5 s old.
    let at = get(&f.app, "/monitor/status?at=2026-01-01T00:00:05Z").await;
    assert_eq!(at.status, StatusCode::OK, "{}", at.text());
    let at = at.json();
    assert_eq!(at["at"], "2026-01-01T00:00:05.000Z");
    assert_eq!(at["more"], false);
    let values = at["values"].as_array().unwrap();
    assert_eq!(values.len(), 2, "the pressure came later: {values:?}");
    assert_eq!(values[0]["variable"], "psu1.ch1_voltage");
    assert_eq!(values[0]["value"], 1.0);
    assert_eq!(values[0]["time"], "2026-01-01T00:00:00.000Z");
    assert_eq!(values[0]["age"], 5.0);
    assert_eq!(values[1]["value"], "CV");
    assert_eq!(values[1]["age"], 3.0);

    // Exactly at the second sample (Unix seconds): the second; later, the missing pressure.
    let exact = get(&f.app, &format!("/monitor/status?at={}", seconds(T0) + 10))
        .await
        .json();
    assert_eq!(exact["values"][0]["value"], 2.0);
    let later = get(&f.app, &format!("/monitor/status?at={}", seconds(T0) + 60))
        .await
        .json();
    assert_eq!(later["values"][0]["variable"], "gauge1.pressure");
    assert_eq!(later["values"][0]["value"], serde_json::Value::Null);
    assert_eq!(later["values"][0]["age"], 40.0);

    // One client, in pages.
    let first = get(
        &f.app,
        &format!(
            "/monitor/status?at={}&client=psu1&limit=1",
            seconds(T0) + 60
        ),
    )
    .await
    .json();
    assert_eq!(first["values"].as_array().unwrap().len(), 1);
    assert_eq!(first["more"], true);
    let second = get(
        &f.app,
        &format!(
            "/monitor/status?at={}&client=psu1&limit=1&offset=1",
            seconds(T0) + 60
        ),
    )
    .await
    .json();
    assert_eq!(second["values"][0]["key"], "mode");
    assert_eq!(second["more"], false);

    // Without parameters: the live status, as before.
    let live = get(&f.app, "/monitor/status").await.json();
    assert!(live["clients"]["psu1"].is_object(), "{live}");

    for (query, why) in [
        ("at=tomorrow-ish", "at="),
        ("at=2026-01-01T00:00:05", "time zone"),
        ("client=psu1", "go with at="),
        ("at=0&limit=0", "1 to 5000"),
        ("at=0&page=2", "unknown parameter"),
    ] {
        let answer = get(&f.app, &format!("/monitor/status?{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(answer.text().contains(why), "{query}: {}", answer.text());
    }
}

#[tokio::test]
async fn with_a_token_the_archive_routes_need_it() {
    let f = fixture(Some("secret"));
    for uri in [
        "/monitor/plot?var=psu1.ch1_voltage",
        "/monitor/variables",
        "/monitor/status?at=0",
    ] {
        assert_eq!(
            get(&f.app, uri).await.status,
            StatusCode::UNAUTHORIZED,
            "{uri}"
        );
        let with = call(
            &f.app,
            Request::get(uri)
                .header("x-labwire-token", "secret")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(with.status, StatusCode::OK, "{uri}: {}", with.text());
    }
}
