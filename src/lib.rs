//! paystorm: a payment stack in one process, driven by Black-Friday load and
//! faults, with a checker that proves every payment happened exactly once.

pub mod chaos;
pub mod check;
pub mod cli;
pub mod domain;
pub mod exit_code;
pub mod live;
pub mod load;
pub mod lock;
pub mod metrics;
pub mod packed;
pub mod prefetch;
pub mod report;
pub mod resilience;
pub mod sim;
pub mod slo;
pub mod slots;
pub mod stack;
pub mod telemetry;
pub mod webhook_sink;
pub mod workload;
