//! The documented exit codes (README, "Exit codes"), in one place: CI jobs gate merges
//! on them, so `run`, `merge`, `diff`, `shrink` and the input checks must
//! agree on every number.

/// Every invariant held and every objective was met.
pub const PASS: u8 = 0;
/// An SLO or latency budget was breached (or `diff` found a regression).
pub const SLO_BREACHED: u8 = 1;
/// An exactly-once or ledger invariant was violated: money lost or doubled.
pub const INVARIANT_VIOLATED: u8 = 2;
/// The run is invalid: it could not be carried out as asked (too many
/// arrivals dropped or late, a stalled simulation, a failed shrink).
pub const INVALID: u8 = 3;
/// Bad input or usage: a workload, plan, flag or run directory is wrong.
pub const INPUT: u8 = 4;
