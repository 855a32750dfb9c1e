//! The exactly-once checker: an outside auditor in the manner of Jepsen.
//!
//! It reads two things only — the history the clients recorded (invoke, then
//! ok / fail / info per operation) and the audit trail the stack writes
//! (journal, settlement report, webhook logs, and the final payment rows and
//! balances) — and judges fifteen invariants on them (see [`INVARIANTS`]).
//! It never imports the stack: a checker that shares the stack's code would
//! share its bugs.
//!
//! Records may interleave in any order, so everything is judged in
//! [`Checker::finish`]; the one ordering relied upon is that journal entries
//! arrive in posting order (running balances need it). Memory is bounded by
//! the number of keys, payments, events, accounts and (batch, merchant) pairs:
//! each gets one compact record, and neither the history nor the journal is
//! kept. Per-record work is a few hash-map operations, with no allocation
//! unless a violation is found.
//!
//! Layout: one file per idea —
//! `keys.rs` (invariants 1-3), `ledger.rs` (4-6), `payments.rs` +
//! `lifecycle.rs` (7-9), `settlement.rs` (10-11), `webhooks.rs` (12-14), `announced.rs` (15),
//! `verdict.rs` (the result types), `tally.rs` (counterexample choice),
//! `packed.rs` (the compact, lossless storage of the per-record state),
//! `background.rs` (the checker on its own thread) and `testkit/` (a
//! correct mini-stack for tests to plant bugs in).
//!
//! Counting: a violation is one key, payment, account, event or (batch,
//! merchant) found wrong, however many ways it is wrong; the example is the
//! one with the smallest id, so it does not depend on hash-map order.

mod announced;
mod background;
mod keys;
mod ledger;
mod lifecycle;
mod payments;
mod settlement;
mod tally;
mod verdict;
mod webhooks;

#[cfg(test)]
mod testkit;

pub use background::BackgroundChecker;
pub use verdict::{InvariantResult, UnknownResolution, Verdict, INVARIANTS, RECOVERY_WITHIN_BOUND};

use crate::domain::audit::{AuditRecord, EntryKind};
use crate::domain::history::HistoryEvent;
use crate::domain::FeeTable;

/// What the checker needs to know that is not in the records: the fee
/// contract, to compute the deposit a merchant was promised, and how many
/// payments to size its per-key and per-payment tables for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckConfig {
    pub fees: FeeTable,
    /// 0 if unknown. Each arrival is a journey, so this also sizes the key
    /// table (two slots a journey). Sizing the tables up front spares the
    /// run their doublings, each of which leaves the old table behind,
    /// which a run that keeps freed memory (`sim::process`) keeps resident
    /// unless something else reuses it (reserved, not touched: a page is
    /// only touched when an id on it arrives).
    pub expected_payments: usize,
}

/// Judges one run. Feed it every history event and audit record (in any
/// interleaving, journal entries in posting order), then call [`finish`].
///
/// [`finish`]: Checker::finish
pub struct Checker {
    cfg: CheckConfig,
    keys: keys::Keys,
    ledger: ledger::Ledger,
    payments: payments::Payments,
    settlement: settlement::Settlement,
    webhooks: webhooks::Webhooks,
    announced: announced::Announced,
}

impl Checker {
    pub fn new(cfg: CheckConfig) -> Checker {
        Checker {
            cfg,
            keys: keys::Keys::with_capacity(cfg.expected_payments),
            ledger: ledger::Ledger::default(),
            payments: payments::Payments::with_capacity(cfg.expected_payments),
            settlement: settlement::Settlement::default(),
            webhooks: webhooks::Webhooks::with_capacity(cfg.expected_payments),
            announced: announced::Announced::default(),
        }
    }

    /// Asks for the line [`Checker::observe_history`] will read for `ev` in
    /// the key table (see [`Checker::ask_for_audit`]).
    pub fn ask_for_history(&self, ev: &HistoryEvent) {
        self.keys.ask_for_history(ev);
    }

    /// Asks for the lines [`Checker::observe_audit`] will read for `rec` in
    /// the tables indexed by id (keys, payments, events, accounts), so a
    /// caller that holds a batch can ask a few records ahead and the
    /// fetches overlap the records between.
    pub fn ask_for_audit(&self, rec: &AuditRecord) {
        match *rec {
            AuditRecord::PaymentCreated { payment, key, .. } => {
                self.payments.map.ask_for(payment);
                if let Some(key) = key {
                    self.keys.ask_for(key);
                }
            }
            AuditRecord::PaymentFinal { payment, .. } => {
                self.payments.map.ask_for(payment);
                self.announced.ask_for(payment);
            }
            AuditRecord::Journal(ref e) => {
                self.ledger.ask_for(e.legs().iter().map(|l| l.account));
                if let Some(p) = e.payment {
                    self.payments.map.ask_for(p);
                }
                if let Some(key) = e.key {
                    self.keys.ask_for(key);
                }
            }
            AuditRecord::EventEmitted { event, payment, .. } => {
                self.webhooks.ask_for(event);
                self.announced.ask_for(payment);
            }
            AuditRecord::EventReceived { event, .. }
            | AuditRecord::EventDeadLettered { event, .. } => self.webhooks.ask_for(event),
            AuditRecord::AccountOpened { account, .. } | AuditRecord::Balance { account, .. } => {
                self.ledger.ask_for([account]);
            }
            AuditRecord::Settlement(_) | AuditRecord::CallbackFired { .. } => {}
        }
    }

    pub fn observe_history(&mut self, ev: &HistoryEvent) {
        self.keys.observe(ev);
    }

    pub fn observe_audit(&mut self, rec: &AuditRecord) {
        match *rec {
            AuditRecord::AccountOpened {
                account,
                currency,
                floor_minor,
            } => self.ledger.open(account, currency, floor_minor),
            AuditRecord::PaymentCreated {
                payment,
                merchant,
                key,
                params_fingerprint,
                amount,
                method: _,
            } => {
                self.payments.created(payment, amount.minor);
                if let Some(key) = key {
                    self.keys.created(keys::Create {
                        payment,
                        merchant,
                        key,
                        fingerprint: params_fingerprint,
                    });
                }
            }
            AuditRecord::Journal(ref e) => {
                self.ledger.post(e);
                if let (Some(target), Some(key)) = (self.payments.post(e), e.key) {
                    self.keys.effect(key, target);
                }
                if e.kind == EntryKind::SettlementDeposit {
                    self.settlement.post(e);
                }
            }
            AuditRecord::Settlement(ref line) => {
                self.payments.line(line);
                self.settlement.line(line, &self.cfg.fees);
            }
            AuditRecord::EventEmitted {
                event,
                merchant: _,
                payment,
                kind,
                payload_hash,
            } => {
                self.announced.emitted(payment, kind);
                self.webhooks.emitted(event, kind, payment, payload_hash)
            }
            AuditRecord::EventReceived {
                event,
                payload_hash,
                signature_valid,
                applied,
            } => self
                .webhooks
                .received(event, payload_hash, signature_valid, applied),
            AuditRecord::EventDeadLettered { event, attempts: _ } => {
                self.webhooks.dead_lettered(event)
            }
            // Callbacks answer one request each; no invariant is stated on them.
            AuditRecord::CallbackFired { .. } => {}
            AuditRecord::PaymentFinal {
                payment,
                status,
                amount_minor: _,
                captured_minor,
                refunded_minor,
            } => {
                self.announced.final_status(payment, status);
                self.payments
                    .final_row(payment, captured_minor, refunded_minor)
            }
            AuditRecord::Balance {
                account,
                currency,
                minor,
            } => self.ledger.balance(account, currency, minor),
        }
    }

    /// Judges every invariant; results come in [`INVARIANTS`] order.
    pub fn finish(mut self) -> Verdict {
        let ([single, consistent, mismatch], unknowns) = self.keys.finish();
        let [within, hold, refund] = lifecycle::finish(&mut self.payments);
        let [balanced, conserved, limits] = self.ledger.finish();
        let [once, deposit] = self.settlement.finish(&self.payments);
        let [delivered, stable, applied] = self.webhooks.finish();
        let announced = self.announced.finish();
        let invariants = vec![
            single, consistent, mismatch, balanced, conserved, limits, within, hold, refund, once,
            deposit, delivered, stable, applied, announced,
        ];
        debug_assert!(invariants
            .iter()
            .map(|r| r.name)
            .eq(INVARIANTS.iter().map(|(n, _)| *n)));
        Verdict {
            invariants,
            unknowns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;

    #[test]
    fn a_correct_run_passes_every_invariant() {
        let v = rich_scenario().check();
        assert!(v.all_passed(), "{v:#?}");
        assert_eq!(v.failed().count(), 0);
        let names: Vec<_> = v.invariants.iter().map(|r| r.name).collect();
        let listed: Vec<_> = INVARIANTS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, listed);
        assert_eq!(names.len(), 15);
    }

    /// A run with several bugs planted, some of whose evidence arrives in an
    /// unusual order (a receipt before its emission, a payment row before the
    /// request that created it).
    fn buggy_scenario() -> testkit::Scenario {
        use crate::domain::audit::EventKind;
        use crate::domain::{CaptureMode, MerchantId, Method, Operation};
        let mut s = rich_scenario();
        let m = MerchantId(1);
        let c = s.customer(9, 10_000);
        // A mismatched request executed under an existing key.
        let (key, _) = s.create(m, c, 700, Method::QrWallet, CaptureMode::Automatic);
        let other = s.params(m, c, 701, Method::QrWallet, CaptureMode::Automatic);
        let p = s.execute_create(Some(key), &other);
        let op = s.invoke(m, Some(key), Operation::Create(other), 2);
        let reply = s.reply(p, None);
        s.ok(op, reply);
        // A dangling hold, a payload that changed, an event applied twice.
        s.create(m, c, 300, Method::CardOnline, CaptureMode::Manual);
        let ev = s.emit(p, EventKind::PaymentSucceeded);
        s.receive(ev, 1, true, true);
        s.receive(ev, 1, true, true);
        s.settle();
        s
    }

    #[test]
    fn the_verdict_does_not_depend_on_how_history_and_audit_interleave() {
        for recs in [rich_scenario().finish(), buggy_scenario().finish()] {
            // All audit records first, then the whole history, and the other
            // way round: different interleavings, same journal order.
            let (h, a): (Vec<_>, Vec<_>) =
                recs.iter().partition(|r| matches!(r, testkit::Rec::H(_)));
            let audit_first: Vec<_> = a.iter().chain(&h).copied().copied().collect();
            let history_first: Vec<_> = h.iter().chain(&a).copied().copied().collect();
            let v = run(&recs);
            assert_eq!(v, run(&audit_first));
            assert_eq!(v, run(&history_first));
        }
    }

    #[test]
    fn several_bugs_fail_their_own_invariants_with_one_example_each() {
        let v = buggy_scenario().check();
        assert_failed(
            &v,
            &[
                verdict::IDEMPOTENCY_SINGLE_EFFECT,
                verdict::IDEMPOTENCY_MISMATCH_NOT_EXECUTED,
                verdict::LIFECYCLE_HOLD_RESOLVED_ONCE,
                verdict::WEBHOOK_PAYLOAD_STABLE,
                verdict::WEBHOOK_APPLIED_ONCE,
            ],
        );
        for r in v.failed() {
            let ex = r.example.as_deref().unwrap();
            assert!(!ex.contains('\n'), "{ex}");
            assert!(r.violations >= 1);
        }
        let json = serde_json::to_string(&v).unwrap();
        assert!(
            json.contains("\"name\":\"webhook_applied_once\",\"passed\":false"),
            "{json}"
        );
    }
}
