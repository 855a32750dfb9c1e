//! The gateway's fraud screen for card payments: an amount ceiling and a
//! velocity rule (too many payments on one card within a window).

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::domain::fingerprint::FxHashMap;
use crate::domain::CustomerId;
use crate::lock::Locked;

use crate::stack::config::FraudConfig;

pub struct FraudRules {
    cfg: FraudConfig,
    window_us: u64,
    /// Per card: times of its most recent payments (at most `velocity_max`).
    recent: Mutex<FxHashMap<CustomerId, VecDeque<u64>>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FraudVerdict {
    Pass,
    AmountTooHigh,
    Velocity,
}

impl FraudRules {
    pub fn new(cfg: FraudConfig) -> FraudRules {
        FraudRules {
            cfg,
            window_us: (cfg.velocity_window_s * 1e6) as u64,
            recent: Mutex::new(FxHashMap::default()),
        }
    }

    pub fn screen(&self, card: CustomerId, amount_minor: i64, now_us: u64) -> FraudVerdict {
        if amount_minor > self.cfg.amount_max_minor {
            return FraudVerdict::AmountTooHigh;
        }
        let max = self.cfg.velocity_max as usize;
        if max == 0 {
            return FraudVerdict::Pass;
        }
        let mut recent = self.recent.locked();
        let times = recent.entry(card).or_default();
        while times
            .front()
            .is_some_and(|t| now_us.saturating_sub(*t) >= self.window_us)
        {
            times.pop_front();
        }
        if times.len() >= max {
            return FraudVerdict::Velocity;
        }
        times.push_back(now_us);
        FraudVerdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_ceiling_and_velocity() {
        let f = FraudRules::new(FraudConfig {
            amount_max_minor: 1000,
            velocity_max: 2,
            velocity_window_s: 60.0,
        });
        let c = CustomerId(1);
        assert_eq!(f.screen(c, 1001, 0), FraudVerdict::AmountTooHigh);
        assert_eq!(f.screen(c, 10, 0), FraudVerdict::Pass);
        assert_eq!(f.screen(c, 10, 1), FraudVerdict::Pass);
        assert_eq!(f.screen(c, 10, 2), FraudVerdict::Velocity);
        assert_eq!(
            f.screen(CustomerId(2), 10, 2),
            FraudVerdict::Pass,
            "per card"
        );
        assert_eq!(
            f.screen(c, 10, 60_000_001),
            FraudVerdict::Pass,
            "window slid"
        );
    }
}
