//! The in-process transport: how the load generator reaches the gateway in
//! sim mode, through the faults aimed at `client->gateway`.

use std::future::Future;
use std::sync::Arc;

use crate::chaos::FaultLayer;
use crate::domain::api::{PaymentApi, Request, WalletPresentation};
use crate::domain::{ApiError, CustomerId, Served};

use super::gateway::Gateway;
use super::wallet::Wallet;

/// Calls the gateway in process. The handler runs inside the caller's task
/// while the caller waits (no spawn per request); if the caller stops waiting
/// (a client timeout drops the future), the unfinished handler is handed to a
/// task of its own, so — as over a real connection — the effect may still
/// happen after the client gave up.
#[derive(Clone)]
pub struct InProcess {
    pub(super) gateway: Arc<Gateway>,
    pub(super) wallet: Arc<Wallet>,
    /// Faults aimed at `client->gateway`, if any.
    pub(super) faults: Option<Arc<FaultLayer>>,
}

type Handler = std::pin::Pin<Box<dyn Future<Output = Served> + Send>>;

/// A server-side handler that finishes on its own if abandoned.
struct Detached {
    handler: Option<Handler>,
}

impl Future for Detached {
    type Output = Served;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let Some(handler) = self.handler.as_mut() else {
            return std::task::Poll::Ready(Served::fresh(Err(ApiError::Internal)));
        };
        let out = handler.as_mut().poll(cx);
        if out.is_ready() {
            self.handler = None;
        }
        out
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        // Outside a runtime (it is being torn down) there is nowhere to
        // finish the work, and nobody left to observe it: let it go.
        if let Some(handler) = self.handler.take() {
            crate::sim::task::spawn_if_running(async move {
                let _ = handler.await;
            });
        }
    }
}

impl PaymentApi for InProcess {
    fn serve(&self, req: Request) -> impl Future<Output = Served> + Send {
        let (gateway, faults) = (self.gateway.clone(), self.faults.clone());
        let make = move || {
            let gateway = gateway.clone();
            Detached {
                handler: Some(Box::pin(async move { gateway.handle(req).await })),
            }
        };
        async move {
            // The client times out by itself, so a fault that eats the
            // answer simply never answers.
            let refused = match crate::chaos::through(faults.as_deref(), make).await {
                Ok(served) => return served,
                Err(crate::chaos::CallFault::Failed(e)) => e.unwrap_or(ApiError::Unavailable),
                Err(crate::chaos::CallFault::Rejected) => ApiError::Unavailable,
                Err(crate::chaos::CallFault::TimedOut) => std::future::pending().await,
            };
            Served::fresh(Err(refused))
        }
    }

    fn authenticate(
        &self,
        customer: CustomerId,
    ) -> impl Future<Output = Option<WalletPresentation>> + Send {
        let wallet = self.wallet.clone();
        async move { wallet.authenticate(customer).await.ok() }
    }
}
