//! Every sabotage must be caught: a checker that cannot fail is worthless.
//!
//! Each planted bug runs on workloads/steady.toml over several seeds through
//! the library (with the chaos plan that exercises its code path, for the
//! few bugs that only a fault reaches). The run must exit 2, the invariant the bug breaks must fail,
//! and nothing outside a tight set of related invariants may fail (a failure
//! elsewhere is either a checker false positive or a sabotage that does more
//! than it says). Without sabotage the same seeds must pass cleanly.

use std::path::Path;

use paystorm::chaos::Plan;
use paystorm::check::INVARIANTS;
use paystorm::report::exit_code;
use paystorm::sim::run::{run, RunOptions};
use paystorm::stack::sabotage::{Sabotage, Sabotages};
use paystorm::workload::Workload;

const SEEDS: std::ops::RangeInclusive<u64> = 1..=4;

/// (sabotage, invariant that must fail, other invariants allowed to fail).
const EXPECTED: &[(&str, &str, &[&str])] = &[
    (
        "no-idempotency",
        "idempotency_single_effect",
        &[
            "idempotency_consistent_replies",
            "idempotency_mismatch_not_executed",
        ],
    ),
    (
        "replay-different-response",
        "idempotency_consistent_replies",
        &[],
    ),
    ("double-settle", "settlement_each_capture_once", &[]),
    (
        "double-release-hold",
        "lifecycle_hold_resolved_once",
        &["ledger_account_limits"],
    ),
    ("lost-webhook", "webhook_delivered_or_dead_lettered", &[]),
    ("refund-race", "lifecycle_refunds_within_captured", &[]),
    (
        "unbalanced-posting",
        "ledger_entries_balance",
        &["ledger_money_conserved", "ledger_account_limits"],
    ),
    (
        "fee-rounding-leak",
        "settlement_deposit_matches",
        &["ledger_entries_balance", "ledger_money_conserved"],
    ),
    (
        "lost-advice",
        "lifecycle_capture_within_authorized",
        &[
            // The payment the network approved never reached the issuer:
            // its key had no effect, its captures and refunds no hold.
            "idempotency_single_effect",
            "lifecycle_refunds_within_captured",
            "settlement_each_capture_once",
        ],
    ),
];

/// The chaos plan a sabotage needs to be reached (stand-in only happens
/// while an issuer's breaker is open).
fn chaos_for(name: &str) -> Vec<Plan> {
    match name {
        "lost-advice" => {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("chaos/issuer-outage.toml");
            vec![Plan::from_path(&path).expect("issuer-outage.toml parses")]
        }
        _ => Vec::new(),
    }
}

fn steady() -> Workload {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/steady.toml");
    Workload::from_path(&path).unwrap_or_else(|e| panic!("steady.toml must load: {e}"))
}

/// A failed invariant: name, violations, example.
type Failure = (&'static str, u64, Option<String>);

/// Runs steady once; returns the exit code and the failed invariants.
fn run_steady(
    w: &Workload,
    seed: u64,
    sabotage: Sabotages,
    chaos: Vec<Plan>,
) -> (i32, Vec<Failure>) {
    // A chaos run adds one invariant: recovery within its bound.
    let mut expected: Vec<&str> = INVARIANTS.iter().map(|(n, _)| *n).collect();
    if !chaos.is_empty() {
        expected.push("recovery_within_bound");
    }
    let opts = RunOptions {
        seed,
        sabotage,
        history: None,
        rate_scale: 1.0,
        chaos,
        no_resilience: false,
    };
    let outcome = run(w, &opts).unwrap_or_else(|e| panic!("seed {seed}: run failed: {e}"));
    let inv = &outcome.verdict.invariants;
    assert_eq!(
        inv.iter().map(|r| r.name).collect::<Vec<_>>(),
        expected,
        "seed {seed}: the verdict must list every invariant once, in report order"
    );
    for r in inv {
        assert_eq!(
            r.passed,
            r.violations == 0,
            "seed {seed}: {} passed={} but violations={}",
            r.name,
            r.passed,
            r.violations
        );
        assert_eq!(
            r.passed,
            r.example.is_none(),
            "seed {seed}: {} passed={} but example={:?}",
            r.name,
            r.passed,
            r.example
        );
    }
    let failed = outcome
        .verdict
        .failed()
        .map(|r| (r.name, r.violations, r.example.clone()))
        .collect();
    (exit_code(&outcome, w.file.load.dropped_share_max), failed)
}

fn expectation(name: &str) -> (&'static str, &'static [&'static str]) {
    EXPECTED
        .iter()
        .find(|(s, _, _)| *s == name)
        .map(|(_, must, also)| (*must, *also))
        .unwrap_or_else(|| panic!("no expectation for sabotage `{name}`"))
}

/// Runs the sabotage over every seed and reports every deviation at once, so
/// a failure shows the whole picture (which seeds, which invariants).
fn assert_caught(name: &str) {
    let sabotage = Sabotage::from_name(name).unwrap_or_else(|| panic!("unknown sabotage {name}"));
    let (must, also) = expectation(name);
    let w = steady();
    let mut problems = Vec::new();
    for seed in SEEDS {
        let (code, failed) = run_steady(&w, seed, Sabotages::NONE.with(sabotage), chaos_for(name));
        if code != 2 {
            problems.push(format!("seed {seed}: exit code {code}, expected 2"));
        }
        if !failed.iter().any(|(n, _, _)| *n == must) {
            problems.push(format!(
                "seed {seed}: `{must}` did not fail (NOT CAUGHT); failed: {:?}",
                failed.iter().map(|f| f.0).collect::<Vec<_>>()
            ));
        }
        for (n, violations, example) in &failed {
            if *n != must && !also.contains(n) {
                problems.push(format!(
                    "seed {seed}: unexpected failure of `{n}` ({violations} violations, e.g. {})",
                    example.as_deref().unwrap_or("-")
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "sabotage `{name}` on steady:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn expectations_cover_exactly_the_listed_sabotages() {
    let listed: Vec<&str> = Sabotage::ALL.iter().map(|s| s.name()).collect();
    let expected: Vec<&str> = EXPECTED.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(listed.len(), 9, "paystorm lists {listed:?}");
    assert_eq!(listed, expected);
    for s in Sabotage::ALL {
        assert_eq!(Sabotage::from_name(s.name()), Some(s));
        assert!(
            !s.description().is_empty(),
            "{s} has no description for `paystorm sabotage`"
        );
    }
    let known: Vec<&str> = INVARIANTS.iter().map(|(n, _)| *n).collect();
    for (s, must, also) in EXPECTED {
        for n in std::iter::once(must).chain(also.iter()) {
            assert!(
                known.contains(n),
                "{s}: `{n}` is not an invariant name; known: {known:?}"
            );
        }
    }
}

#[test]
fn sabotages_compose_as_a_bit_set() {
    let mut set = Sabotages::NONE;
    assert_eq!(set.iter().count(), 0);
    for (i, s) in Sabotage::ALL.into_iter().enumerate() {
        assert!(!set.has(s));
        set = set.with(s);
        assert!(set.has(s));
        assert_eq!(set.iter().count(), i + 1);
        assert_eq!(set.with(s), set, "adding {s} twice changes the set");
    }
    assert_eq!(set.iter().collect::<Vec<_>>(), Sabotage::ALL.to_vec());
}

#[test]
fn without_sabotage_every_seed_passes() {
    let w = steady();
    let mut problems = Vec::new();
    for seed in SEEDS {
        let (code, failed) = run_steady(&w, seed, Sabotages::NONE, Vec::new());
        if code != 0 {
            problems.push(format!("seed {seed}: exit code {code}, expected 0"));
        }
        for (n, violations, example) in failed {
            problems.push(format!(
                "seed {seed}: `{n}` failed with {violations} violations, e.g. {}",
                example.as_deref().unwrap_or("-")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "clean steady runs:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn no_idempotency_is_caught() {
    assert_caught("no-idempotency");
}

#[test]
fn replay_different_response_is_caught() {
    assert_caught("replay-different-response");
}

#[test]
fn double_settle_is_caught() {
    assert_caught("double-settle");
}

#[test]
fn double_release_hold_is_caught() {
    assert_caught("double-release-hold");
}

#[test]
fn lost_webhook_is_caught() {
    assert_caught("lost-webhook");
}

#[test]
fn refund_race_is_caught() {
    assert_caught("refund-race");
}

#[test]
fn unbalanced_posting_is_caught() {
    assert_caught("unbalanced-posting");
}

#[test]
fn fee_rounding_leak_is_caught() {
    assert_caught("fee-rounding-leak");
}

#[test]
fn lost_advice_is_caught() {
    assert_caught("lost-advice");
}
