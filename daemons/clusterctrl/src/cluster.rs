//! The HAT and the ClusterCTRL boards behind one daemon. Boards are told apart by ORDER
//! (two with one order cannot be addressed: an error), sorted by it, and their Pis
//! numbered after the HAT's: `pi=1..N` across the daemon, or `pi=<order>.<n>` on one
//! board (`pi=hat.<n>` on the HAT). A board still at the factory order 20 gets the
//! lowest free order, saved to its EEPROM, unless told to keep it.

use crate::board::BoardType;
use crate::bus::BusError;
use crate::ctrl::{cmd, Ctrl, CtrlError, Identity, FACTORY_ORDER};
use crate::hat::{Hat, HatState, PIS as HAT_PIS};
use labwire_daemon::Error;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// The longest `power_on pi=all` may take: the framework gives one command 10 s.
pub const SEQUENCE_LIMIT: Duration = Duration::from_millis(9_000);

/// How a request names a Pi.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PiRef {
    /// 1..N across the daemon.
    Number(u16),
    /// `<order>.<n>`.
    OnBoard { order: u8, n: u8 },
    /// `hat.<n>`.
    OnHat(u8),
}

impl PiRef {
    pub fn parse(text: &str) -> Option<PiRef> {
        match text.split_once('.') {
            Some(("hat", n)) => n.parse().ok().map(PiRef::OnHat),
            Some((order, n)) => Some(PiRef::OnBoard {
                order: order.parse().ok()?,
                n: n.parse().ok()?,
            }),
            None => text.parse().ok().map(PiRef::Number),
        }
    }
}

impl fmt::Display for PiRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PiRef::Number(n) => write!(f, "{n}"),
            PiRef::OnBoard { order, n } => write!(f, "{order}.{n}"),
            PiRef::OnHat(n) => write!(f, "hat.{n}"),
        }
    }
}

/// A Pi as the hardware knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Hat(u8),
    /// Index into the sorted boards, Pi on that board.
    Board(usize, u8),
}

/// How a request names a board: `hat` or a ClusterCTRL's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoardRef {
    Hat,
    Order(u8),
}

/// One ClusterCTRL and what the daemon remembers of it (the firmware cannot read
/// its alert LED back, nor a fan on boards without fan status).
struct Board {
    ctrl: Ctrl,
    alert: Option<bool>,
    fan: Option<bool>,
}

/// Everything one poll reads.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Per Pi, in daemon order: power, and usbboot where the board has it.
    pub pis: Vec<(Option<bool>, Option<bool>)>,
    pub boards: Vec<BoardSnapshot>,
    pub hat: Option<HatState>,
    pub hat_version: Option<String>,
    pub i2c_errors: u64,
}

#[derive(Clone, Debug)]
pub struct BoardSnapshot {
    pub identity: Identity,
    pub temperature: Option<f64>,
    pub fan: Option<bool>,
    pub adc_voltages: Vec<Option<f64>>,
    pub alert: Option<bool>,
}

pub fn to_error(err: CtrlError) -> Error {
    match err {
        CtrlError::Bus(err) => Error::not_connected(err.to_string()),
        CtrlError::Busy { .. } => Error::timeout(err.to_string()),
        CtrlError::Lacks(_) => Error::bad_argument(err.to_string()),
        CtrlError::Status { .. } | CtrlError::Unknown(_) => Error::device_error(err.to_string()),
    }
}

fn hat_error(err: BusError) -> Error {
    Error::not_connected(format!("ClusterHAT: {err}"))
}

pub struct Cluster {
    hat: Option<Hat>,
    boards: Vec<Board>,
    keep_order: bool,
    power_delay: Duration,
}

impl Cluster {
    pub fn new(
        hat: Option<Hat>,
        boards: Vec<Ctrl>,
        keep_order: bool,
        power_delay: Duration,
    ) -> Self {
        Cluster {
            hat,
            boards: boards
                .into_iter()
                .map(|ctrl| Board {
                    ctrl,
                    alert: None,
                    fan: None,
                })
                .collect(),
            keep_order,
            power_delay,
        }
    }

    /// Identify the HAT and every board, check the orders, give factory-order boards
    /// one of their own (saved), sort. Returns what it changed, for the log.
    pub fn connect(&mut self) -> Result<Vec<String>, Error> {
        if let Some(hat) = self.hat.as_mut() {
            hat.connect().map_err(hat_error)?;
        }
        for board in &mut self.boards {
            board.ctrl.connect().map_err(to_error)?;
        }
        let mut seen: HashMap<u8, String> = HashMap::new();
        for board in &self.boards {
            let order = board.ctrl.identity().map_or(0, |id| id.order);
            if order == FACTORY_ORDER && !self.keep_order {
                continue;
            }
            if let Some(other) = seen.insert(order, board.ctrl.describe()) {
                return Err(Error::device_error(order_conflict(
                    order,
                    &other,
                    &board.ctrl.describe(),
                )));
            }
        }
        let mut changed = Vec::new();
        if !self.keep_order {
            for board in &mut self.boards {
                if board.ctrl.identity().map(|id| id.order) != Some(FACTORY_ORDER) {
                    continue;
                }
                let free = (1..=u8::MAX)
                    .find(|order| *order != FACTORY_ORDER && !seen.contains_key(order))
                    .ok_or_else(|| Error::device_error("no free order left"))?;
                board.ctrl.set_order(free).map_err(to_error)?;
                board.ctrl.save(cmd::SAVEORDER).map_err(to_error)?;
                seen.insert(free, board.ctrl.describe());
                changed.push(format!(
                    "{} had the factory order {FACTORY_ORDER}: now {free} (saved)",
                    board.ctrl.describe()
                ));
            }
        }
        self.sort();
        Ok(changed)
    }

    fn sort(&mut self) {
        self.boards
            .sort_by_key(|board| board.ctrl.identity().map_or(0, |id| id.order));
    }

    fn hat_pis(&self) -> u8 {
        if self.hat.is_some() {
            HAT_PIS
        } else {
            0
        }
    }

    fn identity(&self, index: usize) -> &Identity {
        self.boards[index]
            .ctrl
            .identity()
            .expect("boards are identified once connected")
    }

    /// Every Pi in daemon order.
    pub fn slots(&self) -> Vec<Slot> {
        let hat = (1..=self.hat_pis()).map(Slot::Hat);
        let boards = (0..self.boards.len()).flat_map(|index| {
            (1..=self.identity(index).max_pi).map(move |n| Slot::Board(index, n))
        });
        hat.chain(boards).collect()
    }

    pub fn resolve(&self, pi: PiRef) -> Result<Slot, Error> {
        let slot = match pi {
            PiRef::Number(n) => {
                let slots = self.slots();
                let found = usize::from(n)
                    .checked_sub(1)
                    .and_then(|index| slots.get(index).copied());
                return found.ok_or_else(|| {
                    Error::out_of_range(format!("pi={n}: this daemon has Pis 1..{}", slots.len()))
                });
            }
            PiRef::OnHat(n) => {
                if self.hat.is_none() {
                    return Err(Error::bad_argument(format!("pi={pi}: no ClusterHAT here")));
                }
                Slot::Hat(n)
            }
            PiRef::OnBoard { order, n } => Slot::Board(self.board_index(order)?, n),
        };
        let max = match slot {
            Slot::Hat(_) => HAT_PIS,
            Slot::Board(index, _) => self.identity(index).max_pi,
        };
        let n = match slot {
            Slot::Hat(n) | Slot::Board(_, n) => n,
        };
        if (1..=max).contains(&n) {
            Ok(slot)
        } else {
            Err(Error::out_of_range(format!(
                "pi={pi}: that board has Pis 1..{max}"
            )))
        }
    }

    pub fn board_index(&self, order: u8) -> Result<usize, Error> {
        self.boards
            .iter()
            .position(|board| board.ctrl.identity().map(|id| id.order) == Some(order))
            .ok_or_else(|| {
                let orders: Vec<String> = (0..self.boards.len())
                    .map(|index| self.identity(index).order.to_string())
                    .collect();
                Error::bad_argument(format!(
                    "board={order}: no ClusterCTRL with that order (orders here: {})",
                    if orders.is_empty() {
                        "none".into()
                    } else {
                        orders.join(", ")
                    }
                ))
            })
    }

    fn hat_mut(&mut self) -> Result<&mut Hat, Error> {
        self.hat
            .as_mut()
            .ok_or_else(|| Error::bad_argument("board=hat: no ClusterHAT here"))
    }

    /// The boards a command goes to: the one named, or all of them (HAT included).
    fn targets(&self, board: Option<BoardRef>) -> Result<(bool, Vec<usize>), Error> {
        match board {
            None => Ok((self.hat.is_some(), (0..self.boards.len()).collect())),
            Some(BoardRef::Hat) => {
                if self.hat.is_none() {
                    return Err(Error::bad_argument("board=hat: no ClusterHAT here"));
                }
                Ok((true, Vec::new()))
            }
            Some(BoardRef::Order(order)) => Ok((false, vec![self.board_index(order)?])),
        }
    }

    pub fn power(&mut self, slot: Slot, on: bool) -> Result<(), Error> {
        match slot {
            Slot::Hat(n) => self.hat_mut()?.set_power(n, on).map_err(hat_error),
            Slot::Board(index, n) => self.boards[index].ctrl.set_power(n, on).map_err(to_error),
        }
    }

    fn is_on(&mut self, slot: Slot) -> Result<bool, Error> {
        match slot {
            Slot::Hat(n) => {
                Ok(self.hat_mut()?.state().map_err(hat_error)?.power[usize::from(n - 1)])
            }
            Slot::Board(index, n) => self.boards[index].ctrl.power(n).map_err(to_error),
        }
    }

    /// Every Pi on (those off, one `power_delay` apart) or off, each board's ALERT lit
    /// meanwhile as the vendor's tool does. Returns how many Pis were switched.
    pub fn power_all(&mut self, on: bool) -> Result<usize, Error> {
        let slots = self.slots();
        let mut switching = Vec::new();
        for slot in slots {
            if !on || !self.is_on(slot)? {
                switching.push(slot);
            }
        }
        if on {
            let needs = self.power_delay * (switching.len().saturating_sub(1) as u32);
            if needs > SEQUENCE_LIMIT {
                return Err(Error::out_of_range(format!(
                    "powering {} Pis {} s apart takes {} s, more than one command may ({} s): \
                     lower --power-delay or power them in groups",
                    switching.len(),
                    self.power_delay.as_secs_f64(),
                    needs.as_secs_f64(),
                    SEQUENCE_LIMIT.as_secs()
                )));
            }
        }
        let hat_alert = match self.hat.as_mut() {
            Some(hat) => Some(hat.state().map_err(hat_error)?.alert),
            None => None,
        };
        let mut lit: Option<Option<usize>> = None;
        let total = switching.len();
        for (done, slot) in switching.into_iter().enumerate() {
            let board = match slot {
                Slot::Hat(_) => None,
                Slot::Board(index, _) => Some(index),
            };
            if lit != Some(board) {
                if let Some(Some(previous)) = lit {
                    self.alert_board(previous, false)?;
                }
                match board {
                    Some(index) => self.alert_board(index, true)?,
                    None => self.hat_mut()?.set_alert(true).map_err(hat_error)?,
                }
                lit = Some(board);
            }
            self.power(slot, on)?;
            if on && done + 1 < total {
                std::thread::sleep(self.power_delay);
            }
        }
        if let Some(Some(index)) = lit {
            self.alert_board(index, false)?;
        }
        if let (Some(was), Some(hat)) = (hat_alert, self.hat.as_mut()) {
            hat.set_alert(was).map_err(hat_error)?;
        }
        Ok(total)
    }

    fn alert_board(&mut self, index: usize, on: bool) -> Result<(), Error> {
        let board = &mut self.boards[index];
        board.ctrl.set_alert(on).map_err(to_error)?;
        board.alert = Some(on);
        Ok(())
    }

    pub fn alert(&mut self, board: Option<BoardRef>, on: bool) -> Result<(), Error> {
        let (hat, boards) = self.targets(board)?;
        if hat {
            self.hat_mut()?.set_alert(on).map_err(hat_error)?;
        }
        for index in boards {
            self.alert_board(index, on)?;
        }
        Ok(())
    }

    /// One Pi's LED, or every LED switch there is.
    pub fn led(&mut self, pi: Option<Slot>, on: bool) -> Result<(), Error> {
        match pi {
            Some(Slot::Hat(_)) => Err(Error::bad_argument(
                "the ClusterHAT has no LED per Pi: led state=on|off without pi= switches its LEDs",
            )),
            Some(Slot::Board(index, n)) => self.boards[index]
                .ctrl
                .set_led(Some(n), on)
                .map_err(to_error),
            None => {
                if let Some(hat) = self.hat.as_mut() {
                    hat.set_led(on).map_err(hat_error)?;
                }
                for board in &mut self.boards {
                    board.ctrl.set_led(None, on).map_err(to_error)?;
                }
                Ok(())
            }
        }
    }

    pub fn fan(&mut self, board: Option<BoardRef>, on: bool) -> Result<usize, Error> {
        let indices = match board {
            Some(BoardRef::Hat) => {
                return Err(Error::bad_argument(
                    "board=hat: the ClusterHAT has no fan control",
                ))
            }
            Some(BoardRef::Order(order)) => vec![self.board_index(order)?],
            None => (0..self.boards.len())
                .filter(|index| self.identity(*index).board.has_fan())
                .collect(),
        };
        if indices.is_empty() {
            return Err(Error::bad_argument("no board here has a fan"));
        }
        // Refuse before any board is written to.
        for index in &indices {
            if !self.identity(*index).board.has_fan() {
                return Err(to_error(CtrlError::Lacks(format!(
                    "the {} at order {} has no fan",
                    self.identity(*index).board.name(),
                    self.identity(*index).order
                ))));
            }
        }
        for index in &indices {
            let board = &mut self.boards[*index];
            board.ctrl.set_fan(on).map_err(to_error)?;
            board.fan = Some(on);
        }
        Ok(indices.len())
    }

    /// `on`/`off` (HAT only) or `reset` (the HAT's off, a second, on; each board's
    /// HUB_CYCLE).
    pub fn hub(&mut self, board: Option<BoardRef>, state: HubState) -> Result<(), Error> {
        let (hat, mut boards) = self.targets(board)?;
        if state != HubState::Reset {
            if !boards.is_empty() && board.is_some() {
                return Err(Error::bad_argument(
                    "a ClusterCTRL's firmware only cycles its hub: hub state=reset",
                ));
            }
            if !hat {
                return Err(Error::bad_argument(
                    "hub state=on|off needs a ClusterHAT; ClusterCTRL hubs only take state=reset",
                ));
            }
            return self
                .hat_mut()?
                .set_hub(state == HubState::On)
                .map_err(hat_error);
        }
        if board.is_none() {
            boards.retain(|index| self.identity(*index).board.has_hub());
        } else if let Some(index) = boards.first() {
            if !self.identity(*index).board.has_hub() {
                return Err(to_error(CtrlError::Lacks(format!(
                    "the {} at order {} has no USB hub",
                    self.identity(*index).board.name(),
                    self.identity(*index).order
                ))));
            }
        }
        if hat {
            // The vendor's tool keeps the HAT's hub off for its power delay (1 s).
            let delay = self
                .power_delay
                .clamp(Duration::from_millis(100), Duration::from_secs(1));
            let hat = self.hat_mut()?;
            hat.set_hub(false).map_err(hat_error)?;
            std::thread::sleep(delay);
            hat.set_hub(true).map_err(hat_error)?;
        }
        for index in boards {
            self.boards[index].ctrl.cycle_hub().map_err(to_error)?;
        }
        Ok(())
    }

    pub fn usbboot(&mut self, slot: Slot, on: bool) -> Result<(), Error> {
        match slot {
            Slot::Hat(_) => Err(Error::bad_argument(
                "the ClusterHAT's Pis have no USB boot switch",
            )),
            Slot::Board(index, n) => self.boards[index].ctrl.set_usbboot(n, on).map_err(to_error),
        }
    }

    pub fn set_order(&mut self, order: u8, new: u8) -> Result<(), Error> {
        let index = self.board_index(order)?;
        if new == order {
            return Ok(());
        }
        if self.board_index(new).is_ok() {
            return Err(Error::bad_argument(format!(
                "order={new}: another board already has that order"
            )));
        }
        self.boards[index].ctrl.set_order(new).map_err(to_error)?;
        self.sort();
        Ok(())
    }

    /// Boards a ClusterCTRL-only command goes to (the HAT has no EEPROM of ours).
    fn ctrl_targets(&self, board: Option<BoardRef>, what: &str) -> Result<Vec<usize>, Error> {
        match board {
            Some(BoardRef::Hat) => Err(Error::bad_argument(format!(
                "board=hat: the ClusterHAT has no {what}"
            ))),
            Some(BoardRef::Order(order)) => Ok(vec![self.board_index(order)?]),
            None if self.boards.is_empty() => Err(Error::bad_argument(format!(
                "no ClusterCTRL here to {what}"
            ))),
            None => Ok((0..self.boards.len()).collect()),
        }
    }

    /// SAVE, SAVEORDER, SAVEPOS, SAVELED, SAVEUSBBOOT or SAVEDEFAULTS.
    pub fn save(&mut self, board: Option<BoardRef>, command: u8) -> Result<usize, Error> {
        let mut indices = self.ctrl_targets(board, "EEPROM to save")?;
        if command == cmd::SAVEUSBBOOT {
            if board.is_some() {
                let index = indices[0];
                if !self.identity(index).board.has_usbboot() {
                    return Err(to_error(CtrlError::Lacks(format!(
                        "the {} at order {} has no USB boot",
                        self.identity(index).board.name(),
                        self.identity(index).order
                    ))));
                }
            }
            indices.retain(|index| self.identity(*index).board.has_usbboot());
        }
        for index in &indices {
            self.boards[*index].ctrl.save(command).map_err(to_error)?;
        }
        Ok(indices.len())
    }

    pub fn reset(&mut self, board: Option<BoardRef>) -> Result<usize, Error> {
        let indices = self.ctrl_targets(board, "reset")?;
        for index in &indices {
            let board = &mut self.boards[*index];
            board.ctrl.reset().map_err(to_error)?;
            board.alert = Some(false);
            board.fan = None;
        }
        self.sort();
        Ok(indices.len())
    }

    pub fn board_types(&self) -> Vec<BoardType> {
        (0..self.boards.len())
            .map(|index| self.identity(index).board)
            .collect()
    }

    pub fn i2c_errors(&self) -> u64 {
        self.hat.as_ref().map_or(0, |hat| hat.i2c_errors)
            + self
                .boards
                .iter()
                .map(|board| board.ctrl.i2c_errors)
                .sum::<u64>()
    }

    /// Everything the status shows, read now.
    pub fn snapshot(&mut self) -> Result<Snapshot, Error> {
        let mut snapshot = Snapshot::default();
        if let Some(hat) = self.hat.as_mut() {
            let state = hat.state().map_err(hat_error)?;
            snapshot
                .pis
                .extend(state.power.iter().map(|on| (Some(*on), None)));
            snapshot.hat_version = Some(hat.version().name());
            snapshot.hat = Some(state);
        }
        // Another tool may have changed an order: number the Pis as the boards are now.
        for board in &mut self.boards {
            board.ctrl.read_order().map_err(to_error)?;
        }
        self.sort();
        for pair in self.boards.windows(2) {
            let order = pair[0].ctrl.identity().map(|id| id.order);
            if order.is_some() && order == pair[1].ctrl.identity().map(|id| id.order) {
                // Drop the link: the reconnect names the conflict and waits for a fix.
                return Err(Error::not_connected(order_conflict(
                    order.unwrap_or_default(),
                    &pair[0].ctrl.describe(),
                    &pair[1].ctrl.describe(),
                )));
            }
        }
        for board in &mut self.boards {
            let ctrl = &mut board.ctrl;
            let identity = ctrl.identity().cloned().expect("identified");
            for n in 1..=identity.max_pi {
                let power = ctrl.power(n).map_err(to_error)?;
                let usbboot = ctrl.usbboot(n).map_err(to_error)?;
                snapshot.pis.push((Some(power), usbboot));
            }
            let temperature = ctrl.temperature().map_err(to_error)?;
            let mut adc_voltages = Vec::new();
            for n in 1..=identity.adcs {
                adc_voltages.push(ctrl.adc_voltage(n).map_err(to_error)?);
            }
            let fan = match ctrl.fan_status().map_err(to_error)? {
                Some((on, _turning)) => Some(on),
                None if identity.board.has_fan() => board.fan,
                None => None,
            };
            snapshot.boards.push(BoardSnapshot {
                identity,
                temperature,
                fan,
                adc_voltages,
                alert: board.alert,
            });
        }
        snapshot.i2c_errors = self.i2c_errors();
        Ok(snapshot)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HubState {
    On,
    Off,
    Reset,
}

pub fn order_conflict(order: u8, first: &str, second: &str) -> String {
    format!(
        "ClusterCTRL boards on {first} and {second} both have order {order}: \
         give one another order (set_order, or the vendor's clusterctrl setorder) first"
    )
}
