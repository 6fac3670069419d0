//! A fermentation chamber: a wort and its fridge ([`plant`]), two DS18B20 probes written
//! as a real Linux w1 directory tree ([`w1`]) that the daemon's real w1 reader reads, and
//! two relay lines (heater, fridge compressor) that a daemon drives through
//! [`FermentControl`]. Faults: a probe unplugged, CRC errors, the power-on value, a stuck
//! relay.
//!
//! [`spawn`] runs the plant on its own thread (writing files is blocking work), advancing
//! `speed` simulated seconds per real second; [`FermentSim`] removes the directory tree
//! when dropped. Tests that want exact time call [`FermentControl::advance`] on a plant
//! made with `speed: 0.0`.

pub mod plant;
pub mod w1;

pub use plant::{Plant, PlantOptions, Temperatures};
pub use w1::ProbeFault;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// The probe ids the simulated bus shows (family 28, DS18B20).
pub const BEER_PROBE: &str = "28-00000a1b2c3d";
pub const CHAMBER_PROBE: &str = "28-00000e4f5a6b";

/// How often the plant thread steps and rewrites the probe files (real time).
const TICK: Duration = Duration::from_millis(200);

/// The two relays of the chamber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relay {
    Heater,
    Cooler,
}

/// The two probes of the chamber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    Beer,
    Chamber,
}

#[derive(Clone, Debug)]
pub struct FermentOptions {
    pub plant: PlantOptions,
    /// Simulated seconds per real second; 0 stops the clock (tests step it themselves).
    pub speed: f64,
}

impl Default for FermentOptions {
    fn default() -> Self {
        FermentOptions {
            plant: PlantOptions::default(),
            speed: 1.0,
        }
    }
}

struct Shared {
    plant: Plant,
    /// What the relay lines are driven to, heater then cooler.
    driven: [bool; 2],
    /// A relay whose contact is stuck in this state whatever its line says.
    stuck: [Option<bool>; 2],
    faults: [Option<ProbeFault>; 2],
    /// Whether both contacts were ever closed together (a test's witness).
    both_on_seen: bool,
}

impl Shared {
    /// The relays' contacts: a stuck relay stays where it stuck.
    fn contacts(&self) -> [bool; 2] {
        [0, 1].map(|i| self.stuck[i].unwrap_or(self.driven[i]))
    }
}

/// The handle a daemon (or a test) drives and inspects the chamber through.
#[derive(Clone)]
pub struct FermentControl {
    shared: Arc<Mutex<Shared>>,
    dir: Arc<PathBuf>,
}

impl std::fmt::Debug for FermentControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FermentControl")
            .field("dir", &self.dir)
            .finish()
    }
}

fn index(relay: Relay) -> usize {
    match relay {
        Relay::Heater => 0,
        Relay::Cooler => 1,
    }
}

fn probe_index(probe: Probe) -> usize {
    match probe {
        Probe::Beer => 0,
        Probe::Chamber => 1,
    }
}

impl FermentControl {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The w1 devices directory (what `--w1-dir` names on a Raspberry Pi).
    pub fn w1_dir(&self) -> &Path {
        &self.dir
    }

    /// Drive a relay line.
    pub fn drive(&self, relay: Relay, on: bool) {
        let mut shared = self.lock();
        shared.driven[index(relay)] = on;
        let contacts = shared.contacts();
        if contacts[0] && contacts[1] {
            shared.both_on_seen = true;
        }
    }

    /// A relay line read back. The simulated relay board senses its contact, so a stuck
    /// relay reads back as stuck, not as driven.
    pub fn line(&self, relay: Relay) -> bool {
        self.lock().contacts()[index(relay)]
    }

    /// What the line is driven to, whatever the contact does.
    pub fn driven(&self, relay: Relay) -> bool {
        self.lock().driven[index(relay)]
    }

    /// Stick a relay's contact (`Some(state)`) or free it (`None`).
    pub fn set_stuck(&self, relay: Relay, stuck: Option<bool>) {
        self.lock().stuck[index(relay)] = stuck;
    }

    /// Make a probe misbehave (`None`: healthy again). Takes effect at the next write.
    pub fn set_probe_fault(&self, probe: Probe, fault: Option<ProbeFault>) -> io::Result<()> {
        self.lock().faults[probe_index(probe)] = fault;
        self.write_probes()
    }

    /// Whether heater and compressor contacts were ever closed together.
    pub fn both_on_seen(&self) -> bool {
        self.lock().both_on_seen
    }

    pub fn temperatures(&self) -> Temperatures {
        self.lock().plant.temperatures
    }

    /// Put the plant at these temperatures (tests), and rewrite the probe files.
    pub fn set_temperatures(&self, temperatures: Temperatures) -> io::Result<()> {
        self.lock().plant.temperatures = temperatures;
        self.write_probes()
    }

    /// Advance the plant by `seconds` of simulated time and rewrite the probe files.
    pub fn advance(&self, seconds: f64) -> io::Result<()> {
        {
            let mut shared = self.lock();
            let [heater, cooler] = shared.contacts();
            if heater && cooler {
                shared.both_on_seen = true;
            }
            shared.plant.step(seconds, heater, cooler);
        }
        self.write_probes()
    }

    fn write_probes(&self) -> io::Result<()> {
        let (temperatures, faults) = {
            let shared = self.lock();
            (shared.plant.temperatures, shared.faults)
        };
        let probes = [
            (BEER_PROBE, temperatures.beer, faults[0]),
            (CHAMBER_PROBE, temperatures.chamber, faults[1]),
        ];
        for (id, celsius, fault) in probes {
            let probe_dir = self.dir.join(id);
            match w1::w1_slave_text(celsius, fault) {
                None => match std::fs::remove_dir_all(&probe_dir) {
                    Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                    _ => {}
                },
                Some(text) => {
                    std::fs::create_dir_all(&probe_dir)?;
                    // Replaced whole, so a reader never sees half a file.
                    let temporary = probe_dir.join(".w1_slave.tmp");
                    std::fs::write(&temporary, text)?;
                    std::fs::rename(&temporary, probe_dir.join("w1_slave"))?;
                }
            }
        }
        Ok(())
    }
}

/// A running simulated chamber. Dropping it stops the plant and removes its directory.
pub struct FermentSim {
    control: FermentControl,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FermentSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FermentSim")
            .field("control", &self.control)
            .finish()
    }
}

impl FermentSim {
    pub fn control(&self) -> FermentControl {
        self.control.clone()
    }
}

impl Drop for FermentSim {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(self.control.w1_dir());
    }
}

/// Start a chamber: its w1 tree in a new temporary directory, its plant on a thread.
pub fn spawn(options: FermentOptions) -> io::Result<FermentSim> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "labwire-ferment-sim-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let control = FermentControl {
        shared: Arc::new(Mutex::new(Shared {
            plant: Plant::new(options.plant),
            driven: [false; 2],
            stuck: [None; 2],
            faults: [None; 2],
            both_on_seen: false,
        })),
        dir: Arc::new(dir),
    };
    control.write_probes()?;
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = (options.speed > 0.0).then(|| {
        let control = control.clone();
        let step = TICK.as_secs_f64() * options.speed;
        std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                if let Err(err) = control.advance(step) {
                    tracing::warn!("simulated w1 bus: {err}");
                }
            }
        })
    });
    Ok(FermentSim {
        control,
        stop: Some(stop),
        thread,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_w1_tree_and_applies_faults_and_stuck_relays() {
        let sim = spawn(FermentOptions {
            speed: 0.0,
            ..FermentOptions::default()
        })
        .unwrap();
        let control = sim.control();
        let file = control.w1_dir().join(BEER_PROBE).join("w1_slave");
        assert!(std::fs::read_to_string(&file)
            .unwrap()
            .ends_with("t=20000\n"));
        control
            .set_probe_fault(Probe::Beer, Some(ProbeFault::Unplugged))
            .unwrap();
        assert!(!file.exists());
        control.set_probe_fault(Probe::Beer, None).unwrap();
        assert!(file.exists());

        control.set_stuck(Relay::Cooler, Some(true));
        assert!(control.line(Relay::Cooler) && !control.driven(Relay::Cooler));
        control.drive(Relay::Heater, true);
        assert!(
            control.both_on_seen(),
            "stuck compressor and heater on together"
        );
        let dir = control.w1_dir().to_path_buf();
        drop(sim);
        assert!(!dir.exists(), "removed when dropped");
    }
}
