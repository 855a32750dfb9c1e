//! An issuer: the customer's bank. It keeps each customer's available balance
//! and credit line, decides authorizations (balance, per-payment limit, its own
//! risk engine), places holds, captures or releases them, expires the ones
//! nobody captured, and debits linked accounts directly for QR and bank
//! payments. Each decision and its journal entry happen under one lock, so no
//! two requests can spend the same money.
//!
//! Every request arrives as an [`IssuerMsg`] with a network-level message id
//! (the payment's, or the refund's). The issuer remembers the answer to each
//! message for `message_log_s`: a repeat (the gateway asking again after a
//! timeout) or a duplicate delivery gets the first answer and moves no money,
//! as ISO 8583 networks do with a repeat of a message they already answered.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::chaos::{CallFault, FaultLayer, Skew};

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
    /// What the issuer put up because the customer could not cover a
    /// stand-in approval; returned to the issuer first when the hold is
    /// released or partly captured.
    fronted_minor: i64,
    /// Set only under the `double-release-hold` sabotage: released by a void
    /// but (wrongly) left in the expiry index.
    released: bool,
}

#[derive(Default)]
struct State {
    accounts: FxHashMap<CustomerId, CustomerAccount>,
    holds: FxHashMap<PaymentId, Hold>,
    /// Holds by expiry time, soonest first. A heap, not a queue: a skewed
    /// clock places holds out of order. Entries whose hold is gone are
    /// skipped.
    expiry: BinaryHeap<Reverse<(u64, PaymentId)>>,
    /// The latest expiry ever placed, for the drain phase.
    latest_expiry_us: Option<u64>,
    /// The answer to every message seen within the retention, by message id.
    answered: FxHashMap<u64, IssuerReply>,
    /// Message ids in the order they were answered: (answered_us, id).
    answered_order: VecDeque<(u64, u64)>,
    /// Fronted for stand-in approvals and not yet returned.
    exposure_minor: i64,
}

/// One request from a network or rail, with everything the issuer needs.
#[derive(Clone, Copy, Debug)]
pub enum IssuerMsg {
    Auth(AuthRequest),
    /// A card network approved this authorization on the issuer's behalf
    /// while the issuer was unreachable (stand-in); the issuer places the
    /// hold whatever the balance.
    Advice(AuthRequest),
    Capture {
        payment: PaymentId,
        amount_minor: i64,
        key: Option<IdemKey>,
    },
    Release {
        payment: PaymentId,
        key: Option<IdemKey>,
    },
    Debit(Debit, DebitRail),
    Refund {
        payment: PaymentId,
        refund: RefundId,
        customer: CustomerId,
        amount_minor: i64,
        key: Option<IdemKey>,
    },
}

impl IssuerMsg {
    /// The network-level message id: the kind in the top bits, then the
    /// payment's (or refund's) id. Two deliveries of one message share it.
    pub fn id(&self) -> u64 {
        let (kind, id) = match self {
            IssuerMsg::Auth(r) => (1u64, r.payment.0),
            IssuerMsg::Advice(r) => (6, r.payment.0),
            IssuerMsg::Capture { payment, .. } => (2, payment.0),
            IssuerMsg::Release { payment, .. } => (3, payment.0),
            IssuerMsg::Debit(d, _) => (4, d.payment.0),
            IssuerMsg::Refund { refund, .. } => (5, refund.0),
        };
        (kind << 60) | (id & ((1 << 60) - 1))
    }

    /// The payment the message is about.
    pub fn payment(&self) -> PaymentId {
        match *self {
            IssuerMsg::Auth(r) | IssuerMsg::Advice(r) => r.payment,
            IssuerMsg::Capture { payment, .. }
            | IssuerMsg::Release { payment, .. }
            | IssuerMsg::Refund { payment, .. } => payment,
            IssuerMsg::Debit(d, _) => d.payment,
        }
    }
}

/// The issuer's answer to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuerReply {
    Done,
    Declined(DeclineReason),
    Hold(HoldError),
}

pub struct Issuer {
    id: IssuerId,
    component: Component,
    cfg: IssuersConfig,
    ledger: Arc<Ledger>,
    sabotage: Sabotages,
    state: Mutex<State>,
    /// Faults aimed at `network->issuer` for this issuer, if any.
    inbound: Option<Arc<FaultLayer>>,
    /// This issuer's clock, under any clock skew aimed at it.
    skew: Skew,
    /// Whether to remember answers (see `Chaos::can_repeat_messages`).
    logs_messages: bool,
    /// The callers' breaker, bulkhead and timeout for this issuer.
    guard: Option<Arc<crate::resilience::Guard>>,
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
            inbound: None,
            skew: Skew::none(),
            logs_messages: false,
            guard: None,
        }
    }

    /// Puts this issuer behind its callers' breaker, bulkhead and timeout.
    pub fn with_guard(mut self, guard: Arc<crate::resilience::Guard>) -> Issuer {
        self.guard = guard.is_active().then_some(guard);
        self
    }

    /// Wraps this issuer in the faults a chaos plan aims at it.
    /// `logs_messages`: whether a message can ever arrive twice.
    pub fn with_faults(
        mut self,
        inbound: Option<Arc<FaultLayer>>,
        skew: Skew,
        logs_messages: bool,
    ) -> Issuer {
        self.inbound = inbound;
        self.skew = skew;
        self.logs_messages = logs_messages;
        self
    }

    /// Receives a message through the faults aimed at this issuer.
    pub async fn receive(self: &Arc<Self>, msg: IssuerMsg) -> Result<IssuerReply, CallFault> {
        self.receive_over(msg, None).await
    }

    /// Receives a message over one of a network's `links`, held until the
    /// answer. Taken inside the callers' guard: a bulkhead that refuses the
    /// call spares the shared links.
    pub async fn receive_over(
        self: &Arc<Self>,
        msg: IssuerMsg,
        links: Option<&tokio::sync::Semaphore>,
    ) -> Result<IssuerReply, CallFault> {
        let me = self.clone();
        let inner = crate::chaos::through(self.inbound.as_deref(), move || {
            let me = me.clone();
            async move { me.handle(msg).await }
        });
        let call = async move {
            // Never closed: Err cannot happen, and would only mean no wait.
            let _link = match links {
                Some(l) => l.acquire().await.ok(),
                None => None,
            };
            inner.await
        };
        // Boxed: the caller's future stays small however deep the layers.
        match &self.guard {
            Some(g) => Box::pin(g.call(call)).await,
            None => Box::pin(call).await,
        }
    }

    /// Whether callers' breaker for this issuer is open or half-open.
    pub fn breaker_open(&self) -> bool {
        self.guard.as_ref().is_some_and(|g| g.is_open())
    }

    /// Answers a message once; a repeat gets the stored answer.
    async fn handle(&self, msg: IssuerMsg) -> IssuerReply {
        let id = msg.id();
        let risky = matches!(msg, IssuerMsg::Auth(_))
            && self
                .component
                .rng()
                .with(|r| r.chance(self.cfg.risk_decline_share));
        self.component
            .serve(|| {
                let mut st = self.state.locked();
                if !self.logs_messages {
                    return self.apply(&mut st, msg, risky);
                }
                if let Some(first) = st.answered.get(&id) {
                    return *first;
                }
                let reply = self.apply(&mut st, msg, risky);
                let now = self.component.clock().now_us();
                st.answered.insert(id, reply);
                st.answered_order.push_back((now, id));
                reply
            })
            .await
    }

    fn apply(&self, st: &mut State, msg: IssuerMsg, risky: bool) -> IssuerReply {
        let declined = |r: Result<(), DeclineReason>| match r {
            Ok(()) => IssuerReply::Done,
            Err(reason) => IssuerReply::Declined(reason),
        };
        let held = |r: Result<(), HoldError>| match r {
            Ok(()) => IssuerReply::Done,
            Err(e) => IssuerReply::Hold(e),
        };
        match msg {
            IssuerMsg::Auth(req) => declined(self.authorize(st, req, risky)),
            IssuerMsg::Advice(req) => declined(self.advised(st, req)),
            IssuerMsg::Capture {
                payment,
                amount_minor,
                key,
            } => held(self.capture(st, payment, amount_minor, key)),
            IssuerMsg::Release { payment, key } => held(self.release(st, payment, key)),
            IssuerMsg::Debit(d, rail) => declined(self.debit(st, d, rail)),
            IssuerMsg::Refund {
                payment,
                refund,
                customer,
                amount_minor,
                key,
            } => {
                self.refund(st, payment, refund, customer, amount_minor, key);
                IssuerReply::Done
            }
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
    fn authorize(
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
    fn advised(&self, st: &mut State, req: AuthRequest) -> Result<(), DeclineReason> {
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
            st.answered_order.push_back((logged_at, auth_id));
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
    fn capture(
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
    fn release(
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

    /// Forgets answers older than the message log's retention.
    fn prune_answers(&self, st: &mut State, now_us: u64) {
        let keep_us = (self.cfg.message_log_s * 1e6) as u64;
        while let Some(&(at, id)) = st.answered_order.front() {
            if at + keep_us > now_us {
                break;
            }
            st.answered_order.pop_front();
            st.answered.remove(&id);
        }
    }

    /// The debit of a batch file: the rail already paid its hop, and a batch
    /// runs each transfer once, so no message log is involved.
    pub fn debit_now(
        &self,
        payment: PaymentId,
        customer: CustomerId,
        amount_minor: i64,
        key: Option<IdemKey>,
        rail: DebitRail,
    ) -> Result<(), DeclineReason> {
        let d = Debit {
            payment,
            customer,
            amount_minor,
            key,
        };
        self.debit(&mut self.state.locked(), d, rail)
    }

    /// Debits a linked account directly (QR wallet, bank transfer).
    fn debit(&self, st: &mut State, d: Debit, rail: DebitRail) -> Result<(), DeclineReason> {
        let Debit {
            payment,
            customer,
            amount_minor,
            key,
        } = d;
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
    fn refund(
        &self,
        st: &mut State,
        payment: PaymentId,
        refund: RefundId,
        customer: CustomerId,
        amount_minor: i64,
        key: Option<IdemKey>,
    ) {
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
    }

    /// The latest expiry of any hold placed (on this issuer's clock).
    pub fn last_expiry_us(&self) -> Option<u64> {
        self.state.locked().latest_expiry_us
    }

    pub fn holds_open(&self) -> usize {
        self.state.locked().holds.len()
    }

    /// Fronted for stand-in approvals and not yet returned.
    pub fn exposure_minor(&self) -> i64 {
        self.state.locked().exposure_minor
    }
}

#[cfg(test)]
mod tests;
