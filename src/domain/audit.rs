//! The stack's audit trail: what an auditor reads back from the stack at the
//! end of a run — the ledger's journal and balances, the payment table, the
//! acquirer's settlement report, the webhook event log, the dead-letter queue
//! and the merchant endpoint's receipt log.
//!
//! The append-only parts (journal, settlement lines, events, receipts) are read
//! as they are written, which gives the checker exactly what one read at the
//! end would give, without holding a whole Black Friday of records in memory.
//! The mutable parts (balances, final payment states) are read once at the end.

use super::ids::{
    BatchId, CustomerId, EntryId, EventId, IdemKey, IssuerId, MerchantId, NetworkId, PaymentId,
    RefundId,
};
use super::money::{Currency, Money};
use super::payment::{Method, Rail, Status};

/// A ledger account. Balances are signed: a debit leg is negative, a credit
/// positive, and every entry's legs sum to zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Account {
    /// The world outside the run: opening balances come from here.
    External,
    /// The customer's spendable funds at their bank (issuer).
    CustomerAvailable(CustomerId),
    /// Funds on hold for authorizations not yet captured or released.
    CustomerHold(CustomerId),
    /// What an issuer owes the card network for captured payments.
    IssuerSettlement(IssuerId),
    /// What an issuer fronted for stand-in approvals its customers could
    /// not cover (negative: money the issuer is out).
    IssuerStandIn(IssuerId),
    /// What a card network owes the acquirer.
    NetworkClearing(NetworkId),
    /// What the QR wallet provider owes the acquirer.
    QrClearing,
    /// What a bank rail owes the acquirer.
    BankClearing(BankRailKind),
    /// Funds the acquirer holds for merchants until settlement.
    AcquirerClearing,
    /// The merchant's deposit account.
    Merchant(MerchantId),
    /// The acquirer's fee income.
    Fees,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BankRailKind {
    Instant,
    Batch,
}

/// Why an entry was posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Opening balance of an account.
    Opening,
    /// Card authorization: available -> hold.
    Hold,
    /// Capture of a hold (the unused remainder returns to available).
    HoldCapture,
    /// Release of a hold: void or expiry.
    HoldRelease,
    /// Direct debit of a linked account (QR, bank rails).
    Debit,
    /// Money back to the customer.
    Refund,
    /// A settlement movement between clearing accounts.
    SettlementClearing,
    /// Settlement to a merchant: deposit and fee.
    SettlementDeposit,
}

pub const MAX_LEGS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leg {
    pub account: Account,
    pub minor: i64,
}

/// One double-entry journal entry, a fixed-size value (no allocation).
#[derive(Clone, Copy, Debug)]
pub struct JournalEntry {
    pub id: EntryId,
    pub at_us: u64,
    pub kind: EntryKind,
    pub currency: Currency,
    /// The payment this entry belongs to (none for openings and settlement).
    pub payment: Option<PaymentId>,
    pub refund: Option<RefundId>,
    /// The idempotency key of the request that caused the entry, if any.
    pub key: Option<IdemKey>,
    pub batch: Option<BatchId>,
    legs: [Leg; MAX_LEGS],
    len: u8,
}

impl JournalEntry {
    pub fn new(id: EntryId, at_us: u64, kind: EntryKind, currency: Currency) -> JournalEntry {
        JournalEntry {
            id,
            at_us,
            kind,
            currency,
            payment: None,
            refund: None,
            key: None,
            batch: None,
            legs: [Leg {
                account: Account::External,
                minor: 0,
            }; MAX_LEGS],
            len: 0,
        }
    }

    /// Adds a leg. More than [`MAX_LEGS`] legs is a bug in the caller.
    pub fn leg(mut self, account: Account, minor: i64) -> JournalEntry {
        assert!(
            (self.len as usize) < MAX_LEGS,
            "journal entry with too many legs"
        );
        self.legs[self.len as usize] = Leg { account, minor };
        self.len += 1;
        self
    }

    pub fn legs(&self) -> &[Leg] {
        &self.legs[..self.len as usize]
    }

    /// The sum of the legs: zero for a balanced entry.
    pub fn imbalance(&self) -> i64 {
        self.legs().iter().map(|l| l.minor).sum()
    }

    /// The amount moved into `account` by this entry (0 if it has no leg there).
    pub fn amount_to(&self, pred: impl Fn(&Account) -> bool) -> i64 {
        self.legs()
            .iter()
            .filter(|l| pred(&l.account))
            .map(|l| l.minor)
            .sum()
    }
}

/// Settlement report line: one capture or refund in one batch.
#[derive(Clone, Copy, Debug)]
pub struct SettlementLine {
    pub batch: BatchId,
    pub merchant: MerchantId,
    pub payment: PaymentId,
    pub rail: Rail,
    pub kind: SettlementLineKind,
    /// Positive for captures and refunds alike.
    pub amount_minor: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementLineKind {
    Capture,
    Refund,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    PaymentAuthorized,
    PaymentSucceeded,
    PaymentProcessing,
    PaymentDeclined,
    PaymentFailed,
    PaymentCaptured,
    PaymentVoided,
    PaymentRefunded,
}

impl EventKind {
    /// Every kind, in a fixed order (compact encodings index into it).
    pub const ALL: [EventKind; 8] = [
        EventKind::PaymentAuthorized,
        EventKind::PaymentSucceeded,
        EventKind::PaymentProcessing,
        EventKind::PaymentDeclined,
        EventKind::PaymentFailed,
        EventKind::PaymentCaptured,
        EventKind::PaymentVoided,
        EventKind::PaymentRefunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PaymentAuthorized => "payment.authorized",
            EventKind::PaymentSucceeded => "payment.succeeded",
            EventKind::PaymentProcessing => "payment.processing",
            EventKind::PaymentDeclined => "payment.declined",
            EventKind::PaymentFailed => "payment.failed",
            EventKind::PaymentCaptured => "payment.captured",
            EventKind::PaymentVoided => "payment.voided",
            EventKind::PaymentRefunded => "payment.refunded",
        }
    }
}

/// One record of the audit trail.
#[derive(Clone, Copy, Debug)]
pub enum AuditRecord {
    /// An account exists; `floor_minor` is the lowest balance it may reach
    /// (`None`: unbounded, as for clearing accounts).
    AccountOpened {
        account: Account,
        currency: Currency,
        floor_minor: Option<i64>,
    },
    /// A payment row was inserted (the payment table is append-only by id).
    PaymentCreated {
        payment: PaymentId,
        merchant: MerchantId,
        key: Option<IdemKey>,
        params_fingerprint: u64,
        amount: Money,
        method: Method,
    },
    Journal(JournalEntry),
    Settlement(SettlementLine),
    /// The gateway emitted a webhook event.
    EventEmitted {
        event: EventId,
        merchant: MerchantId,
        payment: PaymentId,
        kind: EventKind,
        payload_hash: u64,
    },
    /// The merchant endpoint received a delivery (its receipt log). `applied`
    /// is false when it recognised the event id and skipped it.
    EventReceived {
        event: EventId,
        payload_hash: u64,
        signature_valid: bool,
        applied: bool,
    },
    /// The event exhausted its delivery attempts.
    EventDeadLettered {
        event: EventId,
        attempts: u32,
    },
    /// A per-request callback (`return_url`) fired for a payment.
    CallbackFired {
        payment: PaymentId,
        status: Status,
    },
    /// End-of-run read of one payment row.
    PaymentFinal {
        payment: PaymentId,
        status: Status,
        amount_minor: i64,
        captured_minor: i64,
        refunded_minor: i64,
    },
    /// End-of-run read of one account balance.
    Balance {
        account: Account,
        currency: Currency,
        minor: i64,
    },
}

/// Where the stack writes its audit trail and clients write their history.
/// Implemented by the checker (and by a file writer for `--history`).
pub trait Observer: Send + Sync {
    fn audit(&self, record: AuditRecord);
    fn history(&self, event: super::history::HistoryEvent);
}
