//! Retries inside the stack, gateway -> network, where they are safe: the
//! repeat carries the same message id, and the issuer answers a repeat with
//! its first answer. Exponential backoff with full jitter, a cap on attempts,
//! and a retry budget (as Finagle's): over the last 10 seconds, retries may
//! be at most `budget_ratio` of requests plus `budget_min_per_s` a second —
//! so a retry storm cannot multiply the load on a struggling downstream.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::lock::Locked;
use crate::sim::SimRng;

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub enabled: bool,
    /// Attempts per message, the first included.
    pub attempts_max: u32,
    pub backoff_base_ms: f64,
    pub backoff_max_ms: f64,
    /// Retries allowed as a share of the requests of the last 10 s.
    pub budget_ratio: f64,
    /// Retries allowed per second on top of the ratio (for quiet times).
    pub budget_min_per_s: f64,
}

impl Default for RetryConfig {
    fn default() -> RetryConfig {
        RetryConfig {
            enabled: true,
            attempts_max: 3,
            backoff_base_ms: 50.0,
            backoff_max_ms: 500.0,
            budget_ratio: 0.1,
            budget_min_per_s: 5.0,
        }
    }
}

impl RetryConfig {
    /// Full jitter: uniform in [0, min(max, base * 2^(retry-1))].
    pub fn backoff(&self, rng: &mut SimRng, retry: u32) -> Duration {
        let ceiling =
            (self.backoff_base_ms * 2f64.powi(retry.min(20) as i32 - 1)).min(self.backoff_max_ms);
        Duration::from_micros((rng.range_f64(0.0, ceiling) * 1000.0) as u64)
    }
}

/// Seconds the budget looks back over.
const WINDOW_S: usize = 10;

/// Requests and retries per second over the last [`WINDOW_S`] seconds.
pub struct RetryBudget {
    cfg: RetryConfig,
    ring: Mutex<[(u64, u64, u64); WINDOW_S]>,
}

impl RetryBudget {
    pub fn new(cfg: RetryConfig) -> RetryBudget {
        RetryBudget {
            cfg,
            ring: Mutex::new([(u64::MAX, 0, 0); WINDOW_S]),
        }
    }

    fn bucket(ring: &mut [(u64, u64, u64); WINDOW_S], now_us: u64) -> &mut (u64, u64, u64) {
        let second = now_us / 1_000_000;
        let slot = &mut ring[(second % WINDOW_S as u64) as usize];
        if slot.0 != second {
            *slot = (second, 0, 0);
        }
        slot
    }

    /// A first attempt: it earns `budget_ratio` of a retry.
    pub fn request(&self, now_us: u64) {
        Self::bucket(&mut self.ring.locked(), now_us).1 += 1;
    }

    /// Whether a retry may go now; if so it is spent.
    pub fn try_retry(&self, now_us: u64) -> bool {
        let mut ring = self.ring.locked();
        let second = now_us / 1_000_000;
        let (mut requests, mut retries) = (0u64, 0u64);
        for &(s, req, ret) in ring.iter() {
            if s != u64::MAX && s + WINDOW_S as u64 > second {
                requests += req;
                retries += ret;
            }
        }
        let allowed =
            self.cfg.budget_ratio * requests as f64 + self.cfg.budget_min_per_s * WINDOW_S as f64;
        if (retries + 1) as f64 > allowed {
            return false;
        }
        Self::bucket(&mut ring, now_us).2 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stay_within_the_share_of_recent_requests() {
        let b = RetryBudget::new(RetryConfig {
            budget_ratio: 0.1,
            budget_min_per_s: 0.0,
            ..RetryConfig::default()
        });
        for i in 0..1000 {
            b.request(i * 1000);
        }
        let granted = (0..1000).filter(|i| b.try_retry(500_000 + i)).count();
        assert_eq!(granted, 100, "10% of 1000 requests");
        // Eleven seconds on, the old requests no longer pay for retries.
        assert!(!b.try_retry(11_500_000));
    }

    #[test]
    fn a_floor_allows_retries_when_traffic_is_quiet() {
        let b = RetryBudget::new(RetryConfig {
            budget_ratio: 0.1,
            budget_min_per_s: 1.0,
            ..RetryConfig::default()
        });
        let granted = (0..100).filter(|i| b.try_retry(*i)).count();
        assert_eq!(granted, 10, "1 a second over the 10 s window");
    }
}
