//! `paystorm diff BASE NEW`: exit 0 when NEW is no worse than BASE beyond
//! tolerance, 1 naming each regressed metric, 4 naming the bad file. NEW is
//! mostly BASE's results.json edited, so each test knows what it changed.

mod common;
use common::{describe, paystorm, text};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn steady_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/steady.toml")
}

/// Runs steady (about 0.2 s) with `seed` into `dir/name`; returns that directory.
fn run_steady(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let out = dir.join(name);
    let steady = steady_path().display().to_string();
    let run = paystorm(
        dir,
        &[
            "run",
            &steady,
            "--seed",
            &seed.to_string(),
            "--out",
            name,
            "--quiet",
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    out
}

fn read_results(run_dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(run_dir.join("results.json")).unwrap()).unwrap()
}

/// Writes `dir/name/results.json`: BASE's, changed by `edit`.
fn edited(base: &Path, dir: &Path, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut results = read_results(base);
    edit(&mut results);
    let out = dir.join(name);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&results).unwrap(),
    )
    .unwrap();
    out
}

fn diff(dir: &Path, base: &Path, new: &Path, extra: &[&str]) -> Output {
    let (base, new) = (base.display().to_string(), new.display().to_string());
    let mut args = vec!["diff", &base, &new];
    args.extend_from_slice(extra);
    paystorm(dir, &args)
}

/// The table rows of `stdout` marked REGRESSION, by metric name.
fn regressed(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.trim_end().ends_with("REGRESSION"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn scale(results: &mut Value, pointer: &str, factor: f64) {
    let v = results
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer}"));
    *v = Value::from(v.as_f64().unwrap() * factor);
}

#[test]
fn identical_runs_have_no_regression() {
    let dir = tempfile::tempdir().unwrap();
    let base = run_steady(dir.path(), "base", 1);
    let new = run_steady(dir.path(), "new", 1);
    let out = diff(dir.path(), &base, &new, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("no regression beyond tolerance"),
        "{}",
        describe(&out)
    );
    assert!(regressed(&stdout).is_empty(), "{}", describe(&out));
    assert!(
        !text(&out.stderr).contains("warning"),
        "same workload and seed, yet a warning: {}",
        describe(&out)
    );
}

#[test]
fn create_p99_half_again_higher_is_a_regression_named_in_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let base = run_steady(dir.path(), "base", 1);
    let new = edited(&base, dir.path(), "new", |r| {
        scale(r, "/latency_ms/create/p99", 1.5)
    });
    let json = dir.path().join("diff.json");
    let out = diff(
        dir.path(),
        &base,
        &new,
        &["--json", &json.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert_eq!(
        regressed(&stdout),
        ["latency_ms.create.p99"],
        "{}",
        describe(&out)
    );
    assert!(
        stdout.contains("+50.0%") && stdout.contains("1 regression beyond tolerance"),
        "{}",
        describe(&out)
    );

    let rows: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = rows.as_array().expect("--json writes a list");
    let flagged: Vec<&str> = rows
        .iter()
        .filter(|r| r["regression"] == true)
        .filter_map(|r| r["metric"].as_str())
        .collect();
    assert_eq!(flagged, ["latency_ms.create.p99"]);
    let p99 = rows
        .iter()
        .find(|r| r["metric"] == "latency_ms.create.p99")
        .unwrap();
    let rel = p99["change_rel"].as_f64().unwrap();
    assert!((rel - 0.5).abs() < 1e-9, "change_rel {rel}, not 0.5");
    let abs = p99["change_abs"].as_f64().unwrap();
    let base_p99 = p99["base"].as_f64().unwrap();
    assert!((abs - base_p99 * 0.5).abs() < 1e-9, "change_abs {abs}");
}

#[test]
fn changes_within_tolerance_or_under_the_floor_are_not_regressions() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_steady(dir.path(), "run", 1);
    // 2.0 -> 2.3 ms is +15%, but under the 1 ms floor: timer noise.
    let base = edited(&run, dir.path(), "base", |r| {
        r["latency_ms"]["get"]["p50"] = Value::from(2.0)
    });
    let new = edited(&base, dir.path(), "new", |r| {
        scale(r, "/latency_ms/create/p99", 1.05);
        r["latency_ms"]["get"]["p50"] = Value::from(2.3);
    });
    let out = diff(dir.path(), &base, &new, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("no regression beyond tolerance"),
        "{}",
        describe(&out)
    );

    // Tighter tolerances (a plain number is a percentage) catch both.
    let out = diff(
        dir.path(),
        &base,
        &new,
        &["--latency-tolerance", "3", "--latency-floor-ms", "0.25"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        regressed(&text(&out.stdout)),
        ["latency_ms.create.p99", "latency_ms.get.p50"],
        "{}",
        describe(&out)
    );
}

#[test]
fn an_invariant_passing_in_base_and_failing_in_new_is_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let base = run_steady(dir.path(), "base", 1);
    let mut name = String::new();
    let new = edited(&base, dir.path(), "new", |r| {
        let first = &mut r["invariants"][0];
        assert_eq!(first["passed"], true, "steady passes every invariant");
        name = first["name"].as_str().unwrap().to_string();
        first["passed"] = Value::from(false);
    });
    let out = diff(dir.path(), &base, &new, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        regressed(&text(&out.stdout)),
        [format!("invariants.{name}")],
        "{}",
        describe(&out)
    );

    // The other way round it is a fix, not a regression.
    let out = diff(dir.path(), &new, &base, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn a_success_rate_drop_beyond_the_rate_tolerance_is_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let base = run_steady(dir.path(), "base", 1);
    let new = edited(&base, dir.path(), "new", |r| {
        // About 0.4 points of 2,400 payments turn from success to failure.
        let moved = 10;
        let succeeded = r["counts"]["succeeded"].as_u64().unwrap();
        let failed = r["counts"]["failed"].as_u64().unwrap();
        r["counts"]["succeeded"] = Value::from(succeeded - moved);
        r["counts"]["failed"] = Value::from(failed + moved);
    });
    let out = diff(dir.path(), &base, &new, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        regressed(&text(&out.stdout)),
        ["success_rate", "error_rate"],
        "{}",
        describe(&out)
    );
    let out = diff(dir.path(), &base, &new, &["--rate-tolerance", "0.01"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn slos_are_compared_only_when_both_runs_have_them() {
    let dir = tempfile::tempdir().unwrap();
    let base = run_steady(dir.path(), "base", 1);
    let slos = |passed: bool| {
        serde_json::json!([
            {"name": "create_p99_ms", "passed": true, "measured": 400.0},
            {"name": "success_rate", "passed": passed, "measured": 0.93},
        ])
    };
    let base_with = edited(&base, dir.path(), "base_with", |r| r["slos"] = slos(true));
    let new_failing = edited(&base, dir.path(), "new_failing", |r| {
        r["slos"] = slos(false)
    });
    let out = diff(dir.path(), &base_with, &new_failing, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        regressed(&text(&out.stdout)),
        ["slos.success_rate"],
        "{}",
        describe(&out)
    );

    // Objectives new in NEW (BASE judged none) have no baseline to regress
    // from: listed, never a regression.
    let out = diff(dir.path(), &base, &new_failing, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        !text(&out.stdout)
            .lines()
            .any(|l| l.starts_with("slos.") && l.contains("REGRESSION")),
        "{}",
        describe(&out)
    );
}

#[test]
fn different_seeds_warn_on_stderr_but_compare() {
    let dir = tempfile::tempdir().unwrap();
    let base = run_steady(dir.path(), "base", 1);
    let new = edited(&base, dir.path(), "new", |r| r["seed"] = Value::from(2));
    let out = diff(dir.path(), &base, &new, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("seed"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_missing_results_json_is_exit_4_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let base = run_steady(dir.path(), "base", 1);
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = diff(dir.path(), &base, &empty, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let stderr = text(&out.stderr);
    let path = empty.join("results.json").display().to_string();
    assert!(stderr.contains(&path), "{}", describe(&out));
    assert!(!stderr.contains("panicked"), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "{}", describe(&out));

    let nowhere = dir.path().join("nowhere");
    let out = diff(dir.path(), &nowhere, &base, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains(&nowhere.display().to_string()),
        "{}",
        describe(&out)
    );
}

#[test]
fn malformed_json_is_exit_4_naming_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let base = run_steady(dir.path(), "base", 1);
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(
        bad.join("results.json"),
        "{\n  \"schema_version\": 1,\n  \"seed\" 1\n}\n",
    )
    .unwrap();
    let out = diff(dir.path(), &base, &bad, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&bad.join("results.json").display().to_string())
            && stderr.contains("line 3 column 10"),
        "{}",
        describe(&out)
    );
    assert!(!stderr.contains("panicked"), "{}", describe(&out));
}

#[test]
fn a_different_schema_version_is_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let base = run_steady(dir.path(), "base", 1);
    let new = edited(&base, dir.path(), "new", |r| {
        r["schema_version"] = Value::from(99)
    });
    let out = diff(dir.path(), &base, &new, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("schema_version 99"),
        "{}",
        describe(&out)
    );
}
