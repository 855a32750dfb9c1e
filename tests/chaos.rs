//! Chaos plans against the stack, through the library.
//!
//! - Every shipped plan keeps every exactly-once and ledger invariant on
//!   workloads/steady.toml over 20 seeds (the black-friday sweep is
//!   `benches/chaos-sweep.sh`: too long for CI).
//! - The faults that make duplicates happen are caught when the idempotency
//!   store is sabotaged, and a crash with a store kept in memory double
//!   charges (caught) where a durable store does not.
//! - After the last fault window everything resolves within the bound, and
//!   the liveness invariant fails when the bound is too tight.
//! - Fault decisions come from the seed: the same seed gives the same faults.

use std::path::PathBuf;

use paystorm::chaos::Plan;
use paystorm::report::exit_code;
use paystorm::sim::run::{run, RunOptions, RunOutcome};
use paystorm::stack::sabotage::{Sabotage, Sabotages};
use paystorm::workload::Workload;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn steady() -> Workload {
    Workload::from_path(&root().join("workloads/steady.toml")).expect("steady.toml loads")
}

fn plan(name: &str) -> Plan {
    Plan::from_path(&root().join("chaos").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn shipped_plans() -> Vec<PathBuf> {
    let mut plans: Vec<PathBuf> = std::fs::read_dir(root().join("chaos"))
        .expect("chaos/ exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    plans.sort();
    plans
}

fn run_with(w: &Workload, seed: u64, plans: Vec<Plan>, sabotage: Sabotages) -> RunOutcome {
    let opts = RunOptions {
        seed,
        sabotage,
        history: None,
        rate_scale: 1.0,
        chaos: plans,
        no_resilience: false,
    };
    run(w, &opts).unwrap_or_else(|e| panic!("seed {seed}: run failed: {e}"))
}

fn failed(o: &RunOutcome) -> Vec<String> {
    o.verdict
        .failed()
        .map(|r| {
            format!(
                "{} ({} violations, e.g. {:?})",
                r.name, r.violations, r.example
            )
        })
        .collect()
}

fn code(w: &Workload, o: &RunOutcome) -> i32 {
    exit_code(o, w.file.load.dropped_share_max)
}

#[test]
fn eight_plans_ship_each_with_a_comment_saying_what_it_rehearses() {
    let names: Vec<String> = shipped_plans()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "duplicate-storm.toml",
        "issuer-outage.toml",
        "slow-issuer.toml",
        "lost-responses.toml",
        "gateway-crash.toml",
        "webhook-endpoint-down.toml",
        "network-partition.toml",
        "monkey.toml",
    ] {
        assert!(names.iter().any(|n| n == want), "chaos/{want} is missing");
        let text = std::fs::read_to_string(root().join("chaos").join(want)).unwrap();
        assert!(
            text.contains("# Rehearses:"),
            "chaos/{want} must say what it rehearses"
        );
    }
}

/// The acceptance sweep: 8 plans x 20 seeds on steady, never exit 2.
#[test]
fn every_shipped_plan_keeps_every_invariant_over_20_seeds() {
    let w = steady();
    let plans = shipped_plans();
    // One thread per plan: the sweep is CPU-bound and runs are independent.
    std::thread::scope(|s| {
        for path in &plans {
            let w = &w;
            s.spawn(move || {
                let p = Plan::from_path(path).expect("shipped plan parses");
                let mut injected = 0;
                for seed in 1..=20 {
                    let o = run_with(w, seed, vec![p.clone()], Sabotages::NONE);
                    let c = code(w, &o);
                    assert!(
                        c == 0 || c == 1,
                        "{} seed {seed}: exit {c}, failed: {:?}",
                        path.display(),
                        failed(&o)
                    );
                    let f = o.faults.as_ref().expect("a chaos run reports its faults");
                    injected += f.injected_total;
                    let r = f.recovery.expect("recovery is reported");
                    assert!(
                        r.recovery_seconds.is_some_and(|s| s <= r.bound_seconds),
                        "{} seed {seed}: recovery {:?}",
                        path.display(),
                        r.recovery_seconds
                    );
                    assert!(
                        o.drain.completed,
                        "{} seed {seed}: drain incomplete",
                        path.display()
                    );
                    assert_eq!(o.stack.unresolved_messages, 0);
                }
                assert!(
                    injected > 0,
                    "{} injected nothing in 20 runs",
                    path.display()
                );
            });
        }
    });
}

#[test]
fn a_crash_with_a_durable_store_charges_nobody_twice_and_a_memory_store_does() {
    let w = steady();
    let durable = plan("gateway-crash.toml");
    let mut memory = durable.clone();
    for f in &mut memory.faults {
        f.store = Some(paystorm::chaos::Durability::Memory);
    }
    for seed in 1..=3 {
        let o = run_with(&w, seed, vec![durable.clone()], Sabotages::NONE);
        assert_eq!(code(&w, &o), 0, "durable, seed {seed}: {:?}", failed(&o));
        let g = &o.stack.gateway;
        assert!(
            g.crashes >= 5,
            "seed {seed}: the crash loop crashed {} times",
            g.crashes
        );
        assert!(
            g.requests_cut_by_crash > 0 && g.refused_while_down > 0,
            "seed {seed}: crashes must cut requests and refuse while down: {g:?}"
        );

        let o = run_with(&w, seed, vec![memory.clone()], Sabotages::NONE);
        assert_eq!(code(&w, &o), 2, "memory, seed {seed}: must be caught");
        let names: Vec<&str> = o.verdict.failed().map(|r| r.name).collect();
        assert!(
            names.contains(&"idempotency_single_effect"),
            "memory, seed {seed}: a retry after the store forgot its key charges again: {names:?}"
        );
        for n in &names {
            assert!(
                n.starts_with("idempotency_"),
                "memory, seed {seed}: only idempotency invariants may fail, got {names:?}"
            );
        }
    }
}

#[test]
fn duplicates_and_lost_responses_are_caught_without_the_idempotency_store() {
    let w = steady();
    for name in ["lost-responses.toml", "duplicate-storm.toml"] {
        for seed in 1..=2 {
            let o = run_with(
                &w,
                seed,
                vec![plan(name)],
                Sabotages::NONE.with(Sabotage::NoIdempotency),
            );
            assert_eq!(code(&w, &o), 2, "{name} seed {seed}");
            assert!(
                !o.verdict.get("idempotency_single_effect").unwrap().passed,
                "{name} seed {seed}: {:?}",
                failed(&o)
            );
        }
    }
}

#[test]
fn timeouts_are_reconciled_and_their_answers_stored_against_the_key() {
    let w = steady();
    let o = run_with(&w, 4, vec![plan("issuer-outage.toml")], Sabotages::NONE);
    assert_eq!(code(&w, &o), 0, "{:?}", failed(&o));
    let g = &o.stack.gateway;
    assert!(
        g.downstream_timeouts > 0,
        "the hang window must time calls out"
    );
    assert_eq!(
        g.reconciled, g.downstream_timeouts,
        "every timed-out message is reconciled"
    );
    assert!(
        g.downstream_failures > 0,
        "the refuse window fails calls fast"
    );
}

#[test]
fn the_liveness_invariant_fails_when_recovery_is_slower_than_its_bound() {
    let mut w = steady();
    w.file.drain.recovery_bound_s = 0.05;
    let o = run_with(
        &w,
        1,
        vec![plan("webhook-endpoint-down.toml")],
        Sabotages::NONE,
    );
    let r = o
        .verdict
        .get("recovery_within_bound")
        .expect("chaos runs judge recovery");
    assert!(
        !r.passed,
        "webhook retries take longer than 50 ms to settle"
    );
    assert!(r.example.as_deref().unwrap_or("").contains("bound"));
    assert_eq!(code(&w, &o), 2);
}

#[test]
fn runs_without_chaos_have_no_faults_section_and_no_liveness_invariant() {
    let w = steady();
    let o = run_with(&w, 1, Vec::new(), Sabotages::NONE);
    assert!(o.faults.is_none());
    assert!(o.verdict.get("recovery_within_bound").is_none());
}

#[test]
fn the_same_seed_injects_the_same_faults_and_another_seed_others() {
    let w = steady();
    let results = |seed| {
        let o = run_with(
            &w,
            seed,
            vec![plan("monkey.toml"), plan("lost-responses.toml")],
            Sabotages::NONE,
        );
        let dir = tempfile::tempdir().unwrap();
        paystorm::report::write_outputs(dir.path(), &w, seed, &[], &o).unwrap();
        std::fs::read(dir.path().join("results.json")).unwrap()
    };
    let (a, b, c) = (results(5), results(5), results(6));
    assert!(a == b, "same seed, same plans: byte-identical results.json");
    assert!(a != c, "another seed draws other faults");
    let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
    let faults = v["faults"]["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 12 + 3, "12 drawn by the monkey, 3 written");
    assert!(faults
        .iter()
        .all(|f| f["windows"].as_array().is_some_and(|w| !w.is_empty())));
}

#[test]
fn a_clock_jumping_ahead_expires_holds_early_and_the_stack_stays_consistent() {
    let w = steady();
    let skew = Plan::parse(
        r#"
[[fault]]
target = "issuer"
kind = "clock_skew"
offset_s = 60
start_s = 30
duration_s = 3600
"#,
        "skew.toml",
    )
    .unwrap();
    let base = run_with(&w, 2, Vec::new(), Sabotages::NONE);
    let o = run_with(&w, 2, vec![skew], Sabotages::NONE);
    assert_eq!(code(&w, &o), 0, "{:?}", failed(&o));
    assert!(
        o.stack.gateway.holds_expired > base.stack.gateway.holds_expired,
        "a clock jumping 60 s ahead expires the holds placed before early: {} vs {}",
        o.stack.gateway.holds_expired,
        base.stack.gateway.holds_expired
    );
}

#[test]
fn a_queue_stall_delays_webhooks_without_losing_any() {
    let w = steady();
    let stall = Plan::parse(
        "[[fault]]\ntarget = \"queue\"\nkind = \"queue_stall\"\nstart_s = 10\nduration_s = 30\n",
        "stall.toml",
    )
    .unwrap();
    let o = run_with(&w, 3, vec![stall], Sabotages::NONE);
    assert_eq!(code(&w, &o), 0, "{:?}", failed(&o));
    assert!(o.stack.webhooks.stalls >= 1);
    assert_eq!(
        o.stack.webhooks.emitted,
        o.stack.webhooks.delivered + o.stack.webhooks.dead_lettered
    );
}

#[test]
fn every_fault_kind_is_exercised_by_a_shipped_plan() {
    use paystorm::chaos::Kind;
    let kinds: Vec<Kind> = shipped_plans()
        .iter()
        .flat_map(|p| Plan::from_path(p).unwrap().faults)
        .map(|f| f.kind)
        .collect();
    for k in Kind::ALL {
        assert!(
            kinds.contains(&k),
            "no shipped plan exercises {}",
            k.as_str()
        );
    }
}

#[test]
fn shrink_finds_a_smaller_plan_and_a_shorter_run_that_still_fail() {
    use paystorm::chaos::shrink::Failing;
    let w = steady();
    let mut crash = plan("gateway-crash.toml");
    for f in &mut crash.faults {
        f.store = Some(paystorm::chaos::Durability::Memory);
    }
    let plans = vec![
        crash,
        plan("slow-issuer.toml"),
        plan("webhook-endpoint-down.toml"),
    ];
    let before: usize = plans.iter().map(|p| p.faults.len()).sum();
    let o = run_with(&w, 1, plans, Sabotages::NONE);
    assert_eq!(code(&w, &o), 2, "the memory store must double charge");
    let dir = tempfile::tempdir().unwrap();
    paystorm::report::write_outputs(dir.path(), &w, 1, &[], &o).unwrap();

    let failing = Failing::load(dir.path()).expect("a failing run directory loads");
    let shrunk = failing.shrink(80, |_| {}).expect("the run fails again");
    assert!(!shrunk.faults.is_empty(), "the double charge needs a crash");
    assert!(
        shrunk
            .faults
            .iter()
            .all(|f| f.kind == paystorm::chaos::Kind::Crash),
        "only crash windows are needed: {:?}",
        shrunk.faults.iter().map(|f| &f.name).collect::<Vec<_>>()
    );
    assert!(
        shrunk.faults.len() < before,
        "fewer faults than the {before} given"
    );
    assert!(
        shrunk.stop_after_s.is_some_and(|s| s < 60.0),
        "a shorter run"
    );

    // The written repro fails on its own, the same way.
    failing.write(&shrunk).unwrap();
    let w2 = Workload::from_path(&dir.path().join("shrunk/workload.toml")).unwrap();
    let p2 = Plan::from_path(&dir.path().join("shrunk/chaos.toml")).unwrap();
    let o2 = run_with(&w2, 1, vec![p2], Sabotages::NONE);
    assert_eq!(code(&w2, &o2), 2);
    assert!(!o2.verdict.get("idempotency_single_effect").unwrap().passed);
}

#[test]
fn shrink_refuses_a_run_that_passed() {
    let w = steady();
    let o = run_with(&w, 1, vec![plan("slow-issuer.toml")], Sabotages::NONE);
    let dir = tempfile::tempdir().unwrap();
    paystorm::report::write_outputs(dir.path(), &w, 1, &[], &o).unwrap();
    let e = paystorm::chaos::shrink::Failing::load(dir.path())
        .err()
        .expect("refused");
    assert!(e.0.contains("exited 0"), "{}", e.0);
}

/// Plans compose: every pair of shipped plans together, over a few seeds.
/// (This caught a duplicate copy delivered after its original was refused.)
#[test]
fn every_pair_of_shipped_plans_keeps_every_invariant() {
    let w = steady();
    let plans: Vec<Plan> = shipped_plans()
        .iter()
        .map(|p| Plan::from_path(p).unwrap())
        .collect();
    std::thread::scope(|s| {
        for (i, a) in plans.iter().enumerate() {
            let (w, plans) = (&w, &plans);
            s.spawn(move || {
                for b in &plans[i + 1..] {
                    for seed in 1..=3 {
                        let o = run_with(w, seed, vec![a.clone(), b.clone()], Sabotages::NONE);
                        let c = code(w, &o);
                        assert!(
                            c == 0 || c == 1,
                            "{} + {} seed {seed}: exit {c}, failed: {:?}",
                            a.name,
                            b.name,
                            failed(&o)
                        );
                    }
                }
            });
        }
    });
}

#[test]
fn a_store_clock_running_a_day_ahead_prunes_keys_early() {
    let w = steady();
    let skew = Plan::parse(
        r#"
[[fault]]
target = "idempotency-store"
kind = "clock_skew"
offset_s = 90000
start_s = 30
duration_s = 100000
"#,
        "skew.toml",
    )
    .unwrap();
    let base = run_with(&w, 1, Vec::new(), Sabotages::NONE);
    let o = run_with(&w, 1, vec![skew], Sabotages::NONE);
    assert_eq!(code(&w, &o), 0, "{:?}", failed(&o));
    assert!(
        o.stack.retained_idempotency_keys < base.stack.retained_idempotency_keys * 3 / 4,
        "keys older than the (skewed) 24 h retention are pruned: {} vs {}",
        o.stack.retained_idempotency_keys,
        base.stack.retained_idempotency_keys
    );
}
