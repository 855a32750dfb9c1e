//! Card holds: an authorization (or a network's stand-in advice) places one,
//! and a capture, a void or the expiry sweep ends it, returning what the
//! issuer fronted before what the customer put up. Apart from the message
//! handling because this is where card money moves.

use std::cmp::Reverse;

use crate::domain::audit::{Account, EntryKind};
use crate::domain::{DeclineReason, IdemKey, PaymentId};
use crate::lock::Locked;
use crate::stack::sabotage::Sabotage;

use super::{AuthRequest, Hold, HoldError, Issuer, IssuerMsg, IssuerReply, State};

impl Issuer {
    /// Authorizes a card payment: places a hold (and captures it at once for
    /// a sale), or declines with a reason.
    pub(super) fn authorize(
        &self,
        st: &mut State,
        req: AuthRequest,
        risky: bool,
    ) -> Result<(), DeclineReason> {
        let now = self.skew.read(self.component.clock().now_us());
        let acct = st
            .accounts
            .get_mut(&req.customer)
            .ok_or(DeclineReason::UnknownAccount)?;
        if req.amount_minor > self.cfg.per_payment_limit_minor {
            return Err(DeclineReason::LimitExceeded);
        }
        if risky {
            return Err(DeclineReason::SuspectedFraud);
        }
        if acct.available_minor - req.amount_minor < acct.floor_minor {
            return Err(DeclineReason::InsufficientFunds);
        }
        acct.available_minor -= req.amount_minor;
        self.place_hold(st, req, now, 0);
        Ok(())
    }

    /// Places the hold of a stand-in approval, whatever the balance: what
    /// the customer cannot cover, the issuer fronts (its exposure). The
    /// hold expires `hold_expiry_s` after the advice arrives.
    ///
    /// The network's approval binds the issuer, and the authorization it
    /// answered may have reached the issuer too (its answer lost on the
    /// way): if the issuer approved it, the hold is there already; if it
    /// declined, the advice overrides. Either way the authorization's
    /// logged answer becomes the approval, so a late or repeated copy of it
    /// moves no money.
    pub(super) fn advised(&self, st: &mut State, req: AuthRequest) -> Result<(), DeclineReason> {
        let auth_id = IssuerMsg::Auth(req).id();
        if self.logs_messages && st.answered.get(&auth_id) == Some(&IssuerReply::Done) {
            return Ok(());
        }
        let now = self.skew.read(self.component.clock().now_us());
        let acct = st
            .accounts
            .get_mut(&req.customer)
            .ok_or(DeclineReason::UnknownAccount)?;
        let covered = (acct.available_minor - acct.floor_minor).clamp(0, req.amount_minor);
        acct.available_minor -= covered;
        let fronted = req.amount_minor - covered;
        st.exposure_minor += fronted;
        self.place_hold(st, req, now, fronted);
        if self.logs_messages {
            st.answered.insert(auth_id, IssuerReply::Done);
            let logged_at = self.component.clock().now_us();
            st.answered_order.push(logged_at, auth_id);
        }
        Ok(())
    }

    /// Posts a hold of `req.amount_minor`, `fronted` of it from the
    /// issuer's stand-in account and the rest from the customer, and
    /// captures it at once for a sale.
    fn place_hold(&self, st: &mut State, req: AuthRequest, now: u64, fronted: i64) {
        // A zero leg is left out: without stand-in, two legs as ever.
        self.ledger.post(
            self.ledger
                .draft(EntryKind::Hold)
                .payment(req.payment)
                .key(req.key)
                .leg(
                    Account::CustomerAvailable(req.customer),
                    -(req.amount_minor - fronted),
                )
                .leg(Account::CustomerHold(req.customer), req.amount_minor)
                .leg(Account::IssuerStandIn(self.id), -fronted),
        );
        let hold = Hold {
            customer: req.customer,
            amount_minor: req.amount_minor,
            fronted_minor: fronted,
            released: false,
        };
        if req.capture {
            self.post_capture(st, req.payment, hold, req.amount_minor, req.key);
        } else {
            st.holds.insert(req.payment, hold);
            let expires = now + (self.cfg.hold_expiry_s * 1e6) as u64;
            st.expiry.push(Reverse((expires, req.payment)));
            st.latest_expiry_us = st.latest_expiry_us.max(Some(expires));
        }
    }

    /// Captures `amount_minor` of a hold; the rest returns to the customer.
    pub(super) fn capture(
        &self,
        st: &mut State,
        payment: PaymentId,
        amount_minor: i64,
        key: Option<IdemKey>,
    ) -> Result<(), HoldError> {
        let hold = match st.holds.get(&payment) {
            Some(h) if !h.released => *h,
            _ => return Err(HoldError::NoHold),
        };
        if amount_minor > hold.amount_minor {
            return Err(HoldError::AboveHold);
        }
        st.holds.remove(&payment);
        self.post_capture(st, payment, hold, amount_minor, key);
        Ok(())
    }

    /// Splits what returns from a hold (`rest`): the issuer's fronted money
    /// first, then the customer's; credits the customer's available
    /// balance and lowers the exposure. Returns (to customer, to issuer).
    fn give_back(&self, st: &mut State, hold: Hold, rest: i64) -> (i64, i64) {
        let to_issuer = rest.min(hold.fronted_minor);
        let to_customer = rest - to_issuer;
        st.exposure_minor -= to_issuer;
        if let Some(acct) = st.accounts.get_mut(&hold.customer) {
            acct.available_minor += to_customer;
        }
        (to_customer, to_issuer)
    }

    fn post_capture(
        &self,
        st: &mut State,
        payment: PaymentId,
        hold: Hold,
        amount_minor: i64,
        key: Option<IdemKey>,
    ) {
        let (to_customer, to_issuer) = self.give_back(st, hold, hold.amount_minor - amount_minor);
        let rest_leg = if self.sabotage.has(Sabotage::UnbalancedPosting) {
            0
        } else {
            to_customer
        };
        self.ledger.post(
            self.ledger
                .draft(EntryKind::HoldCapture)
                .payment(payment)
                .key(key)
                .leg(Account::CustomerHold(hold.customer), -hold.amount_minor)
                .leg(Account::IssuerSettlement(self.id), amount_minor)
                .leg(Account::CustomerAvailable(hold.customer), rest_leg)
                .leg(Account::IssuerStandIn(self.id), to_issuer),
        );
    }

    /// Releases a hold (a void).
    pub(super) fn release(
        &self,
        st: &mut State,
        payment: PaymentId,
        key: Option<IdemKey>,
    ) -> Result<(), HoldError> {
        let hold = match st.holds.get(&payment) {
            Some(h) if !h.released => *h,
            _ => return Err(HoldError::NoHold),
        };
        if self.sabotage.has(Sabotage::DoubleReleaseHold) {
            if let Some(h) = st.holds.get_mut(&payment) {
                h.released = true;
            }
        } else {
            st.holds.remove(&payment);
        }
        self.post_release(st, payment, hold, key);
        Ok(())
    }

    fn post_release(&self, st: &mut State, payment: PaymentId, hold: Hold, key: Option<IdemKey>) {
        let (to_customer, to_issuer) = self.give_back(st, hold, hold.amount_minor);
        self.ledger.post(
            self.ledger
                .draft(EntryKind::HoldRelease)
                .payment(payment)
                .key(key)
                .leg(Account::CustomerHold(hold.customer), -hold.amount_minor)
                .leg(Account::CustomerAvailable(hold.customer), to_customer)
                .leg(Account::IssuerStandIn(self.id), to_issuer),
        );
    }

    /// Releases every hold whose expiry has passed; returns their payments so
    /// the gateway can mark them voided. Runs in the issuer's batch window,
    /// without a per-hold network hop.
    pub fn expire_holds(&self, now_us: u64) -> Vec<PaymentId> {
        let mut st = self.state.locked();
        self.prune_answers(&mut st, now_us);
        let now_us = self.skew.read(now_us);
        let mut expired = Vec::new();
        while let Some(&Reverse((at, payment))) = st.expiry.peek() {
            if at > now_us {
                break;
            }
            st.expiry.pop();
            // Under the double-release sabotage a voided hold is still here
            // (marked released) and is released a second time.
            if let Some(hold) = st.holds.remove(&payment) {
                self.post_release(&mut st, payment, hold, None);
                expired.push(payment);
            }
        }
        expired
    }
}
