//! Each client behaviour and each load shape produces its counted effect.
//! Small inline workloads, run through the library in virtual time.

use paystorm::sim::run::{run, RunOptions, RunOutcome};
use paystorm::stack::sabotage::Sabotages;
use paystorm::workload::Workload;

fn run_toml(extra: &str, rate_scale: f64) -> RunOutcome {
    run_with_population("", extra, rate_scale)
}

fn run_with_population(population: &str, extra: &str, rate_scale: f64) -> RunOutcome {
    let text = format!(
        "name = \"t\"\nseed = 3\n[population]\nmerchants = 5\ncustomers = 300\n{population}[stack.issuers]\nhold_expiry_s = 60\nexpiry_sweep_interval_s = 5\n[stack.bank]\nbatch_interval_s = 10\n[stack.acquirer]\nsettlement_interval_s = 10\n[lifecycle]\nfulfilment_delay_max_s = 2\nrefund_delay_max_s = 2\n{extra}"
    );
    let w = Workload::parse(&text, "inline.toml").unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        seed: 3,
        sabotage: Sabotages::NONE,
        history: None,
        rate_scale,
        chaos: Vec::new(),
        no_resilience: false,
    };
    let o = run(&w, &opts).expect("run");
    assert!(
        o.verdict.all_passed(),
        "{:?}",
        o.verdict.failed().collect::<Vec<_>>()
    );
    o
}

#[test]
fn double_submit_is_counted_and_replayed() {
    let o = run_toml("[load]\nrate_per_s = 20\nduration_s = 10\n[clients]\ndouble_submit_share = 1.0\nkeyless_share = 0\n", 1.0);
    let c = o.counts;
    assert_eq!(
        c.double_submits, c.attempted,
        "every keyed create was clicked twice"
    );
    assert!(c.replays_seen > 0, "second clicks are answered by replays");
}

#[test]
fn timeouts_are_retried_with_the_same_key() {
    // A 5 ms client timeout is shorter than any path through the stack.
    let o = run_toml(
        "[load]\nrate_per_s = 20\nduration_s = 5\n[clients]\ntimeout_ms = 5\nattempts_max = 3\nbackoff_base_ms = 10\nkeyless_share = 0\n",
        1.0,
    );
    let c = o.counts;
    assert!(c.timeouts > c.attempted, "{c:?}");
    assert!(c.retries > 0, "{c:?}");
    assert!(
        c.unknown > 0,
        "requests that never got an answer are unknown: {c:?}"
    );
    assert!(o.verdict.unknowns.keys_all_unknown > 0);
    assert!(
        o.verdict.unknowns.executed > 0,
        "the server kept working after the client gave up"
    );
}

#[test]
fn give_up_after_the_deadline_records_unknown() {
    let o = run_toml(
        "[load]\nrate_per_s = 10\nduration_s = 5\n[clients]\ntimeout_ms = 5\ngive_up_after_ms = 6\nattempts_max = 5\nkeyless_share = 0\n",
        1.0,
    );
    assert_eq!(o.counts.retries, 0, "the deadline leaves no time to retry");
    assert!(o.counts.unknown > 0);
}

#[test]
fn customers_press_pay_again_after_a_decline() {
    let o = run_with_population(
        "short_of_funds_share = 1.0\ncredit_limit_minor = 0\n",
        "[load]\nrate_per_s = 20\nduration_s = 10\n[clients]\npay_again_share = 1.0\n",
        1.0,
    );
    let c = o.counts;
    assert!(c.declined > 0);
    assert!(c.pay_again > 0);
    // Each pay-again is a new logical create with a new key.
    assert!(c.attempted > o.arrivals - c.abandoned_at_device);
}

#[test]
fn key_reuse_with_other_parameters_is_refused() {
    let o = run_toml("[load]\nrate_per_s = 20\nduration_s = 5\n[clients]\nkey_reuse_mismatch_share = 1.0\nkeyless_share = 0\n", 1.0);
    assert!(o.counts.key_reuse_mismatches > 0);
    assert!(o.stack.gateway.idempotency_mismatches >= o.counts.key_reuse_mismatches);
}

#[test]
fn rate_scale_scales_the_arrivals() {
    let full = run_toml(
        "[load]\nrate_per_s = 40\nduration_s = 10\narrivals = \"uniform\"\n",
        1.0,
    );
    let half = run_toml(
        "[load]\nrate_per_s = 40\nduration_s = 10\narrivals = \"uniform\"\n",
        0.5,
    );
    assert!((399..=400).contains(&full.arrivals), "{}", full.arrivals);
    assert!((199..=200).contains(&half.arrivals), "{}", half.arrivals);
}

#[test]
fn stages_and_spikes_shape_the_arrivals() {
    // 0 -> 40/s over 10 s then 40/s for 10 s: 200 + 400 arrivals, plus a 3x
    // spike on 12..14 s: 2 s * 80 extra.
    let o = run_toml(
        "[load]\narrivals = \"uniform\"\n[[load.stages]]\ntarget_per_s = 40\nduration_s = 10\n[[load.stages]]\ntarget_per_s = 40\nduration_s = 10\n[[load.spikes]]\nname = \"s\"\nstart_s = 12\nduration_s = 2\nmultiplier = 3\n",
        1.0,
    );
    assert!((759..=760).contains(&o.arrivals), "{}", o.arrivals);
    assert!((o.load_seconds - 20.0).abs() < 0.1, "{}", o.load_seconds);
}

#[test]
fn day_shape_compresses_time() {
    // hour_s = 1: a day in 24 simulated seconds at 10/s flat.
    let o = run_toml(
        "[load]\narrivals = \"uniform\"\n[load.day]\nbase_rate_per_s = 10\nhour_s = 1\nhourly = [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]\n",
        1.0,
    );
    assert!((239..=240).contains(&o.arrivals), "{}", o.arrivals);
}

#[test]
fn conflicting_shapes_are_refused() {
    let e = Workload::parse(
        "[load]\nrate_per_s = 5\n[[load.stages]]\ntarget_per_s = 1\nduration_s = 1\n",
        "w.toml",
    )
    .unwrap_err();
    assert!(
        e.0.contains("field `load`") && e.0.contains("one load shape"),
        "{e}"
    );
    let e = Workload::parse(
        "[load.day]\nbase_rate_per_s = 1\nhourly = [1, 2]\n",
        "w.toml",
    )
    .unwrap_err();
    assert!(e.0.contains("load.day.hourly") && e.0.contains("24"), "{e}");
}
