//! Resilience mechanisms under load and faults, each judged by the numbers a
//! run reports (`RunOutcome::resilience`, as in results.json).

use std::path::PathBuf;

use paystorm::chaos::Plan;
use paystorm::report::exit_code;
use paystorm::resilience::circuit_breaker::State;
use paystorm::sim::run::{run, RunOptions, RunOutcome};
use paystorm::stack::sabotage::Sabotages;
use paystorm::workload::Workload;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn steady() -> Workload {
    Workload::from_path(&root().join("workloads/steady.toml")).expect("steady.toml loads")
}

fn plan(name: &str) -> Plan {
    Plan::from_path(&root().join("chaos").join(name)).expect("plan parses")
}

fn go(w: &Workload, seed: u64, chaos: Vec<Plan>, no_resilience: bool) -> RunOutcome {
    let o = run(
        w,
        &RunOptions {
            seed,
            sabotage: Sabotages::NONE,
            history: None,
            rate_scale: 1.0,
            chaos,
            no_resilience,
        },
    )
    .expect("run");
    let failed: Vec<&str> = o.verdict.failed().map(|r| r.name).collect();
    assert_eq!(
        exit_code(&o, w.file.load.dropped_share_max),
        0,
        "seed {seed}: every invariant must hold, failed: {failed:?}"
    );
    o
}

#[test]
fn an_issuer_outage_opens_its_breaker_which_half_opens_and_closes_after() {
    let w = steady();
    let o = go(&w, 1, vec![plan("issuer-outage.toml")], false);
    let issuer0 = o
        .resilience
        .downstreams
        .iter()
        .find(|d| d.name == "issuer:0")
        .and_then(|d| d.breaker.clone())
        .expect("issuer 0 has a breaker");
    let t = &issuer0.transitions;
    let first_open = t.iter().find(|t| t.to == State::Open).expect("it opened");
    // The plan's windows: errors from 5 s, hangs from 15 s, refusals to 45 s.
    assert!(
        (5.0..45.0).contains(&first_open.at_s),
        "opened at {} s, inside the outage",
        first_open.at_s
    );
    assert!(
        issuer0.rejected > 0,
        "calls were refused at once while open"
    );
    let closed_after = t
        .iter()
        .filter(|t| t.to == State::Closed && t.at_s >= 45.0)
        .count();
    assert!(closed_after > 0, "it closed after the outage: {t:?}");
    assert!(
        t.iter()
            .any(|t| t.from == State::Open && t.to == State::HalfOpen),
        "open -> half-open by itself"
    );
    assert_eq!(issuer0.state, State::Closed, "closed at the end");
    // Other issuers never opened.
    for d in &o.resilience.downstreams {
        if d.name.starts_with("issuer:") && d.name != "issuer:0" {
            assert_eq!(d.breaker.as_ref().map_or(0, |b| b.opened), 0, "{}", d.name);
        }
    }
}

#[test]
fn failing_fast_beats_waiting_for_timeouts_during_an_outage() {
    let w = steady();
    let with = go(&w, 2, vec![plan("issuer-outage.toml")], false);
    let without = go(&w, 2, vec![plan("issuer-outage.toml")], true);
    let p99 = |o: &RunOutcome| {
        o.latency
            .corrected_ms()
            .into_iter()
            .find(|(op, _)| *op == "create")
            .map(|(_, p)| p.p99)
            .unwrap()
    };
    assert!(
        p99(&with) < p99(&without),
        "create p99 with resilience {} ms, without {} ms",
        p99(&with),
        p99(&without)
    );
    assert!(
        with.counts.unknown < without.counts.unknown,
        "fewer unknown outcomes with breakers and retries: {} vs {}",
        with.counts.unknown,
        without.counts.unknown
    );
    assert!(!without.resilience.enabled && with.resilience.enabled);
}

#[test]
fn a_merchant_over_its_quota_gets_429s_others_do_not_and_retries_charge_once() {
    let mut w = steady();
    w.file.resilience.rate_limit.per_merchant_per_s = 10.0;
    w.file.resilience.rate_limit.per_merchant_burst = 10;
    let o = go(&w, 3, Vec::new(), false);
    let r = &o.resilience.frontline;
    assert!(
        r.rate_limited_top_1pct > 0,
        "the most popular merchant exceeds 10 requests/s: {r:?}"
    );
    // The long tail stays under its quota on average; a Poisson burst past
    // the bucket can still refuse one of its requests now and then.
    assert!(
        r.rate_limited_rest * 50 <= r.rate_limited_top_1pct,
        "the long tail stays under its quota: {r:?}"
    );
    assert_eq!(r.rate_limited_global, 0);
    assert!(
        o.counts.retries > 0,
        "clients retried the 429s with their keys"
    );
    let refused = r.rate_limited_top_1pct + r.rate_limited_next_9pct + r.rate_limited_rest;
    assert_eq!(
        o.counts.rate_limited, refused,
        "every 429 reached its client with a Retry-After"
    );
    // exit 0 above: every retried key charged exactly once.
}

#[test]
fn the_retry_budget_bounds_in_stack_retries_under_a_storm() {
    let mut w = steady();
    // Breakers off, so every timed-out message is a candidate for a retry
    // (an open breaker would refuse the calls before the budget is asked).
    w.file.resilience.breaker.enabled = false;
    let storm = || vec![plan("network-partition.toml")];
    let budgeted = go(&w, 4, storm(), false);
    w.file.resilience.retry.budget_ratio = 100.0;
    w.file.resilience.retry.attempts_max = 6;
    let unbounded = go(&w, 4, storm(), false);
    let (b, u) = (
        &budgeted.resilience.frontline,
        &unbounded.resilience.frontline,
    );
    // Messages sent: about one per API call that reached the gateway.
    let messages = budgeted.stack.gateway.requests as f64;
    let allowed = 0.1 * messages + 5.0 * 10.0 * (budgeted.load_seconds / 10.0).ceil();
    assert!(
        (b.retries as f64) <= allowed,
        "retries {} within 10% of {} messages plus 5/s",
        b.retries,
        messages
    );
    assert!(
        b.retry_budget_exhausted > 0,
        "the budget refused some retries"
    );
    assert!(
        u.retries > 2 * b.retries,
        "without a real budget retries multiply: {} vs {}",
        u.retries,
        b.retries
    );
}

#[test]
fn with_resilience_off_no_mechanism_acts() {
    let w = steady();
    let o = go(&w, 5, vec![plan("issuer-outage.toml")], true);
    let r = &o.resilience;
    assert!(!r.enabled);
    assert_eq!(
        r.shed + r.frontline.retries + r.frontline.rate_limited_top_1pct,
        0
    );
    assert!(r
        .downstreams
        .iter()
        .all(|d| d.breaker.is_none() && d.bulkhead_rejected == 0));
    assert_eq!(r.stand_in.networks.approved, 0, "no breaker, no stand-in");
}

#[test]
fn stand_in_approvals_reconcile_and_keep_every_ledger_invariant() {
    let mut w = steady();
    let max = w.file.resilience.stand_in.max_amount_minor;
    let outage = || vec![plan("issuer-outage.toml")];
    // go() asserts exit 0: every ledger, lifecycle and settlement invariant
    // held with the stand-in holds, captures and releases in the journal.
    let with = go(&w, 6, outage(), false);
    let exposure_minor = with.resilience.stand_in.exposure_minor;
    let s = with.resilience.stand_in.networks;
    assert!(s.approved > 0, "the networks stood in for issuer 0: {s:?}");
    assert_eq!(
        s.advices_acknowledged, s.approved,
        "every approval reconciled with its issuer: {s:?}"
    );
    assert_eq!(s.advices_pending, 0);
    assert!(
        s.approved_minor <= s.approved as i64 * max,
        "only small amounts: {s:?}"
    );
    assert!(
        s.refused_amount > 0,
        "larger amounts were not stood in: {s:?}"
    );
    assert!(exposure_minor >= 0);
    // The same run without stand-in: those small payments fail instead.
    w.file.resilience.stand_in.enabled = false;
    let without = go(&w, 6, outage(), false);
    assert_eq!(without.resilience.stand_in.networks.approved, 0);
    assert!(
        with.counts.succeeded > without.counts.succeeded,
        "stand-in turns refusals into approvals: {} vs {} succeeded",
        with.counts.succeeded,
        without.counts.succeeded
    );
}

/// Payments' p99 (ms) by the customer's bank, issuer index order.
fn p99_by_issuer(o: &RunOutcome) -> Vec<f64> {
    o.latency
        .corrected_ms_by_issuer()
        .into_iter()
        .map(|(_, p)| p.p99)
        .collect()
}

#[test]
fn a_bulkhead_keeps_a_slow_issuer_from_stalling_the_others() {
    // Ten times steady's rate (400 payments/s); each network has 40 links
    // to its issuers; an issuer may hold 20 of them. slow-issuer.toml
    // makes issuer 1 answer in 0.6-2.5 s from 10 s to 40 s.
    let mut w = steady();
    w.file.stack.networks.links = 40;
    w.file.resilience.bulkhead.max_concurrent = 20;
    let scaled = |w: &Workload, chaos: Vec<Plan>| {
        let o = run(
            w,
            &RunOptions {
                seed: 7,
                sabotage: Sabotages::NONE,
                history: None,
                rate_scale: 10.0,
                chaos,
                no_resilience: false,
            },
        )
        .expect("run");
        assert_eq!(exit_code(&o, w.file.load.dropped_share_max), 0);
        o
    };
    let healthy = p99_by_issuer(&scaled(&w, Vec::new()));
    let with = scaled(&w, vec![plan("slow-issuer.toml")]);
    w.file.resilience.bulkhead.enabled = false;
    let without = p99_by_issuer(&scaled(&w, vec![plan("slow-issuer.toml")]));
    let bulkheaded = p99_by_issuer(&with);
    assert_eq!(healthy.len(), 4);
    for i in [0, 2, 3] {
        // The budget: half as much again as the healthy run's p99.
        let budget = 1.5 * healthy[i];
        assert!(
            bulkheaded[i] <= budget,
            "issuer {i}: p99 {} ms with the bulkhead, budget {budget} ms",
            bulkheaded[i]
        );
        assert!(
            without[i] > 2.0 * budget,
            "issuer {i}: p99 {} ms without the bulkhead: the slow issuer took the links",
            without[i]
        );
    }
    let rejected: Vec<(String, u64)> = with
        .resilience
        .downstreams
        .iter()
        .map(|d| (d.name.clone(), d.bulkhead_rejected))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(
        rejected.len() == 1 && rejected[0].0 == "issuer:1",
        "only the slow issuer's bulkhead refused calls: {rejected:?}"
    );
}

#[test]
fn payments_a_full_bulkhead_refuses_count_as_failed_and_unavailable_not_declined() {
    // A bulkhead of 3 calls per issuer with no wait refuses a share of the
    // calls. The gateway fails those payments (nothing moved): the client
    // must count them failed and an availability objective must count them
    // bad, never hide them among the declines (a full-scale Singles' Day
    // run once reported 75% "declined" for this reason alone).
    let tmp = tempfile::tempdir().unwrap();
    let steady = std::fs::read_to_string(root().join("workloads/steady.toml")).unwrap();
    let path = tmp.path().join("w.toml");
    std::fs::write(
        &path,
        format!(
            "{steady}\n[[slo]]\nname = \"available\"\nobjective = 0.5\n\n\
             [resilience.bulkhead]\nmax_concurrent = 3\nmax_wait_ms = 1\n"
        ),
    )
    .unwrap();
    let mut w = Workload::from_path(&path).expect("workload loads");
    let tight = go(&w, 3, Vec::new(), false);
    let refused: u64 = tight
        .resilience
        .downstreams
        .iter()
        .map(|d| d.bulkhead_rejected)
        .sum();
    assert!(refused > 0, "the tiny bulkhead refused calls");
    let c = &tight.counts;
    assert!(c.failed > 0, "refused payments are counted failed: {c:?}");
    assert!(
        c.failed <= refused,
        "nothing but a refusal fails a payment here: {} failed, {refused} refused",
        c.failed
    );
    // The objective sees every logical create, double submits (replays of
    // the same key) included, so it counts at least the journeys' failures.
    assert!(
        tight.slos[0].bad >= c.failed,
        "every failed payment is bad for availability: {} bad, {c:?}",
        tight.slos[0].bad
    );

    w.file.resilience.bulkhead = Default::default();
    let roomy = go(&w, 3, Vec::new(), false);
    assert_eq!(roomy.counts.failed, 0, "without refusals nothing fails");
    assert!(tight.slos[0].bad > roomy.slos[0].bad);
}
