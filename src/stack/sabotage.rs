//! Deliberate bugs. A checker that cannot fail is worthless: each switch here
//! plants one realistic defect in the stack, and a test proves the checker
//! catches it. They are off unless `--sabotage NAME` is given.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sabotage {
    NoIdempotency,
    ReplayDifferentResponse,
    DoubleSettle,
    DoubleReleaseHold,
    LostWebhook,
    RefundRace,
    UnbalancedPosting,
    FeeRoundingLeak,
    LostAdvice,
}

impl Sabotage {
    pub const ALL: [Sabotage; 9] = [
        Sabotage::NoIdempotency,
        Sabotage::ReplayDifferentResponse,
        Sabotage::DoubleSettle,
        Sabotage::DoubleReleaseHold,
        Sabotage::LostWebhook,
        Sabotage::RefundRace,
        Sabotage::UnbalancedPosting,
        Sabotage::FeeRoundingLeak,
        Sabotage::LostAdvice,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Sabotage::NoIdempotency => "no-idempotency",
            Sabotage::ReplayDifferentResponse => "replay-different-response",
            Sabotage::DoubleSettle => "double-settle",
            Sabotage::DoubleReleaseHold => "double-release-hold",
            Sabotage::LostWebhook => "lost-webhook",
            Sabotage::RefundRace => "refund-race",
            Sabotage::UnbalancedPosting => "unbalanced-posting",
            Sabotage::FeeRoundingLeak => "fee-rounding-leak",
            Sabotage::LostAdvice => "lost-advice",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Sabotage::NoIdempotency => "the gateway skips the idempotency store: every retry executes again",
            Sabotage::ReplayDifferentResponse => "a replay is rebuilt from the live payment instead of the stored response",
            Sabotage::DoubleSettle => "the settlement cursor is off by one: each batch's last line is settled again next batch",
            Sabotage::DoubleReleaseHold => "a void releases the hold but leaves it in the expiry index, so expiry releases it again",
            Sabotage::LostWebhook => "an event whose first delivery fails is forgotten: neither retried nor dead-lettered",
            Sabotage::RefundRace => "the refundable amount is checked, then the issuer is called, then the refund recorded: not atomic",
            Sabotage::UnbalancedPosting => "a partial capture forgets the leg that returns the unused hold to the customer",
            Sabotage::FeeRoundingLeak => "deposits use the rounded fee but the fee account is credited the truncated fee",
            Sabotage::LostAdvice => "a card network forgets its stand-in advices: the issuer never hears of payments approved on its behalf",
        }
    }

    pub fn from_name(name: &str) -> Option<Sabotage> {
        Sabotage::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Sabotage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of sabotages switched on for a run (a bit set: cheap to test on
/// the hot path).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sabotages(u16);

impl Sabotages {
    pub const NONE: Sabotages = Sabotages(0);

    pub fn with(self, s: Sabotage) -> Sabotages {
        Sabotages(self.0 | 1 << s as u16)
    }

    pub fn has(self, s: Sabotage) -> bool {
        self.0 & (1 << s as u16) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Sabotage> {
        Sabotage::ALL.into_iter().filter(move |s| self.has(*s))
    }
}
