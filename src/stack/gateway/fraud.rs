//! The gateway's fraud screen for card payments: an amount ceiling and a
//! velocity rule (too many payments on one card within a window).

use std::sync::Mutex;

use smallvec::SmallVec;

use crate::domain::dense_table::DenseTable;
use crate::domain::CustomerId;
use crate::lock::Locked;

use crate::stack::config::FraudConfig;

/// A card's most recent payment times, oldest first, at most
/// `velocity_max` of them. Kept in the card's own entry (64 bytes) up to
/// the default maximum (6), so the common case is one entry per card and
/// no allocation; a larger maximum spills to the heap.
type Recent = SmallVec<[u64; 6]>;

pub struct FraudRules {
    cfg: FraudConfig,
    window_us: u64,
    /// Per card (one per customer, so by customer id: a screen is one
    /// access, where a hash table took two and a heap buffer a third).
    recent: Mutex<DenseTable<CustomerId, Recent>>,
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
            recent: Mutex::new(DenseTable::default()),
        }
    }

    /// Where the card's entry is, for naming it ahead of a sleep (a hint,
    /// never read through).
    pub fn place(&self, card: CustomerId) -> usize {
        self.recent.locked().place(card)
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
        let times = recent.get_or_insert_with(card, Recent::new);
        let expired = times
            .iter()
            .take_while(|t| now_us.saturating_sub(**t) >= self.window_us)
            .count();
        times.drain(..expired);
        if times.len() >= max {
            return FraudVerdict::Velocity;
        }
        times.push(now_us);
        FraudVerdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rules with an amount ceiling of 1,000 and the given velocity rule.
    fn rules(velocity_max: u32, velocity_window_s: f64) -> FraudRules {
        FraudRules::new(FraudConfig {
            amount_max_minor: 1000,
            velocity_max,
            velocity_window_s,
        })
    }

    #[test]
    fn amount_ceiling_and_velocity() {
        let f = rules(2, 60.0);
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

    /// A maximum above what a card's entry holds inline spills to the heap
    /// and counts the same.
    #[test]
    fn a_large_maximum_counts_every_payment_in_the_window() {
        let f = rules(20, 1.0);
        let c = CustomerId(3);
        for t in 0..20 {
            assert_eq!(f.screen(c, 10, t), FraudVerdict::Pass, "payment {t}");
        }
        assert_eq!(f.screen(c, 10, 20), FraudVerdict::Velocity);
        // The first payment leaves the window: room for exactly one more.
        assert_eq!(f.screen(c, 10, 1_000_000), FraudVerdict::Pass);
        assert_eq!(f.screen(c, 10, 1_000_000), FraudVerdict::Velocity);
    }
}
