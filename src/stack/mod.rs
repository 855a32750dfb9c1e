//! The payment stack, every player of the talk as its own component: wallet,
//! token vault, gateway (idempotency, dedup, fraud, routing), card networks,
//! issuers, QR wallet provider, bank rails, acquirer, double-entry ledger and
//! webhooks with a merchant endpoint.
//!
//! `stack` never imports `load`, `check` or `report`: it is reached through
//! [`PaymentApi`](crate::domain::api::PaymentApi) and reports through the
//! audit trail.
//!
//! Layout: this file holds the [`Stack`] and what a run asks of it at the end
//! (drain, final read, stats); `assembly.rs` builds it and `background.rs`
//! runs its periodic work.

pub mod acquirer;
mod age_queue;
mod assembly;
mod background;
pub mod component;
pub mod config;
pub mod gateway;
mod in_process;
pub mod issuer;
pub mod ledger;
pub mod network;
pub mod probe;
pub mod qr;
pub mod sabotage;
pub mod tokens;
pub mod transfer;
pub mod wallet;
pub mod webhooks;
pub mod world;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::chaos::{Crash, FaultLayer};
use crate::sim::Clock;

use acquirer::Acquirer;
use config::StackConfig;
use gateway::{Gateway, GatewayStats};
use issuer::Issuer;
use ledger::Ledger;
use network::Network;
use wallet::Wallet;
use webhooks::{WebhookStats, Webhooks};

pub use assembly::Sizing;
pub use in_process::InProcess;

pub struct Stack {
    cfg: StackConfig,
    clock: Clock,
    gateway: Arc<Gateway>,
    wallet: Arc<Wallet>,
    issuers: Vec<Arc<Issuer>>,
    /// The card networks (also the gateway's), for stand-in advices.
    networks: Vec<Arc<Network>>,
    /// The `[resilience]` settings the stack was built with.
    resilience: crate::resilience::ResilienceConfig,
    acquirer: Arc<Acquirer>,
    webhooks: Arc<Webhooks>,
    ledger: Arc<Ledger>,
    /// Faults aimed at `client->gateway`, if any.
    api_faults: Option<Arc<FaultLayer>>,
    /// The chaos plans' gateway crashes, in time order.
    crashes: Vec<Crash>,
    /// When the last fault window closes, microseconds (`None`: no faults).
    last_fault_end_us: Option<u64>,
    /// When the stack had recovered from the faults (0: not yet).
    recovered_at_us: Arc<AtomicU64>,
    /// Every downstream's breaker, bulkhead and timeout, for the report.
    guards: crate::resilience::Guards,
}

/// What the stack counted, for results.json.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StackStats {
    pub gateway: GatewayStats,
    pub webhooks: WebhookStats,
    pub settlement_batches: u32,
    pub retained_idempotency_keys: usize,
    pub holds_open: usize,
    /// Downstream messages whose outcome is still unknown at the end.
    pub unresolved_messages: usize,
}

/// How the drain phase ended.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct DrainReport {
    pub completed: bool,
    pub simulated_seconds: f64,
}

impl Stack {
    /// Seconds from the end of the last fault window until nothing a fault
    /// left unresolved remained (`None`: not recovered, or no faults).
    pub fn recovery_seconds(&self) -> Option<f64> {
        let end = self.last_fault_end_us?;
        match self.recovered_at_us.load(Ordering::Relaxed) {
            0 => None,
            at => Some(at.saturating_sub(end) as f64 / 1e6),
        }
    }

    /// After the last client finished: lets every open hold expire, runs the
    /// last bank batch and settlement, and waits for webhooks to be delivered
    /// or dead-lettered — all within `max`.
    pub async fn drain(&self, max: Duration) -> DrainReport {
        let start_us = self.clock.now_us();
        let deadline_us = start_us + max.as_micros() as u64;
        let step = Duration::from_millis(100);
        // Stand-in advices first: each places a hold that must then expire.
        while advices_pending(&self.networks) > 0 && self.clock.now_us() < deadline_us {
            self.clock.sleep(step).await;
        }
        let sweep_us = (self.cfg.issuers.expiry_sweep_interval_s * 1e6) as u64;
        let last_expiry = self.issuers.iter().filter_map(|i| i.last_expiry_us()).max();
        if let Some(at) = last_expiry {
            self.clock
                .sleep_until_us((at + sweep_us).min(deadline_us))
                .await;
        }
        self.gateway.run_bank_batch().await;
        while (self.webhooks.outstanding() > 0 || self.gateway.unresolved() > 0)
            && self.clock.now_us() < deadline_us
        {
            self.clock.sleep(step).await;
        }
        // Settle everything captured or refunded, the last webhooks included.
        for _ in 0..3 {
            if self.acquirer.settle() == 0 {
                break;
            }
        }
        let holds_open: usize = self.issuers.iter().map(|i| i.holds_open()).sum();
        DrainReport {
            completed: holds_open == 0
                && advices_pending(&self.networks) == 0
                && self.webhooks.outstanding() == 0
                && self.gateway.unresolved() == 0
                && self.acquirer.pending() == 0
                && self.gateway.open_payments() == 0,
            simulated_seconds: (self.clock.now_us() - start_us) as f64 / 1e6,
        }
    }

    /// The end-of-run read an auditor makes: every payment row and balance.
    pub fn final_read(&self) {
        self.gateway.read_payments();
        self.ledger.read_balances();
    }

    pub fn stats(&self) -> StackStats {
        StackStats {
            gateway: self.gateway.stats(),
            webhooks: self.webhooks.stats(),
            settlement_batches: self.acquirer.batches_closed(),
            retained_idempotency_keys: self.gateway.retained_keys(),
            holds_open: self.issuers.iter().map(|i| i.holds_open()).sum(),
            unresolved_messages: self.gateway.unresolved(),
        }
    }

    /// The `resilience` section of results.json.
    pub fn resilience_report(&self) -> crate::resilience::ResilienceReport {
        let mut stand_in = crate::resilience::StandInReport::default();
        for n in self.networks.iter() {
            stand_in.networks.add(&n.stand_in_stats());
        }
        stand_in.exposure_minor = self.issuers.iter().map(|i| i.exposure_minor()).sum();
        self.guards.report(self.gateway.resilience(), stand_in)
    }

    /// The gateway itself, for the HTTP edge's reads (`Gateway::peek`).
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// Live mode: merchants with endpoints in `routes` get their webhooks
    /// over HTTP from now on; the others keep the in-process endpoint.
    pub fn deliver_webhooks_over_http(
        &self,
        routes: Arc<dyn webhooks::http::Routes>,
    ) -> Result<(), String> {
        self.webhooks.deliver_over_http(routes)
    }

    /// A read-only view of this stack for telemetry (weak references: it
    /// never keeps the stack alive).
    pub fn probe(&self) -> probe::StackProbe {
        probe::StackProbe {
            gateway: Arc::downgrade(&self.gateway),
            webhooks: Arc::downgrade(&self.webhooks),
            acquirer: Arc::downgrade(&self.acquirer),
            issuers: self.issuers.iter().map(Arc::downgrade).collect(),
            networks: self.networks.iter().map(Arc::downgrade).collect(),
            guards: self.guards.all().iter().map(Arc::downgrade).collect(),
        }
    }

    /// The in-process transport for this stack.
    pub fn api(&self) -> InProcess {
        InProcess {
            gateway: self.gateway.clone(),
            wallet: self.wallet.clone(),
            faults: self.api_faults.clone(),
        }
    }
}

/// Stand-in advices the networks have not delivered yet.
fn advices_pending(networks: &[Arc<Network>]) -> usize {
    networks.iter().map(|n| n.advices_pending()).sum()
}
