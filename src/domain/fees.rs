//! The acquirer's fee contract. It lives in the domain, not the acquirer, so the
//! checker computes the fee the merchant was promised independently of the code
//! that charges it.

/// A fee of `percent_bps` basis points of the captured amount plus a fixed part.
///
/// Rounding rule: the percentage part is rounded half up (half away from zero)
/// to a whole minor unit, per capture; refunds do not return fees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeSchedule {
    pub percent_bps: u32,
    pub fixed_minor: i64,
}

impl FeeSchedule {
    pub const NONE: FeeSchedule = FeeSchedule {
        percent_bps: 0,
        fixed_minor: 0,
    };

    /// The fee on one capture of `amount_minor` (>= 0).
    pub fn fee_minor(&self, amount_minor: i64) -> i64 {
        debug_assert!(amount_minor >= 0);
        let scaled = i128::from(amount_minor) * i128::from(self.percent_bps);
        let percent = (scaled + 5_000) / 10_000; // half up
        percent as i64 + self.fixed_minor
    }

    /// The fee with the percentage part truncated instead of rounded: the rule
    /// a buggy acquirer applies (see the `fee-rounding-leak` sabotage).
    pub fn fee_minor_truncated(&self, amount_minor: i64) -> i64 {
        let scaled = i128::from(amount_minor) * i128::from(self.percent_bps);
        (scaled / 10_000) as i64 + self.fixed_minor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentage_rounds_half_up() {
        let f = FeeSchedule {
            percent_bps: 290,
            fixed_minor: 30,
        };
        // 2.9% of 1000 = 29 exactly.
        assert_eq!(f.fee_minor(1000), 59);
        // 2.9% of 50 = 1.45 -> 1; of 150 = 4.35 -> 4; of 2150 = 62.35 -> 62.
        assert_eq!(f.fee_minor(50), 31);
        // 2.9% of 1550 = 44.95 -> 45 (half up), truncation gives 44.
        assert_eq!(f.fee_minor(1550), 75);
        assert_eq!(f.fee_minor_truncated(1550), 74);
        // Exactly half: 0.5% of 100 = 0.5 -> 1.
        let half = FeeSchedule {
            percent_bps: 50,
            fixed_minor: 0,
        };
        assert_eq!(half.fee_minor(100), 1);
        assert_eq!(half.fee_minor_truncated(100), 0);
    }
}

/// The fee schedule per rail, as contracted between acquirer and merchants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeTable {
    pub card: FeeSchedule,
    pub qr: FeeSchedule,
    pub bank_instant: FeeSchedule,
    pub bank_batch: FeeSchedule,
}

impl FeeTable {
    pub fn for_rail(&self, rail: super::payment::Rail) -> FeeSchedule {
        use super::payment::Rail;
        match rail {
            Rail::Card(_) => self.card,
            Rail::Qr => self.qr,
            Rail::BankInstant => self.bank_instant,
            Rail::BankBatch => self.bank_batch,
        }
    }
}

impl Default for FeeTable {
    /// Typical published rates: cards 2.9% + 30, QR 0.6%, instant 0.2% + 5,
    /// batch (ACH-like) 0.8% capped by nothing (no caps modelled) + 0.
    fn default() -> FeeTable {
        FeeTable {
            card: FeeSchedule {
                percent_bps: 290,
                fixed_minor: 30,
            },
            qr: FeeSchedule {
                percent_bps: 60,
                fixed_minor: 0,
            },
            bank_instant: FeeSchedule {
                percent_bps: 20,
                fixed_minor: 5,
            },
            bank_batch: FeeSchedule {
                percent_bps: 80,
                fixed_minor: 0,
            },
        }
    }
}
