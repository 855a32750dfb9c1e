//! A small, correct mini-stack for writing checker tests: it records client
//! history and posts the audit trail a correct stack would post, keeps its
//! own balances and payment rows, and at the end appends the final reads.
//!
//! Tests build a correct run with the high-level calls (`create`, `capture`,
//! `refund`, `settle`, `webhook`...) and plant exactly one bug with the
//! low-level ones (`post`, `audit`, `invoke`/`ok`, or by editing the records
//! `finish` returns), then assert which invariants fail.
//!
//! This file holds the scenario's state and the low-level calls; the rest is
//! one file per idea: `correct_stack.rs` (what a correct stack posts),
//! `client.rs` (requests with their history), `settlement.rs`, `webhooks.rs`,
//! `judge.rs` (the end of a run and the assertions on its verdict) and
//! `rich_scenario.rs` (one correct run of every flow).

mod client;
mod correct_stack;
mod judge;
mod rich_scenario;
mod settlement;
mod webhooks;

pub(super) use judge::{assert_failed, config, example, run, violations};
pub(super) use rich_scenario::rich_scenario;

use std::collections::BTreeMap;

use crate::domain::audit::EntryKind;
use crate::domain::audit::{
    Account, AuditRecord, BankRailKind, EventKind, JournalEntry, SettlementLineKind,
};
use crate::domain::history::{
    Failure, HistoryEvent, HistoryKind, InfoReason, Invocation, ReplySummary,
};
use crate::domain::{
    ApiError, BatchId, CaptureMode, CreateParams, Currency, CustomerId, DeviceId, EntryId,
    FeeTable, IdemKey, IssuerId, MerchantId, Method, Money, NetworkId, OpId, Operation, PaymentId,
    Rail, RefundId, Status, Token,
};

pub(super) const USD: Currency = Currency::USD;
pub(super) const ISSUER: IssuerId = IssuerId(1);
pub(super) const NETWORK: NetworkId = NetworkId(1);

#[derive(Clone, Copy, Debug)]
pub(super) enum Rec {
    H(HistoryEvent),
    A(AuditRecord),
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Row {
    pub merchant: MerchantId,
    pub customer: CustomerId,
    pub method: Method,
    pub amount: i64,
    pub status: Status,
    /// Amount currently on hold.
    pub held: i64,
    pub captured: i64,
    pub refunded: i64,
}

/// A settlement line waiting for the next batch.
#[derive(Clone, Copy, Debug)]
struct Unsettled {
    merchant: MerchantId,
    payment: PaymentId,
    rail: Rail,
    kind: SettlementLineKind,
    amount: i64,
}

pub(super) fn rail_of(method: Method) -> Rail {
    match method {
        Method::CardOnline | Method::CardNfc => Rail::Card(NETWORK),
        Method::QrWallet => Rail::Qr,
        Method::BankInstant => Rail::BankInstant,
        Method::BankBatch => Rail::BankBatch,
    }
}

fn clearing_of(method: Method) -> Account {
    match method {
        Method::CardOnline | Method::CardNfc => Account::IssuerSettlement(ISSUER),
        Method::QrWallet => Account::QrClearing,
        Method::BankInstant => Account::BankClearing(BankRailKind::Instant),
        Method::BankBatch => Account::BankClearing(BankRailKind::Batch),
    }
}

pub(super) struct Scenario {
    pub recs: Vec<Rec>,
    pub fees: FeeTable,
    pub rows: BTreeMap<PaymentId, Row>,
    balances: BTreeMap<(Account, Currency), i64>,
    unsettled: Vec<Unsettled>,
    clock_us: u64,
    next_op: u64,
    next_entry: u64,
    next_payment: u64,
    next_refund: u64,
    next_key: u64,
    next_event: u64,
    next_batch: u32,
    /// Event kinds emitted per payment, so the end of a correct run can
    /// announce any final status nobody announced yet.
    announced: BTreeMap<PaymentId, Vec<EventKind>>,
}

impl Scenario {
    pub(super) fn new() -> Scenario {
        let mut s = Scenario {
            recs: Vec::new(),
            fees: FeeTable::default(),
            announced: BTreeMap::new(),
            rows: BTreeMap::new(),
            balances: BTreeMap::new(),
            unsettled: Vec::new(),
            clock_us: 0,
            next_op: 1,
            next_entry: 1,
            next_payment: 1,
            next_refund: 1,
            next_key: 1,
            next_event: 1,
            next_batch: 1,
        };
        s.audit(AuditRecord::AccountOpened {
            account: Account::External,
            currency: USD,
            floor_minor: None,
        });
        s
    }

    // ---- low level -------------------------------------------------------

    pub(super) fn audit(&mut self, rec: AuditRecord) {
        self.recs.push(Rec::A(rec));
    }

    fn tick(&mut self) -> u64 {
        self.clock_us += 10;
        self.clock_us
    }

    /// Keys as paystorm's clients make them, one journey each, in
    /// increasing order: a journey's first or second key (which the
    /// checker's key table keeps in its vector), and every third a third
    /// key (kept in the table's hash map beside it), so every judgement is
    /// tested on both.
    pub(super) fn new_key(&mut self) -> IdemKey {
        let n = self.next_key;
        self.next_key += 1;
        let number = if n % 3 == 0 { 3 } else { n % 2 + 1 };
        IdemKey(crate::load::journey::key_base(n) | number)
    }

    pub(super) fn new_payment_id(&mut self) -> PaymentId {
        let p = PaymentId(self.next_payment);
        self.next_payment += 1;
        p
    }

    pub(super) fn invoke(
        &mut self,
        merchant: MerchantId,
        key: Option<IdemKey>,
        op: Operation,
        attempt: u16,
    ) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        let at_us = self.tick();
        self.recs.push(Rec::H(HistoryEvent {
            at_us,
            op: id,
            kind: HistoryKind::Invoke(Invocation {
                merchant,
                key,
                op,
                attempt,
            }),
        }));
        id
    }

    pub(super) fn complete(&mut self, op: OpId, kind: HistoryKind) {
        let at_us = self.tick();
        self.recs.push(Rec::H(HistoryEvent { at_us, op, kind }));
    }

    pub(super) fn ok(&mut self, op: OpId, reply: ReplySummary) {
        self.complete(op, HistoryKind::Ok(reply));
    }

    pub(super) fn err(&mut self, op: OpId, e: ApiError) {
        self.complete(op, HistoryKind::Fail(Failure::Api(e)));
    }

    pub(super) fn info(&mut self, op: OpId) {
        self.complete(op, HistoryKind::Info(InfoReason::Timeout));
    }

    /// Posts a journal entry and applies it to the scenario's own balances.
    pub(super) fn post(
        &mut self,
        kind: EntryKind,
        payment: Option<PaymentId>,
        refund: Option<RefundId>,
        key: Option<IdemKey>,
        batch: Option<BatchId>,
        legs: &[(Account, i64)],
    ) -> EntryId {
        let id = EntryId(self.next_entry);
        self.next_entry += 1;
        let mut e = JournalEntry::new(id, self.tick(), kind, USD);
        e.payment = payment;
        e.refund = refund;
        e.key = key;
        e.batch = batch;
        for &(account, minor) in legs {
            e = e.leg(account, minor);
            *self.balances.entry((account, USD)).or_insert(0) += minor;
        }
        self.audit(AuditRecord::Journal(e));
        id
    }

    // ---- accounts and requests -------------------------------------------

    /// Opens a customer's accounts (floors at 0) with `funds` available.
    pub(super) fn customer(&mut self, c: u32, funds: i64) -> CustomerId {
        let c = CustomerId(c);
        for account in [Account::CustomerAvailable(c), Account::CustomerHold(c)] {
            self.audit(AuditRecord::AccountOpened {
                account,
                currency: USD,
                floor_minor: Some(0),
            });
        }
        self.post(
            EntryKind::Opening,
            None,
            None,
            None,
            None,
            &[
                (Account::External, -funds),
                (Account::CustomerAvailable(c), funds),
            ],
        );
        c
    }

    pub(super) fn params(
        &self,
        merchant: MerchantId,
        customer: CustomerId,
        amount: i64,
        method: Method,
        capture: CaptureMode,
    ) -> CreateParams {
        CreateParams {
            merchant,
            customer,
            amount: Money::new(amount, USD),
            method,
            capture,
            token: method
                .is_card()
                .then_some((Token(u64::from(customer.0) + 1000), DeviceId(7))),
            callback: false,
        }
    }

    pub(super) fn reply(&self, p: PaymentId, refund: Option<RefundId>) -> ReplySummary {
        let row = self.rows[&p];
        ReplySummary {
            payment: p,
            refund,
            amount_minor: row.amount,
            status: row.status,
            replayed: false,
        }
    }
}
