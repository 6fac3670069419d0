//! The controller's SCPI-style command tree. A line holds `;`-separated units; a unit is
//! `:`-separated nodes, where `INPut` and `LOOP` take a selector after a space
//! (`INPut A:UNITs K`, `LOOP 1:SETPt?`, `INPut? A,B`). A unit without a leading colon
//! continues from the path of the previous one (`LOOP 1:SETPt?;PGAin?`), `;:` goes back
//! to the root, and `*` commands leave the path alone. Keywords take their short or long
//! form in any case. Replies of one line come back `;`-separated in one line; a unit
//! the controller does not understand answers `NAK` in its place.

use std::time::Instant;

use super::instrument::{DisplayUnit, Instrument, Reading};
use super::plant::{self, LoopType};
use crate::scpi::{keyword_matches, split_units};

/// What the simulator answers for a unit it cannot execute. The manual does not say;
/// CCDLab's Cryo-con daemon looks for `NAK`.
pub const NAK: &str = "NAK";

/// One `:`-separated node of a unit: `LOOP 1`, `SETPt?`, `UNITs K`.
#[derive(Clone, Debug, PartialEq)]
struct Node {
    keyword: String,
    query: bool,
    arg: Option<String>,
}

fn parse_node(text: &str) -> Option<Node> {
    let text = text.trim();
    let end = text
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(text.len());
    let (keyword, rest) = text.split_at(end);
    if keyword.is_empty() || !keyword.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let (query, rest) = match rest.strip_prefix('?') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    if !rest.is_empty() && !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let arg = Some(rest.trim())
        .filter(|a| !a.is_empty())
        .map(str::to_string);
    Some(Node {
        keyword: keyword.to_string(),
        query,
        arg,
    })
}

/// Executes one request line; `None` when nothing is to be answered.
pub(crate) fn execute_line(
    instrument: &mut Instrument,
    line: &str,
    now: Instant,
) -> Option<String> {
    instrument.advance(now);
    let Ok(units) = split_units(line) else {
        return Some(NAK.to_string());
    };
    let mut path: Vec<Node> = Vec::new();
    let mut replies: Vec<String> = Vec::new();
    for unit in units {
        let unit = unit.trim();
        if unit.is_empty() {
            continue;
        }
        let result = if let Some(common) = unit.strip_prefix('*') {
            common_command(instrument, common, now)
        } else {
            run_unit(instrument, unit, &mut path)
        };
        match result {
            Ok(Some(reply)) => replies.push(reply),
            Ok(None) => {}
            Err(()) => replies.push(NAK.to_string()),
        }
    }
    (!replies.is_empty()).then(|| replies.join(";"))
}

type Outcome = Result<Option<String>, ()>;

fn common_command(instrument: &mut Instrument, text: &str, now: Instant) -> Outcome {
    match text.trim().to_ascii_uppercase().as_str() {
        "IDN?" => Ok(Some(format!(
            "Cryo-con,{},{},{}",
            instrument.model.idn_model(),
            instrument.serial,
            instrument.firmware
        ))),
        "RST" => {
            instrument.reset(now);
            Ok(None)
        }
        "CLS" => Ok(None),
        "OPC?" => Ok(Some("1".to_string())),
        _ => Err(()),
    }
}

fn run_unit(instrument: &mut Instrument, unit: &str, path: &mut Vec<Node>) -> Outcome {
    let (absolute, body) = match unit.strip_prefix(':') {
        Some(body) => (true, body),
        None => (false, unit),
    };
    let nodes: Option<Vec<Node>> = body.split(':').map(parse_node).collect();
    let nodes = nodes.ok_or(())?;
    // Only the last node may be a query, except `INPut? A`, which is one node.
    if nodes[..nodes.len() - 1].iter().any(|n| n.query) {
        return Err(());
    }
    let mut resolved = if absolute { Vec::new() } else { path.clone() };
    resolved.extend(nodes);
    let reply = dispatch(instrument, &resolved);
    // The header sets the path even when its parameter is refused, as in IEEE 488.2.
    resolved.pop();
    *path = resolved;
    reply
}

fn dispatch(instrument: &mut Instrument, nodes: &[Node]) -> Outcome {
    let (root, rest) = nodes.split_first().ok_or(())?;
    if keyword_matches(&root.keyword, "INPut") {
        return input_command(instrument, root, rest);
    }
    if keyword_matches(&root.keyword, "LOOP") {
        return loop_command(instrument, root, rest);
    }
    if !rest.is_empty() || root.arg.is_some() {
        return Err(());
    }
    if keyword_matches(&root.keyword, "CONTrol") {
        if root.query {
            return Ok(Some(on_off(instrument.engaged)));
        }
        instrument.engage();
        return Ok(None);
    }
    if keyword_matches(&root.keyword, "STOP") && !root.query {
        instrument.engaged = false;
        return Ok(None);
    }
    Err(())
}

/// `ON ` / `OFF`: the controller pads its enumerations to a fixed width.
fn on_off(on: bool) -> String {
    if on { "ON " } else { "OFF" }.to_string()
}

fn pad(text: &str, width: usize) -> String {
    format!("{text:<width$}")
}

/// Parses an input selector: `A`, `b`, `CHA`, `0` (the manual's three spellings), or a
/// list `A,B,C,D`.
fn input_list(instrument: &Instrument, selector: &str) -> Result<Vec<usize>, ()> {
    selector
        .split(',')
        .map(|item| {
            let item = item.trim().to_ascii_uppercase();
            let letter = item.strip_prefix("CH").unwrap_or(&item);
            let mut chars = letter.chars();
            let index = match (chars.next(), chars.next()) {
                (Some(c @ 'A'..='D'), None) => (c as u8 - b'A') as usize,
                (Some(c @ '0'..='3'), None) => (c as u8 - b'0') as usize,
                _ => return Err(()),
            };
            (index < instrument.model.inputs())
                .then_some(index)
                .ok_or(())
        })
        .collect()
}

fn input_letter(index: usize) -> char {
    (b'A' + index as u8) as char
}

fn parse_number(text: Option<&str>) -> Result<f64, ()> {
    let text = text.ok_or(())?.trim();
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return Err(());
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or(())
}

fn in_range(value: f64, low: f64, high: f64) -> Result<f64, ()> {
    (low..=high).contains(&value).then_some(value).ok_or(())
}

fn format_temperature(instrument: &mut Instrument, index: usize) -> String {
    let unit = instrument.inputs[index].unit;
    match instrument.read(index) {
        Reading::Kelvin(k) if unit == DisplayUnit::S => format!("{:8.5}", unit.from_kelvin(k)),
        Reading::Kelvin(k) => format!("{:8.4}", unit.from_kelvin(k)),
        Reading::SensorFault => "-------".to_string(),
        Reading::OutOfCurve => ".......".to_string(),
    }
}

fn input_command(instrument: &mut Instrument, root: &Node, rest: &[Node]) -> Outcome {
    let selector = root.arg.as_deref().ok_or(())?;
    let inputs = input_list(instrument, selector)?;
    let Some(sub) = rest.first() else {
        if !root.query {
            return Err(());
        }
        let values: Vec<String> = inputs
            .iter()
            .map(|&i| format_temperature(instrument, i))
            .collect();
        return Ok(Some(values.join(";")));
    };
    if rest.len() > 1 {
        return Err(());
    }
    let kw = sub.keyword.as_str();
    if !sub.query {
        if !keyword_matches(kw, "UNITs") {
            return Err(());
        }
        let unit = DisplayUnit::parse(sub.arg.as_deref().ok_or(())?).ok_or(())?;
        for &i in &inputs {
            instrument.inputs[i].unit = unit;
        }
        return Ok(None);
    }
    if sub.arg.is_some() {
        return Err(());
    }
    let mut values = Vec::with_capacity(inputs.len());
    for &i in &inputs {
        let input = instrument.inputs[i].clone();
        let unit = input.unit;
        let value = if keyword_matches(kw, "TEMPerature") {
            format_temperature(instrument, i)
        } else if keyword_matches(kw, "UNITs") {
            unit.letter().to_string()
        } else if keyword_matches(kw, "ALARm") {
            instrument.alarm(i).to_string()
        } else if keyword_matches(kw, "SENPr") {
            format!("{:.5}", DisplayUnit::S.from_kelvin(instrument.stages[i]))
        } else if keyword_matches(kw, "MINimum") {
            format!("{:.4}", unit.from_kelvin(input.min_k))
        } else if keyword_matches(kw, "MAXimum") {
            format!("{:.4}", unit.from_kelvin(input.max_k))
        } else if keyword_matches(kw, "VARiance") {
            format!("{:.6}", instrument.noise_k * instrument.noise_k)
        } else if keyword_matches(kw, "SLOPe") {
            format!("{:.4}", input.slope_k_per_min)
        } else {
            return Err(());
        };
        values.push(value);
    }
    Ok(Some(values.join(";")))
}

fn loop_command(instrument: &mut Instrument, root: &Node, rest: &[Node]) -> Outcome {
    let selector = root.arg.as_deref().ok_or(())?.trim();
    let index = match selector.parse::<usize>() {
        Ok(n) if (1..=instrument.model.loops()).contains(&n) => n - 1,
        _ => return Err(()),
    };
    let [sub] = rest else {
        return Err(());
    };
    if root.query {
        return Err(());
    }
    let kw = sub.keyword.as_str();
    if sub.query {
        if sub.arg.is_some() {
            return Err(());
        }
        return loop_query(instrument, index, kw).map(Some);
    }
    loop_setting(instrument, index, kw, sub.arg.as_deref()).map(|()| None)
}

fn loop_query(instrument: &mut Instrument, index: usize, kw: &str) -> Result<String, ()> {
    let unit = instrument.loop_unit(index);
    let lp = &instrument.loops[index];
    let reply = if keyword_matches(kw, "SOURce") {
        format!("CH{}", input_letter(lp.source))
    } else if keyword_matches(kw, "SETPt") {
        format!("{:.3}{}", unit.from_kelvin(lp.target_k), unit.letter())
    } else if keyword_matches(kw, "TYPe") {
        pad(lp.kind.name(), 5)
    } else if keyword_matches(kw, "RANGe") {
        pad(plant::ranges(index)[lp.range].0, 3)
    } else if keyword_matches(kw, "RATe") {
        format!("{:.2}", instrument.rate_from_kelvin(index, lp.rate))
    } else if keyword_matches(kw, "RAMP") {
        on_off(lp.ramping)
    } else if keyword_matches(kw, "PGAin") {
        format!("{:.3}", lp.pgain)
    } else if keyword_matches(kw, "IGAin") {
        format!("{:.3}", lp.igain)
    } else if keyword_matches(kw, "DGAin") {
        format!("{:.3}", lp.dgain)
    } else if keyword_matches(kw, "PMANual") {
        format!("{:.3}", lp.pmanual)
    } else if keyword_matches(kw, "OUTPwr") {
        format!("{:5.1}", lp.output_pct)
    } else if keyword_matches(kw, "HTRRead") {
        format!("{:5.1}%", lp.heater_pct())
    } else if keyword_matches(kw, "ERRor") {
        lp.heater_error.text().to_string()
    } else if keyword_matches(kw, "LOAD") && index == 0 {
        lp.load_ohms.to_string()
    } else if keyword_matches(kw, "MAXPwr") {
        format!("{:.1}", lp.max_power)
    } else if keyword_matches(kw, "MAXSet") {
        format!("{:.3}{}", unit.from_kelvin(lp.max_set_k), unit.letter())
    } else {
        return Err(());
    };
    Ok(reply)
}

fn loop_setting(
    instrument: &mut Instrument,
    index: usize,
    kw: &str,
    arg: Option<&str>,
) -> Result<(), ()> {
    let unit = instrument.loop_unit(index);
    let engaged = instrument.engaged;
    if keyword_matches(kw, "SOURce") {
        let [source] = input_list(instrument, arg.ok_or(())?)?[..] else {
            return Err(());
        };
        instrument.loops[index].source = source;
        return Ok(());
    }
    if keyword_matches(kw, "RATe") {
        let rate = in_range(parse_number(arg)?, 0.0, 100.0)?;
        instrument.loops[index].rate = instrument.rate_to_kelvin(index, rate);
        return Ok(());
    }
    let lp = &mut instrument.loops[index];
    if keyword_matches(kw, "SETPt") {
        let kelvin = unit.to_kelvin(parse_number(arg)?);
        if !(0.0..=lp.max_set_k).contains(&kelvin) {
            return Err(());
        }
        lp.set_target(kelvin, engaged);
    } else if keyword_matches(kw, "TYPe") {
        lp.kind = LoopType::parse(arg.ok_or(())?).ok_or(())?;
        lp.ramping = false;
        lp.effective_k = lp.target_k;
    } else if keyword_matches(kw, "RANGe") {
        let wanted = arg.ok_or(())?.trim();
        lp.range = plant::ranges(index)
            .iter()
            .position(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .ok_or(())?;
    } else if keyword_matches(kw, "PGAin") {
        lp.pgain = in_range(parse_number(arg)?, 0.0, 1000.0)?;
    } else if keyword_matches(kw, "IGAin") {
        lp.igain = in_range(parse_number(arg)?, 0.0, 1000.0)?;
    } else if keyword_matches(kw, "DGAin") {
        lp.dgain = in_range(parse_number(arg)?, 0.0, 1000.0)?;
    } else if keyword_matches(kw, "PMANual") {
        lp.pmanual = in_range(parse_number(arg)?, 0.0, 100.0)?;
    } else if keyword_matches(kw, "LOAD") && index == 0 {
        let ohms = parse_number(arg)?;
        lp.load_ohms = [50, 25]
            .into_iter()
            .find(|&r| f64::from(r) == ohms)
            .ok_or(())?;
    } else if keyword_matches(kw, "MAXPwr") {
        lp.max_power = in_range(parse_number(arg)?, 0.0, 100.0)?;
    } else if keyword_matches(kw, "MAXSet") {
        let kelvin = unit.to_kelvin(parse_number(arg)?);
        lp.max_set_k = in_range(kelvin, 0.0, super::instrument::CURVE_MAX_K)?;
    } else {
        return Err(());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes() {
        assert_eq!(
            parse_node("INPut? a,b"),
            Some(Node {
                keyword: "INPut".into(),
                query: true,
                arg: Some("a,b".into())
            })
        );
        assert_eq!(parse_node("setp?").unwrap().arg, None);
        assert_eq!(parse_node("LOOP 1").unwrap().arg.as_deref(), Some("1"));
        assert_eq!(parse_node(""), None);
        assert_eq!(parse_node("1LOOP"), None);
        assert_eq!(parse_node("SETP?x"), None);
    }
}
