//! A small, correct mini-stack for writing checker tests: it records client
//! history and posts the audit trail a correct stack would post, keeps its
//! own balances and payment rows, and at the end appends the final reads.
//!
//! Tests build a correct run with the high-level calls (`create`, `capture`,
//! `refund`, `settle`, `webhook`...) and plant exactly one bug with the
//! low-level ones (`post`, `audit`, `invoke`/`ok`, or by editing the records
//! `finish` returns), then assert which invariants fail.

use std::collections::BTreeMap;

use crate::domain::audit::EntryKind;
use crate::domain::audit::{
    Account, AuditRecord, BankRailKind, EventKind, JournalEntry, SettlementLine, SettlementLineKind,
};
use crate::domain::fingerprint::hash_words;
use crate::domain::history::{
    Failure, HistoryEvent, HistoryKind, InfoReason, Invocation, ReplySummary,
};
use crate::domain::{
    ApiError, BatchId, CaptureMode, CreateParams, Currency, CustomerId, DeclineReason, DeviceId,
    EntryId, EventId, FeeSchedule, FeeTable, IdemKey, IssuerId, MerchantId, Method, Money,
    NetworkId, OpId, Operation, PaymentId, Rail, RefundId, Status, Token,
};

use super::{CheckConfig, Checker, Verdict};

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

    pub(super) fn new_key(&mut self) -> IdemKey {
        let k = IdemKey(self.next_key);
        self.next_key += 1;
        k
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

    // ---- what a correct stack does (audit only, no history) --------------

    /// Inserts the payment row and posts what creating it moves.
    pub(super) fn execute_create(&mut self, key: Option<IdemKey>, p: &CreateParams) -> PaymentId {
        let id = self.new_payment_id();
        self.audit(AuditRecord::PaymentCreated {
            payment: id,
            merchant: p.merchant,
            key,
            params_fingerprint: p.fingerprint(),
            amount: p.amount,
            method: p.method,
        });
        let a = p.amount.minor;
        let c = p.customer;
        let mut row = Row {
            merchant: p.merchant,
            customer: c,
            method: p.method,
            amount: a,
            status: Status::Captured,
            held: 0,
            captured: 0,
            refunded: 0,
        };
        match p.method {
            Method::CardOnline | Method::CardNfc => {
                self.post(
                    EntryKind::Hold,
                    Some(id),
                    None,
                    key,
                    None,
                    &[
                        (Account::CustomerAvailable(c), -a),
                        (Account::CustomerHold(c), a),
                    ],
                );
                row.held = a;
                row.status = Status::Authorized;
            }
            Method::QrWallet | Method::BankInstant => {
                self.post(
                    EntryKind::Debit,
                    Some(id),
                    None,
                    key,
                    None,
                    &[
                        (Account::CustomerAvailable(c), -a),
                        (clearing_of(p.method), a),
                    ],
                );
                row.captured = a;
                self.unsettled.push(Unsettled {
                    merchant: p.merchant,
                    payment: id,
                    rail: rail_of(p.method),
                    kind: SettlementLineKind::Capture,
                    amount: a,
                });
            }
            Method::BankBatch => row.status = Status::Processing,
        }
        self.rows.insert(id, row);
        if p.method.is_card() && p.capture == CaptureMode::Automatic {
            self.execute_capture(id, key, a);
        }
        id
    }

    /// Inserts a declined payment row (no money moves).
    pub(super) fn execute_decline(&mut self, key: Option<IdemKey>, p: &CreateParams) -> PaymentId {
        let id = self.new_payment_id();
        self.audit(AuditRecord::PaymentCreated {
            payment: id,
            merchant: p.merchant,
            key,
            params_fingerprint: p.fingerprint(),
            amount: p.amount,
            method: p.method,
        });
        self.rows.insert(
            id,
            Row {
                merchant: p.merchant,
                customer: p.customer,
                method: p.method,
                amount: p.amount.minor,
                status: Status::Declined,
                held: 0,
                captured: 0,
                refunded: 0,
            },
        );
        id
    }

    pub(super) fn execute_capture(&mut self, p: PaymentId, key: Option<IdemKey>, amount: i64) {
        let row = self.rows[&p];
        let c = row.customer;
        let mut legs = vec![
            (Account::CustomerHold(c), -row.held),
            (Account::IssuerSettlement(ISSUER), amount),
        ];
        // The unused part of the hold returns to available; capturing more
        // than the hold (a bug) takes the difference from available.
        if amount != row.held {
            legs.push((Account::CustomerAvailable(c), row.held - amount));
        }
        self.post(EntryKind::HoldCapture, Some(p), None, key, None, &legs);
        let row = self.rows.get_mut(&p).unwrap();
        row.held = 0;
        row.captured += amount;
        row.status = Status::Captured;
        self.unsettled.push(Unsettled {
            merchant: row.merchant,
            payment: p,
            rail: rail_of(row.method),
            kind: SettlementLineKind::Capture,
            amount,
        });
    }

    /// Releases the hold: a void (with its key) or an expiry (key `None`).
    pub(super) fn execute_release(&mut self, p: PaymentId, key: Option<IdemKey>) {
        let row = self.rows[&p];
        let c = row.customer;
        self.post(
            EntryKind::HoldRelease,
            Some(p),
            None,
            key,
            None,
            &[
                (Account::CustomerHold(c), -row.held),
                (Account::CustomerAvailable(c), row.held),
            ],
        );
        let row = self.rows.get_mut(&p).unwrap();
        row.held = 0;
        row.status = Status::Voided;
    }

    /// The batch rail ran: the debit happened (`succeeded`) or bounced.
    pub(super) fn execute_bank_batch(
        &mut self,
        p: PaymentId,
        key: Option<IdemKey>,
        succeeded: bool,
    ) {
        let row = self.rows[&p];
        if succeeded {
            self.post(
                EntryKind::Debit,
                Some(p),
                None,
                key,
                None,
                &[
                    (Account::CustomerAvailable(row.customer), -row.amount),
                    (clearing_of(row.method), row.amount),
                ],
            );
            self.unsettled.push(Unsettled {
                merchant: row.merchant,
                payment: p,
                rail: rail_of(row.method),
                kind: SettlementLineKind::Capture,
                amount: row.amount,
            });
        }
        let row = self.rows.get_mut(&p).unwrap();
        if succeeded {
            row.captured = row.amount;
            row.status = Status::Captured;
        } else {
            row.status = Status::Failed;
        }
    }

    pub(super) fn execute_refund(
        &mut self,
        p: PaymentId,
        key: Option<IdemKey>,
        amount: i64,
    ) -> RefundId {
        let r = RefundId(self.next_refund);
        self.next_refund += 1;
        let row = self.rows[&p];
        self.post(
            EntryKind::Refund,
            Some(p),
            Some(r),
            key,
            None,
            &[
                (Account::AcquirerClearing, -amount),
                (Account::CustomerAvailable(row.customer), amount),
            ],
        );
        let row = self.rows.get_mut(&p).unwrap();
        row.refunded += amount;
        if row.refunded >= row.captured {
            row.status = Status::Refunded;
        }
        self.unsettled.push(Unsettled {
            merchant: row.merchant,
            payment: p,
            rail: rail_of(row.method),
            kind: SettlementLineKind::Refund,
            amount,
        });
        r
    }

    // ---- a client talking to a correct stack -----------------------------

    /// One keyed create that succeeds on its first attempt.
    pub(super) fn create(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
        amount: i64,
        method: Method,
        capture: CaptureMode,
    ) -> (IdemKey, PaymentId) {
        let key = self.new_key();
        let params = self.params(merchant, customer, amount, method, capture);
        let op = self.invoke(merchant, Some(key), Operation::Create(params), 1);
        let p = self.execute_create(Some(key), &params);
        let reply = self.reply(p, None);
        self.ok(op, reply);
        (key, p)
    }

    /// A card payment, captured at once.
    pub(super) fn card(
        &mut self,
        merchant: u32,
        customer: CustomerId,
        amount: i64,
    ) -> (IdemKey, PaymentId) {
        self.create(
            MerchantId(merchant),
            customer,
            amount,
            Method::CardOnline,
            CaptureMode::Automatic,
        )
    }

    pub(super) fn capture(&mut self, p: PaymentId, amount: i64) -> IdemKey {
        let m = self.rows[&p].merchant;
        let key = self.new_key();
        let op = self.invoke(
            m,
            Some(key),
            Operation::Capture {
                payment: p,
                amount_minor: amount,
            },
            1,
        );
        self.execute_capture(p, Some(key), amount);
        let reply = self.reply(p, None);
        self.ok(op, reply);
        key
    }

    pub(super) fn void(&mut self, p: PaymentId) -> IdemKey {
        let m = self.rows[&p].merchant;
        let key = self.new_key();
        let op = self.invoke(m, Some(key), Operation::Void { payment: p }, 1);
        self.execute_release(p, Some(key));
        let reply = self.reply(p, None);
        self.ok(op, reply);
        key
    }

    pub(super) fn refund(&mut self, p: PaymentId, amount: i64) -> (IdemKey, RefundId) {
        let m = self.rows[&p].merchant;
        let key = self.new_key();
        let op = self.invoke(
            m,
            Some(key),
            Operation::Refund {
                payment: p,
                amount_minor: amount,
            },
            1,
        );
        let r = self.execute_refund(p, Some(key), amount);
        let reply = self.reply(p, Some(r));
        self.ok(op, reply);
        (key, r)
    }

    // ---- settlement ------------------------------------------------------

    /// Queues a settlement line for the next batch, as a capture or refund
    /// does (for planting a line settled twice).
    pub(super) fn queue_line(&mut self, p: PaymentId, kind: SettlementLineKind, amount: i64) {
        let row = self.rows[&p];
        self.unsettled.push(Unsettled {
            merchant: row.merchant,
            payment: p,
            rail: rail_of(row.method),
            kind,
            amount,
        });
    }

    /// Settles everything captured or refunded since the last batch, with the
    /// contracted fees.
    pub(super) fn settle(&mut self) -> BatchId {
        self.settle_with(|s, amount| s.fee_minor(amount))
    }

    /// Settles with `fee` as the acquirer's fee rule (for planting bugs).
    pub(super) fn settle_with(&mut self, fee: impl Fn(&FeeSchedule, i64) -> i64) -> BatchId {
        let batch = BatchId(self.next_batch);
        self.next_batch += 1;
        let lines = std::mem::take(&mut self.unsettled);
        // (net, fee) per merchant, in merchant order.
        let mut per_merchant: BTreeMap<MerchantId, (i64, i64)> = BTreeMap::new();
        for u in &lines {
            self.audit(AuditRecord::Settlement(SettlementLine {
                batch,
                merchant: u.merchant,
                payment: u.payment,
                rail: u.rail,
                kind: u.kind,
                amount_minor: u.amount,
            }));
            let m = per_merchant.entry(u.merchant).or_default();
            match u.kind {
                SettlementLineKind::Capture => {
                    let from = clearing_of(self.rows[&u.payment].method);
                    self.post(
                        EntryKind::SettlementClearing,
                        None,
                        None,
                        None,
                        Some(batch),
                        &[(from, -u.amount), (Account::AcquirerClearing, u.amount)],
                    );
                    m.0 += u.amount;
                    m.1 += fee(&self.fees.for_rail(u.rail), u.amount);
                }
                SettlementLineKind::Refund => m.0 -= u.amount,
            }
        }
        for (merchant, (gross, fee)) in per_merchant {
            self.post(
                EntryKind::SettlementDeposit,
                None,
                None,
                None,
                Some(batch),
                &[
                    (Account::AcquirerClearing, -gross),
                    (Account::Merchant(merchant), gross - fee),
                    (Account::Fees, fee),
                ],
            );
        }
        batch
    }

    // ---- webhooks --------------------------------------------------------

    pub(super) fn payload_hash(event: EventId, kind: EventKind) -> u64 {
        hash_words(&[event.0, kind as u64])
    }

    pub(super) fn emit(&mut self, p: PaymentId, kind: EventKind) -> EventId {
        let event = EventId(self.next_event);
        self.next_event += 1;
        let merchant = self.rows.get(&p).map_or(MerchantId(1), |r| r.merchant);
        self.announced.entry(p).or_default().push(kind);
        self.audit(AuditRecord::EventEmitted {
            event,
            merchant,
            payment: p,
            kind,
            payload_hash: Self::payload_hash(event, kind),
        });
        event
    }

    pub(super) fn receive(
        &mut self,
        event: EventId,
        payload_hash: u64,
        signature_valid: bool,
        applied: bool,
    ) {
        self.audit(AuditRecord::EventReceived {
            event,
            payload_hash,
            signature_valid,
            applied,
        });
    }

    /// An event emitted and delivered once, validly, and applied.
    pub(super) fn webhook(&mut self, p: PaymentId, kind: EventKind) -> EventId {
        let event = self.emit(p, kind);
        self.receive(event, Self::payload_hash(event, kind), true, true);
        event
    }

    // ---- the end ---------------------------------------------------------

    /// Appends the end-of-run reads (payment rows, balances) a correct stack
    /// reports, and returns every record.
    pub(super) fn finish(mut self) -> Vec<Rec> {
        let rows: Vec<_> = self.rows.iter().map(|(p, r)| (*p, *r)).collect();
        // A correct stack announces every status it leaves a payment in.
        for (payment, r) in &rows {
            let kinds = self.announced.get(payment).cloned().unwrap_or_default();
            let wanted: &[EventKind] = match r.status {
                Status::Processing => &[EventKind::PaymentProcessing],
                Status::Authorized => &[EventKind::PaymentAuthorized],
                Status::Captured => &[EventKind::PaymentSucceeded, EventKind::PaymentCaptured],
                Status::Refunded => &[EventKind::PaymentRefunded],
                Status::Voided => &[EventKind::PaymentVoided],
                Status::Declined => &[EventKind::PaymentDeclined],
                Status::Failed => &[EventKind::PaymentFailed],
            };
            if !kinds.iter().any(|k| wanted.contains(k)) {
                self.webhook(*payment, wanted[0]);
            }
        }
        for (payment, r) in rows {
            self.audit(AuditRecord::PaymentFinal {
                payment,
                status: r.status,
                amount_minor: r.amount,
                captured_minor: r.captured,
                refunded_minor: r.refunded,
            });
        }
        let balances: Vec<_> = self.balances.iter().map(|(k, v)| (*k, *v)).collect();
        for ((account, currency), minor) in balances {
            self.audit(AuditRecord::Balance {
                account,
                currency,
                minor,
            });
        }
        self.recs
    }

    pub(super) fn check(self) -> Verdict {
        run(&self.finish())
    }
}

pub(super) fn config() -> CheckConfig {
    CheckConfig {
        fees: FeeTable::default(),
    }
}

pub(super) fn run(recs: &[Rec]) -> Verdict {
    let mut c = Checker::new(config());
    for r in recs {
        match r {
            Rec::H(h) => c.observe_history(h),
            Rec::A(a) => c.observe_audit(a),
        }
    }
    c.finish()
}

/// Asserts that exactly the invariants in `names` failed.
#[track_caller]
pub(super) fn assert_failed(v: &Verdict, names: &[&str]) {
    let mut failed: Vec<&str> = v.failed().map(|r| r.name).collect();
    failed.sort_unstable();
    let mut want = names.to_vec();
    want.sort_unstable();
    assert_eq!(failed, want, "unexpected set of failed invariants: {v:#?}");
}

/// The counterexample of a failed invariant.
#[track_caller]
pub(super) fn example(v: &Verdict, name: &str) -> String {
    let r = v.get(name).unwrap_or_else(|| panic!("no invariant {name}"));
    assert!(!r.passed, "{name} passed: {v:#?}");
    r.example
        .clone()
        .expect("a failed invariant has an example")
}

#[track_caller]
pub(super) fn violations(v: &Verdict, name: &str) -> u64 {
    v.get(name)
        .unwrap_or_else(|| panic!("no invariant {name}"))
        .violations
}

/// A run exercising every flow once, correctly: every invariant has
/// something to check and nothing to find.
pub(super) fn rich_scenario() -> Scenario {
    let mut s = Scenario::new();
    let c1 = s.customer(1, 100_000);
    let c2 = s.customer(2, 50_000);
    let m1 = MerchantId(1);
    let m2 = MerchantId(2);
    // Card, auto capture, partly refunded twice.
    let (_, p1) = s.card(1, c1, 1550);
    s.webhook(p1, EventKind::PaymentSucceeded);
    // Card, manual capture of part of the hold.
    let (_, p2) = s.create(m1, c1, 3000, Method::CardNfc, CaptureMode::Manual);
    s.webhook(p2, EventKind::PaymentAuthorized);
    s.capture(p2, 2000);
    s.webhook(p2, EventKind::PaymentCaptured);
    // Card, voided; and one left to expire.
    let (_, p3) = s.create(m2, c2, 700, Method::CardOnline, CaptureMode::Manual);
    s.void(p3);
    let (_, p4) = s.create(m2, c2, 900, Method::CardOnline, CaptureMode::Manual);
    s.execute_release(p4, None);
    // QR and instant bank.
    let (_, p5) = s.create(m2, c2, 1234, Method::QrWallet, CaptureMode::Automatic);
    let (_, p6) = s.create(m1, c1, 5000, Method::BankInstant, CaptureMode::Automatic);
    // Batch bank: accepted as processing, debited at the batch run.
    let (k7, p7) = s.create(m1, c1, 4000, Method::BankBatch, CaptureMode::Automatic);
    s.settle();
    s.execute_bank_batch(p7, Some(k7), true);
    s.refund(p1, 500);
    s.refund(p1, 1050);
    s.refund(p5, 34);
    let e = s.emit(p6, EventKind::PaymentSucceeded);
    s.audit(AuditRecord::EventDeadLettered {
        event: e,
        attempts: 8,
    });
    // A declined create.
    let key = s.new_key();
    let params = s.params(m1, c2, 99_999, Method::CardOnline, CaptureMode::Automatic);
    let op = s.invoke(m1, Some(key), Operation::Create(params), 1);
    let declined = s.execute_decline(Some(key), &params);
    let reply = s.reply(declined, None);
    s.complete(
        op,
        HistoryKind::Fail(Failure::Declined {
            reply,
            reason: Some(DeclineReason::InsufficientFunds),
        }),
    );
    s.settle();
    s
}
