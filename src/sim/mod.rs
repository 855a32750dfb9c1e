//! Time and randomness, the only module that reads a clock or creates a
//! random number generator; and the run driver that puts stack, load and
//! checker together on one runtime.
//!
//! In sim mode the runtime is a tokio current-thread runtime with paused time:
//! every modelled delay is a `tokio::time::sleep` that costs no wall-clock
//! time, and tasks run in a deterministic order, so one seed reproduces a run
//! byte for byte.

pub mod clock;
pub mod latency;
pub mod rng;
pub mod signal;

pub use clock::Clock;
pub use latency::{LatencyModel, LatencySpec};
pub use rng::{Seed, SimRng};
pub mod history_file;
pub mod run;
pub mod world;
