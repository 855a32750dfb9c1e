//! What the HTTP server serves: the stack's gateway and the customers'
//! wallets, behind a small object-safe trait so tests can serve a stub.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::domain::api::{PaymentApi, Request, WalletPresentation};
use crate::domain::{ApiError, CustomerId, MerchantId, PaymentId, PaymentView, Served};
use crate::stack::gateway::Gateway;
use crate::stack::{InProcess, Stack};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

pub trait Backend: Send + Sync + 'static {
    /// One request to the gateway. Dropping the future (the HTTP client hung
    /// up) must not cancel the gateway's work: the in-process transport
    /// finishes it on a task of its own.
    fn call(&self, req: Request) -> BoxFuture<Served>;

    /// One authentication on the customer's phone (the device simulator).
    fn authenticate(&self, customer: CustomerId) -> BoxFuture<Option<WalletPresentation>>;

    /// A payment's owner and current view, for 403 versus 404 and default
    /// amounts; a read that takes no gateway hop.
    fn peek(&self, payment: PaymentId) -> Option<(MerchantId, PaymentView)>;

    /// Charges a request answered at the edge (404, 403) to the merchant's
    /// quotas; `Err` is the refusal (429, 503) to send instead.
    fn charge_edge_request(&self, merchant: MerchantId) -> Result<(), ApiError>;
}

/// The real stack: requests go through the same in-process transport sim
/// mode uses, faults aimed at `client->gateway` included (`A`: that
/// transport, or it wrapped to time each call for telemetry).
pub struct StackBackend<A = InProcess> {
    api: A,
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

/// The stack's backend; with `telemetry`, every gateway call is timed into
/// its server metrics on `clock`, as sim mode times them.
pub fn stack_backend(
    stack: &Stack,
    telemetry: Option<&Arc<crate::telemetry::Telemetry>>,
    clock: crate::sim::Clock,
) -> Arc<dyn Backend> {
    match telemetry {
        None => Arc::new(StackBackend::new(stack)),
        Some(t) => Arc::new(StackBackend {
            api: crate::telemetry::gateway::Timed {
                inner: stack.api(),
                metrics: t.server(),
                clock,
            },
            gateway: stack.gateway().clone(),
        }),
    }
}

impl<A: PaymentApi + Clone> Backend for StackBackend<A> {
    fn call(&self, req: Request) -> BoxFuture<Served> {
        let api = self.api.clone();
        Box::pin(async move { api.serve(req).await })
    }

    fn authenticate(&self, customer: CustomerId) -> BoxFuture<Option<WalletPresentation>> {
        let api = self.api.clone();
        Box::pin(async move { api.authenticate(customer).await })
    }

    fn peek(&self, payment: PaymentId) -> Option<(MerchantId, PaymentView)> {
        self.gateway.peek(payment)
    }

    fn charge_edge_request(&self, merchant: MerchantId) -> Result<(), ApiError> {
        self.gateway.charge_edge_request(merchant)
    }
}
