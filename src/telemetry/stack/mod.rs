//! The stack's counters as metric families, built at scrape time from a
//! [`StackReading`] (what `results.json` reports, read through a
//! [`StackProbe`](crate::stack::probe::StackProbe)) and the chaos plans'
//! [`FaultReading`]s. Nothing here runs on the hot path.

pub mod specs;

use std::collections::BTreeMap;

use prometheus::proto::MetricFamily;

use crate::chaos::FaultReading;
use crate::resilience::circuit_breaker::State;
use crate::stack::probe::StackReading;

use super::gateway::ServerMetrics;
use specs::*;

/// Every family of one reading. `server`'s requests and in-flight gauges
/// join the downstream components' in the same families.
pub fn families(
    reading: Option<&StackReading>,
    server: &ServerMetrics,
    faults: &[FaultReading],
) -> Vec<MetricFamily> {
    let mut requests = crate::telemetry::gateway::REQUESTS.family();
    let mut in_flight = crate::telemetry::gateway::IN_FLIGHT.family();
    server.fill(&mut requests, &mut in_flight);
    let mut out = Vec::new();
    if let Some(r) = reading {
        stack(r, &mut requests, &mut out);
        in_flight_of_shedder(r, &mut out);
    }
    out.push(requests.done());
    out.push(in_flight.done());
    out.extend(fault_families(faults));
    out
}

fn in_flight_of_shedder(r: &StackReading, out: &mut Vec<MetricFamily>) {
    let mut f = SHED_IN_FLIGHT.family();
    f.add_u64(&[], r.depths.gateway_in_flight);
    out.push(f.done());
}

/// A counter family with one unlabelled sample.
fn one(spec: &crate::telemetry::family::Spec, value: u64) -> MetricFamily {
    let mut f = spec.family();
    f.add_u64(&[], value);
    f.done()
}

fn stack(
    r: &StackReading,
    requests: &mut crate::telemetry::family::Family,
    out: &mut Vec<MetricFamily>,
) {
    let g = &r.stats.gateway;
    out.push(one(&GATEWAY_ADMITTED, g.requests));
    out.push(one(&REPLAYS, g.replays));
    let mut f = IDEMPOTENCY_REJECTED.family();
    f.add_u64(&["mismatch"], g.idempotency_mismatches);
    f.add_u64(&["in_flight"], g.in_flight_conflicts);
    out.push(f.done());
    out.push(one(&DEDUP_HITS, g.dedup_hits));
    let mut f = DECLINES.family();
    for reason in crate::domain::DeclineReason::ALL {
        f.add_u64(
            &[reason.as_str()],
            g.declines.get(&reason).copied().unwrap_or(0),
        );
    }
    out.push(f.done());
    let mut f = DOWNSTREAM_ERRORS.family();
    f.add_u64(&["failed"], g.downstream_failures);
    f.add_u64(&["timed_out"], g.downstream_timeouts);
    f.add_u64(&["rejected"], g.downstream_rejected);
    out.push(f.done());
    let mut f = RECONCILIATIONS.family();
    f.add_u64(&["ok"], g.reconciled);
    f.add_u64(&["failed"], g.reconcile_gave_up);
    out.push(f.done());
    out.push(one(&STORE_FAILURES, g.store_failures));
    out.push(one(&CRASHES, g.crashes));
    out.push(one(&REFUSED_DOWN, g.refused_while_down));
    out.push(one(&HOLDS_EXPIRED, g.holds_expired));
    out.push(one(
        &SETTLEMENT_BATCHES,
        u64::from(r.stats.settlement_batches),
    ));
    let mut f = KEYS.family();
    f.add_u64(&[], r.stats.retained_idempotency_keys as u64);
    out.push(f.done());

    let d = &r.depths;
    let mut f = QUEUE_DEPTH.family();
    f.add_u64(&["webhooks"], d.webhooks_outstanding);
    f.add_u64(&["unresolved_messages"], d.unresolved_messages);
    f.add_u64(&["stand_in_advices"], d.advices_pending);
    f.add_u64(&["settlement"], d.settlement_pending);
    out.push(f.done());
    let mut f = DEAD_LETTER_DEPTH.family();
    f.add_u64(&[], d.dead_lettered);
    out.push(f.done());
    let mut f = HOLDS_OPEN.family();
    f.add_u64(&[], d.holds_open);
    out.push(f.done());

    let w = &r.stats.webhooks;
    out.push(one(&WEBHOOK_EMITTED, w.emitted));
    let mut f = WEBHOOK_EVENTS.family();
    f.add_u64(&["delivered"], w.delivered);
    f.add_u64(&["dead_lettered"], w.dead_lettered);
    f.add_u64(&["lost"], w.lost);
    out.push(f.done());
    let mut f = WEBHOOK_ATTEMPTS.family();
    f.add_u64(&["ok"], w.delivered);
    f.add_u64(&["failed"], w.attempts.saturating_sub(w.delivered));
    out.push(f.done());

    let res = &r.resilience;
    let (mut state, mut transitions, mut slow, mut refused, mut bulkhead, mut timeouts) = (
        BREAKER_STATE.family(),
        BREAKER_TRANSITIONS.family(),
        BREAKER_SLOW.family(),
        BREAKER_REJECTED.family(),
        BULKHEAD_REJECTED.family(),
        GUARD_TIMEOUTS.family(),
    );
    for d in &res.downstreams {
        let name = d.name.as_str();
        bulkhead.add_u64(&[name], d.bulkhead_rejected);
        timeouts.add_u64(&[name], d.call_timeouts);
        let Some(b) = &d.breaker else {
            continue;
        };
        for s in State::ALL {
            state.add_u64(&[name, s.as_str()], u64::from(b.state == s));
            transitions.add_u64(&[name, s.as_str()], b.transitions_to[s.index()]);
        }
        slow.add_u64(&[name], b.slow_calls);
        refused.add_u64(&[name], b.rejected);
        requests.add_u64(&[name, "call", "ok"], b.calls.saturating_sub(b.failures));
        requests.add_u64(&[name, "call", "failed"], b.failures);
        requests.add_u64(
            &[name, "call", "rejected"],
            b.rejected + d.bulkhead_rejected,
        );
    }
    out.extend([
        state.done(),
        transitions.done(),
        slow.done(),
        refused.done(),
        bulkhead.done(),
        timeouts.done(),
    ]);
    let fl = &res.frontline;
    out.push(one(&CALL_TIMEOUTS, fl.call_timeouts));
    let mut f = RATE_LIMITED.family();
    f.add_u64(&["global"], fl.rate_limited_global);
    f.add_u64(&["merchant_top_1pct"], fl.rate_limited_top_1pct);
    f.add_u64(&["merchant_next_9pct"], fl.rate_limited_next_9pct);
    f.add_u64(&["merchant_rest"], fl.rate_limited_rest);
    out.push(f.done());
    out.push(one(&SHED, res.shed));
    let mut f = RETRIES.family();
    f.add_u64(&["ok"], fl.retries);
    f.add_u64(&["rejected"], fl.retry_budget_exhausted);
    out.push(f.done());
    let si = &res.stand_in.networks;
    let mut f = STAND_IN.family();
    f.add_u64(&["ok", ""], si.approved);
    f.add_u64(&["rejected", "amount"], si.refused_amount);
    f.add_u64(&["rejected", "card_limit"], si.refused_card_limit);
    f.add_u64(&["rejected", "advices_full"], si.refused_advices_full);
    out.push(f.done());
    let mut f = STAND_IN_ADVICES.family();
    f.add_u64(&["sent"], si.advices_sent);
    f.add_u64(&["acknowledged"], si.advices_acknowledged);
    out.push(f.done());
}

/// Injections summed and windows or-ed per (kind, target).
fn fault_families(faults: &[FaultReading]) -> Vec<MetricFamily> {
    let mut by: BTreeMap<(&str, &str), (u64, bool)> = BTreeMap::new();
    for f in faults {
        let e = by.entry((f.kind.as_str(), f.target.as_str())).or_default();
        e.0 += f.injected;
        e.1 |= f.active;
    }
    let (mut injected, mut active) = (FAULTS_INJECTED.family(), FAULT_ACTIVE.family());
    for ((kind, target), (n, on)) in by {
        injected.add_u64(&[kind, target], n);
        active.add_u64(&[kind, target], u64::from(on));
    }
    vec![injected.done(), active.done()]
}
