//! Invariants 1-3: idempotency, judged per key from the clients' history and
//! the ledger's effects.
//!
//! A key is identified by (merchant, key) for history state, as keys are
//! scoped per merchant. Journal entries carry no merchant, so ledger effects
//! are counted by key value alone and joined at the end; keys are unique per
//! run in practice, so the join is exact.
//!
//! An *effect* of a key is a distinct target among the journal entries posted
//! under it: the payment for holds, captures, releases and debits, the refund
//! for refunds. An auto-capture (Hold then HoldCapture on one payment) is one
//! effect; a duplicate execution that creates a second payment is two.
//!
//! Only attempts with the key's original fingerprint (that of the first
//! invocation seen) count for 1 and 2; the others are "mismatched" and are
//! judged by 3. An attempt still open at the end of the history counts as
//! unknown, as in Jepsen.
//!
//! Layout: this file follows keys through the history and judges them;
//! `slot.rs` holds the per-key records, `packed_slot.rs` their compact form
//! and `expected.rs` the rule for how many effects a key's attempts allow.

mod expected;
mod packed_slot;
mod slot;

pub(super) use slot::Target;

use expected::{is_definitive, Expected};
#[cfg(test)]
use packed_slot::PackedSlot;
use slot::{Body, Counts, Effects, KeyState, OpKind, Slot};

use crate::domain::fingerprint::FxHashMap;
use crate::domain::history::{Failure, HistoryEvent, HistoryKind, ReplySummary};
use crate::domain::{ApiError, IdemKey, MerchantId, OpId, Operation, PaymentId, Status};

use super::tally::Tally;
use super::verdict::{
    InvariantResult, UnknownResolution, IDEMPOTENCY_CONSISTENT_REPLIES,
    IDEMPOTENCY_MISMATCH_NOT_EXECUTED, IDEMPOTENCY_SINGLE_EFFECT,
};
use crate::load::journey::{key_at, key_index, KEYS_PER_JOURNEY};
use crate::packed::{DenseKey, DenseMap};

fn bump(n: &mut u16) {
    *n = n.saturating_add(1);
}

/// An invocation waiting for its completion; removed when it completes.
#[derive(Clone, Copy)]
struct Pending {
    merchant: MerchantId,
    key: IdemKey,
    original: bool,
}

/// Sort key of a key-level counterexample: key value first, then merchant
/// (`None`: an effect no history key claimed), then what within the key.
type KeyOrder = (IdemKey, Option<MerchantId>, Detail);

/// Makes counterexample keys unique when one key has several violations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Detail {
    Key,
    Attempt(OpId),
    Payment(PaymentId),
}

/// The key table's index of a key: journey `j`'s `n`th key is slot
/// `j * KEYS_PER_JOURNEY + n - 1` (`load::journey::key_index`).
impl DenseKey for IdemKey {
    fn index(self) -> u64 {
        key_index(self.0).unwrap_or(u64::MAX)
    }
    fn from_index(i: u64) -> IdemKey {
        IdemKey(key_at(i))
    }
}

#[derive(Default)]
pub(super) struct Keys {
    /// Per key value: its history state and its ledger effects.
    ///
    /// Indexed by what paystorm's clients make a key of (journey, then the
    /// journey's key number), not hashed: every keyed request, completion
    /// and posting reads it, and in a table of a million keys a hash
    /// table's two accesses (control byte, bucket) were both cache misses,
    /// and unpredictable ones. Here a key's place is known from the key, so
    /// the checker asks for it a few records ahead (`Keys::ask_for`). A
    /// journey's first two keys (its payment, then a capture or a refund)
    /// have slots; any other key, and a key from another client, goes to
    /// the map's hash table beside the vector, which is as correct.
    slots: DenseMap<IdemKey, Slot>,
    /// History state of keys whose value a [`Slot`] already holds for another
    /// merchant.
    others: FxHashMap<(MerchantId, IdemKey), KeyState>,
    pending: FxHashMap<OpId, Pending>,
    /// Invariant 2 violations, found as replies arrive (rare: stored per key).
    conflicts: FxHashMap<(MerchantId, IdemKey), (Body, Body, OpId)>,
    /// Invariant 3 violations by mismatched attempts (rare: stored per key).
    mismatch_executed: FxHashMap<(MerchantId, IdemKey), (OpId, Body, &'static str)>,
    /// Invariant 3 violations by payments created with other parameters.
    mismatched_creates: Tally<KeyOrder>,
    /// Payment inserts read before their key's first invocation (rare: the
    /// client records the invocation before sending), checked at the end.
    early_creates: Vec<Create>,
}

/// A payment table insert under a key, for invariant 3.
#[derive(Clone, Copy)]
pub(super) struct Create {
    pub payment: PaymentId,
    pub merchant: MerchantId,
    pub key: IdemKey,
    pub fingerprint: u64,
}

impl Keys {
    /// Keys with room for the keys of `journeys` journeys up front (see
    /// `CheckConfig`).
    pub(super) fn with_capacity(journeys: usize) -> Keys {
        Keys {
            slots: DenseMap::with_capacity(journeys.saturating_mul(KEYS_PER_JOURNEY as usize)),
            ..Keys::default()
        }
    }

    /// Asks for the slot of `key` ahead of a record about it.
    pub(super) fn ask_for(&self, key: IdemKey) {
        self.slots.ask_for(key);
    }

    /// Asks for the slot of the key a history event is about: its own, or
    /// for a completion its invocation's (the table of operations in
    /// flight is small, and stays cached).
    pub(super) fn ask_for_history(&self, ev: &HistoryEvent) {
        let key = match ev.kind {
            HistoryKind::Invoke(inv) => inv.key,
            _ => self.pending.get(&ev.op).map(|p| p.key),
        };
        if let Some(key) = key {
            self.ask_for(key);
        }
    }

    pub(super) fn observe(&mut self, ev: &HistoryEvent) {
        match ev.kind {
            HistoryKind::Invoke(inv) => {
                let (Some(key), Some(kind)) = (inv.key, op_kind(&inv.op)) else {
                    return; // keyless and read-only operations have no key to judge
                };
                let fingerprint = inv.op.fingerprint();
                let new = KeyState {
                    fingerprint,
                    kind,
                    counts: Counts::default(),
                    body: None,
                };
                let original = self
                    .with_state(inv.merchant, key, Some(new), |st| {
                        let original = st.fingerprint == fingerprint;
                        if !original {
                            bump(&mut st.counts.mismatched);
                        }
                        original
                    })
                    .expect("created if absent");
                self.pending.insert(
                    ev.op,
                    Pending {
                        merchant: inv.merchant,
                        key,
                        original,
                    },
                );
            }
            HistoryKind::Ok(reply) => self.complete(ev.op, Outcome::Ok(reply)),
            HistoryKind::Fail(Failure::Declined { reply, .. }) => {
                self.complete(ev.op, Outcome::Declined(reply))
            }
            HistoryKind::Fail(Failure::Api(e)) => self.complete(ev.op, Outcome::Error(e)),
            HistoryKind::Info(_) => self.complete(ev.op, Outcome::Info),
        }
    }

    fn complete(&mut self, op: OpId, outcome: Outcome) {
        let Some(p) = self.pending.remove(&op) else {
            return; // a keyless or read-only op, or a completion without invoke
        };
        let id = (p.merchant, p.key);
        let body = match outcome {
            Outcome::Ok(r) | Outcome::Declined(r) => Some(Body::of(&r)),
            Outcome::Error(_) | Outcome::Info => None,
        };
        if !p.original {
            if self.state(p.merchant, p.key).is_none() {
                return;
            }
            // A reply with a body means the request executed under the key.
            if let Some(body) = body {
                let how = match outcome {
                    Outcome::Ok(_) => "ok",
                    _ => "declined",
                };
                self.mismatch_executed.entry(id).or_insert((op, body, how));
            }
            return;
        }
        let conflict = self.with_state(p.merchant, p.key, None, |st| {
            let c = &mut st.counts;
            match outcome {
                Outcome::Ok(r) if r.status == Status::Processing => bump(&mut c.ok_processing),
                Outcome::Ok(_) => bump(&mut c.ok),
                Outcome::Declined(_) => bump(&mut c.declined),
                Outcome::Error(e) if is_definitive(e) => bump(&mut c.failed),
                Outcome::Error(_) => bump(&mut c.errors),
                Outcome::Info => bump(&mut c.info),
            }
            match (st.body, body) {
                (None, Some(body)) => {
                    st.body = Some(body);
                    None
                }
                (Some(first), Some(body)) if first != body => Some((first, body)),
                _ => None,
            }
        });
        if let Some(Some((first, body))) = conflict {
            self.conflicts.entry(id).or_insert((first, body, op));
        }
    }

    /// The history state of (merchant, key), if any.
    fn state(&self, merchant: MerchantId, key: IdemKey) -> Option<KeyState> {
        match self.slots.get(&key)?.hist {
            Some((m, st)) if m == merchant => Some(st),
            Some(_) => self.others.get(&(merchant, key)).copied(),
            None => None,
        }
    }

    /// Applies `f` to the history state of (merchant, key); if there is none,
    /// creates it from `new`, or returns `None` without one.
    fn with_state<R>(
        &mut self,
        merchant: MerchantId,
        key: IdemKey,
        new: Option<KeyState>,
        f: impl FnOnce(&mut KeyState) -> R,
    ) -> Option<R> {
        let mut f = Some(f);
        let mut apply = |slot: &mut Slot| match &mut slot.hist {
            Some((m, st)) if *m == merchant => Some(f.take().expect("applied once")(st)),
            Some(_) => None, // another merchant's: see `others`
            None => {
                let st = new?;
                let (_, st) = slot.hist.insert((merchant, st));
                Some(f.take().expect("applied once")(st))
            }
        };
        let here = match new {
            Some(_) => self.slots.update(key, Slot::default, &mut apply),
            None => self.slots.update_existing(key, &mut apply).flatten(),
        };
        if here.is_some() {
            return here;
        }
        let f = f?;
        let st = match new {
            Some(st) => self.others.entry((merchant, key)).or_insert(st),
            None => self.others.get_mut(&(merchant, key))?,
        };
        Some(f(st))
    }

    /// Checks a payment inserted under a key against the key's original
    /// request: a different fingerprint means a mismatched request executed.
    pub(super) fn created(&mut self, c: Create) {
        match self.state(c.merchant, c.key) {
            None => self.early_creates.push(c),
            Some(st) => check_create(&mut self.mismatched_creates, &st, c),
        }
    }

    /// Records a journal entry posted under `key` that acted on `target`.
    pub(super) fn effect(&mut self, key: IdemKey, target: Target) {
        self.slots
            .update(key, Slot::default, |slot| match &mut slot.effects {
                None => {
                    slot.effects = Some(Effects {
                        first: target,
                        second: None,
                        more: false,
                    });
                }
                Some(e) if e.first == target || e.second == Some(target) => {}
                Some(e) if e.second.is_none() => e.second = Some(target),
                Some(e) => e.more = true,
            })
    }

    /// Evaluates invariants 1, 2 and 3, in that order.
    pub(super) fn finish(mut self) -> ([InvariantResult; 3], UnknownResolution) {
        // Operations still open at the end are unknown, as in Jepsen.
        for p in std::mem::take(&mut self.pending).into_values() {
            if p.original {
                self.with_state(p.merchant, p.key, None, |st| {
                    bump(&mut st.counts.unfinished)
                });
            }
        }

        let mut single: Tally<KeyOrder> = Tally::new();
        let mut unknowns = UnknownResolution::default();
        // Every history key, with the effects of its key value (which it
        // thereby claims); then the effects no history key claimed.
        let slots = self.slots.iter().filter_map(|(key, slot)| {
            let (merchant, st) = slot.hist?;
            Some((merchant, key, st, slot.effects))
        });
        let others = self.others.iter().map(|(&(merchant, key), &st)| {
            let effects = self.slots.get(&key).and_then(|slot| slot.effects);
            (merchant, key, st, effects)
        });
        for (merchant, key, st, effects) in slots.chain(others) {
            let n = effects.map_or(0, |e| e.count());
            let expected = Expected::of(&st.counts);
            let c = &st.counts;
            let all_unknown = c.ok == 0 && c.ok_processing == 0 && c.declined == 0 && c.failed == 0;
            if all_unknown && st.kind == OpKind::Create {
                unknowns.keys_all_unknown += 1;
                if n == 0 {
                    unknowns.not_executed += 1;
                } else {
                    unknowns.executed += 1;
                }
            }
            if !expected.allows(n) {
                single.add((key, Some(merchant), Detail::Key), || {
                    let found = effects.map_or_else(|| "0 ledger effects".into(), |e| e.describe());
                    format!(
                        "{key} of {merchant}: {found}, expected {} (attempts: {})",
                        expected.as_str(),
                        st.counts
                    )
                });
            }
        }
        for (key, slot) in self.slots.iter() {
            if let (None, Some(e)) = (slot.hist, slot.effects) {
                single.add((key, None, Detail::Key), || {
                    format!(
                        "{key}: {}, but no client request used this key, expected 0",
                        e.describe()
                    )
                });
            }
        }

        let mut consistent: Tally<KeyOrder> = Tally::new();
        for (&(merchant, key), (first, other, op)) in &self.conflicts {
            consistent.add((key, Some(merchant), Detail::Key), || {
                format!("{key} of {merchant}: {op} got {other}, an earlier reply got {first}")
            });
        }

        let mut mismatch = std::mem::take(&mut self.mismatched_creates);
        for (&(merchant, key), (op, body, how)) in &self.mismatch_executed {
            mismatch.add((key, Some(merchant), Detail::Attempt(*op)), || {
                format!(
                    "{key} of {merchant}: {op} with other parameters than the key's first request completed {how} ({body}), expected an idempotency error"
                )
            });
        }
        for c in &self.early_creates {
            if let Some(st) = self.state(c.merchant, c.key) {
                check_create(&mut mismatch, &st, *c);
            }
        }

        (
            [
                single.result(IDEMPOTENCY_SINGLE_EFFECT),
                consistent.result(IDEMPOTENCY_CONSISTENT_REPLIES),
                mismatch.result(IDEMPOTENCY_MISMATCH_NOT_EXECUTED),
            ],
            unknowns,
        )
    }
}

fn check_create(t: &mut Tally<KeyOrder>, st: &KeyState, c: Create) {
    if st.kind == OpKind::Create && st.fingerprint != c.fingerprint {
        let (key, merchant, payment) = (c.key, c.merchant, c.payment);
        let (expected, found) = (st.fingerprint, c.fingerprint);
        t.add((key, Some(merchant), Detail::Payment(payment)), || {
            format!(
                "{key} of {merchant}: {payment} created with parameters fingerprint {found:#018x}, the key's first request had {expected:#018x}"
            )
        });
    }
}

#[derive(Clone, Copy)]
enum Outcome {
    Ok(ReplySummary),
    Declined(ReplySummary),
    Error(ApiError),
    Info,
}

fn op_kind(op: &Operation) -> Option<OpKind> {
    match op {
        Operation::Create(_) => Some(OpKind::Create),
        Operation::Capture { .. } => Some(OpKind::Capture),
        Operation::Void { .. } => Some(OpKind::Void),
        Operation::Refund { .. } => Some(OpKind::Refund),
        Operation::Get { .. } => None,
    }
}

#[cfg(test)]
mod tests;
