//! Money that moves without a hold: direct debits of a linked account (QR
//! wallet, bank transfer, a bank batch file) and refund credits. Apart from
//! holds because none of it can be captured, released or expire.

use crate::domain::audit::{Account, EntryKind};
use crate::domain::{CustomerId, DeclineReason, IdemKey, PaymentId, RefundId};
use crate::lock::Locked;

use super::{Debit, DebitRail, Issuer, State};

impl Issuer {
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
    pub(super) fn debit(
        &self,
        st: &mut State,
        d: Debit,
        rail: DebitRail,
    ) -> Result<(), DeclineReason> {
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
    pub(super) fn refund(
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
}
