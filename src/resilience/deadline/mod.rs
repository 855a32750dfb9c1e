//! Timeouts: every call into a downstream has its own (`call_ms`), and each
//! request has a total deadline (`deadline_ms`) that the gateway carries
//! downstream — a call never waits past what is left of its request's
//! deadline. A call that runs out of time has an unknown outcome and is
//! reconciled, like any other timeout.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutConfig {
    pub enabled: bool,
    /// Per call into an issuer or a network.
    pub call_ms: f64,
    /// Per request, from its arrival at the gateway, across all its calls.
    pub deadline_ms: f64,
}

impl Default for TimeoutConfig {
    fn default() -> TimeoutConfig {
        TimeoutConfig {
            enabled: true,
            call_ms: 1_500.0,
            deadline_ms: 4_000.0,
        }
    }
}

impl TimeoutConfig {
    /// When a request arriving at `now_us` must be answered by.
    pub fn deadline_us(&self, now_us: u64) -> Option<u64> {
        self.enabled
            .then(|| now_us + (self.deadline_ms * 1000.0) as u64)
    }

    /// What is left of a deadline at `now_us` (none left: zero).
    pub fn left(deadline_us: u64, now_us: u64) -> Duration {
        Duration::from_micros(deadline_us.saturating_sub(now_us))
    }
}
