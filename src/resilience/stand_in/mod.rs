//! Stand-in authorization (STIP, "stand-in processing"): when an issuer
//! cannot be reached because its breaker is open, the card network approves
//! small payments on the issuer's behalf, up to a limit per card, and tells
//! the issuer afterwards with an *advice* message. Visa and Mastercard do
//! this so a bank's outage does not stop every purchase on its cards; the
//! price is risk: the network may approve a customer who had no funds, and
//! the issuer carries that ("exposure").
//!
//! The exactly-once rules it keeps:
//! - the issuer applies an advice once (its own message id), places no
//!   second hold if it had approved the authorization itself (an answer
//!   lost on the way back), overrides its decline if it had declined, and
//!   from then on answers a repeat of the authorization (the gateway
//!   reconciling after a timeout) with the approval, moving no money;
//! - a message about the payment (capture, void, refund) is preceded by its
//!   advice, so the issuer never sees a capture of a hold it has not placed;
//! - a repeat of a stood-in authorization gets the same answer without a
//!   second approval.
//!
//! This module is the network's bookkeeping: the decision, the pending
//! advices, the figures. Sending advices is the network's job
//! (`stack::network`), applying them the issuer's.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::domain::fingerprint::FxHashMap;
use crate::domain::{IssuerId, Pan, PaymentId};
use crate::lock::Locked;
use crate::stack::issuer::AuthRequest;

/// `[resilience.stand_in]` of a workload.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StandInConfig {
    pub enabled: bool,
    /// The largest payment the network approves in stand-in (minor units).
    pub max_amount_minor: i64,
    /// What one card may be approved in stand-in over the run, in total
    /// (real networks reset it daily; a run is at most a day).
    pub per_card_limit_minor: i64,
    /// How often the network tries to deliver pending advices.
    pub advice_interval_ms: f64,
    /// Advices sent at once per network and interval.
    pub advice_batch: usize,
    /// Undelivered advices per network above which the network stops
    /// standing in (the bound on what it must remember).
    pub advices_max: usize,
}

impl Default for StandInConfig {
    fn default() -> StandInConfig {
        StandInConfig {
            enabled: true,
            max_amount_minor: 10_000,
            per_card_limit_minor: 25_000,
            advice_interval_ms: 1_000.0,
            advice_batch: 256,
            advices_max: 100_000,
        }
    }
}

/// An authorization approved in stand-in, not yet acknowledged by its issuer.
#[derive(Clone, Copy, Debug)]
pub struct Advice {
    pub issuer: IssuerId,
    pub req: AuthRequest,
}

/// One network's stand-in figures (summed over networks in results.json).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct StandInStats {
    /// Authorizations approved on an issuer's behalf.
    pub approved: u64,
    pub approved_minor: i64,
    /// Not approved: above `max_amount_minor`.
    pub refused_amount: u64,
    /// Not approved: the card's stand-in total would pass its limit.
    pub refused_card_limit: u64,
    /// Not approved: `advices_max` advices already pending.
    pub refused_advices_full: u64,
    /// Advice messages sent (a failed one is sent again).
    pub advices_sent: u64,
    /// Advices the issuer acknowledged: the approvals reconciled.
    pub advices_acknowledged: u64,
    /// Advices still pending when the figures were taken.
    pub advices_pending: u64,
}

impl StandInStats {
    pub fn add(&mut self, o: &StandInStats) {
        self.approved += o.approved;
        self.approved_minor += o.approved_minor;
        self.refused_amount += o.refused_amount;
        self.refused_card_limit += o.refused_card_limit;
        self.refused_advices_full += o.refused_advices_full;
        self.advices_sent += o.advices_sent;
        self.advices_acknowledged += o.advices_acknowledged;
        self.advices_pending += o.advices_pending;
    }
}

#[derive(Default)]
struct State {
    /// Stand-in total per card.
    spent: FxHashMap<Pan, i64>,
    /// Unacknowledged advices, oldest payment first.
    pending: BTreeMap<PaymentId, Advice>,
    stats: StandInStats,
}

/// One network's stand-in processing.
pub struct StandIn {
    cfg: StandInConfig,
    state: Mutex<State>,
}

impl StandIn {
    pub fn new(cfg: StandInConfig) -> StandIn {
        StandIn {
            cfg,
            state: Mutex::new(State::default()),
        }
    }

    pub fn config(&self) -> &StandInConfig {
        &self.cfg
    }

    /// Decides an authorization the issuer could not take: approves it (and
    /// queues its advice) or not. A repeat of one already approved is
    /// approved again without counting twice.
    pub fn approve(&self, issuer: IssuerId, pan: Pan, req: AuthRequest) -> bool {
        let mut st = self.state.locked();
        if st.pending.contains_key(&req.payment) {
            return true;
        }
        if req.amount_minor > self.cfg.max_amount_minor {
            st.stats.refused_amount += 1;
            return false;
        }
        let spent = st.spent.get(&pan).copied().unwrap_or(0);
        if spent + req.amount_minor > self.cfg.per_card_limit_minor {
            st.stats.refused_card_limit += 1;
            return false;
        }
        if st.pending.len() >= self.cfg.advices_max {
            st.stats.refused_advices_full += 1;
            return false;
        }
        st.spent.insert(pan, spent + req.amount_minor);
        st.pending.insert(req.payment, Advice { issuer, req });
        st.stats.approved += 1;
        st.stats.approved_minor += req.amount_minor;
        true
    }

    /// The unacknowledged advice for a payment, if it was stood in for.
    pub fn pending_for(&self, payment: PaymentId) -> Option<Advice> {
        self.state.locked().pending.get(&payment).copied()
    }

    /// Up to `advice_batch` of the oldest pending advices.
    pub fn due(&self) -> Vec<Advice> {
        let st = self.state.locked();
        st.pending
            .values()
            .take(self.cfg.advice_batch.max(1))
            .copied()
            .collect()
    }

    pub fn sent(&self) {
        self.state.locked().stats.advices_sent += 1;
    }

    /// The issuer answered the advice: the approval is reconciled. (Twice
    /// is harmless: the second finds nothing pending.)
    pub fn acknowledged(&self, payment: PaymentId) {
        let mut st = self.state.locked();
        if st.pending.remove(&payment).is_some() {
            st.stats.advices_acknowledged += 1;
        }
    }

    /// Forgets an advice without telling the issuer: only the
    /// `lost-advice` sabotage does this.
    pub fn forget(&self, payment: PaymentId) {
        self.state.locked().pending.remove(&payment);
    }

    pub fn pending(&self) -> usize {
        self.state.locked().pending.len()
    }

    pub fn stats(&self) -> StandInStats {
        let st = self.state.locked();
        StandInStats {
            advices_pending: st.pending.len() as u64,
            ..st.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CustomerId;

    fn req(payment: u64, amount_minor: i64) -> AuthRequest {
        AuthRequest {
            payment: PaymentId(payment),
            customer: CustomerId(1),
            amount_minor,
            key: None,
            capture: false,
        }
    }

    fn small() -> StandIn {
        StandIn::new(StandInConfig {
            max_amount_minor: 100,
            per_card_limit_minor: 250,
            advices_max: 3,
            ..StandInConfig::default()
        })
    }

    const PAN: fn() -> Pan = || Pan::from_bin_and_account(411_111, 42);

    #[test]
    fn approves_small_amounts_up_to_the_card_limit() {
        let s = small();
        let issuer = IssuerId(0);
        assert!(s.approve(issuer, PAN(), req(1, 100)));
        assert!(!s.approve(issuer, PAN(), req(2, 101)), "above the amount");
        assert!(s.approve(issuer, PAN(), req(3, 100)));
        assert!(!s.approve(issuer, PAN(), req(4, 60)), "250 per card");
        assert!(s.approve(issuer, PAN(), req(5, 50)), "exactly to the limit");
        let st = s.stats();
        assert_eq!((st.approved, st.approved_minor), (3, 250));
        assert_eq!((st.refused_amount, st.refused_card_limit), (1, 1));
        assert_eq!(st.advices_pending, 3);
    }

    #[test]
    fn a_repeat_is_approved_once_and_acknowledged_once() {
        let s = small();
        assert!(s.approve(IssuerId(0), PAN(), req(1, 100)));
        assert!(s.approve(IssuerId(0), PAN(), req(1, 100)));
        assert_eq!(s.stats().approved, 1);
        assert_eq!(s.stats().approved_minor, 100, "the card was charged once");
        s.acknowledged(PaymentId(1));
        s.acknowledged(PaymentId(1));
        assert_eq!(s.stats().advices_acknowledged, 1);
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn stops_standing_in_when_advices_pile_up_and_sends_oldest_first() {
        let s = small();
        for p in [3, 1, 2] {
            let pan = Pan::from_bin_and_account(411_111, p);
            assert!(s.approve(IssuerId(0), pan, req(p, 10)));
        }
        let pan = Pan::from_bin_and_account(411_111, 9);
        assert!(!s.approve(IssuerId(0), pan, req(9, 10)));
        assert_eq!(s.stats().refused_advices_full, 1);
        let due: Vec<u64> = s.due().iter().map(|a| a.req.payment.0).collect();
        assert_eq!(due, vec![1, 2, 3]);
    }
}
