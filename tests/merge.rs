//! `paystorm merge`: runs from several machines as one. Counts must add,
//! percentiles must come from the runs' histograms added (not averaged),
//! time series must line up by each run's start, objectives must be judged
//! again on the merged data, an invariant broken in any run must stay
//! broken, and bad input must exit 4 naming the file.

mod common;

use std::path::{Path, PathBuf};

use common::{describe, paystorm};
use hdrhistogram::Histogram;
use paystorm::report::hlog;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Objectives of every kind: availability in 10 s windows, a percentile,
/// and one on the average (judged per bucket, no budget).
fn objectives() -> String {
    format!(
        "{}\n[[slo]]\nname = \"mean\"\nthreshold = \"avg < 250ms\"\n",
        common::UP_AND_FAST
    )
}

/// Runs steady with `seed` into `tmp/<name>` under an issuer outage with
/// the objectives above (plus `extra`), and returns the directory.
fn run(tmp: &Path, name: &str, seed: &str, extra: &[&str]) -> PathBuf {
    let out = tmp.join(name);
    let slos = tmp.join("slos.toml");
    std::fs::write(&slos, objectives()).unwrap();
    let steady = root().join("workloads/steady.toml");
    let outage = root().join("chaos/issuer-outage.toml");
    let mut args = vec![
        "run",
        path(&steady),
        "--seed",
        seed,
        "--quiet",
        "--chaos",
        path(&outage),
        "--slo",
        path(&slos),
        "--out",
        path(&out),
    ];
    args.extend_from_slice(extra);
    let o = paystorm(tmp, &args);
    assert!(matches!(o.status.code(), Some(0..=2)), "{}", describe(&o));
    out
}

fn merge(tmp: &Path, runs: &[&Path], out: &str) -> (std::process::Output, PathBuf) {
    let out = tmp.join(out);
    let mut args = vec!["merge"];
    args.extend(runs.iter().map(|r| path(r)));
    args.extend(["--out", path(&out)]);
    (paystorm(tmp, &args), out)
}

fn results(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json");
    serde_json::from_str(&text).unwrap()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn a_run_merged_with_itself_doubles_its_counts_and_keeps_every_percentile_and_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let a = run(tmp.path(), "a", "1", &[]);
    let (o, c) = merge(tmp.path(), &[&a, &a], "aa");
    let (ra, rc) = (results(&a), results(&c));
    assert_eq!(
        o.status.code(),
        Some(rc["exit_code"].as_i64().unwrap() as i32)
    );
    assert_eq!(rc["exit_code"], ra["exit_code"], "{}", describe(&o));

    assert_eq!(u(&rc["arrivals"]), 2 * u(&ra["arrivals"]));
    for (k, v) in ra["counts"].as_object().unwrap() {
        assert_eq!(u(&rc["counts"][k]), 2 * u(v), "counts.{k}");
    }
    // A histogram added to itself has the same quantiles and twice the count.
    for family in ["latency_ms", "service_time_ms", "latency_ms_by_issuer"] {
        for (op, p) in ra[family].as_object().unwrap() {
            let m = &rc[family][op];
            assert_eq!(u(&m["count"]), 2 * u(&p["count"]), "{family}.{op}");
            for q in ["p50", "p90", "p99", "p999", "max"] {
                assert_eq!(m[q], p[q], "{family}.{op}.{q}");
            }
        }
    }
    let (ta, tc) = (&ra["timeseries"], &rc["timeseries"]);
    assert_eq!(tc["t_s"], ta["t_s"], "same start, same buckets");
    for k in ["offered", "completed", "errors", "unavailable"] {
        let (a, c) = (ta[k].as_array().unwrap(), tc[k].as_array().unwrap());
        assert!(
            a.iter().zip(c).all(|(a, c)| 2 * u(a) == u(c)),
            "timeseries.{k}"
        );
    }
    assert_eq!(tc["p99_ms"], ta["p99_ms"]);
    assert_eq!(tc["service_p99_ms"], ta["service_p99_ms"]);

    // Judged again, every objective reaches the run's own verdict.
    let (sa, sc) = (
        ra["slos"].as_array().unwrap(),
        rc["slos"].as_array().unwrap(),
    );
    assert_eq!(sa.len(), 3);
    assert!(
        sa.iter().any(|s| s["passed"] == false),
        "the outage must breach one: {sa:?}"
    );
    for (a, c) in sa.iter().zip(sc) {
        let name = &a["name"];
        for k in ["passed", "measured", "first_breached_s", "during_faults"] {
            assert_eq!(c[k], a[k], "slo {name}: {k}");
        }
        assert_eq!(u(&c["total"]), 2 * u(&a["total"]), "slo {name}");
        assert_eq!(u(&c["bad"]), 2 * u(&a["bad"]), "slo {name}");
        assert_eq!(c["windows"], a["windows"], "slo {name}: windows");
        assert_eq!(
            c["error_budget"]["consumed_over_time"], a["error_budget"]["consumed_over_time"],
            "slo {name}: budget burn"
        );
        let fired = |r: &Value| -> Vec<Value> {
            r["burn_rate"]["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| x["fired"].clone())
                .collect()
        };
        assert_eq!(fired(c), fired(a), "slo {name}: burn-rate alerts");
    }
    assert_eq!(rc["invariants"], ra["invariants"]);
    assert_eq!(rc["merged_from"].as_array().map(Vec::len), Some(2));

    // A merge is a run directory too: it merges again.
    let (o, aaa) = merge(tmp.path(), &[&c, &a], "aaa");
    assert_eq!(o.status.code(), ra["exit_code"].as_i64().map(|c| c as i32));
    assert_eq!(u(&results(&aaa)["arrivals"]), 3 * u(&ra["arrivals"]));
    assert_eq!(
        results(&aaa)["latency_ms"]["create"]["p99"],
        ra["latency_ms"]["create"]["p99"]
    );
    let junit = std::fs::read_to_string(aaa.join("junit.xml")).unwrap();
    assert!(junit.contains("testcase"), "{junit}");
    assert!(aaa.join("report.html").exists() && aaa.join(hlog::FILE).exists());
}

/// The runs' corrected create histograms, added by the test itself.
fn added_create(dirs: &[&Path]) -> Histogram<u64> {
    let mut sum = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    for d in dirs {
        let log = hlog::read(&d.join(hlog::FILE)).unwrap();
        for i in &log.intervals {
            if i.tag.starts_with("corrected/") && i.tag.ends_with("/create") {
                sum.add(i.histogram::<u64>().unwrap()).unwrap();
            }
        }
    }
    sum
}

#[test]
fn merged_percentiles_are_the_added_histograms_not_an_average() {
    let tmp = tempfile::tempdir().unwrap();
    let a = run(tmp.path(), "a", "1", &[]);
    // Another seed at three times the rate: a different distribution and
    // more weight, so averaging the two runs' percentiles would be wrong.
    let b = run(tmp.path(), "b", "2", &["--rate-scale", "3"]);
    let (o, c) = merge(tmp.path(), &[&a, &b], "ab");
    assert!(matches!(o.status.code(), Some(0..=2)), "{}", describe(&o));
    let (ra, rb, rc) = (results(&a), results(&b), results(&c));
    let sum = added_create(&[&a, &b]);
    let ms = |q: f64| (sum.value_at_quantile(q) as f64 / 1000.0 * 1000.0).round() / 1000.0;
    let create = &rc["latency_ms"]["create"];
    assert_eq!(u(&create["count"]), sum.len());
    assert_eq!(create["p50"].as_f64(), Some(ms(0.5)));
    assert_eq!(create["p99"].as_f64(), Some(ms(0.99)));
    assert_eq!(create["p999"].as_f64(), Some(ms(0.999)));
    let average = (ra["latency_ms"]["create"]["p99"].as_f64().unwrap()
        + rb["latency_ms"]["create"]["p99"].as_f64().unwrap())
        / 2.0;
    assert_ne!(
        create["p99"].as_f64(),
        Some(average),
        "this data would not tell"
    );
    // The per-bucket series come from the logs too: every completion counted.
    let completed: u64 = rc["timeseries"]["completed"]
        .as_array()
        .unwrap()
        .iter()
        .map(u)
        .sum();
    let each: u64 = [&ra, &rb]
        .iter()
        .map(|r| {
            r["timeseries"]["completed"]
                .as_array()
                .unwrap()
                .iter()
                .map(u)
                .sum::<u64>()
        })
        .sum();
    assert_eq!(completed, each);
}

#[test]
fn time_series_line_up_by_each_runs_start() {
    let tmp = tempfile::tempdir().unwrap();
    let a = run(tmp.path(), "a", "1", &[]);
    let b = run(tmp.path(), "b", "2", &[]);
    // Say run b started 10 s after a (as a second machine would).
    let log = std::fs::read_to_string(b.join(hlog::FILE)).unwrap();
    let start = "1605052800.000";
    assert!(log.contains(start), "the sim epoch is the start");
    std::fs::write(b.join(hlog::FILE), log.replace(start, "1605052810.000")).unwrap();
    let (o, c) = merge(tmp.path(), &[&a, &b], "ab");
    assert!(matches!(o.status.code(), Some(0..=2)), "{}", describe(&o));
    let (ra, rb, rc) = (results(&a), results(&b), results(&c));
    assert_eq!(rc["merged_from"][1]["start_offset_s"].as_f64(), Some(10.0));
    let series = |r: &Value| -> Vec<u64> {
        r["timeseries"]["offered"]
            .as_array()
            .unwrap()
            .iter()
            .map(u)
            .collect()
    };
    let (sa, sb, sc) = (series(&ra), series(&rb), series(&rc));
    assert_eq!(sc.len(), sa.len().max(sb.len() + 10));
    for (t, &merged) in sc.iter().enumerate() {
        let from_a = sa.get(t).copied().unwrap_or(0);
        let from_b = t
            .checked_sub(10)
            .and_then(|i| sb.get(i))
            .copied()
            .unwrap_or(0);
        assert_eq!(merged, from_a + from_b, "second {t}");
    }
    let shifted = rb["load_seconds"].as_f64().unwrap() + 10.0;
    assert!((rc["load_seconds"].as_f64().unwrap() - shifted).abs() < 1e-9);
}

#[test]
fn an_invariant_broken_in_one_run_stays_broken_in_the_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let a = run(tmp.path(), "a", "1", &[]);
    let bad = run(tmp.path(), "bad", "1", &["--sabotage", "no-idempotency"]);
    assert_eq!(results(&bad)["exit_code"], 2);
    let (o, c) = merge(tmp.path(), &[&a, &bad], "merged");
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    let rc = results(&c);
    let broken: Vec<&Value> = rc["invariants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["passed"] == false)
        .collect();
    assert!(!broken.is_empty());
    assert!(common::text(&o.stdout).contains("invariants VIOLATED"));
    let junit = std::fs::read_to_string(c.join("junit.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");
}

#[test]
fn bad_input_exits_4_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let a = run(tmp.path(), "a", "1", &[]);
    let b = run(tmp.path(), "b", "2", &[]);

    let no_log = tmp.path().join("no-log");
    std::fs::create_dir_all(&no_log).unwrap();
    for f in ["results.json", "settings.toml"] {
        std::fs::copy(b.join(f), no_log.join(f)).unwrap();
    }
    let (o, _) = merge(tmp.path(), &[&a, &no_log], "x");
    assert_eq!(o.status.code(), Some(4), "{}", describe(&o));
    let err = common::text(&o.stderr);
    assert!(
        err.contains("no-log/histograms.hlog") && err.contains("is missing"),
        "{err}"
    );

    let corrupt = tmp.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    for f in ["results.json", "settings.toml"] {
        std::fs::copy(b.join(f), corrupt.join(f)).unwrap();
    }
    let mut log = std::fs::read_to_string(b.join(hlog::FILE)).unwrap();
    log.push_str("this is not an interval\n");
    std::fs::write(corrupt.join(hlog::FILE), log).unwrap();
    let (o, _) = merge(tmp.path(), &[&a, &corrupt], "x");
    assert_eq!(o.status.code(), Some(4), "{}", describe(&o));
    let err = common::text(&o.stderr);
    assert!(
        err.contains("corrupt/histograms.hlog") && err.contains("line "),
        "{err}"
    );

    // Other objectives: no merged verdict would mean anything.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    for f in ["results.json", hlog::FILE] {
        std::fs::copy(b.join(f), other.join(f)).unwrap();
    }
    let settings = std::fs::read_to_string(b.join("settings.toml")).unwrap();
    std::fs::write(
        other.join("settings.toml"),
        settings.replace("p(99) < 300ms", "p(99) < 400ms"),
    )
    .unwrap();
    let (o, _) = merge(tmp.path(), &[&a, &other], "x");
    assert_eq!(o.status.code(), Some(4), "{}", describe(&o));
    assert!(common::text(&o.stderr).contains("different objectives"));

    let (o, _) = merge(tmp.path(), &[&a, &tmp.path().join("nowhere")], "x");
    assert_eq!(o.status.code(), Some(4), "{}", describe(&o));
    assert!(common::text(&o.stderr).contains("nowhere` does not exist"));
}
