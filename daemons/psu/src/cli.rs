//! The psu's own flags (beyond the framework's [`CommonArgs`]) and what they become: the
//! model, the per-output limits and names.

use crate::device::{check_name, Limits};
use crate::driver::{Model, CHANNELS};
use labwire_daemon::CommonArgs;

#[derive(clap::Parser, Debug)]
#[command(
    name = "labwire-psu",
    version,
    about = "labwire daemon for Keysight E36311A/E36312A/E36313A power supplies (SCPI over TCP)"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// With --simulate, the model to simulate (default e36313a). With --device, the model
    /// the instrument must identify as; its ratings then apply before the first connect.
    #[arg(long, value_name = "e36311a|e36312a|e36313a", value_parser = parse_model)]
    pub model: Option<Model>,

    /// Highest voltage magnitude allowed on an output, tighter than its rating, as
    /// CH=VOLTS (repeatable: --max-voltage 1=5.5 --max-voltage 2=12).
    #[arg(long, value_name = "CH=VOLTS", value_parser = parse_limit)]
    pub max_voltage: Vec<(usize, f64)>,

    /// Highest current limit allowed on an output, tighter than its rating, as CH=AMPS
    /// (repeatable).
    #[arg(long, value_name = "CH=AMPS", value_parser = parse_limit)]
    pub max_current: Vec<(usize, f64)>,

    /// A label for an output, reported as chN_name, as CH=NAME (repeatable). It wins over
    /// the name saved by set_name in the state file.
    #[arg(long, value_name = "CH=NAME", value_parser = parse_channel_name)]
    pub channel_name: Vec<(usize, String)>,
}

fn parse_model(text: &str) -> Result<Model, String> {
    text.parse()
}

fn parse_channel(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(ch) if (1..=CHANNELS).contains(&ch) => Ok(ch),
        _ => Err(format!("{text:?} is not an output number 1..{CHANNELS}")),
    }
}

fn parse_limit(text: &str) -> Result<(usize, f64), String> {
    let (ch, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected CH=VALUE, e.g. 1=5.5"))?;
    let ch = parse_channel(ch)?;
    match labwire_protocol::parse_number(value.trim()) {
        Some(limit) if limit > 0.0 => Ok((ch, limit)),
        _ => Err(format!("{value:?} is not a positive number")),
    }
}

fn parse_channel_name(text: &str) -> Result<(usize, String), String> {
    let (ch, name) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected CH=NAME, e.g. 1=detector"))?;
    let name = check_name(name)?.to_string();
    Ok((parse_channel(ch)?, name))
}

impl Cli {
    pub fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        for &(ch, volts) in &self.max_voltage {
            limits.max_voltage[ch - 1] = Some(volts);
        }
        for &(ch, amps) in &self.max_current {
            limits.max_current[ch - 1] = Some(amps);
        }
        limits
    }

    pub fn names(&self) -> [Option<String>; CHANNELS] {
        let mut names: [Option<String>; CHANNELS] = Default::default();
        for (ch, name) in &self.channel_name {
            names[ch - 1] = Some(name.clone());
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn limits_and_names_on_the_command_line() {
        let cli = Cli::try_parse_from([
            "labwire-psu",
            "--simulate",
            "--max-voltage",
            "1=5.5",
            "--max-voltage",
            "3=12",
            "--max-current",
            " 2 = 0.5 ",
            "--channel-name",
            "1=detector bias",
            "--model",
            "E36311A",
        ])
        .unwrap();
        assert_eq!(
            cli.limits(),
            Limits {
                max_voltage: [Some(5.5), None, Some(12.0)],
                max_current: [None, Some(0.5), None],
            }
        );
        assert_eq!(cli.names(), [Some("detector bias".into()), None, None]);
        assert_eq!(cli.model, Some(Model::E36311A));
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in ["", "1", "=5", "0=5", "4=5", "1=0", "1=-3", "1=inf", "1=5V"] {
            assert!(parse_limit(bad).is_err(), "{bad:?}");
        }
        for bad in ["1=", "1", "9=x", &format!("1={}", "x".repeat(65))] {
            assert!(parse_channel_name(bad).is_err(), "{bad:?}");
        }
        assert!(parse_model("e36103b").unwrap_err().contains("e36103b"));
    }
}
