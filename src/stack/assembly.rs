//! Assembling the stack: every component built from its config, under the
//! faults and guards a chaos plan and the resilience settings give it, and
//! wired to the others. Long, and needed once a run, so it stands apart from
//! what a built stack does.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::chaos::{Chaos, Target};
use crate::domain::audit::{Account, BankRailKind, Observer};
use crate::domain::dense_table::DenseTable;
use crate::domain::fingerprint::FxHashMap;
use crate::domain::{Currency, IssuerId, NetworkId};
use crate::resilience::stand_in::StandIn;
use crate::sim::{Clock, Seed};

use super::acquirer::Acquirer;
use super::component::Component;
use super::config::{ComponentConfig, StackConfig};
use super::gateway::{Downstream, Gateway};
use super::issuer::Issuer;
use super::ledger::Ledger;
use super::network::{bin_range, Network};
use super::qr::QrProvider;
use super::sabotage::Sabotages;
use super::tokens::TokenVault;
use super::transfer::BankRails;
use super::wallet::Wallet;
use super::webhooks::endpoint::MerchantEndpoint;
use super::webhooks::Webhooks;
use super::world::World;
use super::Stack;

/// How much a run expects, so [`Stack::build`] can size its tables up front:
/// a table grown by doubling rehashes mid-run and leaves its smaller copies
/// behind, and memory touched for the first time is most of what the
/// kernel's share of a run pays for. Zeros (the default) when unknown: the
/// tables then grow as they fill.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sizing {
    /// Payments (journeys) over the whole run.
    pub payments: usize,
    /// Payments in the busiest `stack.issuers.message_log_s` of the run:
    /// the most an issuer's message log holds at once.
    pub payments_per_message_log: usize,
}

impl Stack {
    /// Builds every component, opens the accounts and provisions the tokens.
    /// The world must have been made for this config (issuer count, networks).
    ///
    /// `sizing` sizes the tables up front (see [`Sizing`]).
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        cfg: &StackConfig,
        world: &World,
        currency: Currency,
        seed: Seed,
        clock: Clock,
        observer: Arc<dyn Observer>,
        sabotage: Sabotages,
        sizing: Sizing,
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
        tokens.reserve(world.customers.len());
        let mut cards = DenseTable::default();
        let mut customer_bank = DenseTable::default();
        let mut accounts = vec![0; issuers.len()];
        for c in &world.customers {
            accounts[usize::from(c.issuer.0)] += 1;
        }
        let customers = world.customers.len().max(1);
        for (issuer, n) in issuers.iter().zip(accounts) {
            issuer.reserve_accounts(n);
            issuer.reserve_messages(sizing.payments_per_message_log * n / customers);
        }
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
            sizing.payments * 3 / 2,
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
            sizing.payments,
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
}
