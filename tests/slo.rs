//! Service level objectives as gates, end to end through the binary: a
//! breached objective exits 1 and is named in the console and in junit.xml
//! (valid against schemas/junit.xsd); a met one exits 0; bad SLO files exit
//! 4 naming the file, the objective, the field and the line; abort_on_fail
//! stops the load; the verdict places a breach in its fault window.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{describe, paystorm, text};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn results(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

/// Runs steady (seed 1) with the SLO file `slos`; returns (exit, stdout, out dir).
fn run_steady(tmp: &Path, slos: &Path, extra: &[&str]) -> (i32, String, PathBuf) {
    let mut args = vec!["--slo", slos.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (o, out) = common::run_steady(tmp, &args);
    (o.status.code().unwrap(), text(&o.stdout), out)
}

/// Validates with xmllint (Debian's libxml2-utils; .ci/run installs it).
fn assert_valid_junit(path: &Path) {
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(root().join("schemas/junit.xsd"))
        .arg(path)
        .output()
        .expect("xmllint runs: install libxml2-utils (.ci/run does)");
    assert!(
        out.status.success(),
        "{} is not valid JUnit XML:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

const TIGHT: &str = r#"
[[slo]]
name = "payments are fast"
threshold = "p(99) < 50ms"

[[slo]]
name = "payments are available"
objective = 0.9
"#;

const LOOSE: &str = r#"
[[slo]]
name = "payments are fast"
threshold = "p(99) < 5s"

[[slo]]
name = "payments are available"
objective = 0.9
"#;

#[test]
fn a_tight_objective_exits_1_and_is_named_in_console_and_junit() {
    let tmp = tempfile::tempdir().unwrap();
    let slos = write(tmp.path(), "tight.toml", TIGHT);
    let (code, stdout, out) = run_steady(tmp.path(), &slos, &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAIL  payments are fast")
            && stdout.contains("pass  payments are available"),
        "{stdout}"
    );
    let r = results(&out);
    assert_eq!(r["exit_code"], 1);
    let fast = &r["slos"][0];
    assert_eq!(fast["passed"], false);
    assert!(fast["measured"].as_f64().unwrap() >= 50.0, "{fast}");
    assert!(fast["first_breached_s"].is_number(), "{fast}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testsuite name="paystorm.slos" tests="2" failures="1""#),
        "{junit}"
    );
    assert!(
        junit.contains("<failure message=\"payments are fast: p(99) = "),
        "{junit}"
    );
    assert_valid_junit(&out.join("junit.xml"));
}

#[test]
fn a_loose_objective_exits_0_and_its_junit_has_no_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let slos = write(tmp.path(), "loose.toml", LOOSE);
    let (code, stdout, out) = run_steady(tmp.path(), &slos, &[]);
    assert_eq!(code, 0, "{stdout}");
    let r = results(&out);
    assert!(r["slos"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["passed"] == true));
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(!junit.contains("<failure"), "{junit}");
    assert!(junit.contains(r#"tests="17" failures="0""#), "{junit}");
    assert_valid_junit(&out.join("junit.xml"));
}

#[test]
fn an_invariant_violation_still_wins_over_a_breach() {
    let tmp = tempfile::tempdir().unwrap();
    let slos = write(tmp.path(), "tight.toml", TIGHT);
    let (code, stdout, out) = run_steady(tmp.path(), &slos, &["--sabotage", "double-settle"]);
    assert_eq!(code, 2, "{stdout}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"name="settlement_each_capture_once" time="0"><failure"#)
            || junit.contains("settlement_each_capture_once\" time=\"0\">\n      <failure"),
        "{junit}"
    );
    assert_valid_junit(&out.join("junit.xml"));
}

#[test]
fn a_bad_slo_file_exits_4_naming_file_objective_field_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let slos = write(
        tmp.path(),
        "bad.toml",
        "[[slo]]\nname = \"ok one\"\nobjective = 0.99\n\n[[slo]]\nname = \"typo\"\nthreshold = \"p(99) < fast\"\n",
    );
    let o = paystorm(
        tmp.path(),
        &["run", "--quiet", "--slo", slos.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(4), "{}", describe(&o));
    let err = text(&o.stderr);
    for part in [
        "bad.toml",
        "line 7",
        "slo 2 (`typo`)",
        "field `threshold`",
        "p(99) < fast",
    ] {
        assert!(err.contains(part), "`{part}` missing from: {err}");
    }
    assert_eq!(err.trim().lines().count(), 1, "one paragraph: {err}");
    let v = paystorm(tmp.path(), &["validate", slos.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(4), "{}", describe(&v));
    let good = write(tmp.path(), "good.toml", LOOSE);
    let v = paystorm(tmp.path(), &["validate", good.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", describe(&v));
    assert!(
        text(&v.stdout).contains("SLO file: 2 objectives"),
        "{}",
        describe(&v)
    );
}

#[test]
fn abort_on_fail_stops_the_load_after_its_grace_period() {
    let tmp = tempfile::tempdir().unwrap();
    let slos = write(
        tmp.path(),
        "abort.toml",
        "[[slo]]\nname = \"impossible\"\nthreshold = \"p(99) < 1ms\"\nabort_on_fail = true\ngrace_s = 10\n",
    );
    let (code, stdout, out) = run_steady(tmp.path(), &slos, &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("load stopped at"), "{stdout}");
    let r = results(&out);
    let at = r["aborted_at_s"].as_f64().expect("aborted_at_s");
    assert!(
        (10.0..12.0).contains(&at),
        "aborted at {at} s, right after the grace period"
    );
    let arrivals = r["arrivals"].as_u64().unwrap();
    assert!(
        arrivals < 40 * 15,
        "steady offers 40/s for 60 s; the load stopped near {at} s, yet {arrivals} arrived"
    );
    // Every payment sent still happened exactly once.
    assert!(r["invariants"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["passed"] == true));
}

#[test]
fn a_windowed_availability_breach_is_placed_in_its_fault_window() {
    let tmp = tempfile::tempdir().unwrap();
    let slos = write(
        tmp.path(),
        "window.toml",
        "[[slo]]\nname = \"card payments up every 5 s\"\nmethod = \"card_online\"\nobjective = 0.99\nwindow_s = 5\n",
    );
    let plan = root().join("chaos/issuer-outage.toml");
    let (code, stdout, out) = run_steady(tmp.path(), &slos, &["--chaos", plan.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    let s = &results(&out)["slos"][0];
    assert_eq!(s["passed"], false, "{s}");
    let first = s["first_breached_s"].as_f64().unwrap();
    // The plan's windows: errors from 5 s, hangs from 15 s, refusals to 45 s.
    assert!(
        (5.0..45.0).contains(&first),
        "first breached at {first} s: {s}"
    );
    assert!(
        !s["during_faults"].as_array().unwrap().is_empty(),
        "the breach names its fault: {s}"
    );
    let w = &s["windows"];
    assert_eq!(w["window_s"], 5.0);
    assert!(w["failed"].as_u64().unwrap() >= 1 && w["failed"].as_u64() < w["evaluated"].as_u64());
    assert!(
        stdout.contains("first breached at") && stdout.contains("during issuer 0"),
        "{stdout}"
    );
}

#[test]
fn objectives_in_the_workload_are_judged_and_results_stay_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let steady = std::fs::read_to_string(root().join("workloads/steady.toml")).unwrap();
    let w = write(
        tmp.path(),
        "w.toml",
        &format!("{steady}\n[[slo]]\nname = \"create p99.9\"\npercentile = 99.9\nmax_ms = 10000\n"),
    );
    let run = |dir: &str| {
        let out = tmp.path().join(dir);
        let o = paystorm(
            tmp.path(),
            &[
                "run",
                w.to_str().unwrap(),
                "--seed",
                "5",
                "--quiet",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
        std::fs::read(out.join("results.json")).unwrap()
    };
    let (a, b) = (run("a"), run("b"));
    assert!(
        a == b,
        "the same seed gives byte-identical results.json with SLOs"
    );
    let r: Value = serde_json::from_slice(&a).unwrap();
    assert_eq!(r["slos"][0]["name"], "create p99.9");
    assert!(r["slos"][0]["error_budget"]["consumed"].as_f64().unwrap() < 1.0);
}

#[test]
fn the_shipped_objectives_hold_on_steady_and_break_under_an_issuer_outage() {
    let tmp = tempfile::tempdir().unwrap();
    let shipped = root().join("slos/payments.toml");
    let (code, stdout, _) = run_steady(tmp.path(), &shipped, &[]);
    assert_eq!(code, 0, "{stdout}");
    let plan = root().join("chaos/issuer-outage.toml");
    let (code, stdout, out) =
        run_steady(tmp.path(), &shipped, &["--chaos", plan.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    let failed: Vec<String> = results(&out)["slos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["passed"] == false)
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        failed.contains(&"payments available".to_string()),
        "{failed:?}"
    );
}
