//! Every example of docs/protocol.md, the error cases, and the round-trip law as a property.

use bytes::BytesMut;
use labwire_protocol::{parse_line, LineCodec, Message};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

fn kw(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parsed(line: &str) -> Message {
    parse_line(line).unwrap_or_else(|e| panic!("{line:?} should parse: {e}"))
}

#[test]
fn kwarg_rule_examples_from_the_spec() {
    assert_eq!(parsed(r#"x key="a b""#).kwargs, kw(&[("key", "a b")]));
    let m = parsed(r#"x "k=v""#);
    assert_eq!((m.args, m.kwargs), (vec!["k=v".to_string()], vec![]));
    assert_eq!(parsed("x k=a=b").kwargs, kw(&[("k", "a=b")]));
    assert_eq!(parsed("x k=").kwargs, kw(&[("k", "")]));
}

#[test]
fn request_examples_from_the_spec() {
    let m = parsed("@t7 get_status");
    assert_eq!(
        (m.tag.as_deref(), m.name.as_str()),
        (Some("t7"), "get_status")
    );

    let m = parsed("send psu1 set_voltage ch=1 value=5");
    assert_eq!(m.name, "send");
    assert_eq!(m.args, ["psu1", "set_voltage"]);
    assert_eq!(m.kwargs, kw(&[("ch", "1"), ("value", "5")]));

    let m = parsed("wait thermo.temperature<=-99.9 timeout=600");
    assert_eq!(m.args, ["thermo.temperature<=-99.9"]);
    assert_eq!(m.kwargs, kw(&[("timeout", "600")]));

    let m = parsed(r#"error set_voltage code=out_of_range message="value 30 above 25 V""#);
    assert_eq!(m.args, ["set_voltage"]);
    assert_eq!(m.get("message"), Some("value 30 above 25 V"));
    assert_eq!(m.error_code(), Some("out_of_range"));

    let m = parsed("@9 frame format=fits width=2048 height=2048 bytes=8398080");
    assert_eq!(
        m.get("bytes"),
        Some("8398080"),
        "the line parser leaves bytes= to the codec"
    );
}

#[test]
fn comparison_operators_stay_positional() {
    // By the grammar, `a.b==1` IS a kwarg (valid key `a.b`, value `=1`), like `k=a=b`;
    // whoever reads conditions must rebuild it. `<=`, `>=`, `!=` make the key invalid.
    let m = parsed("wait psu1.ch1_output==1");
    assert_eq!(m.kwargs, kw(&[("psu1.ch1_output", "=1")]));
    let m = parsed("wait a.b>=2 c!=3");
    assert_eq!(m.args, ["a.b>=2", "c!=3"]);
}

#[test]
fn pieces_concatenate_and_quotes_nest_nothing() {
    let m = parsed(r#"x ab"c d"'e f'g\ h"#);
    assert_eq!(m.args, ["abc de fg h"]);
    let m = parsed(r#"x 'no \escapes "here"' "esc \" \\ \n \t \r \0""#);
    assert_eq!(m.args, ["no \\escapes \"here\"", "esc \" \\ \n \t \r \0"]);
}

#[test]
fn kwarg_only_when_key_is_bare() {
    // Quoted or escaped text before the `=` makes the token positional.
    assert_eq!(parsed(r#"x k"x"=v"#).args, ["kx=v"]);
    assert_eq!(parsed(r"x a\=b").args, ["a=b"]);
    assert_eq!(parsed(r"x k\x=v").args, ["kx=v"]);
    assert_eq!(parsed("x =v").args, ["=v"]);
    assert_eq!(parsed("x a+b=c").args, ["a+b=c"]);
    // Quotes after the `=` belong to the value.
    assert_eq!(parsed(r#"x k="a b"c"#).kwargs, kw(&[("k", "a bc")]));
    assert_eq!(parsed(r#"x k=''"#).kwargs, kw(&[("k", "")]));
}

#[test]
fn order_and_repeated_keys() {
    let m = parsed("x p1 a=1 p2 b=2 a=3 p3");
    assert_eq!(m.args, ["p1", "p2", "p3"]);
    assert_eq!(m.kwargs, kw(&[("a", "3"), ("b", "2")]));
}

#[test]
fn repeated_keys_among_many_keep_the_last_value_in_the_first_place() {
    let keys: Vec<String> = (0..100).map(|n| format!("k{n}={n}")).collect();
    let m = parsed(&format!("x {} k3=again k99=last k100=new", keys.join(" ")));
    assert_eq!(m.kwargs.len(), 101);
    assert_eq!(m.kwargs[3], ("k3".to_string(), "again".to_string()));
    assert_eq!(m.kwargs[99], ("k99".to_string(), "last".to_string()));
    assert_eq!(m.get("k100"), Some("new"));
    assert_eq!(m.get("k50"), Some("50"));
}

#[test]
fn blanks_tabs_and_unicode() {
    let m = parsed("  \tset_name\t ch=1   name=\"Détecteur ☃\"  ");
    assert_eq!(m.name, "set_name");
    assert_eq!(m.get("name"), Some("Détecteur ☃"));
    assert_eq!(parsed("x µ=1").args, ["µ=1"], "non-ASCII keys are not keys");
}

#[test]
fn parse_errors_name_the_problem() {
    let cases = [
        (r#"x "unclosed"#, "unclosed double quote"),
        ("x 'unclosed", "unclosed single quote"),
        ("x dangling\\", "dangling backslash"),
        (r#"x "bad \q escape""#, "unknown escape"),
        ("k=v get", "cannot contain '='"),
        ("\"quoted\" name", "command name"),
        ("get*status", "invalid character"),
        ("@t7", "followed by a command"),
        ("@ x", "tag"),
        (&format!("@{} x", "a".repeat(65)), "tag"),
    ];
    for (line, expected) in cases {
        let err = parse_line(line).expect_err(line);
        assert!(
            err.message.contains(expected),
            "{line:?}: {:?} should mention {expected:?}",
            err.message
        );
    }
}

#[test]
fn parse_errors_keep_a_readable_tag() {
    let err = parse_line(r#"@t9 set x="open"#).unwrap_err();
    assert_eq!(err.tag.as_deref(), Some("t9"));
    assert_eq!(parse_line("@ x").unwrap_err().tag, None);
}

// ---- the round-trip law ----------------------------------------------------------------

fn name_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,12}"
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9=.,:;<>!-]{1,8}",
        r#"[ \t"'\\=a-z\n\r\x00]{0,12}"#,
        any::<String>(),
        "\\PC{0,16}",
    ]
}

fn message_strategy() -> impl Strategy<Value = Message> {
    (
        proptest::option::of("[A-Za-z0-9_.-]{1,64}"),
        name_strategy(),
        proptest::collection::vec(value_strategy(), 0..5),
        proptest::collection::vec((name_strategy(), value_strategy()), 0..5),
    )
        .prop_map(|(tag, name, args, pairs)| {
            let mut m = Message::new(name).tagged(tag);
            m.args = args;
            for (k, v) in pairs {
                if k != "bytes" {
                    m.set(k, v);
                }
            }
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_of_encode_is_identity(m in message_strategy()) {
        let line = m.to_line();
        prop_assert!(!line.contains('\n') && !line.contains('\0'), "{line:?}");
        prop_assert_eq!(parse_line(&line).unwrap(), m);
    }

    #[test]
    fn codec_round_trip_with_payload(
        m in message_strategy(),
        payload in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
    ) {
        let mut m = m;
        m.payload = payload.map(Into::into);
        let mut codec = LineCodec::default();
        let mut wire = BytesMut::new();
        codec.encode(&m, &mut wire).unwrap();
        let decoded = codec.decode(&mut wire).unwrap().unwrap().unwrap();
        prop_assert_eq!(decoded, m);
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn parser_never_panics(line in "\\PC{0,80}") {
        let _ = parse_line(&line);
    }
}
