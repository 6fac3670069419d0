//! The daemon's own flags beside the framework's, the hardware they name (real buses or
//! simulated boards), and the order check made before the daemon starts (each mistake
//! is an exit-2 message naming the flag).

use crate::bus::{I2cBus, SimBus};
use crate::cluster::{order_conflict, Cluster};
use crate::ctrl::{Ctrl, ADDRESS, FACTORY_ORDER, REG_ORDER};
use crate::hat::Hat;
use crate::linux::LinuxBus;
use labwire_daemon::CommonArgs;
use labwire_sim::clusterctrl::{BoardKind, HatVersion, SimBoard, SimHat};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `--device`'s help names instead.
pub const LOCAL_HARDWARE: &str = "--bus, --hat";

/// The simulated cluster without `--boards`.
pub const DEFAULT_BOARDS: &str = "hat-v3,stack";

/// Longest `--power-delay`.
const MAX_POWER_DELAY: f64 = 5.0;

#[derive(clap::Parser, Debug)]
#[command(
    name = "labwire-clusterctrl",
    version,
    about = "labwire daemon for 8086 consultancy's ClusterCTRL boards and ClusterHAT: Raspberry Pi cluster power over Linux I2C"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// A ClusterCTRL board's I2C bus (each board is its own USB I2C adapter; the vendor's
    /// udev rule links /dev/ClusterCTRL-N). Repeat for each board.
    #[arg(long, value_name = "PATH")]
    pub bus: Vec<PathBuf>,

    /// The I2C bus of a ClusterHAT v2/v3 on this Pi (usually /dev/i2c-1).
    #[arg(long, value_name = "PATH")]
    pub hat: Option<PathBuf>,

    /// The ClusterHAT's version (2.0, 2.5, 3.1...) instead of reading --hat-product-ver.
    #[arg(long, value_name = "MAJOR.MINOR")]
    pub hat_version: Option<String>,

    /// Where the HAT EEPROM's product version is (0x2X: v2, 0x3X: v3).
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/proc/device-tree/hat/product_ver"
    )]
    pub hat_product_ver: PathBuf,

    /// With --simulate: the simulated boards, e.g. hat-v3,stack,triple (hat-v2.0...,
    /// da, triple, phat, aplus6, single, stack) [default: hat-v3,stack].
    #[arg(long, value_name = "LIST")]
    pub boards: Option<String>,

    /// With --simulate: where the simulated boards keep their EEPROMs [default: beside
    /// the state file].
    #[arg(long, value_name = "DIR")]
    pub sim_eeprom_dir: Option<PathBuf>,

    /// Leave boards at the factory order 20 as they are (only one can then be used).
    #[arg(long)]
    pub keep_order: bool,

    /// Seconds between Pis powered by `power_on pi=all` (the vendor's tool waits 1 s).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub power_delay: f64,
}

/// Parse `2.5`, `v3.1` or `hat-v3` into a HAT version.
fn hat_version(text: &str) -> Option<HatVersion> {
    let bare = text.trim_start_matches("hat-").trim_start_matches('v');
    HatVersion::from_name(&format!("hat-v{bare}"))
}

/// The HAT EEPROM's product version file: a hex number such as `0x0022`.
fn read_product_ver(path: &Path) -> Result<HatVersion, String> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        format!(
            "--hat-product-ver {}: {err} (or give --hat-version)",
            path.display()
        )
    })?;
    let digits = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    let digits = digits.trim_start_matches("0x").trim_start_matches("0X");
    let code = u16::from_str_radix(digits, 16).map_err(|_| {
        format!(
            "--hat-product-ver {}: {text:?} is not a hex number",
            path.display()
        )
    })?;
    HatVersion::from_product_ver(code).ok_or_else(|| {
        format!(
            "--hat-product-ver {}: 0x{code:02x} is no ClusterHAT v2/v3 (v1 is GPIO only)",
            path.display()
        )
    })
}

/// What `--boards` asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct SimulatedBoards {
    pub hat: Option<HatVersion>,
    pub boards: Vec<BoardKind>,
}

pub fn parse_boards(list: &str) -> Result<SimulatedBoards, String> {
    let mut simulated = SimulatedBoards {
        hat: None,
        boards: Vec::new(),
    };
    for name in list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        if name.starts_with("hat") {
            let version = HatVersion::from_name(name).ok_or_else(|| {
                format!("--boards: {name:?} is no ClusterHAT v2/v3 (hat-v2.0, hat-v3...)")
            })?;
            if simulated.hat.replace(version).is_some() {
                return Err("--boards: one ClusterHAT at most".into());
            }
        } else {
            simulated
                .boards
                .push(BoardKind::from_name(name).ok_or_else(|| {
                    format!(
                    "--boards: {name:?} is not da, triple, phat, aplus6, single, stack or hat-vX.Y"
                )
                })?);
        }
    }
    if simulated.hat.is_none() && simulated.boards.is_empty() {
        return Err("--boards: name at least one board".into());
    }
    Ok(simulated)
}

impl Cli {
    pub fn power_delay(&self) -> Result<Duration, String> {
        let delay = self.power_delay;
        if delay.is_finite() && (0.0..=MAX_POWER_DELAY).contains(&delay) {
            Ok(Duration::from_secs_f64(delay))
        } else {
            Err(format!(
                "--power-delay: {delay} is not a number of seconds in [0, {MAX_POWER_DELAY}]"
            ))
        }
    }

    /// The cluster on real buses; the order check first (reads only).
    pub fn real_cluster(&self) -> Result<Cluster, String> {
        if self.boards.is_some() || self.sim_eeprom_dir.is_some() {
            return Err("--boards and --sim-eeprom-dir go with --simulate".into());
        }
        if self.bus.is_empty() && self.hat.is_none() {
            return Err(
                "labwire-clusterctrl drives local I2C buses, not a --device: give --bus \
                 /dev/i2c-N for each ClusterCTRL and/or --hat /dev/i2c-1 (or --simulate)"
                    .into(),
            );
        }
        let hat = match &self.hat {
            Some(path) => {
                let version = match &self.hat_version {
                    Some(text) => hat_version(text).ok_or_else(|| {
                        format!("--hat-version: {text:?} is not 2.0..2.15 or 3.0..3.15")
                    })?,
                    None => read_product_ver(&self.hat_product_ver)?,
                };
                Some(Hat::new(Box::new(LinuxBus::new(path)), version))
            }
            None => None,
        };
        let mut buses: Vec<Box<dyn I2cBus>> = Vec::new();
        for path in &self.bus {
            if self.bus.iter().filter(|other| *other == path).count() > 1 {
                return Err(format!("--bus {} given twice", path.display()));
            }
            buses.push(Box::new(LinuxBus::new(path)));
        }
        check_orders(&mut buses, self.keep_order)?;
        let boards = buses.into_iter().map(Ctrl::new).collect();
        Ok(Cluster::new(
            hat,
            boards,
            self.keep_order,
            self.power_delay()?,
        ))
    }

    /// The simulated cluster of `--boards`, EEPROMs in files so saves survive a restart.
    pub fn simulated_cluster(&self, state_path: &Path) -> Result<Cluster, String> {
        if !self.bus.is_empty() || self.hat.is_some() {
            return Err(
                "--bus and --hat name real hardware: leave them out with --simulate".into(),
            );
        }
        let simulated = parse_boards(self.boards.as_deref().unwrap_or(DEFAULT_BOARDS))?;
        let dir = self.sim_eeprom_dir.clone().unwrap_or_else(|| {
            let mut name = state_path.as_os_str().to_owned();
            name.push(".eeprom");
            PathBuf::from(name)
        });
        std::fs::create_dir_all(&dir)
            .map_err(|err| format!("--sim-eeprom-dir {}: {err}", dir.display()))?;
        let hat = simulated.hat.map(|version| {
            Hat::new(
                Box::new(SimBus::new(SimHat::new(version), version.name())),
                version,
            )
        });
        let mut buses: Vec<Box<dyn I2cBus>> = Vec::new();
        for (index, kind) in simulated.boards.iter().enumerate() {
            let file = dir.join(format!("board{}-{}.eeprom", index + 1, kind.name()));
            let board = SimBoard::new(*kind, Some(file));
            buses.push(Box::new(SimBus::new(board, kind.name())));
        }
        check_orders(&mut buses, self.keep_order)?;
        let boards = buses.into_iter().map(Ctrl::new).collect();
        Ok(Cluster::new(
            hat,
            boards,
            self.keep_order,
            self.power_delay()?,
        ))
    }
}

/// Two boards with one order cannot be told apart: refuse to start. Reads ORDER only;
/// a board that does not answer now is left to the daemon's reconnects.
pub fn check_orders(buses: &mut [Box<dyn I2cBus>], keep_order: bool) -> Result<(), String> {
    let mut seen: HashMap<u8, String> = HashMap::new();
    for bus in buses.iter_mut() {
        let mut order = [0];
        let read = bus
            .write(ADDRESS, &[REG_ORDER])
            .and_then(|()| bus.read(ADDRESS, &mut order));
        bus.reset();
        let Ok(()) = read else {
            tracing::warn!("{}: no answer yet ({})", bus.describe(), read.unwrap_err());
            continue;
        };
        let order = order[0];
        if order == FACTORY_ORDER && !keep_order {
            continue;
        }
        if let Some(first) = seen.insert(order, bus.describe()) {
            return Err(order_conflict(order, &first, &bus.describe()));
        }
    }
    Ok(())
}
