//! The unit of a variable, for plots of any variables (`/monitor/plot?var=`): variables of
//! one unit share a y axis, a second unit gets the axis on the right.
//!
//! Daemons do not send units (the protocol leaves them to each daemon's documentation), so
//! a variable's unit is known, in this order, from
//! 1. its client's configured plots: a variable plotted under a `ylabel` that ends in
//!    `[unit]` (`Voltage [V]`) has that unit, and the axis that title (the first such plot
//!    of the client's wins);
//! 2. its name, after the protocol's naming rule (`ch2_voltage`): a last word `voltage` is
//!    V, `current` A, `power` W, `age` s (a `_set` or `_setpoint` after it is left out, so
//!    `ch1_voltage_set` is V too);
//! 3. else none is known: then the variable's quantity, the last word of its name, stands
//!    for the unit, so `board1_temperature` and `board2_temperature` share an axis and
//!    `heater` gets one of its own.

use super::ClientPage;

/// What a variable is measured in, as far as the monitor knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// What groups variables onto one axis: the unit (`V`), or the quantity when no unit
    /// is known (`temperature`).
    pub group: String,
    /// The axis title: the configured plot's `ylabel`, `Voltage [V]`, or the quantity.
    pub title: String,
}

/// Units the variable's name tells, by its last word.
const BY_NAME: [(&str, &str, &str); 4] = [
    ("voltage", "Voltage", "V"),
    ("current", "Current", "A"),
    ("power", "Power", "W"),
    ("age", "Age", "s"),
];

/// The unit of `client`'s variable `key`; `page` is the client's configuration, when the
/// client is a configured one.
pub fn unit_of(page: Option<&ClientPage>, key: &str) -> Unit {
    let configured = page.into_iter().flat_map(|p| &p.plots).find_map(|plot| {
        let plotted = plot.values.iter().skip(1).any(|v| v == key);
        let unit = bracketed(&plot.ylabel)?;
        plotted.then(|| Unit {
            group: unit.to_string(),
            title: plot.ylabel.trim().to_string(),
        })
    });
    if let Some(unit) = configured {
        return unit;
    }
    let quantity = quantity_of(key);
    match BY_NAME.iter().find(|(word, _, _)| *word == quantity) {
        Some((_, name, unit)) => Unit {
            group: unit.to_string(),
            title: format!("{name} [{unit}]"),
        },
        None => Unit {
            group: quantity.to_string(),
            title: quantity.to_string(),
        },
    }
}

/// `V` of `Voltage [V]`: the text in the last brackets, when the title ends with them.
fn bracketed(title: &str) -> Option<&str> {
    let inner = title.trim().strip_suffix(']')?;
    let (_, unit) = inner.rsplit_once('[')?;
    let unit = unit.trim();
    (!unit.is_empty()).then_some(unit)
}

/// The last word of a snake_case name, before a `_set` or `_setpoint`.
fn quantity_of(key: &str) -> &str {
    let base = key
        .strip_suffix("_setpoint")
        .or_else(|| key.strip_suffix("_set"))
        .unwrap_or(key);
    base.rsplit('_')
        .next()
        .filter(|w| !w.is_empty())
        .unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PlotConfig;
    use crate::web::blocks::BlockTemplate;

    fn page(plots: &[(&str, &[&str])]) -> ClientPage {
        ClientPage {
            name: "c".into(),
            description: String::new(),
            template: BlockTemplate::BuiltIn("default.html"),
            plots: plots
                .iter()
                .map(|(ylabel, values)| PlotConfig {
                    id: "p".into(),
                    name: String::new(),
                    values: values.iter().map(|v| v.to_string()).collect(),
                    xlabel: String::new(),
                    ylabel: ylabel.to_string(),
                    width: 800,
                    height: 300,
                    yscale: labwire_plot::YScale::Linear,
                })
                .collect(),
        }
    }

    #[test]
    fn the_configured_plots_title_names_the_unit() {
        let page = page(&[
            ("On (1) / off (0)", &["time", "heater"]),
            ("Pressure [mbar]", &["time", "pressure"]),
            ("Temperature [K]", &["time", "temp_a", "loop1_setpoint"]),
            ("Pressure [Pa]", &["time", "pressure"]),
        ]);
        let unit = unit_of(Some(&page), "pressure");
        assert_eq!(
            (unit.group.as_str(), unit.title.as_str()),
            ("mbar", "Pressure [mbar]")
        );
        assert_eq!(unit_of(Some(&page), "loop1_setpoint").group, "K");
        // Plotted, but under a title without a unit: the name decides.
        assert_eq!(unit_of(Some(&page), "heater").group, "heater");
        // The abscissa is not a plotted variable.
        assert_eq!(unit_of(Some(&page), "time").group, "time");
    }

    #[test]
    fn otherwise_the_name_tells_the_unit_or_the_quantity() {
        for (key, group, title) in [
            ("ch1_voltage", "V", "Voltage [V]"),
            ("ch1_voltage_set", "V", "Voltage [V]"),
            ("ch3_current", "A", "Current [A]"),
            ("status_age", "s", "Age [s]"),
            ("board1_temperature", "temperature", "temperature"),
            ("heater", "heater", "heater"),
            ("odd_", "odd_", "odd_"),
        ] {
            let unit = unit_of(None, key);
            assert_eq!(
                (unit.group.as_str(), unit.title.as_str()),
                (group, title),
                "{key}"
            );
        }
        assert_eq!(bracketed("Voltage [ V ] "), Some("V"));
        assert_eq!(bracketed("Voltage []"), None);
        assert_eq!(bracketed("[V] voltage"), None);
    }
}
