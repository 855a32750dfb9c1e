//! A card network (think Visa or Mastercard): it owns the card numbers that
//! start with its digit, and routes each message by the card's BIN range to
//! the issuer that issued it. Every message costs one network hop before the
//! issuer's own.

use std::sync::Arc;

use crate::chaos::{CallFault, FaultLayer};
use crate::domain::fingerprint::FxHashMap;
use crate::domain::{IssuerId, NetworkId, Pan};

use super::component::Component;
use super::issuer::{AuthRequest, Issuer, IssuerMsg, IssuerReply};

pub struct Network {
    id: NetworkId,
    first_digit: u32,
    component: Component,
    issuers: Vec<Arc<Issuer>>,
    /// BIN range (the BIN without its last three digits) -> issuer.
    bin_ranges: FxHashMap<u32, IssuerId>,
    /// Faults aimed at `gateway->network` for this network, if any.
    inbound: Option<Arc<FaultLayer>>,
    /// The gateway's breaker, bulkhead and timeout for this network.
    guard: Option<Arc<crate::resilience::Guard>>,
}

/// The BIN range a BIN falls in.
pub fn bin_range(bin: u32) -> u32 {
    bin / 1000
}

/// Where an authorization went and what came back.
pub type Routed = (Option<IssuerId>, Result<IssuerReply, CallFault>);

impl Network {
    /// Whether the faults at this boundary may deliver a message twice.
    pub fn can_duplicate(&self) -> bool {
        self.inbound.as_ref().is_some_and(|l| l.can_duplicate())
    }

    pub fn new(
        id: NetworkId,
        first_digit: u32,
        component: Component,
        issuers: Vec<Arc<Issuer>>,
        bin_ranges: FxHashMap<u32, IssuerId>,
        inbound: Option<Arc<FaultLayer>>,
        guard: Arc<crate::resilience::Guard>,
    ) -> Network {
        Network {
            id,
            first_digit,
            component,
            issuers,
            bin_ranges,
            inbound,
            guard: guard.is_active().then_some(guard),
        }
    }

    /// A call through this network's guard (if any).
    async fn guarded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, CallFault>>,
    ) -> Result<T, CallFault> {
        // Boxed: the caller's future stays small however deep the layers.
        match &self.guard {
            Some(g) => Box::pin(g.call(call)).await,
            None => Box::pin(call).await,
        }
    }

    pub fn id(&self) -> NetworkId {
        self.id
    }

    /// Whether this network serves the card (by its first digit).
    pub fn serves(&self, pan: Pan) -> bool {
        pan.bin() / 100_000 == self.first_digit
    }

    /// Routes an authorization by BIN; returns the issuer it went to (`None`
    /// if the BIN is unknown: declined without a message, or if the network
    /// itself did not answer).
    pub async fn authorize(self: &Arc<Self>, pan: Pan, req: AuthRequest) -> Routed {
        let me = self.clone();
        let routed = self
            .guarded(crate::chaos::through(self.inbound.as_deref(), move || {
                let me = me.clone();
                async move {
                    let route = me
                        .component
                        .serve(|| me.bin_ranges.get(&bin_range(pan.bin())).copied())
                        .await;
                    match route {
                        None => (
                            None,
                            Ok(IssuerReply::Declined(
                                crate::domain::DeclineReason::UnknownAccount,
                            )),
                        ),
                        Some(issuer) => (
                            Some(issuer),
                            me.issuers[usize::from(issuer.0)]
                                .receive(IssuerMsg::Auth(req))
                                .await,
                        ),
                    }
                }
            }))
            .await;
        match routed {
            Ok(r) => r,
            Err(fault) => (None, Err(fault)),
        }
    }

    /// Relays a message about an existing authorization to its issuer.
    pub async fn relay(
        self: &Arc<Self>,
        issuer: IssuerId,
        msg: IssuerMsg,
    ) -> Result<IssuerReply, CallFault> {
        let me = self.clone();
        self.guarded(crate::chaos::through(self.inbound.as_deref(), move || {
            let me = me.clone();
            async move {
                me.component.serve(|| ()).await;
                me.issuers[usize::from(issuer.0)].receive(msg).await
            }
        }))
        .await
        .and_then(|r| r)
    }
}
