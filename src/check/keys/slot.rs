//! What is known about one key value: the history state of the first merchant
//! seen using it (its attempt counts and first reply) and the ledger effects
//! posted under it, gathered in one [`Slot`]. These are plain records; judging
//! them is `mod.rs`'s work.

use std::fmt;

use crate::domain::history::ReplySummary;
use crate::domain::{MerchantId, PaymentId, RefundId, Status};

/// What a journal entry did, for counting the effects of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::check) enum Target {
    Payment(PaymentId),
    Refund(RefundId),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Payment(p) => p.fmt(f),
            Target::Refund(r) => r.fmt(f),
        }
    }
}

/// The reply body fields that must agree across attempts (not `replayed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::check) struct Body {
    pub(super) payment: PaymentId,
    pub(super) refund: Option<RefundId>,
    pub(super) amount_minor: i64,
    pub(super) status: Status,
}

impl Body {
    pub(super) fn of(r: &ReplySummary) -> Body {
        Body {
            payment: r.payment,
            refund: r.refund,
            amount_minor: r.amount_minor,
            status: r.status,
        }
    }
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.payment)?;
        if let Some(r) = self.refund {
            write!(f, "/{r}")?;
        }
        write!(f, " amount {} {:?}", self.amount_minor, self.status)
    }
}

/// Which operation a key was first used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::check) enum OpKind {
    Create,
    Capture,
    Void,
    Refund,
}

/// Attempt outcomes of one key (attempts with the original fingerprint only,
/// except `mismatched`). Saturating: a key with 65k attempts is already absurd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::check) struct Counts {
    pub(super) ok: u16,
    pub(super) ok_processing: u16,
    pub(super) declined: u16,
    /// Definitive API errors: the request was refused and had no effect.
    pub(super) failed: u16,
    /// Retryable or idempotency errors: the outcome is not known from them.
    pub(super) errors: u16,
    pub(super) info: u16,
    /// Invoked but never completed by the end of the history.
    pub(super) unfinished: u16,
    pub(super) mismatched: u16,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            (self.ok, "ok"),
            (self.ok_processing, "ok processing"),
            (self.declined, "declined"),
            (self.failed, "failed"),
            (self.errors, "retryable error"),
            (self.info, "info"),
            (self.unfinished, "unfinished"),
            (self.mismatched, "mismatched"),
        ];
        let mut first = true;
        for (n, what) in parts.into_iter().filter(|(n, _)| *n > 0) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{n} {what}")?;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// History state of one (merchant, key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::check) struct KeyState {
    /// Fingerprint of the first invocation seen: the key's "original" request.
    pub(super) fingerprint: u64,
    pub(super) kind: OpKind,
    pub(super) counts: Counts,
    /// The first reply body seen for an attempt with the original fingerprint.
    pub(super) body: Option<Body>,
}

/// Ledger effects under one key value. Exact up to two distinct targets;
/// anything beyond is a violation whatever its exact count, so only "more"
/// is kept to stay bounded. They are claimed by a history key iff their
/// [`Slot`] has history state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::check) struct Effects {
    pub(super) first: Target,
    pub(super) second: Option<Target>,
    /// Entries whose target is neither `first` nor `second`.
    pub(super) more: bool,
}

/// Everything known about one key value: the history state of the first
/// merchant seen using it (other merchants' are in [`Keys::others`]: keys are
/// unique per run in practice) and the ledger effects posted under it. One
/// map entry per key value instead of one in each of two maps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::check) struct Slot {
    pub(super) hist: Option<(MerchantId, KeyState)>,
    pub(super) effects: Option<Effects>,
}

impl Effects {
    pub(super) fn count(&self) -> u64 {
        1 + u64::from(self.second.is_some()) + u64::from(self.more)
    }

    pub(super) fn describe(&self) -> String {
        let n = self.count();
        let mut targets = [Some(self.first), self.second];
        targets.sort();
        let list: Vec<String> = targets.iter().flatten().map(|t| t.to_string()).collect();
        let more = if self.more { ", ..." } else { "" };
        let plural = if n == 1 { "effect" } else { "effects" };
        let at_least = if self.more { "at least " } else { "" };
        format!("{at_least}{n} ledger {plural} ({}{more})", list.join(", "))
    }
}
