//! What the HTTP server serves: the stack's gateway and the customers'
//! wallets, behind a small object-safe trait so tests can serve a stub.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::domain::api::{PaymentApi, Request, WalletPresentation};
use crate::domain::{ApiError, ApiReply, CustomerId, MerchantId, PaymentId, PaymentView};
use crate::stack::gateway::Gateway;
use crate::stack::{InProcess, Stack};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

pub trait Backend: Send + Sync + 'static {
    /// One request to the gateway. Dropping the future (the HTTP client hung
    /// up) must not cancel the gateway's work: the in-process transport
    /// finishes it on a task of its own.
    fn call(&self, req: Request) -> BoxFuture<Result<ApiReply, ApiError>>;

    /// One authentication on the customer's phone (the device simulator).
    fn authenticate(&self, customer: CustomerId) -> BoxFuture<Option<WalletPresentation>>;

    /// A payment's owner and current view, for 403 versus 404 and default
    /// amounts; a read that takes no gateway hop.
    fn peek(&self, payment: PaymentId) -> Option<(MerchantId, PaymentView)>;
}

/// The real stack: requests go through the same in-process transport sim
/// mode uses, faults aimed at `client->gateway` included.
pub struct StackBackend {
    api: InProcess,
    gateway: Arc<Gateway>,
}

impl StackBackend {
    pub fn new(stack: &Stack) -> StackBackend {
        StackBackend {
            api: stack.api(),
            gateway: stack.gateway().clone(),
        }
    }
}

impl Backend for StackBackend {
    fn call(&self, req: Request) -> BoxFuture<Result<ApiReply, ApiError>> {
        let api = self.api.clone();
        Box::pin(async move { api.call(req).await })
    }

    fn authenticate(&self, customer: CustomerId) -> BoxFuture<Option<WalletPresentation>> {
        let api = self.api.clone();
        Box::pin(async move { api.authenticate(customer).await })
    }

    fn peek(&self, payment: PaymentId) -> Option<(MerchantId, PaymentView)> {
        self.gateway.peek(payment)
    }
}
