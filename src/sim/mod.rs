//! Time and randomness, the only module that reads a clock or creates a
//! random number generator; and the run driver that puts stack, load and
//! checker together on one runtime.
//!
//! In sim mode the engine is [`executor`], single-threaded with virtual
//! time: every modelled delay is a sleep on [`Clock`] that costs no
//! wall-clock time, and tasks run in a deterministic order, so one seed
//! reproduces a run byte for byte. The same code runs on tokio in live mode
//! ([`Clock`] and [`task`] pick the engine).

pub mod cells;
pub mod clock;
pub mod executor;
pub mod latency;
pub mod process;
pub mod rng;
pub mod signal;
pub mod task;

pub use clock::Clock;
pub use latency::{LatencyModel, LatencySpec};
pub use rng::{Seed, SimRng};
pub mod history_file;
pub mod run;
pub mod world;
