//! The command line, as clap reads it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "labwire",
    version,
    about = "Talk to the labwire monitor or one daemon: status tables, commands, waits, live \
             values, the log, stored history. Without a command: an interactive session.",
    after_help = "Exit status: 0 success, 1 an `error` reply (or a wait that timed out), \
                  2 a bad command line, 3 the server could not be reached or stopped answering."
)]
pub struct Cli {
    /// The monitor's command port.
    #[arg(
        long,
        global = true,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:7100",
        env = "LABWIRE_MONITOR"
    )]
    pub monitor: String,

    /// Talk to one daemon directly instead of the monitor.
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub daemon: Option<String>,

    /// File holding the server's secret; the client sends `auth token=<secret>` first.
    #[arg(long, global = true, value_name = "PATH", env = "LABWIRE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,

    /// Machine-readable output: one JSON document per reply or event, one per line.
    #[arg(long, global = true)]
    pub json: bool,

    /// Colour replies by kind (ok green, error red, events dimmed).
    #[arg(long, global = true, value_enum, default_value_t = ColourChoice::Auto)]
    pub colour: ColourChoice,

    /// Seconds to wait for a reply (a `wait` gets its own timeout on top).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 10.0,
          value_parser = positive_seconds)]
    pub timeout: f64,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColourChoice {
    /// When the output is a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// A table of every client (or, given a client, of its variables).
    Status {
        /// One client of the monitor.
        client: Option<String>,
    },
    /// Send a command: `send psu1 set_voltage ch=1 value=5` (with --daemon: `send
    /// set_voltage ch=1 value=5`). Words with `=` are keyword arguments.
    Send {
        #[arg(required = true, num_args = 1.., trailing_var_arg = true,
              allow_hyphen_values = true, value_name = "WORDS")]
        words: Vec<String>,
    },
    /// Wait until a condition holds: `wait 'thermo.temperature<=-99.9' --timeout 600`.
    Wait {
        /// `<client>.<key><op><number>`, op one of < <= > >= == !=.
        condition: String,
        /// Seconds to wait at most (the monitor's default is 60).
        #[arg(long, value_parser = non_negative_seconds)]
        timeout: Option<f64>,
    },
    /// A live table of values from `subscribe status`, until Ctrl-C.
    Watch {
        /// Clients (`psu1`) or variables (`psu1.ch1_voltage`) to show; all when none.
        filters: Vec<String>,
    },
    /// The stored log (`log --level warning --from -2h`), following it (`-f`), or writing
    /// a line to the monitor's log (`log info "pump on"`).
    Log {
        /// Follow the log lines as they come, until Ctrl-C.
        #[arg(short = 'f', long)]
        follow: bool,
        /// debug, info, warning or error (to write a line).
        #[arg(value_name = "LEVEL")]
        write_level: Option<String>,
        /// The message to write.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        message: Vec<String>,
        #[command(flatten)]
        filters: LogFilters,
    },
    /// Stored samples of variables, from the monitor's web port.
    History {
        /// `<client>.<key>`, one or more.
        #[arg(required = true)]
        vars: Vec<String>,
        /// Start: Unix seconds, `now`, or a time before now: `-3600`, `-90m`, `-2h`, `-7d`
        /// [default: an hour before --to].
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        /// End, in the same forms [default: now].
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
        /// Print the monitor's CSV as it is (`time,utc,variable,value`).
        #[arg(long)]
        csv: bool,
        /// At most this many samples per variable.
        #[arg(long)]
        limit: Option<u64>,
        /// The monitor's web port [default: the --monitor host, port 8888].
        #[arg(long, value_name = "HOST:PORT")]
        http: Option<String>,
    },
}

/// Which stored log lines `labwire log` prints (the monitor's `logs` filters).
#[derive(Args, Debug, Default, PartialEq)]
pub struct LogFilters {
    /// Only lines from this source (a client's name, monitor, script).
    #[arg(long)]
    pub source: Option<String>,
    /// Only lines at this level and above: debug, info, warning or error.
    #[arg(long = "level", value_name = "LEVEL")]
    pub min_level: Option<String>,
    /// Only lines whose message contains this (any case).
    #[arg(long)]
    pub text: Option<String>,
    /// Start: a UTC time, Unix seconds, `now`, or a time before now: `-90m`, `-2h`, `-7d`
    /// [default: as far back as the monitor looks, 400 days].
    #[arg(long, allow_hyphen_values = true)]
    pub from: Option<String>,
    /// End, in the same forms [default: now].
    #[arg(long, allow_hyphen_values = true)]
    pub to: Option<String>,
    /// The newest this many lines (printed oldest first) [default: 100].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub limit: Option<u32>,
}

impl LogFilters {
    pub fn is_empty(&self) -> bool {
        *self == LogFilters::default()
    }
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match labwire_protocol::parse_number(text) {
        Some(seconds) if seconds > 0.0 && seconds <= 604_800.0 => Ok(seconds),
        _ => Err(format!(
            "{text:?} is not a number of seconds in (0, 604800]"
        )),
    }
}

fn non_negative_seconds(text: &str) -> Result<f64, String> {
    match labwire_protocol::parse_number(text) {
        Some(seconds) if (0.0..=604_800.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "{text:?} is not a number of seconds in [0, 604800]"
        )),
    }
}
