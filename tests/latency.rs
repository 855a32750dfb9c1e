//! Latency measured the way wrk2 measures it: corrected latency from each
//! request's intended send time, service time from its actual send (once it
//! holds one of the generator's connections). A gateway stall must show in
//! the corrected figures even when the connections hide it from the service
//! time — coordinated omission, corrected. Also: the per-method histograms,
//! the time series, and the new fields of results.json.

use std::path::Path;
use std::process::Command;

use paystorm::metrics::Percentiles;
use paystorm::sim::run::{run, RunOptions, RunOutcome};
use paystorm::stack::sabotage::Sabotages;
use paystorm::workload::Workload;
use serde_json::Value;

/// 100 QR payments per second, evenly spaced; every client behaviour that
/// would add requests or latency switched off; fixed latencies (gateway 2 ms,
/// QR provider 3 ms, bank 5 ms: about 10 ms per create). `extra` appends
/// sections (the stall, the connections).
fn workload(rate_per_s: u32, duration_s: u32, clients: &str, gateway: &str) -> Workload {
    let text = format!(
        r#"
name = "latency"
seed = 11

[load]
rate_per_s = {rate_per_s}
duration_s = {duration_s}
arrivals = "uniform"

[mix]
card_online = 0
card_nfc = 0
qr_wallet = 1
bank_instant = 0
bank_batch = 0

[population]
merchants = 5
customers = 3000
short_of_funds_share = 0

[amounts]
fraud_share = 0

[clients]
timeout_ms = 10000
give_up_after_ms = 60000
double_submit_share = 0
key_reuse_mismatch_share = 0
keyless_share = 0
wrong_device_share = 0
pay_again_share = 0
get_share = 0
callback_share = 0
{clients}

[lifecycle]
refund_share = 0

[stack.gateway]
latency = {{ fixed_ms = 2 }}
{gateway}

[stack.qr]
latency = {{ fixed_ms = 3 }}

[stack.issuers]
latency = {{ fixed_ms = 5 }}
risk_decline_share = 0

[stack.bank]
batch_interval_s = 10

[stack.acquirer]
settlement_interval_s = 10

[drain]
max_s = 600
"#
    );
    Workload::parse(&text, "latency.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn run_it(w: &Workload) -> RunOutcome {
    let opts = RunOptions {
        seed: 11,
        sabotage: Sabotages::NONE,
        history: None,
        rate_scale: 1.0,
        chaos: Vec::new(),
        no_resilience: false,
    };
    let o = run(w, &opts).expect("run");
    assert!(
        o.verdict.all_passed(),
        "{:?}",
        o.verdict.failed().collect::<Vec<_>>()
    );
    o
}

fn create(list: Vec<(&'static str, Percentiles)>) -> Percentiles {
    list.into_iter()
        .find(|(op, _)| *op == "create")
        .map(|(_, p)| p)
        .expect("create latency recorded")
}

const STALL: &str = "stall_start_s = 9\nstall_duration_s = 2";

/// The correction test. 100/s uniform for 20 s, 10 connections, ~10 ms per
/// create, and the gateway stalled from 9 s to 11 s.
///
/// Hand calculation:
/// - 2,000 arrivals; the ~200 that arrive in [9 s, 11 s) cannot be served
///   before 11 s. One arriving at 9 s + x waits 2 s - x extra, so the extra
///   corrected latency of the stalled requests is uniform on (0, 2 s].
/// - They are 10% of all requests, and every other request takes the normal
///   ~10 ms. The overall p99 (the slowest 1%, i.e. the slowest 10% of the
///   stalled tenth) is the 90th percentile of that wait: 0.9 × 2 s = 1.8 s,
///   plus the normal latency: ≈ 1,810 ms. (The queue for the 10 connections
///   drains in batches of ten after 11 s, adding up to one more normal
///   latency, ≈ 10 ms, to the requests near the p99.) Tolerance: ±50 ms.
/// - Service time: only the 10 requests holding the connections when the
///   stall began were in flight during it (0.5% of requests < 1%), the rest
///   waited for a connection, unseen by the service clock. So the service
///   p99 stays near the normal ~10 ms (asserted below 30 ms), while the
///   service p99.9 (the slowest 2) shows the stall (~2 s).
#[test]
fn a_gateway_stall_shows_in_corrected_latency_not_in_service_time() {
    let o = run_it(&workload(100, 20, "connections_max = 10", STALL));
    let c = o.counts;
    assert!((1999..=2000).contains(&c.attempted), "{c:?}");
    // A few customers run out of money (declines); nothing fails.
    assert_eq!(c.succeeded + c.declined, c.attempted, "{c:?}");
    assert!(c.declined < 20, "{c:?}");
    assert_eq!(c.failed, 0, "{c:?}");
    assert_eq!(c.late_arrivals, 0, "the generator itself kept its schedule");
    assert_eq!(c.dropped_arrivals, 0, "{c:?}");
    assert_eq!(c.retries, 0, "a 10 s timeout outlasts the stall: {c:?}");
    assert_eq!(c.timeouts, 0, "{c:?}");
    assert_eq!(c.unknown, 0, "{c:?}");

    let corrected = create(o.latency.corrected_ms());
    let service = create(o.latency.service_ms());
    eprintln!("corrected create: {corrected:?}\nservice create:   {service:?}");
    assert_eq!(corrected.count, c.attempted);
    assert_eq!(service.count, c.attempted, "one attempt each");

    let hand_p99_ms = 0.9 * 2_000.0 + 10.0;
    assert!(
        (corrected.p99 - hand_p99_ms).abs() <= 50.0,
        "corrected create p99 {} ms, hand calculation {hand_p99_ms} ms ± 50",
        corrected.p99
    );
    assert!(
        (8.0..=20.0).contains(&corrected.p50),
        "most requests never saw the stall: p50 {}",
        corrected.p50
    );
    assert!(
        (1_990.0..=2_100.0).contains(&corrected.max),
        "the first stalled request waited the whole 2 s: max {}",
        corrected.max
    );
    assert!(
        service.p99 < 30.0,
        "service p99 {} ms: only 0.5% of requests were in flight during the stall",
        service.p99
    );
    assert!(
        service.p999 > 1_500.0,
        "the 10 requests holding connections saw the stall: p99.9 {}",
        service.p999
    );

    // The per-method histograms: QR only.
    let by = o.latency.corrected_ms_by_method();
    assert_eq!(by.keys().copied().collect::<Vec<_>>(), ["qr_wallet"]);
    assert_eq!(by["qr_wallet"]["create"], corrected);

    // The time series: the stall is a hole in completions, then a burst
    // whose p99 is the whole stall.
    let ts = o.series.report();
    assert_eq!(ts.bucket_s, 1);
    for t in 0..19 {
        assert!(
            (99..=101).contains(&ts.offered[t]),
            "offered[{t}] = {}",
            ts.offered[t]
        );
    }
    assert_eq!(ts.offered.iter().sum::<u64>(), o.arrivals);
    assert_eq!(ts.completed.iter().sum::<u64>(), c.attempted);
    assert!(ts.errors.iter().all(|e| *e == 0), "{:?}", ts.errors);
    assert!(ts.completed[9] <= 2, "stalled: {:?}", ts.completed);
    assert_eq!(ts.completed[10], 0, "stalled: {:?}", ts.completed);
    assert_eq!(ts.p99_ms[10], None);
    assert!(
        (280..=310).contains(&ts.completed[11]),
        "the backlog completes in second 11: {:?}",
        ts.completed
    );
    eprintln!(
        "seconds 8..13: completed {:?}, p99 ms {:?}",
        &ts.completed[8..13],
        &ts.p99_ms[8..13]
    );
    let burst_p99 = ts.p99_ms[11].unwrap();
    assert!((1_900.0..=2_100.0).contains(&burst_p99), "{burst_p99}");
    let calm_p99 = ts.p99_ms[5].unwrap();
    assert!(calm_p99 < 20.0, "{calm_p99}");
}

/// Without a connection limit every stalled request is in flight at the
/// gateway, so the service clock sees the stall as well: the same ~1.8 s p99.
#[test]
fn without_a_connection_limit_service_time_sees_the_stall_too() {
    let o = run_it(&workload(100, 20, "", STALL));
    let corrected = create(o.latency.corrected_ms());
    let service = create(o.latency.service_ms());
    eprintln!("corrected create: {corrected:?}\nservice create:   {service:?}");
    for (name, p) in [("corrected", corrected), ("service", service)] {
        assert!(
            (p.p99 - 1_810.0).abs() <= 50.0,
            "{name} create p99 {} ms, expected ≈ 1,810 ms",
            p.p99
        );
    }
}

/// Connections alone make coordinated omission: one connection, 200/s
/// offered, ~10 ms each (100/s served). Requests queue for the connection, so
/// corrected latency grows with the backlog while service time stays ~10 ms.
#[test]
fn too_few_connections_queue_requests_behind_the_service_clock() {
    let o = run_it(&workload(200, 5, "connections_max = 1", ""));
    let c = o.counts;
    assert_eq!(c.late_arrivals, 0);
    assert_eq!(c.retries, 0, "{c:?}");
    let corrected = create(o.latency.corrected_ms());
    let service = create(o.latency.service_ms());
    eprintln!("corrected create: {corrected:?}\nservice create:   {service:?}");
    assert!(service.p99 < 20.0, "{service:?}");
    // 1,000 arrivals served one at a time, ~10 ms each: the last one starts
    // ~10 s in, ~5 s after it was due.
    assert!(
        corrected.max > 4_000.0,
        "the backlog shows in corrected latency: {corrected:?}"
    );
    assert!(corrected.p50 > 1_000.0, "{corrected:?}");
}

#[test]
fn connections_and_the_stall_are_validated() {
    for (toml, field) in [
        (
            "[clients]\nconnections_max = 0\n",
            "clients.connections_max",
        ),
        (
            "[stack.gateway]\nstall_start_s = 1\nstall_duration_s = -2\n",
            "stack.gateway.stall_duration_s",
        ),
        (
            "[stack.gateway]\nstall_start_s = -1\nstall_duration_s = 2\n",
            "stack.gateway.stall_start_s",
        ),
    ] {
        let text = format!("name = \"v\"\n{toml}");
        let err = match Workload::parse(&text, "v.toml") {
            Ok(_) => panic!("{toml:?} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(field), "{toml:?}: {err}");
    }
    let ok = Workload::parse("name = \"v\"\n[clients]\nconnections_max = 1\n", "v.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.file.clients.connections_max, 1);
    assert_eq!(
        Workload::smoke().file.clients.connections_max,
        1_000_000,
        "unlimited by default"
    );
    assert_eq!(Workload::smoke().file.stack.gateway.stall_window_us(), None);
}

fn steady() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/steady.toml")
}

/// results.json carries the per-method latencies and the time series, and a
/// run whose stderr is not a terminal (tests, CI, pipes) draws no progress.
#[test]
fn results_json_has_per_method_latency_and_a_time_series() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_paystorm"))
        .arg("run")
        .arg(steady())
        .args(["--seed", "4", "--out"])
        .arg(dir.path())
        .output()
        .expect("paystorm runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\r') && !stderr.contains("payments ("),
        "progress drawn to a non-terminal stderr: {stderr:?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("create latency by method (ms)"), "{stdout}");
    for m in [
        "card_online",
        "card_nfc",
        "qr_wallet",
        "bank_instant",
        "bank_batch",
    ] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(m)),
            "no summary line for {m}:\n{stdout}"
        );
    }

    let r: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    for key in ["latency_ms_by_method", "service_time_ms_by_method"] {
        let by = r[key]
            .as_object()
            .unwrap_or_else(|| panic!("{key} missing"));
        let methods: Vec<&String> = by.keys().collect();
        assert_eq!(
            methods,
            [
                "bank_batch",
                "bank_instant",
                "card_nfc",
                "card_online",
                "qr_wallet"
            ],
            "{key}: every method of steady's mix, in name order"
        );
        let total: u64 = by
            .values()
            .map(|ops| ops["create"]["count"].as_u64().unwrap())
            .sum();
        let short = key.trim_end_matches("_by_method");
        assert_eq!(
            total,
            r[short]["create"]["count"].as_u64().unwrap(),
            "{key}: the methods' create counts add up to {short}.create"
        );
        for ops in by.values() {
            for p in ops.as_object().unwrap().values() {
                for q in ["count", "p50", "p90", "p99", "p999", "max"] {
                    assert!(p[q].is_number(), "{key}: {q} in {p}");
                }
            }
        }
    }
    // Cards authenticate on the phone; bank transfers do not.
    assert!(r["latency_ms_by_method"]["card_online"]["device_auth"].is_object());
    assert!(r["latency_ms_by_method"]["bank_instant"]
        .get("device_auth")
        .is_none());

    let ts = &r["timeseries"];
    assert_eq!(ts["bucket_s"].as_u64(), Some(1));
    let len = ts["t_s"].as_array().unwrap().len();
    assert!(len >= 60, "60 s of load: {len} buckets");
    for k in ["offered", "completed", "errors", "p50_ms", "p99_ms"] {
        assert_eq!(ts[k].as_array().unwrap().len(), len, "timeseries.{k}");
    }
    let sum = |k: &str| -> u64 {
        ts[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum()
    };
    assert_eq!(sum("offered"), r["arrivals"].as_u64().unwrap());
    assert_eq!(sum("completed"), r["counts"]["attempted"].as_u64().unwrap());
    assert_eq!(
        sum("errors"),
        r["counts"]["failed"].as_u64().unwrap() + r["counts"]["unknown"].as_u64().unwrap()
    );
}

#[test]
fn quiet_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_paystorm"))
        .args([
            "run",
            concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/smoke.toml"),
            "--quiet",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .expect("paystorm runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
}
