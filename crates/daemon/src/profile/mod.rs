//! Setpoint profiles run by a daemon, for days if need be, with no script or monitor
//! attached: a daemon keeps one [`ProfileRun`] per control loop, drives the loop with
//! [`ProfileRun::setpoint`] on every poll, and saves the run in its state file (serde) so
//! that after a restart it resumes at the point in time where it should be.
//!
//! - [`points`]: the [`Profile`]: `points="0s:20,90m:-100,3d:-100"` read and checked
//!   (times with a unit `s`, `m`, `h`, `d`, decimals allowed, starting at 0, never
//!   decreasing; at most [`MAX_POINTS`]), the setpoint at any elapsed time.
//! - [`runner`]: the run (idle, waiting, running, done), started now or at an ISO 8601
//!   UTC time, and its status variables.
//! - `iso_time`: the run's start time in the state file, through `labwire-time`.

mod iso_time;
pub mod points;
pub mod runner;

pub use points::{Point, Profile, MAX_DURATION, MAX_POINTS};
pub use runner::{format_time, parse_start_time, ProfileRun, ProfileStatus, RunState};
