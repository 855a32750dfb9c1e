//! A read-only view of a running stack for telemetry: the same counters
//! `results.json` shows (gateway, webhooks, resilience) plus the depths the
//! sampler watches, read on demand (a Prometheus scrape) rather than pushed
//! from the hot path.
//!
//! It holds weak references: a probe never keeps a stack alive, so the run
//! driver can still take its observer back when the run ends, and a scrape
//! after the stack is gone simply reads nothing.

use std::sync::{Arc, Weak};

use crate::resilience::{Guard, ResilienceReport, StandInReport};

use super::acquirer::Acquirer;
use super::gateway::Gateway;
use super::issuer::Issuer;
use super::network::Network;
use super::webhooks::Webhooks;
use super::StackStats;

/// Weak handles on the parts of a stack whose counters telemetry reads.
#[derive(Clone)]
pub struct StackProbe {
    pub(super) gateway: Weak<Gateway>,
    pub(super) webhooks: Weak<Webhooks>,
    pub(super) acquirer: Weak<Acquirer>,
    pub(super) issuers: Vec<Weak<Issuer>>,
    pub(super) networks: Vec<Weak<Network>>,
    pub(super) guards: Vec<Weak<Guard>>,
}

/// Depths of the stack's queues right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Depths {
    /// Webhook events emitted and not yet delivered or dead-lettered.
    pub webhooks_outstanding: u64,
    /// Events in the dead-letter queue (it is never drained in a run).
    pub dead_lettered: u64,
    /// Downstream messages whose outcome the gateway does not know yet.
    pub unresolved_messages: u64,
    /// Stand-in advices the networks still owe the issuers.
    pub advices_pending: u64,
    /// Captures and refunds waiting for the next settlement batch.
    pub settlement_pending: u64,
    /// Holds placed and neither captured nor released.
    pub holds_open: u64,
    /// Requests past the gateway's door and not yet answered (counted by
    /// the load shedder; 0 when shedding is off).
    pub gateway_in_flight: u64,
}

/// One reading of a stack.
#[derive(Clone, Debug)]
pub struct StackReading {
    pub stats: StackStats,
    pub resilience: ResilienceReport,
    pub depths: Depths,
}

impl StackProbe {
    /// Hands each guarded downstream's call durations (µs) to the observer
    /// `make` returns for its name (`issuer:0`, `network:1`,
    /// `webhook-endpoint`). Only guards that do something time their calls.
    pub fn observe_calls(&self, make: impl Fn(&str) -> crate::resilience::CallObserver) {
        for g in self.guards.iter().filter_map(Weak::upgrade) {
            g.observe_calls(make(g.name()));
        }
    }

    /// Reads the stack now; `None` once it is gone.
    pub fn read(&self) -> Option<StackReading> {
        let gateway = self.gateway.upgrade()?;
        let webhooks = self.webhooks.upgrade()?;
        let acquirer = self.acquirer.upgrade()?;
        let issuers: Vec<Arc<Issuer>> = self.issuers.iter().filter_map(Weak::upgrade).collect();
        let networks: Vec<Arc<Network>> = self.networks.iter().filter_map(Weak::upgrade).collect();
        let guards: Vec<Arc<Guard>> = self.guards.iter().filter_map(Weak::upgrade).collect();
        let holds_open: usize = issuers.iter().map(|i| i.holds_open()).sum();
        let webhook_stats = webhooks.stats();
        let stats = StackStats {
            gateway: gateway.stats(),
            webhooks: webhook_stats,
            settlement_batches: acquirer.batches_closed(),
            retained_idempotency_keys: gateway.retained_keys(),
            holds_open,
            unresolved_messages: gateway.unresolved(),
        };
        let mut stand_in = StandInReport::default();
        for n in &networks {
            stand_in.networks.add(&n.stand_in_stats());
        }
        stand_in.exposure_minor = issuers.iter().map(|i| i.exposure_minor()).sum();
        let resilience = crate::resilience::report_of(&guards, gateway.resilience(), stand_in);
        let depths = Depths {
            webhooks_outstanding: webhooks.outstanding(),
            dead_lettered: webhook_stats.dead_lettered,
            unresolved_messages: gateway.unresolved() as u64,
            advices_pending: networks.iter().map(|n| n.advices_pending() as u64).sum(),
            settlement_pending: acquirer.pending() as u64,
            holds_open: holds_open as u64,
            gateway_in_flight: gateway.resilience().in_flight(),
        };
        Some(StackReading {
            stats,
            resilience,
            depths,
        })
    }
}
