//! The stack's background work while a run goes on: webhook dispatch,
//! settlement batches, hold expiry sweeps, the bank batch window, stand-in
//! advices, idempotency pruning, planned gateway crashes, the recovery watch
//! and the depth sampler. Each task stops on a signal, so a run can finish.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::chaos::Crash;
use crate::sim::signal::Signal;
use crate::sim::task::{spawn, Task};
use crate::sim::Clock;

use super::gateway::Gateway;
use super::{advices_pending, Stack};

impl Stack {
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
