//! `labwire-sim clusterctrl`: the simulated buses served as a register console over TCP,
//! for poking at the firmware model by hand (there is no I2C over the network; the
//! daemon itself reaches the simulator in-process). One request a line, one reply:
//!
//! ```text
//! buses                  -> ok 0=hat-v3.0 1=stack 2=triple
//! <bus> w <hex> ...      -> ok | nak | gone          (one write transfer: register, values)
//! <bus> r <count>        -> ok <hex> ... | nak | gone (one read transfer, 1..=32 bytes)
//! <bus> plug on|off      -> ok                        (a board unplugged / plugged back)
//! <bus> naks on|off      -> ok                        (every transfer NAKed)
//! <bus> busy on|off      -> ok                        (commands from now on never finish)
//! ```
//!
//! Transfers go to address 0x20. Lines are at most 256 bytes; 16 connections at once.

use super::{BoardKind, BusFault, HatVersion, SimBoard, SimHat, Target, ADDRESS};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

pub const DEFAULT_PORT: u16 = 5041;
const MAX_LINE: u64 = 256;
const MAX_CONNECTIONS: usize = 16;

/// One simulated bus and what is on it.
#[derive(Clone)]
enum Bus {
    Board(SimBoard),
    Hat(SimHat),
}

impl Bus {
    fn name(&self) -> String {
        match self {
            Bus::Board(board) => board.kind().name().to_string(),
            Bus::Hat(hat) => hat.version().name(),
        }
    }

    fn target(&mut self) -> &mut dyn Target {
        match self {
            Bus::Board(board) => board,
            Bus::Hat(hat) => hat,
        }
    }
}

/// The simulated cluster of `list` (`hat-v3,stack,triple`), EEPROMs in `eeprom_dir`.
pub struct Console {
    buses: Arc<Mutex<Vec<Bus>>>,
}

impl Console {
    pub fn new(list: &str, eeprom_dir: Option<&Path>) -> Result<Console, String> {
        let mut buses = Vec::new();
        for (index, name) in list.split(',').map(str::trim).enumerate() {
            if name.starts_with("hat") {
                let version = HatVersion::from_name(name)
                    .ok_or_else(|| format!("{name:?} is no ClusterHAT v2/v3"))?;
                buses.push(Bus::Hat(SimHat::new(version)));
            } else {
                let kind = BoardKind::from_name(name)
                    .ok_or_else(|| format!("{name:?} is no ClusterCTRL board"))?;
                let file = eeprom_dir.map(|dir| dir.join(format!("bus{index}-{name}.eeprom")));
                buses.push(Bus::Board(SimBoard::new(kind, file)));
            }
        }
        Ok(Console {
            buses: Arc::new(Mutex::new(buses)),
        })
    }

    /// Answer one request line.
    pub fn answer(&self, line: &str) -> String {
        let mut buses = self.buses.lock().unwrap_or_else(|e| e.into_inner());
        let words: Vec<&str> = line.split_whitespace().collect();
        if words == ["buses"] {
            let list: Vec<String> = buses
                .iter()
                .enumerate()
                .map(|(index, bus)| format!("{index}={}", bus.name()))
                .collect();
            return format!("ok {}", list.join(" "));
        }
        let Some(bus) = words
            .first()
            .and_then(|word| word.parse::<usize>().ok())
            .and_then(|index| buses.get_mut(index))
        else {
            return "error: start with a bus number (see: buses)".into();
        };
        let fault = |result: Result<(), BusFault>| match result {
            Ok(()) => "ok".to_string(),
            Err(BusFault::Nak) => "nak".into(),
            Err(BusFault::Gone) => "gone".into(),
        };
        match words.get(1..).unwrap_or_default() {
            ["w", bytes @ ..] if !bytes.is_empty() => {
                let parsed: Option<Vec<u8>> = bytes
                    .iter()
                    .map(|byte| u8::from_str_radix(byte.trim_start_matches("0x"), 16).ok())
                    .collect();
                match parsed {
                    Some(parsed) => fault(bus.target().write(ADDRESS, &parsed)),
                    None => "error: bytes are hex (0c 01)".into(),
                }
            }
            ["r", count] => match count.parse::<usize>() {
                Ok(count @ 1..=32) => {
                    let mut buffer = vec![0; count];
                    match bus.target().read(ADDRESS, &mut buffer) {
                        Ok(()) => {
                            let hex: Vec<String> =
                                buffer.iter().map(|byte| format!("{byte:02x}")).collect();
                            format!("ok {}", hex.join(" "))
                        }
                        Err(err) => fault(Err(err)),
                    }
                }
                _ => "error: read 1..32 bytes".into(),
            },
            [what @ ("plug" | "naks" | "busy"), state @ ("on" | "off")] => {
                let on = *state == "on";
                match (bus, *what) {
                    (Bus::Board(board), "plug") => board.set_plugged(on),
                    (Bus::Board(board), "busy") => board.set_stuck_busy(on),
                    (Bus::Board(board), _) => board.set_naks(on),
                    (Bus::Hat(hat), "naks") => hat.set_naks(on),
                    (Bus::Hat(_), _) => return "error: the HAT only takes naks".into(),
                }
                "ok".into()
            }
            _ => "error: <bus> w <hex>..., <bus> r <n>, <bus> plug|naks|busy on|off".into(),
        }
    }

    /// Serve the console on `listen` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                drop(stream);
                continue;
            };
            let console = self.clone();
            tokio::spawn(async move {
                let _ = console.session(stream).await;
                drop(permit);
            });
        }
    }

    async fn session(&self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        loop {
            let mut line = Vec::new();
            let n = (&mut read)
                .take(MAX_LINE)
                .read_until(b'\n', &mut line)
                .await?;
            if n == 0 {
                return Ok(());
            }
            if !line.ends_with(b"\n") && n as u64 == MAX_LINE {
                write.write_all(b"error: line too long\n").await?;
                return Ok(());
            }
            let text = String::from_utf8_lossy(&line);
            if text.trim().is_empty() {
                continue;
            }
            let reply = self.answer(text.trim());
            write.write_all(format!("{reply}\n").as_bytes()).await?;
        }
    }
}

/// Bind `listen` and serve the console; the bound address.
pub async fn spawn(listen: SocketAddr, console: Console) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(Arc::new(console).serve(listener));
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_reaches_the_registers() {
        let console = Console::new("hat-v3,stack", None).unwrap();
        assert_eq!(console.answer("buses"), "ok 0=hat-v3.0 1=stack");
        assert_eq!(console.answer("1 w 00"), "ok");
        assert_eq!(console.answer("1 r 5"), "ok 02 05 14 00 04");
        assert_eq!(console.answer("1 w 0c 02"), "ok");
        assert_eq!(console.answer("1 w 0d 03"), "ok");
        assert_eq!(console.answer("0 w 03"), "ok");
        assert_eq!(console.answer("0 r 1"), "ok ff");
        assert_eq!(console.answer("1 plug off"), "ok");
        assert_eq!(console.answer("1 r 1"), "gone");
        assert!(console.answer("7 r 1").starts_with("error"));
        assert!(console.answer("1 r 99").starts_with("error"));
        assert!(console.answer("0 busy on").starts_with("error"));
    }
}
