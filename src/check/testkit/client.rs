//! A client talking to a correct stack: each call records the invocation and
//! its reply in the history around what the stack does, as one request that
//! succeeds on its first attempt.

use crate::domain::history::{Failure, HistoryKind, ReplySummary};
use crate::domain::{
    CaptureMode, CreateParams, CustomerId, DeclineReason, IdemKey, MerchantId, Method, Operation,
    PaymentId, RefundId,
};

use super::Scenario;

impl Scenario {
    /// A keyed create the issuer declines for insufficient funds, as
    /// `attempt` of its key: the stack keeps a declined row, the client
    /// records the declined reply, which is returned.
    pub(in crate::check) fn declined_create(
        &mut self,
        key: IdemKey,
        params: CreateParams,
        attempt: u16,
    ) -> ReplySummary {
        let op = self.invoke(
            params.merchant,
            Some(key),
            Operation::Create(params),
            attempt,
        );
        let p = self.execute_decline(Some(key), &params);
        let reply = self.reply(p, None);
        self.complete(
            op,
            HistoryKind::Fail(Failure::Declined {
                reply,
                reason: Some(DeclineReason::InsufficientFunds),
            }),
        );
        reply
    }

    /// One keyed create that succeeds on its first attempt.
    pub(in crate::check) fn create(
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
    pub(in crate::check) fn card(
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

    pub(in crate::check) fn capture(&mut self, p: PaymentId, amount: i64) -> IdemKey {
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

    pub(in crate::check) fn void(&mut self, p: PaymentId) -> IdemKey {
        let m = self.rows[&p].merchant;
        let key = self.new_key();
        let op = self.invoke(m, Some(key), Operation::Void { payment: p }, 1);
        self.execute_release(p, Some(key));
        let reply = self.reply(p, None);
        self.ok(op, reply);
        key
    }

    pub(in crate::check) fn refund(&mut self, p: PaymentId, amount: i64) -> (IdemKey, RefundId) {
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
}
