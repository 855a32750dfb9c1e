//! An issuer: the customer's bank. It keeps each customer's available balance
//! and credit line, decides authorizations (balance, per-payment limit, its own
//! risk engine), places holds, captures or releases them, expires the ones
//! nobody captured, and debits linked accounts directly for QR and bank
//! payments. Each decision and its journal entry happen under one lock, so no
//! two requests can spend the same money.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::domain::audit::{Account, BankRailKind, EntryKind};
use crate::domain::fingerprint::FxHashMap;
use crate::domain::{CustomerId, DeclineReason, IdemKey, IssuerId, PaymentId, RefundId};
use crate::lock::Locked;

use super::component::Component;
use super::config::IssuersConfig;
use super::ledger::Ledger;
use super::sabotage::{Sabotage, Sabotages};

struct CustomerAccount {
    available_minor: i64,
    floor_minor: i64,
}

#[derive(Clone, Copy)]
struct Hold {
    customer: CustomerId,
    amount_minor: i64,
    /// Set only under the `double-release-hold` sabotage: released by a void
    /// but (wrongly) left in the expiry index.
    released: bool,
}

#[derive(Default)]
struct State {
    accounts: FxHashMap<CustomerId, CustomerAccount>,
    holds: FxHashMap<PaymentId, Hold>,
    /// Holds in expiry order. Entries whose hold is gone are skipped.
    expiry: VecDeque<(u64, PaymentId)>,
}

pub struct Issuer {
    id: IssuerId,
    component: Component,
    cfg: IssuersConfig,
    ledger: Arc<Ledger>,
    sabotage: Sabotages,
    state: Mutex<State>,
}

/// An authorization request as it arrives from a card network.
#[derive(Clone, Copy, Debug)]
pub struct AuthRequest {
    pub payment: PaymentId,
    pub customer: CustomerId,
    pub amount_minor: i64,
    pub key: Option<IdemKey>,
    /// Authorize and capture in one message (a "sale").
    pub capture: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldError {
    /// No active hold: captured, released or expired already.
    NoHold,
    /// Capture above the held amount.
    AboveHold,
}

/// A direct debit of a linked account (QR wallet, bank transfer).
#[derive(Clone, Copy, Debug)]
pub struct Debit {
    pub payment: PaymentId,
    pub customer: CustomerId,
    pub amount_minor: i64,
    pub key: Option<IdemKey>,
}

/// Where a direct debit's money goes.
#[derive(Clone, Copy, Debug)]
pub enum DebitRail {
    Qr,
    Bank(BankRailKind),
}

impl Issuer {
    pub fn new(
        id: IssuerId,
        component: Component,
        cfg: IssuersConfig,
        ledger: Arc<Ledger>,
        sabotage: Sabotages,
    ) -> Issuer {
        Issuer {
            id,
            component,
            cfg,
            ledger,
            sabotage,
            state: Mutex::new(State::default()),
        }
    }

    pub fn id(&self) -> IssuerId {
        self.id
    }

    /// Opens a customer's account with its opening balance.
    pub fn open_account(&self, customer: CustomerId, opening_minor: i64, credit_limit_minor: i64) {
        let floor = -credit_limit_minor;
        self.ledger
            .open(Account::CustomerAvailable(customer), Some(floor));
        self.ledger.open(Account::CustomerHold(customer), Some(0));
        self.ledger.post(
            self.ledger
                .draft(EntryKind::Opening)
                .leg(Account::External, -opening_minor)
                .leg(Account::CustomerAvailable(customer), opening_minor),
        );
        self.state.locked().accounts.insert(
            customer,
            CustomerAccount {
                available_minor: opening_minor,
                floor_minor: floor,
            },
        );
    }

    /// Authorizes a card payment: places a hold (and captures it at once for
    /// a sale), or declines with a reason.
    pub async fn authorize(&self, req: AuthRequest) -> Result<(), DeclineReason> {
        let risky = self
            .component
            .rng()
            .with(|r| r.chance(self.cfg.risk_decline_share));
        self.component
            .serve(|| {
                let mut st = self.state.locked();
                let now = self.component.clock().now_us();
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
                self.ledger.post(
                    self.ledger
                        .draft(EntryKind::Hold)
                        .payment(req.payment)
                        .key(req.key)
                        .leg(Account::CustomerAvailable(req.customer), -req.amount_minor)
                        .leg(Account::CustomerHold(req.customer), req.amount_minor),
                );
                let hold = Hold {
                    customer: req.customer,
                    amount_minor: req.amount_minor,
                    released: false,
                };
                if req.capture {
                    self.post_capture(req.payment, hold, req.amount_minor, req.key);
                } else {
                    st.holds.insert(req.payment, hold);
                    let expires = now + (self.cfg.hold_expiry_s * 1e6) as u64;
                    st.expiry.push_back((expires, req.payment));
                }
                Ok(())
            })
            .await
    }

    /// Captures `amount_minor` of a hold; the rest returns to the customer.
    pub async fn capture(
        &self,
        payment: PaymentId,
        amount_minor: i64,
        key: Option<IdemKey>,
    ) -> Result<(), HoldError> {
        self.component
            .serve(|| {
                let mut st = self.state.locked();
                let hold = match st.holds.get(&payment) {
                    Some(h) if !h.released => *h,
                    _ => return Err(HoldError::NoHold),
                };
                if amount_minor > hold.amount_minor {
                    return Err(HoldError::AboveHold);
                }
                st.holds.remove(&payment);
                let rest = hold.amount_minor - amount_minor;
                if let Some(acct) = st.accounts.get_mut(&hold.customer) {
                    acct.available_minor += rest;
                }
                self.post_capture(payment, hold, amount_minor, key);
                Ok(())
            })
            .await
    }

    fn post_capture(
        &self,
        payment: PaymentId,
        hold: Hold,
        amount_minor: i64,
        key: Option<IdemKey>,
    ) {
        let rest = hold.amount_minor - amount_minor;
        let rest_leg = if self.sabotage.has(Sabotage::UnbalancedPosting) {
            0
        } else {
            rest
        };
        self.ledger.post(
            self.ledger
                .draft(EntryKind::HoldCapture)
                .payment(payment)
                .key(key)
                .leg(Account::CustomerHold(hold.customer), -hold.amount_minor)
                .leg(Account::IssuerSettlement(self.id), amount_minor)
                .leg(Account::CustomerAvailable(hold.customer), rest_leg),
        );
    }

    /// Releases a hold (a void).
    pub async fn release(&self, payment: PaymentId, key: Option<IdemKey>) -> Result<(), HoldError> {
        self.component
            .serve(|| {
                let mut st = self.state.locked();
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
                self.post_release(&mut st, payment, hold, key);
                Ok(())
            })
            .await
    }

    fn post_release(&self, st: &mut State, payment: PaymentId, hold: Hold, key: Option<IdemKey>) {
        if let Some(acct) = st.accounts.get_mut(&hold.customer) {
            acct.available_minor += hold.amount_minor;
        }
        self.ledger.post(
            self.ledger
                .draft(EntryKind::HoldRelease)
                .payment(payment)
                .key(key)
                .leg(Account::CustomerHold(hold.customer), -hold.amount_minor)
                .leg(Account::CustomerAvailable(hold.customer), hold.amount_minor),
        );
    }

    /// Releases every hold whose expiry has passed; returns their payments so
    /// the gateway can mark them voided. Runs in the issuer's batch window,
    /// without a per-hold network hop.
    pub fn expire_holds(&self, now_us: u64) -> Vec<PaymentId> {
        let mut st = self.state.locked();
        let mut expired = Vec::new();
        while let Some(&(at, payment)) = st.expiry.front() {
            if at > now_us {
                break;
            }
            st.expiry.pop_front();
            // Under the double-release sabotage a voided hold is still here
            // (marked released) and is released a second time.
            if let Some(hold) = st.holds.remove(&payment) {
                self.post_release(&mut st, payment, hold, None);
                expired.push(payment);
            }
        }
        expired
    }

    /// Debits a linked account directly after the rail's own hop (the QR
    /// provider's or the bank rail's), then the bank's.
    pub async fn debit_after_hop(
        &self,
        hop: &Component,
        d: Debit,
        rail: DebitRail,
    ) -> Result<(), DeclineReason> {
        hop.serve(|| ()).await;
        self.component
            .serve(|| self.debit_now(d.payment, d.customer, d.amount_minor, d.key, rail))
            .await
    }

    /// The debit itself, for callers that already paid the hop (a batch file).
    pub fn debit_now(
        &self,
        payment: PaymentId,
        customer: CustomerId,
        amount_minor: i64,
        key: Option<IdemKey>,
        rail: DebitRail,
    ) -> Result<(), DeclineReason> {
        let mut st = self.state.locked();
        let acct = st
            .accounts
            .get_mut(&customer)
            .ok_or(DeclineReason::UnknownAccount)?;
        if acct.available_minor - amount_minor < acct.floor_minor {
            return Err(DeclineReason::InsufficientFunds);
        }
        acct.available_minor -= amount_minor;
        let to = match rail {
            DebitRail::Qr => Account::QrClearing,
            DebitRail::Bank(kind) => Account::BankClearing(kind),
        };
        self.ledger.post(
            self.ledger
                .draft(EntryKind::Debit)
                .payment(payment)
                .key(key)
                .leg(Account::CustomerAvailable(customer), -amount_minor)
                .leg(to, amount_minor),
        );
        Ok(())
    }

    /// Credits a refund to the customer; the acquirer fronts the money and
    /// deducts it from the merchant's next deposit.
    pub async fn refund(
        &self,
        payment: PaymentId,
        refund: RefundId,
        customer: CustomerId,
        amount_minor: i64,
        key: Option<IdemKey>,
    ) {
        self.component
            .serve(|| {
                let mut st = self.state.locked();
                if let Some(acct) = st.accounts.get_mut(&customer) {
                    acct.available_minor += amount_minor;
                }
                self.ledger.post(
                    self.ledger
                        .draft(EntryKind::Refund)
                        .payment(payment)
                        .refund(refund)
                        .key(key)
                        .leg(Account::AcquirerClearing, -amount_minor)
                        .leg(Account::CustomerAvailable(customer), amount_minor),
                );
            })
            .await
    }

    /// When the most recently placed hold expires, if any is pending.
    pub fn last_expiry_us(&self) -> Option<u64> {
        self.state.locked().expiry.back().map(|(at, _)| *at)
    }

    pub fn holds_open(&self) -> usize {
        self.state.locked().holds.len()
    }
}
