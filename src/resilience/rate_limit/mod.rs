//! Rate limiting with `governor` (GCRA): one quota per merchant and one for
//! the whole gateway. A refused request gets 429 with the time after which
//! the same request would pass; it is decided before the idempotency layer,
//! so nothing is stored against its key and a retry with the key is a fresh
//! request.
//!
//! governor reads time through its `Clock` trait; [`VirtualClock`] feeds it
//! the run's clock, so decisions follow simulated time and runs stay
//! deterministic.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use crate::domain::MerchantId;
use crate::sim::Clock;

/// The run's clock as governor's time source.
#[derive(Clone, Copy, Debug)]
pub struct VirtualClock(pub Clock);

impl GovernorClock for VirtualClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.0.now_us() * 1_000)
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Requests per second each merchant may send, sustained.
    pub per_merchant_per_s: f64,
    /// Requests a merchant may send at once above the sustained rate.
    pub per_merchant_burst: u32,
    /// Requests per second for the whole gateway.
    pub global_per_s: f64,
    pub global_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> RateLimitConfig {
        RateLimitConfig {
            enabled: true,
            per_merchant_per_s: 2_000.0,
            per_merchant_burst: 4_000,
            global_per_s: 1_000_000.0,
            global_burst: 2_000_000,
        }
    }
}

/// Who refused the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    Merchant { retry_after: Duration },
    Global { retry_after: Duration },
}

impl Limited {
    pub fn retry_after(self) -> Duration {
        match self {
            Limited::Merchant { retry_after } | Limited::Global { retry_after } => retry_after,
        }
    }
}

type Keyed =
    RateLimiter<MerchantId, HashMapStateStore<MerchantId>, VirtualClock, NoOpMiddleware<Nanos>>;
type Direct = RateLimiter<NotKeyed, InMemoryState, VirtualClock, NoOpMiddleware<Nanos>>;

pub struct RateLimits {
    clock: VirtualClock,
    merchants: Keyed,
    global: Direct,
}

/// A GCRA quota of `per_s` with `burst`; at least one request per hour.
fn quota(per_s: f64, burst: u32) -> Quota {
    let period = Duration::from_secs_f64(1.0 / per_s.max(1.0 / 3600.0));
    Quota::with_period(period.max(Duration::from_nanos(1)))
        .expect("a positive period")
        .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least 1"))
}

impl RateLimits {
    pub fn new(cfg: RateLimitConfig, clock: Clock) -> RateLimits {
        let clock = VirtualClock(clock);
        RateLimits {
            merchants: RateLimiter::new(
                quota(cfg.per_merchant_per_s, cfg.per_merchant_burst),
                HashMapStateStore::default(),
                clock,
            ),
            global: RateLimiter::new(
                quota(cfg.global_per_s, cfg.global_burst),
                InMemoryState::default(),
                clock,
            ),
            clock,
        }
    }

    /// Admits a request of `merchant` now, or says who refused it and when
    /// to come back. The merchant's quota is checked first, so one noisy
    /// merchant spends its own quota, not the others' share of the global.
    pub fn check(&self, merchant: MerchantId) -> Result<(), Limited> {
        let now = self.clock.now();
        if let Err(not_until) = self.merchants.check_key(&merchant) {
            return Err(Limited::Merchant {
                retry_after: not_until.wait_time_from(now),
            });
        }
        if let Err(not_until) = self.global.check() {
            return Err(Limited::Global {
                retry_after: not_until.wait_time_from(now),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_merchant_over_its_quota_is_limited_and_others_are_not() {
        let clock = Clock::start();
        let limits = RateLimits::new(
            RateLimitConfig {
                enabled: true,
                per_merchant_per_s: 10.0,
                per_merchant_burst: 5,
                global_per_s: 1000.0,
                global_burst: 1000,
            },
            clock,
        );
        let (noisy, quiet) = (MerchantId(1), MerchantId(2));
        for _ in 0..5 {
            assert!(limits.check(noisy).is_ok(), "the burst passes");
        }
        let refused = limits.check(noisy).unwrap_err();
        assert!(matches!(refused, Limited::Merchant { .. }));
        assert!(refused.retry_after() > Duration::ZERO);
        assert!(refused.retry_after() <= Duration::from_millis(100));
        assert!(
            limits.check(quiet).is_ok(),
            "another merchant is unaffected"
        );
        // Virtual time refills the quota: 100 ms is one more request at 10/s.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(limits.check(noisy).is_ok());
        assert!(limits.check(noisy).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn the_global_quota_limits_everyone() {
        let clock = Clock::start();
        let limits = RateLimits::new(
            RateLimitConfig {
                enabled: true,
                per_merchant_per_s: 1000.0,
                per_merchant_burst: 1000,
                global_per_s: 1.0,
                global_burst: 3,
            },
            clock,
        );
        for m in 0..3 {
            assert!(limits.check(MerchantId(m)).is_ok());
        }
        assert!(matches!(
            limits.check(MerchantId(9)),
            Err(Limited::Global { .. })
        ));
    }
}
