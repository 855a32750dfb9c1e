//! The load generator: an open model that schedules arrivals from the
//! workload's rate whatever the stack does, and one task per customer journey.
//! It reaches the stack only through [`PaymentApi`].

pub mod client;
pub mod curve;
pub mod journey;
pub mod recorder;
pub mod schedule;
pub mod spec;
pub mod trace;
pub mod traffic;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use crate::domain::api::PaymentApi;
use crate::domain::audit::Observer;
use crate::domain::Currency;
use crate::sim::{Clock, Seed};

use client::Client;
use journey::Journey;
use recorder::{Counts, LiveCounters, Recorder};
use spec::{Arrival, Clients, Lifecycle};
use traffic::Traffic;

/// Everything a journey needs to know, precomputed once.
pub struct Plan {
    pub currency: Currency,
    pub traffic: Traffic,
    pub clients: Clients,
    pub lifecycle: Lifecycle,
    pub wallet_attempts_max: u32,
    /// Each customer's bank (by customer id), for the latency by issuer.
    pub customer_issuers: Vec<crate::domain::IssuerId>,
    /// The run's objectives, judged on every logical request.
    pub slos: Vec<crate::slo::Slo>,
    /// Prometheus metrics of every logical request, if the run exports them.
    pub telemetry: Option<Arc<crate::telemetry::client::ClientMetrics>>,
}

impl Plan {
    /// The plan of `workload` over `world`'s customers, judging `slos`.
    pub fn new(
        workload: &crate::workload::Workload,
        world: &crate::stack::world::World,
        slos: Vec<crate::slo::Slo>,
        telemetry: Option<Arc<crate::telemetry::client::ClientMetrics>>,
    ) -> Plan {
        let w = &workload.file;
        Plan {
            currency: workload.currency,
            traffic: Traffic::from_workload(workload),
            clients: w.clients,
            lifecycle: w.lifecycle,
            wallet_attempts_max: w.stack.wallet.attempts_max,
            customer_issuers: world.customers.iter().map(|c| c.issuer).collect(),
            slos,
            telemetry,
        }
    }
}

/// What the load generator reports at the end.
pub struct LoadReport {
    pub counts: Counts,
    pub latency: crate::metrics::LatencyBook,
    /// Offered, completed, errors and latency per bucket of simulated time.
    pub series: crate::metrics::TimeSeries,
    /// What the objectives saw.
    pub slo: crate::slo::SloBook,
    pub arrivals: u64,
    /// Intended time of the last arrival, in simulated seconds: how long the
    /// load phase lasted (the drain phase comes after).
    pub load_seconds: f64,
}

/// Where arrivals come from: a rate curve's schedule or a trace replay.
pub type ArrivalSource = Box<dyn Iterator<Item = Arrival> + Send>;

/// Bounds and tolerances of the open model.
#[derive(Clone, Copy, Debug)]
pub struct OpenModel {
    pub in_flight_max: u32,
    pub late_tolerance_us: u64,
}

/// Runs the arrivals to their end and waits for every journey to finish.
/// `live` receives progress counters another thread may read.
#[allow(clippy::too_many_arguments)]
pub async fn run<A: PaymentApi>(
    api: A,
    arrivals: ArrivalSource,
    model: OpenModel,
    plan: Plan,
    seed: Seed,
    clock: Clock,
    observer: Arc<dyn Observer>,
    live: Arc<LiveCounters>,
) -> LoadReport {
    let rec = Arc::new(
        Recorder::new(observer, clock, live, plan.slos.clone())
            .with_telemetry(plan.telemetry.clone()),
    );
    let client = Arc::new(Client {
        api: Arc::new(api),
        rec: rec.clone(),
        clock,
        cfg: plan.clients,
        connections: crate::slots::Slots::new(plan.clients.connections_max as usize),
    });
    let plan = Arc::new(plan);
    let live = Arc::new(AtomicU64::new(0));
    let idle = Arc::new(Notify::new());
    let mut offered = 0u64;
    let mut last_us = 0u64;
    for (index, arrival) in arrivals.enumerate() {
        clock.sleep_until_us(arrival.at_us).await;
        // An `abort_on_fail` objective was breached: no more load; the
        // journeys under way finish and the run drains as usual.
        if rec.aborted() {
            break;
        }
        offered += 1;
        last_us = arrival.at_us;
        rec.offered(arrival.at_us);
        if clock.now_us().saturating_sub(arrival.at_us) > model.late_tolerance_us {
            rec.count(|c| c.late_arrivals += 1);
        }
        if live.load(Ordering::Relaxed) >= u64::from(model.in_flight_max) {
            rec.count(|c| c.dropped_arrivals += 1);
            continue;
        }
        live.fetch_add(1, Ordering::Relaxed);
        let journey = Journey {
            client: client.clone(),
            plan: plan.clone(),
            rng: seed.stream("journey", index as u64),
            key_base: journey::key_base(index as u64),
            keys_used: 0,
            beside: Vec::new(),
            fixed: arrival.payment,
        };
        let (live, idle) = (live.clone(), idle.clone());
        crate::sim::task::spawn_detached(async move {
            journey.run().await;
            if live.fetch_sub(1, Ordering::Relaxed) == 1 {
                idle.notify_one();
            }
        });
    }
    while live.load(Ordering::Relaxed) > 0 {
        idle.notified().await;
    }
    LoadReport {
        counts: rec.counts(),
        latency: rec.take_latency(),
        series: rec.take_series(),
        slo: rec.take_slo(),
        arrivals: offered,
        load_seconds: last_us as f64 / 1e6,
    }
}
