//! paystorm: a payment stack in one process, driven by Black-Friday load and
//! faults, with a checker that proves every payment happened exactly once.

pub mod domain;
