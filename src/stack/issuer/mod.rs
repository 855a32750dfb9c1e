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
//!
//! Layout: this file holds the issuer's state and answers messages;
//! `messages.rs` defines them, `holds.rs` moves card money through holds and
//! `debits.rs` moves the rest (direct debits, refunds).

mod debits;
mod holds;
mod messages;

pub use messages::{AuthRequest, Debit, DebitRail, HoldError, IssuerMsg, IssuerReply};

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};

use crate::chaos::{CallFault, FaultLayer, Skew};
use crate::sim::executor::boxed;

use crate::domain::audit::{Account, EntryKind};
use crate::domain::home_map::HomeMap;
use crate::domain::{CustomerId, DeclineReason, IssuerId, PaymentId};
use crate::lock::Locked;
use crate::stack::age_queue::AgeQueue;

use super::component::Component;
use super::config::IssuersConfig;
use super::ledger::Ledger;
use super::sabotage::Sabotages;

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
    /// [`HomeMap`]s, as `answered`: `handle` names the entry a message
    /// will read before its sleep.
    accounts: HomeMap<CustomerId, CustomerAccount>,
    holds: HomeMap<PaymentId, Hold>,
    /// Holds by expiry time, soonest first. A heap, not a queue: a skewed
    /// clock places holds out of order. Entries whose hold is gone are
    /// skipped.
    expiry: BinaryHeap<Reverse<(u64, PaymentId)>>,
    /// The latest expiry ever placed, for the drain phase.
    latest_expiry_us: Option<u64>,
    /// The answer to every message seen within the retention, by message id.
    /// A [`HomeMap`]: `handle` names the entry's line before its sleep.
    answered: HomeMap<u64, IssuerReply>,
    /// Message ids in the order they were answered.
    answered_order: AgeQueue<u64>,
    /// Fronted for stand-in approvals and not yet returned.
    exposure_minor: i64,
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
        links: Option<&crate::slots::Slots>,
    ) -> Result<IssuerReply, CallFault> {
        // A maker, so the call's future is made where it is awaited and
        // stored once (see `Guard::call`).
        let call = move || async move {
            let _link = match links {
                Some(l) => Some(l.take().await),
                None => None,
            };
            crate::chaos::through(self.inbound.as_deref(), || {
                let me = self.clone();
                async move { me.handle(msg).await }
            })
            .await
        };
        // Boxed: the caller's future stays small however deep the layers.
        match &self.guard {
            Some(g) => boxed(g.call(call)).await,
            None => boxed(call()).await,
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
        let lines = Component::hint(|| self.lines_read_by(&msg));
        self.component
            .serve_touching(lines, || {
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
                st.answered_order.push(now, id);
                reply
            })
            .await
    }

    /// Where the entries answering `msg` will read are: its line in the
    /// message log, the account (or for a capture or a release, the hold)
    /// it moves, and the customer's two balances in the ledger. Asked for
    /// ahead of the wake after the issuer's sleep.
    fn lines_read_by(&self, msg: &IssuerMsg) -> crate::sim::executor::Hint {
        let customer = match *msg {
            IssuerMsg::Auth(r) | IssuerMsg::Advice(r) => Some(r.customer),
            IssuerMsg::Debit(d, _) => Some(d.customer),
            IssuerMsg::Refund { customer, .. } => Some(customer),
            // The hold names the customer: unknown before it is read.
            IssuerMsg::Capture { .. } | IssuerMsg::Release { .. } => None,
        };
        let [available, held] = customer.map_or([0, 0], |c| {
            self.ledger
                .places([Account::CustomerAvailable(c), Account::CustomerHold(c)])
        });
        let st = self.state.locked();
        let logged = match self.logs_messages {
            true => st.answered.home(&msg.id()),
            false => 0,
        };
        let moved = match (*msg, customer) {
            (IssuerMsg::Capture { payment, .. } | IssuerMsg::Release { payment, .. }, _) => {
                st.holds.home(&payment)
            }
            (_, Some(c)) => st.accounts.home(&c),
            (_, None) => 0,
        };
        [logged, moved, available, held]
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

    /// Makes room for `n` more accounts at once (the world's customers of
    /// this issuer), so opening them does not grow the table step by step.
    pub fn reserve_accounts(&self, n: usize) {
        self.state.locked().accounts.reserve(n);
    }

    /// Room in the message log for one message a payment of `payments`
    /// (the issuer's customers' payments in the run's busiest
    /// `message_log_s`, the most the log holds at once), if it keeps one.
    /// Grown by doubling instead, the log left every smaller copy behind,
    /// about as much memory again as its final size (60 MB on the million
    /// benchmark), and memory touched for the first time is what the
    /// kernel's share of a run pays for.
    ///
    /// One message a payment: the authorization or debit every payment
    /// sends. Captures, refunds and releases come on top (0.25 a payment on
    /// the million benchmark, fewer at the Singles' Day peak); counting them
    /// too (1.25) made the peak's logs a power of two too large, 59 MiB
    /// more at a tenth of it than growing by doubling, where one a payment
    /// took 75 MiB less. So a log grows at most once more.
    pub fn reserve_messages(&self, payments: usize) {
        if self.logs_messages {
            let mut st = self.state.locked();
            st.answered.reserve(payments);
            st.answered_order.reserve(payments);
        }
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

    /// Forgets answers older than the message log's retention.
    fn prune_answers(&self, st: &mut State, now_us: u64) {
        let keep_us = (self.cfg.message_log_s * 1e6) as u64;
        while let Some(id) = st.answered_order.pop_expired(now_us, keep_us) {
            st.answered.remove(&id);
        }
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
