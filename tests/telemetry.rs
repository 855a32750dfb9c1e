//! `paystorm run --metrics-out`: the exposition of a sim run with chaos is
//! one `promtool check metrics` accepts, its counters agree with
//! results.json, its labels stay inside the label policy (no payment id,
//! key, merchant id or card number; series bounded by fixed sets), it has a
//! bucket at every latency limit `paystorm rules` queries, and writing it
//! changes nothing in the run's results.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use common::{describe, paystorm};
use paystorm::telemetry::exposition::{self, Sample};
use paystorm::telemetry::policy::{self, RunLabels};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A steady run under an issuer outage, judged by slos/payments.toml:
/// (results.json, the exposition text).
fn outage_run(dir: &Path, extra: &[&str]) -> (Value, String) {
    let metrics = dir.join("metrics.prom");
    let results = outage_run_into(dir, &dir.join("out"), Some(&metrics), extra);
    (results, std::fs::read_to_string(metrics).unwrap())
}

/// The run of [`outage_run`] into `out`, writing its metrics to `metrics`
/// if given: its results.json.
fn outage_run_into(dir: &Path, out: &Path, metrics: Option<&Path>, extra: &[&str]) -> Value {
    let mut args = vec![
        "run".to_string(),
        root().join("workloads/steady.toml").display().to_string(),
        "--seed".into(),
        "1".into(),
        "--chaos".into(),
        root()
            .join("chaos/issuer-outage.toml")
            .display()
            .to_string(),
        "--slo".into(),
        root().join("slos/payments.toml").display().to_string(),
        "--quiet".into(),
        "--out".into(),
        out.display().to_string(),
    ];
    if let Some(m) = metrics {
        args.extend(["--metrics-out".into(), m.display().to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = paystorm(dir, &args);
    // The outage breaks the objectives (exit 1), never an invariant.
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap()
}

/// What the label policy allows for the run whose results.json is `r`.
fn run_labels(r: &Value, cells: u32) -> RunLabels {
    RunLabels {
        slos: r["slos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| paystorm::slo::rules::slug(o["name"].as_str().unwrap()))
            .collect(),
        cells,
    }
}

fn samples(text: &str) -> Vec<Sample> {
    exposition::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut v = v;
    for p in path {
        v = &v[p];
    }
    v.as_f64()
        .unwrap_or_else(|| panic!("results.json has no number at {path:?}"))
}

#[test]
fn promtool_accepts_the_exposition_of_a_chaos_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, text) = outage_run(tmp.path(), &[]);
    promtool_accepts_every_metric_of_the_catalogue(&text);
}

/// `promtool check metrics` finds nothing to say about `text`, and every
/// metric of the catalogue is in it.
fn promtool_accepts_every_metric_of_the_catalogue(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs: install Debian's prometheus package (.ci/run does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
        "promtool check metrics: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // It is a real run's exposition: every metric of the catalogue is in
    // it (a chaos run with objectives touches them all), so a dashboard
    // query never asks for a name a live run would not serve.
    for spec in paystorm::telemetry::catalogue() {
        let name = match spec.kind {
            paystorm::telemetry::family::Kind::Histogram => format!("{}_bucket", spec.name),
            _ => spec.name.to_string(),
        };
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))),
            "{name} missing"
        );
    }
}

#[test]
fn a_run_in_cells_writes_each_cells_series_under_its_cell_label() {
    let tmp = tempfile::tempdir().unwrap();
    let (merged, text) = outage_run(tmp.path(), &["--cells", "2"]);
    promtool_accepts_every_metric_of_the_catalogue(&text);
    let s = samples(&text);
    let run = run_labels(&merged, 2);
    policy::check(&s, &run).unwrap_or_else(|p| panic!("{}", p.join("\n")));
    let creates = |r: &Value| {
        let c = |k: &str| num(r, &["counts", k]);
        c("attempted") + c("double_submits") + c("key_reuse_mismatches")
    };
    for k in ["0", "1"] {
        let cell: Value = serde_json::from_slice(
            &std::fs::read(tmp.path().join(format!("out/cells/cell-{k}/results.json"))).unwrap(),
        )
        .unwrap();
        let mine = exposition::sum(
            &s,
            "paystorm_requests_total",
            &[("operation", "create"), ("cell", k)],
        );
        assert!(mine > 0.0);
        assert_eq!(mine, creates(&cell), "cell {k}");
    }
    assert_eq!(
        exposition::sum(&s, "paystorm_requests_total", &[("operation", "create")]),
        creates(&merged)
    );
    let unlabelled: Vec<&Sample> = s.iter().filter(|x| x.label("cell").is_empty()).collect();
    assert_eq!(unlabelled.len(), 1, "only the build info: {unlabelled:?}");
    assert_eq!(unlabelled[0].name, "paystorm_build_info");
}

#[test]
fn the_counters_agree_with_results_json() {
    let tmp = tempfile::tempdir().unwrap();
    let (r, text) = outage_run(tmp.path(), &[]);
    let s = samples(&text);
    let sum = |name: &str, m: &[(&str, &str)]| exposition::sum(&s, name, m);
    // Every logical create: the payments attempted plus the double
    // submits and reused keys, each its own logical request.
    let creates = sum("paystorm_requests_total", &[("operation", "create")]);
    let c = |k: &str| num(&r, &["counts", k]);
    assert_eq!(
        creates,
        c("attempted") + c("double_submits") + c("key_reuse_mismatches")
    );
    assert_eq!(
        sum(
            "paystorm_request_duration_seconds_count",
            &[("operation", "create")]
        ),
        creates
    );
    // results.json counts payments whose outcome stayed unknown; the
    // counter counts requests, and a double submit's second click or a
    // reused key's request can end unknown beside its payment's own.
    let unknown = sum(
        "paystorm_requests_total",
        &[("operation", "create"), ("outcome", "unknown")],
    );
    assert!(
        c("unknown") > 0.0,
        "the outage leaves some outcomes unknown"
    );
    assert!(
        (c("unknown")..=c("unknown") + c("double_submits") + c("key_reuse_mismatches"))
            .contains(&unknown),
        "{unknown} unknown creates for {} unknown payments",
        c("unknown")
    );
    assert_eq!(
        sum(
            "paystorm_component_requests_total",
            &[("component", "gateway"), ("operation", "get")]
        ),
        c("gets")
    );
    // Each objective's requests, good and bad, as the run judged them.
    let slos = r["slos"].as_array().unwrap();
    assert_eq!(slos.len(), 3);
    for o in slos {
        let slug = paystorm::slo::rules::slug(o["name"].as_str().unwrap());
        let bad = sum(
            "paystorm_slo_requests_total",
            &[("slo", &slug), ("outcome", "bad")],
        );
        let all = sum("paystorm_slo_requests_total", &[("slo", &slug)]);
        assert_eq!((all, bad), (num(o, &["total"]), num(o, &["bad"])), "{slug}");
    }
    // The availability objective covers every create.
    assert_eq!(creates, num(&slos[0], &["total"]));
    // The stack's own counters.
    assert_eq!(
        sum("paystorm_webhook_attempts_total", &[]),
        num(&r, &["stack", "webhooks", "attempts"])
    );
    assert_eq!(
        sum("paystorm_dead_letter_queue_depth", &[]),
        num(&r, &["stack", "webhooks", "dead_lettered"])
    );
    assert_eq!(
        sum("paystorm_faults_injected_total", &[]),
        num(&r, &["faults", "injected_total"])
    );
    assert!(sum("paystorm_faults_injected_total", &[]) > 0.0);
    for d in r["resilience"]["downstreams"].as_array().unwrap() {
        let name = d["name"].as_str().unwrap();
        assert_eq!(
            sum(
                "paystorm_breaker_transitions_total",
                &[("downstream", name), ("state", "open")]
            ),
            num(d, &["breaker", "opened"]),
            "{name}"
        );
        assert_eq!(
            sum("paystorm_breaker_rejected_total", &[("downstream", name)]),
            num(d, &["breaker", "rejected"]),
            "{name}"
        );
        // Every call the breaker let through was timed.
        assert_eq!(
            sum(
                "paystorm_component_duration_seconds_count",
                &[("component", name), ("operation", "call")]
            ),
            num(d, &["breaker", "calls"]),
            "{name}"
        );
    }
    assert!(
        sum(
            "paystorm_breaker_transitions_total",
            &[("downstream", "issuer:0"), ("state", "open")]
        ) > 0.0,
        "the outage opens issuer 0's breaker"
    );
    assert_eq!(
        sum("paystorm_shed_total", &[]),
        num(&r, &["resilience", "shed"])
    );
    assert_eq!(
        sum("paystorm_stand_in_decisions_total", &[("outcome", "ok")]),
        num(&r, &["resilience", "stand_in", "approved"])
    );
    assert_eq!(
        sum(
            "paystorm_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
}

#[test]
fn labels_stay_inside_the_policy_at_any_traffic() {
    let tmp = tempfile::tempdir().unwrap();
    let (r, text) = outage_run(tmp.path(), &[]);
    let run = run_labels(&r, 0);
    let small = samples(&text);
    policy::check(&small, &run).unwrap_or_else(|p| panic!("{}", p.join("\n")));
    // Three times the traffic: more requests, not more series.
    let big_dir = tmp.path().join("big");
    std::fs::create_dir_all(&big_dir).unwrap();
    let (r3, text3) = outage_run(&big_dir, &["--rate-scale", "3"]);
    assert!(num(&r3, &["counts", "attempted"]) > 2.5 * num(&r, &["counts", "attempted"]));
    let big = samples(&text3);
    policy::check(&big, &run).unwrap_or_else(|p| panic!("{}", p.join("\n")));
    let bound = 1_500;
    assert!(
        small.len() < bound && big.len() < bound,
        "{} and {} series",
        small.len(),
        big.len()
    );
    // No label value anywhere looks like an id or a card number.
    for s in small.iter().chain(&big) {
        for (k, v) in &s.labels {
            let digits = v.chars().filter(char::is_ascii_digit).count();
            assert!(
                digits <= 3 || k == "le",
                "{}{{{k}=\"{v}\"}} carries a number",
                s.name
            );
        }
    }
}

#[test]
fn the_policy_check_catches_an_id_in_a_label() {
    let bad = samples(
        "paystorm_requests_total{operation=\"create\",method=\"card_online\",outcome=\"ok\",reason=\"\",payment_id=\"pay_42\"} 1\npaystorm_component_requests_total{component=\"merchant:1234\",operation=\"call\",outcome=\"ok\"} 1\n",
    );
    let problems = policy::check(&bad, &RunLabels::default()).unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("payment_id"), "{problems:?}");
}

#[test]
fn every_latency_limit_the_rules_query_is_a_bucket() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, text) = outage_run(tmp.path(), &[]);
    let rules = tmp.path().join("rules.yml");
    let o = paystorm(
        tmp.path(),
        &[
            "rules",
            root().join("workloads/steady.toml").to_str().unwrap(),
            "--slo",
            root().join("slos/payments.toml").to_str().unwrap(),
            "--out",
            rules.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let rules = std::fs::read_to_string(rules).unwrap();
    let s = samples(&text);
    let les: Vec<&str> = rules
        .split("le=\\\"")
        .skip(1)
        .filter_map(|t| t.split("\\\"").next())
        .collect();
    assert!(!les.is_empty(), "the rules query a latency bucket");
    for le in les {
        assert!(
            s.iter()
                .any(|x| x.name == "paystorm_request_duration_seconds_bucket"
                    && x.label("le") == le
                    && x.label("operation") == "create"),
            "no bucket le=\"{le}\""
        );
    }
    // And every series the rules read is exported.
    for name in [
        "paystorm_requests_total",
        "paystorm_request_duration_seconds_bucket",
        "paystorm_request_duration_seconds_count",
    ] {
        assert!(rules.contains(name) && s.iter().any(|x| x.name == name));
    }
}

#[test]
fn metrics_change_nothing_in_the_results() {
    for cells in ["1", "2"] {
        let tmp = tempfile::tempdir().unwrap();
        let (with, _) = outage_run(tmp.path(), &["--cells", cells]);
        let plain = tmp.path().join("plain");
        let without = outage_run_into(tmp.path(), &plain, None, &["--cells", cells]);
        assert_eq!(
            serde_json::to_string(&with).unwrap(),
            serde_json::to_string(&without).unwrap(),
            "--cells {cells}"
        );
        assert_eq!(
            std::fs::read(tmp.path().join("out/results.json")).unwrap(),
            std::fs::read(plain.join("results.json")).unwrap(),
            "byte for byte, --cells {cells}"
        );
    }
}

#[test]
fn an_unwritable_metrics_file_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let o = paystorm(
        tmp.path(),
        &[
            "run",
            root().join("workloads/smoke.toml").to_str().unwrap(),
            "--quiet",
            "--out",
            tmp.path().join("out").to_str().unwrap(),
            "--metrics-out",
            tmp.path().join("no/such/dir/m.prom").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(4), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--metrics-out"));
}
