//! The labwire `Device` of a Pi cluster: the requests checked into [`Command`]s, the
//! status variables from a [`Snapshot`], and the [`Cluster`] run on a blocking thread
//! (I2C transfers and the seconds between Pis block).
//!
//! What a request names (a Pi, a board, a feature a board lacks) is checked against the
//! connected boards before anything is written; arguments are checked without them.

use crate::cluster::{BoardRef, Cluster, HubState, PiRef, Snapshot};
use crate::ctrl::cmd;
use labwire_daemon::{Args, CommandSpec, Device, Error, Kwargs, StatusBuilder};
use labwire_protocol::{ErrorCode, Message};
use std::sync::{Arc, Mutex};
use tracing::info;

const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "power_on",
        synopsis:
            "pi=<n>|<order>.<n>|hat.<n>|all (all: the Pis that are off, one --power-delay apart)",
    },
    CommandSpec {
        name: "power_off",
        synopsis: "pi=<n>|<order>.<n>|hat.<n>|all",
    },
    CommandSpec {
        name: "alert",
        synopsis: "state=on|off [board=<order>|hat] (default every board)",
    },
    CommandSpec {
        name: "led",
        synopsis: "state=on|off [pi=<n>|<order>.<n>] (default every LED)",
    },
    CommandSpec {
        name: "fan",
        synopsis: "state=on|off [board=<order>] (default every board with a fan)",
    },
    CommandSpec {
        name: "hub",
        synopsis: "state=on|off|reset [board=<order>|hat] (ClusterCTRL hubs: reset only)",
    },
    CommandSpec {
        name: "usbboot",
        synopsis: "pi=<n>|<order>.<n> state=on|off (Triple and Single only)",
    },
    CommandSpec {
        name: "set_order",
        synopsis: "board=<order> order=<1..255> (save what=order keeps it)",
    },
    CommandSpec {
        name: "save",
        synopsis: "what=all|order|power|led|usbboot [board=<order>] (to the EEPROM)",
    },
    CommandSpec {
        name: "save_defaults",
        synopsis: "[board=<order>] (factory defaults to the EEPROM: order 20, Pis off)",
    },
    CommandSpec {
        name: "reset",
        synopsis: "[board=<order>] (reboot the board from its EEPROM)",
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pis {
    All,
    One(PiRef),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Power {
        pis: Pis,
        on: bool,
    },
    Alert {
        board: Option<BoardRef>,
        on: bool,
    },
    Led {
        pi: Option<PiRef>,
        on: bool,
    },
    Fan {
        board: Option<BoardRef>,
        on: bool,
    },
    Hub {
        board: Option<BoardRef>,
        state: HubState,
    },
    Usbboot {
        pi: PiRef,
        on: bool,
    },
    SetOrder {
        board: u8,
        order: u8,
    },
    Save {
        board: Option<BoardRef>,
        command: u8,
    },
    SaveDefaults {
        board: Option<BoardRef>,
    },
    Reset {
        board: Option<BoardRef>,
    },
}

pub struct ClusterDevice {
    cluster: Arc<Mutex<Cluster>>,
}

impl ClusterDevice {
    pub fn new(cluster: Cluster) -> ClusterDevice {
        ClusterDevice {
            cluster: Arc::new(Mutex::new(cluster)),
        }
    }

    /// Run `work` on the cluster on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Cluster) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let cluster = self.cluster.clone();
        tokio::task::spawn_blocking(move || {
            let mut cluster = cluster
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut cluster)
        })
        .await
        .unwrap_or_else(|err| Err(Error::new(ErrorCode::Internal, err.to_string())))
    }
}

fn state(args: &mut Args) -> Result<bool, Error> {
    args.choice("state", &[("on", true), ("off", false)])
}

fn pi_ref(key: &str, text: &str) -> Result<PiRef, Error> {
    PiRef::parse(text).ok_or_else(|| {
        Error::bad_argument(format!(
            "{key}={text:?}: a Pi is <n> (1..N across the daemon), <order>.<n> or hat.<n>"
        ))
    })
}

fn board_ref(args: &mut Args) -> Result<Option<BoardRef>, Error> {
    args.optional("board")
        .map(|text| match text {
            "hat" => Ok(BoardRef::Hat),
            _ => order_value("board", text).map(BoardRef::Order),
        })
        .transpose()
}

fn order_value(key: &str, text: &str) -> Result<u8, Error> {
    match text.parse::<u8>() {
        Ok(order) if order >= 1 => Ok(order),
        _ => Err(Error::out_of_range(format!(
            "{key}={text:?}: an order is 1..255"
        ))),
    }
}

fn ctrl_board(args: &mut Args) -> Result<Option<BoardRef>, Error> {
    match board_ref(args)? {
        Some(BoardRef::Hat) => Err(Error::bad_argument(
            "board=hat: only ClusterCTRL boards have an EEPROM of settings and a reset",
        )),
        board => Ok(board),
    }
}

fn write_status(snapshot: &Snapshot, status: &mut StatusBuilder) {
    let flag = |status: &mut StatusBuilder, key: String, value: Option<bool>| {
        match value {
            Some(value) => status.flag(key, value),
            None => status.missing(key),
        };
    };
    let number = |status: &mut StatusBuilder, key: String, value: Option<f64>| {
        match value {
            Some(value) => status.number(key, (value * 1000.0).round() / 1000.0),
            None => status.missing(key),
        };
    };
    status.number("npis", snapshot.pis.len() as f64);
    for (index, (power, usbboot)) in snapshot.pis.iter().enumerate() {
        let n = index + 1;
        flag(status, format!("pi{n}_power"), *power);
        flag(status, format!("pi{n}_usbboot"), *usbboot);
    }
    status.number("nboards", snapshot.boards.len() as f64);
    for (index, board) in snapshot.boards.iter().enumerate() {
        let k = index + 1;
        let identity = &board.identity;
        status
            .text(format!("board{k}_type"), identity.board.name())
            .number(format!("board{k}_order"), f64::from(identity.order))
            .text(
                format!("board{k}_firmware"),
                format!("{}.{}", identity.firmware.0, identity.firmware.1),
            )
            .number(format!("board{k}_maxpi"), f64::from(identity.max_pi));
        number(status, format!("board{k}_temperature"), board.temperature);
        flag(status, format!("board{k}_fan"), board.fan);
        flag(status, format!("board{k}_alert"), board.alert);
        for (j, voltage) in board.adc_voltages.iter().enumerate() {
            number(status, format!("board{k}_adc{}_voltage", j + 1), *voltage);
        }
    }
    let alerts: Vec<bool> = snapshot
        .hat
        .iter()
        .map(|hat| hat.alert)
        .chain(snapshot.boards.iter().filter_map(|board| board.alert))
        .collect();
    flag(
        status,
        "alert".into(),
        (!alerts.is_empty()).then(|| alerts.contains(&true)),
    );
    // ClusterCTRL hubs are always on but for a cycle; only the HAT's can be off.
    flag(
        status,
        "hub".into(),
        Some(snapshot.hat.as_ref().is_none_or(|hat| hat.hub)),
    );
    match &snapshot.hat {
        Some(hat) => {
            status.text(
                "hat_version",
                snapshot.hat_version.clone().unwrap_or_default(),
            );
            flag(status, "hat_led".into(), hat.led);
        }
        None => {
            status.missing("hat_version");
        }
    }
    status.number("i2c_errors", snapshot.i2c_errors as f64);
}

impl Device for ClusterDevice {
    type Command = Command;

    fn kind(&self) -> &'static str {
        "clusterctrl"
    }

    fn commands(&self) -> &'static [CommandSpec] {
        COMMANDS
    }

    fn parse_command(&self, request: &Message) -> Result<Command, Error> {
        let mut args = Args::new(request);
        let command = match request.name.as_str() {
            name @ ("power_on" | "power_off") => {
                let pis = match args.text("pi")? {
                    "all" => Pis::All,
                    text => Pis::One(pi_ref("pi", text)?),
                };
                Command::Power {
                    pis,
                    on: name == "power_on",
                }
            }
            "alert" => Command::Alert {
                on: state(&mut args)?,
                board: board_ref(&mut args)?,
            },
            "led" => Command::Led {
                on: state(&mut args)?,
                pi: args
                    .optional("pi")
                    .map(|text| pi_ref("pi", text))
                    .transpose()?,
            },
            "fan" => Command::Fan {
                on: state(&mut args)?,
                board: board_ref(&mut args)?,
            },
            "hub" => Command::Hub {
                state: args.choice(
                    "state",
                    &[
                        ("on", HubState::On),
                        ("off", HubState::Off),
                        ("reset", HubState::Reset),
                    ],
                )?,
                board: board_ref(&mut args)?,
            },
            "usbboot" => Command::Usbboot {
                pi: pi_ref("pi", args.text("pi")?)?,
                on: state(&mut args)?,
            },
            "set_order" => Command::SetOrder {
                board: order_value("board", args.text("board")?)?,
                order: order_value("order", args.text("order")?)?,
            },
            "save" => Command::Save {
                command: args.choice(
                    "what",
                    &[
                        ("all", cmd::SAVE),
                        ("order", cmd::SAVEORDER),
                        ("power", cmd::SAVEPOS),
                        ("led", cmd::SAVELED),
                        ("usbboot", cmd::SAVEUSBBOOT),
                    ],
                )?,
                board: ctrl_board(&mut args)?,
            },
            "save_defaults" => Command::SaveDefaults {
                board: ctrl_board(&mut args)?,
            },
            "reset" => Command::Reset {
                board: ctrl_board(&mut args)?,
            },
            other => {
                return Err(Error::bad_argument(format!(
                    "not a clusterctrl command: {other}"
                )))
            }
        };
        args.finish()?;
        Ok(command)
    }

    async fn connect(&mut self) -> Result<(), Error> {
        let changed = self.blocking(|cluster| cluster.connect()).await?;
        for change in changed {
            info!("{change}");
        }
        Ok(())
    }

    async fn disconnect(&mut self) {}

    async fn poll(&mut self, status: &mut StatusBuilder) -> Result<(), Error> {
        let snapshot = self.blocking(|cluster| cluster.snapshot()).await?;
        write_status(&snapshot, status);
        Ok(())
    }

    async fn execute(&mut self, command: Command) -> Result<Kwargs, Error> {
        self.blocking(move |cluster| {
            let mut reply = Kwargs::new();
            let mut count = |n: usize| reply.push(("count".into(), n.to_string()));
            match command {
                Command::Power { pis: Pis::All, on } => count(cluster.power_all(on)?),
                Command::Power {
                    pis: Pis::One(pi),
                    on,
                } => {
                    let slot = cluster.resolve(pi)?;
                    cluster.power(slot, on)?;
                }
                Command::Alert { board, on } => cluster.alert(board, on)?,
                Command::Led { pi, on } => {
                    let slot = pi.map(|pi| cluster.resolve(pi)).transpose()?;
                    cluster.led(slot, on)?;
                }
                Command::Fan { board, on } => count(cluster.fan(board, on)?),
                Command::Hub { board, state } => cluster.hub(board, state)?,
                Command::Usbboot { pi, on } => {
                    let slot = cluster.resolve(pi)?;
                    cluster.usbboot(slot, on)?;
                }
                Command::SetOrder { board, order } => cluster.set_order(board, order)?,
                Command::Save { board, command } => count(cluster.save(board, command)?),
                Command::SaveDefaults { board } => count(cluster.save(board, cmd::SAVEDEFAULTS)?),
                Command::Reset { board } => count(cluster.reset(board)?),
            }
            Ok(reply)
        })
        .await
    }
}
