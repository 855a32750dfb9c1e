//! The payment stack, every player of the talk as its own component: wallet,
//! token vault, gateway (idempotency, dedup, fraud, routing), card networks,
//! issuers, QR wallet provider, bank rails, acquirer, double-entry ledger and
//! webhooks with a merchant endpoint.
//!
//! `stack` never imports `load`, `check` or `report`: it is reached through
//! [`PaymentApi`](crate::domain::api::PaymentApi) and reports through the
//! audit trail.

pub mod acquirer;
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

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::sim::task::{spawn, Task};

use crate::chaos::{Chaos, Crash, FaultLayer, Target};
use crate::domain::audit::{Account, BankRailKind, Observer};
use crate::domain::fingerprint::FxHashMap;
use crate::domain::{Currency, IssuerId, NetworkId};
use crate::resilience::stand_in::StandIn;
use crate::sim::signal::Signal;
use crate::sim::{Clock, Seed};

use acquirer::Acquirer;
use component::Component;
use config::{ComponentConfig, StackConfig};
use gateway::{Downstream, Gateway, GatewayStats};
use issuer::Issuer;
use ledger::Ledger;
use network::{bin_range, Network};
use qr::QrProvider;
use sabotage::Sabotages;
use tokens::TokenVault;
use transfer::BankRails;
use wallet::Wallet;
use webhooks::endpoint::MerchantEndpoint;
use webhooks::{WebhookStats, Webhooks};
use world::World;

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
    /// Builds every component, opens the accounts and provisions the tokens.
    /// The world must have been made for this config (issuer count, networks).
    ///
    /// `expected_payments` sizes the tables up front (0 if unknown): growing a
    /// million-entry hash table mid-run costs rehashing and page faults.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        cfg: &StackConfig,
        world: &World,
        currency: Currency,
        seed: Seed,
        clock: Clock,
        observer: Arc<dyn Observer>,
        sabotage: Sabotages,
        expected_payments: usize,
        chaos: &Chaos,
        resilience: &crate::resilience::ResilienceConfig,
    ) -> Result<Stack, String> {
        let guards = crate::resilience::Guards::default();
        let journals = chaos.can_repeat_messages() || resilience.enabled;
        let downstream_timeout = Some(crate::sim::clock::ms_f64(cfg.gateway.downstream_timeout_ms));
        let layer = |at: Target| chaos.layer(at, clock, downstream_timeout);
        let comp =
            |name: &'static str, index: u64, c: &ComponentConfig| -> Result<Component, String> {
                let latency = c
                    .latency
                    .to_model()
                    .map_err(|e| format!("stack.{name}.latency: {e}"))?;
                Ok(Component::new(
                    name, index, latency, c.capacity, seed, clock,
                ))
            };
        let ledger = Arc::new(Ledger::new(currency, observer.clone(), clock));
        for account in [
            Account::AcquirerClearing,
            Account::Fees,
            Account::QrClearing,
            Account::BankClearing(BankRailKind::Instant),
            Account::BankClearing(BankRailKind::Batch),
        ] {
            ledger.open(account, None);
        }

        let issuer_cc = ComponentConfig {
            latency: cfg.issuers.latency,
            capacity: cfg.issuers.capacity,
        };
        let issuers: Vec<Arc<Issuer>> = (0..cfg.issuers.count)
            .map(|i| {
                let id = IssuerId(i as u16);
                ledger.open(Account::IssuerSettlement(id), None);
                ledger.open(Account::IssuerStandIn(id), None);
                Ok(Arc::new(
                    Issuer::new(
                        id,
                        comp("issuer", u64::from(i), &issuer_cc)?,
                        cfg.issuers,
                        ledger.clone(),
                        sabotage,
                    )
                    .with_faults(
                        layer(Target::NetworkIssuer(Some(i as u16))),
                        chaos.skew(Target::Issuer(Some(i as u16))),
                        journals,
                    )
                    .with_guard(guards.add(
                        &format!("issuer:{i}"),
                        resilience,
                        clock,
                        false,
                        Some(resilience.bulkhead.max_concurrent),
                    )),
                ))
            })
            .collect::<Result<_, String>>()?;

        let network_cc = ComponentConfig {
            latency: cfg.networks.latency,
            capacity: cfg.networks.capacity,
        };
        let networks: Vec<Arc<Network>> = cfg
            .networks
            .first_digits
            .iter()
            .enumerate()
            .map(|(n, &digit)| {
                let id = NetworkId(n as u8);
                ledger.open(Account::NetworkClearing(id), None);
                let ranges: FxHashMap<u32, IssuerId> = (0..cfg.issuers.count)
                    .map(|i| (digit * 100 + i, IssuerId(i as u16)))
                    .collect();
                Ok(Arc::new(
                    Network::new(
                        id,
                        digit,
                        comp("network", n as u64, &network_cc)?,
                        issuers.clone(),
                        ranges,
                        layer(Target::GatewayNetwork(Some(n as u8))),
                        guards.add(
                            &format!("network:{n}"),
                            resilience,
                            clock,
                            false,
                            Some(resilience.bulkhead.network_max_concurrent),
                        ),
                    )
                    .with_links(cfg.networks.links)
                    .with_stand_in(
                        resilience
                            .stand_ins()
                            .then(|| StandIn::new(resilience.stand_in)),
                        sabotage,
                    ),
                ))
            })
            .collect::<Result<_, String>>()?;

        let tokens = Arc::new(TokenVault::new(
            comp("tokens", 0, &cfg.tokens)?,
            seed.0,
            layer(Target::GatewayTokens),
        ));
        let mut cards = FxHashMap::default();
        let mut customer_bank = FxHashMap::default();
        for c in &world.customers {
            debug_assert_eq!(
                bin_range(c.pan.bin()),
                cfg.networks.first_digits[usize::from(c.network.0)] * 100 + u32::from(c.issuer.0)
            );
            issuers[usize::from(c.issuer.0)].open_account(
                c.id,
                c.opening_minor,
                c.credit_limit_minor,
            );
            cards.insert(c.id, (tokens.provision(c.pan, c.device), c.device));
            customer_bank.insert(c.id, c.issuer);
        }
        for m in &world.merchants {
            ledger.open(Account::Merchant(m.id), None);
        }
        let wallet_cc = ComponentConfig {
            latency: cfg.wallet.latency,
            capacity: u32::MAX >> 3,
        };
        let wallet = Arc::new(Wallet::new(
            comp("wallet", 0, &wallet_cc)?,
            cfg.wallet.failure_share,
            cards,
        ));
        let endpoint_cc = ComponentConfig {
            latency: cfg.webhooks.endpoint.latency,
            capacity: u32::MAX >> 3,
        };
        let endpoint = MerchantEndpoint::new(
            comp("endpoint", 0, &endpoint_cc)?,
            cfg.webhooks.endpoint,
            world.merchants.clone(),
            observer.clone(),
            expected_payments * 3 / 2,
        );
        let webhooks = Arc::new(Webhooks::new(
            cfg.webhooks,
            clock,
            observer.clone(),
            sabotage,
            endpoint,
            world.merchants.iter().map(|m| m.webhook_secret).collect(),
            seed.shared("webhook-jitter", 0),
            chaos.layer(
                Target::GatewayWebhook,
                clock,
                Some(crate::sim::clock::ms_f64(cfg.webhooks.timeout_ms)),
            ),
            chaos.queue_stalls(),
            guards.add("webhook-endpoint", resilience, clock, false, None),
        ));
        let acquirer = Arc::new(Acquirer::new(
            cfg.acquirer.fees,
            ledger.clone(),
            observer.clone(),
            sabotage,
        ));
        let gateway_cc = ComponentConfig {
            latency: cfg.gateway.latency,
            capacity: cfg.gateway.capacity,
        };
        let crashes = chaos.crashes();
        let gateway = Gateway::new(
            comp("gateway", 0, &gateway_cc)?,
            cfg.gateway,
            observer,
            sabotage,
            expected_payments,
            Downstream {
                tokens,
                networks: networks.clone(),
                issuers: issuers.clone(),
                customer_bank,
                qr: Arc::new(QrProvider::new(
                    comp("qr", 0, &cfg.qr)?,
                    layer(Target::GatewayQr),
                )),
                bank: Arc::new(BankRails::new(
                    comp("bank", 0, &cfg.bank.instant)?,
                    cfg.bank.batch_queue_max,
                    layer(Target::GatewayBank),
                )),
                acquirer: acquirer.clone(),
                webhooks: webhooks.clone(),
                merchants: world.merchants.len() as u32,
            },
        )
        .with_faults(
            !crashes.is_empty(),
            journals,
            chaos.store_override(),
            layer(Target::IdempotencyStore),
            chaos.skew(Target::IdempotencyStore),
        )
        .with_frontline(crate::resilience::Frontline::new(
            *resilience,
            world.merchants.len() as u32,
            clock,
        ))
        .into_arc();
        Ok(Stack {
            cfg: cfg.clone(),
            clock,
            gateway,
            wallet,
            issuers,
            networks,
            resilience: *resilience,
            acquirer,
            webhooks,
            ledger,
            api_faults: chaos.layer(Target::ClientGateway, clock, None),
            crashes,
            last_fault_end_us: chaos.last_window_end_s().map(|s| (s * 1e6) as u64),
            recovered_at_us: Arc::new(AtomicU64::new(0)),
            guards,
        })
    }

    /// Starts the periodic work: webhook dispatch, settlement batches, hold
    /// expiry sweeps, the bank batch window and idempotency pruning. Each task
    /// stops when `shutdown` flips, so a run can finish.
    pub fn spawn_background(&self, shutdown: &Signal) -> Vec<Task<()>> {
        let mut tasks = vec![spawn(
            self.webhooks.clone().run_dispatcher(shutdown.clone()),
        )];
        let acquirer = self.acquirer.clone();
        tasks.push(every(
            self.clock,
            self.cfg.acquirer.settlement_interval_s,
            shutdown.clone(),
            move || {
                acquirer.settle();
                async {}
            },
        ));
        let (issuers, gateway, clock) = (self.issuers.clone(), self.gateway.clone(), self.clock);
        tasks.push(every(
            self.clock,
            self.cfg.issuers.expiry_sweep_interval_s,
            shutdown.clone(),
            move || {
                let expired: Vec<_> = issuers
                    .iter()
                    .flat_map(|i| i.expire_holds(clock.now_us()))
                    .collect();
                let gateway = gateway.clone();
                async move { gateway.on_holds_expired(&expired).await }
            },
        ));
        let gateway = self.gateway.clone();
        tasks.push(every(
            self.clock,
            self.cfg.bank.batch_interval_s,
            shutdown.clone(),
            move || {
                let gateway = gateway.clone();
                async move {
                    gateway.run_bank_batch().await;
                }
            },
        ));
        if self.resilience.stand_ins() {
            let networks = self.networks.clone();
            tasks.push(every(
                self.clock,
                self.resilience.stand_in.advice_interval_ms / 1000.0,
                shutdown.clone(),
                move || {
                    let networks = networks.clone();
                    async move {
                        for n in &networks {
                            n.send_advices().await;
                        }
                    }
                },
            ));
        }
        let gateway = self.gateway.clone();
        tasks.push(every(
            self.clock,
            self.cfg.gateway.idempotency.prune_interval_s,
            shutdown.clone(),
            move || {
                gateway.prune_keys();
                async {}
            },
        ));
        if !self.crashes.is_empty() {
            tasks.push(spawn(crash_and_restart(
                self.gateway.clone(),
                self.crashes.clone(),
                self.clock,
                shutdown.clone(),
            )));
        }
        if let Some(end_us) = self.last_fault_end_us {
            let (gateway, webhooks, networks, clock) = (
                self.gateway.clone(),
                self.webhooks.clone(),
                self.networks.clone(),
                self.clock,
            );
            let recovered = self.recovered_at_us.clone();
            let shutdown = shutdown.clone();
            tasks.push(spawn(async move {
                clock.sleep_until_us(end_us).await;
                // Polls at 100 ms of simulated time: the recovery figure's
                // resolution.
                while gateway.unresolved() > 0
                    || webhooks.troubled() > 0
                    || advices_pending(&networks) > 0
                {
                    tokio::select! {
                        biased;
                        _ = shutdown.wait() => return,
                        _ = clock.sleep(Duration::from_millis(100)) => {},
                    }
                }
                recovered.store(clock.now_us().max(1), Ordering::Relaxed);
            }));
        }
        tasks
    }

    /// Samples the stack's depths once a simulated second (see
    /// `metrics::gauges`) until `stop` fires; returns what it sampled.
    pub fn spawn_sampler(&self, stop: &Signal) -> Task<crate::metrics::gauges::Gauges> {
        let (gateway, webhooks, clock, stop) = (
            self.gateway.clone(),
            self.webhooks.clone(),
            self.clock,
            stop.clone(),
        );
        spawn(async move {
            let mut gauges = crate::metrics::gauges::Gauges::default();
            loop {
                gauges.sample(
                    clock.now_us(),
                    crate::metrics::gauges::Sample {
                        webhooks_outstanding: webhooks.outstanding(),
                        dead_lettered: webhooks.stats().dead_lettered,
                        unresolved: gateway.unresolved() as u64,
                    },
                );
                tokio::select! {
                    biased;
                    _ = stop.wait() => break,
                    _ = clock.sleep(Duration::from_secs(1)) => {},
                }
            }
            gauges
        })
    }

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

/// Runs `tick` every `interval_s` (first after one interval) until shutdown.
///
/// A tick that runs late (the previous one took longer than the interval)
/// pushes the next one a whole interval past it, as tokio's
/// `MissedTickBehavior::Delay` does, rather than firing a burst to catch up.
fn every<F, Fut>(clock: Clock, interval_s: f64, shutdown: Signal, mut tick: F) -> Task<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let period_us = ((interval_s.max(0.001)) * 1e6) as u64;
    spawn(async move {
        let mut next_us = clock.now_us() + period_us;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => break,
                _ = clock.sleep_until_us(next_us) => {},
            }
            let now = clock.now_us();
            next_us = now.max(next_us) + period_us;
            tick().await;
        }
    })
}

/// Crashes the gateway at each planned moment and restarts it after the
/// downtime.
async fn crash_and_restart(
    gateway: Arc<Gateway>,
    crashes: Vec<Crash>,
    clock: Clock,
    shutdown: Signal,
) {
    for c in crashes {
        let at_us = (c.at_s * 1e6) as u64;
        tokio::select! {
            biased;
            _ = shutdown.wait() => return,
            _ = clock.sleep_until_us(at_us) => {},
        }
        let downtime_us = (c.downtime_s * 1e6) as u64;
        gateway.crash(downtime_us);
        c.count();
        clock.sleep(Duration::from_micros(downtime_us)).await;
        gateway.restart().await;
    }
}
