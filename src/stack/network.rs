//! A card network (think Visa or Mastercard): it owns the card numbers that
//! start with its digit, and routes each message by the card's BIN range to
//! the issuer that issued it. Every message costs one network hop before the
//! issuer's own. When an issuer's breaker is open, the network may approve
//! small payments in its stead (stand-in) and advise the issuer later.

use std::sync::Arc;

use crate::chaos::{CallFault, FaultLayer};
use crate::domain::fingerprint::FxHashMap;
use crate::domain::{IssuerId, NetworkId, Pan};
use crate::resilience::stand_in::{Advice, StandIn, StandInStats};
use crate::sim::executor::boxed;

use super::sabotage::{Sabotage, Sabotages};

use super::component::Component;
use super::config::NetworksConfig;
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
    /// Outstanding messages to issuers, shared by all of them.
    links: crate::slots::Slots,
    /// Stand-in processing, if on.
    stand_in: Option<StandIn>,
    sabotage: Sabotages,
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
            links: crate::slots::Slots::new(NetworksConfig::default().links as usize),
            stand_in: None,
            sabotage: Sabotages::NONE,
        }
    }

    /// Sets how many messages may be out to the issuers at once.
    pub fn with_links(mut self, links: u32) -> Network {
        self.links = crate::slots::Slots::new(links as usize);
        self
    }

    /// Lets this network stand in for its issuers when their breakers open.
    pub fn with_stand_in(mut self, stand_in: Option<StandIn>, sabotage: Sabotages) -> Network {
        self.stand_in = stand_in;
        self.sabotage = sabotage;
        self
    }

    /// The call `make` starts, through this network's guard (if any). A
    /// maker, so the call's future is stored once (see `Guard::call`).
    async fn guarded<T, Fut>(&self, make: impl FnOnce() -> Fut) -> Result<T, CallFault>
    where
        Fut: std::future::Future<Output = Result<T, CallFault>>,
    {
        // Boxed: the caller's future stays small however deep the layers.
        match &self.guard {
            Some(g) => boxed(g.call(make)).await,
            None => boxed(make()).await,
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
        let routed = self
            .guarded(|| {
                crate::chaos::through(self.inbound.as_deref(), move || {
                    let me = self.clone();
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
                            Some(issuer) => (Some(issuer), me.authorize_at(issuer, pan, req).await),
                        }
                    }
                })
            })
            .await;
        match routed {
            Ok(r) => r,
            Err(fault) => (None, Err(fault)),
        }
    }

    /// Sends an authorization to its issuer, or stands in for the issuer
    /// when its breaker is open.
    async fn authorize_at(
        &self,
        issuer: IssuerId,
        pan: Pan,
        req: AuthRequest,
    ) -> Result<IssuerReply, CallFault> {
        let to = &self.issuers[usize::from(issuer.0)];
        let msg = IssuerMsg::Auth(req);
        let Some(stand_in) = &self.stand_in else {
            return to.receive_over(msg, Some(&self.links)).await;
        };
        // A repeat of an authorization already stood in for: its answer.
        if stand_in.pending_for(req.payment).is_some() {
            return Ok(IssuerReply::Done);
        }
        match to.receive_over(msg, Some(&self.links)).await {
            Err(CallFault::Rejected) if to.breaker_open() && stand_in.approve(issuer, pan, req) => {
                Ok(IssuerReply::Done)
            }
            r => r,
        }
    }

    /// Delivers a stand-in advice; the issuer's answer (whatever it is)
    /// reconciles the approval.
    async fn advise(&self, advice: Advice) -> Result<(), CallFault> {
        let Some(stand_in) = &self.stand_in else {
            return Ok(());
        };
        if self.sabotage.has(Sabotage::LostAdvice) {
            stand_in.forget(advice.req.payment);
            return Ok(());
        }
        stand_in.sent();
        self.issuers[usize::from(advice.issuer.0)]
            .receive_over(IssuerMsg::Advice(advice.req), Some(&self.links))
            .await?;
        stand_in.acknowledged(advice.req.payment);
        Ok(())
    }

    /// Tries to deliver the oldest pending advices (a batch, concurrently);
    /// those that fail stay pending for the next round.
    pub async fn send_advices(self: &Arc<Self>) {
        let Some(stand_in) = &self.stand_in else {
            return;
        };
        let mut sends = Vec::new();
        // To an issuer whose breaker is not closed, one advice a round: a
        // probe (the rest would be refused at once).
        let mut probed = Vec::new();
        for advice in stand_in.due() {
            let to = &self.issuers[usize::from(advice.issuer.0)];
            if to.breaker_open() {
                if probed.contains(&advice.issuer) {
                    continue;
                }
                probed.push(advice.issuer);
            }
            let me = self.clone();
            sends.push(crate::sim::task::spawn(async move {
                let _ = me.advise(advice).await;
            }));
        }
        for send in sends {
            let _ = send.await;
        }
    }

    /// Advices not yet acknowledged by their issuers.
    pub fn advices_pending(&self) -> usize {
        self.stand_in.as_ref().map_or(0, |s| s.pending())
    }

    pub fn stand_in_stats(&self) -> StandInStats {
        self.stand_in
            .as_ref()
            .map_or_else(StandInStats::default, |s| s.stats())
    }

    /// Relays a message about an existing authorization to its issuer
    /// (after the authorization's advice, if it was stood in for and the
    /// issuer has not heard of it yet).
    pub async fn relay(
        self: &Arc<Self>,
        issuer: IssuerId,
        msg: IssuerMsg,
    ) -> Result<IssuerReply, CallFault> {
        self.guarded(|| {
            crate::chaos::through(self.inbound.as_deref(), move || {
                let me = self.clone();
                async move {
                    me.component.serve(|| ()).await;
                    let advice = me
                        .stand_in
                        .as_ref()
                        .and_then(|s| s.pending_for(msg.payment()));
                    if let Some(advice) = advice {
                        me.advise(advice).await?;
                    }
                    me.issuers[usize::from(issuer.0)]
                        .receive_over(msg, Some(&me.links))
                        .await
                }
            })
        })
        .await
        .and_then(|r| r)
    }
}
