//! Chaos plans through the binary: bad plans are exit 4 with one paragraph
//! naming the file, the fault, the field and the line (never a panic); every
//! shipped plan validates; and a run under a shipped plan injects its faults,
//! recovers within the bound and says so in results.json.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{describe, paystorm, text};

/// The crate root, where the tests run and the shipped files live.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Writes `body` to `name` in `dir`; returns its path as a string.
fn write(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write the plan");
    path.display().to_string()
}

/// Runs the smoke workload under the chaos plan `plan`.
fn run_with(plan: &str, out: &Path) -> Output {
    paystorm(
        root(),
        &[
            "run",
            "workloads/smoke.toml",
            "--chaos",
            plan,
            "--out",
            out.to_str().expect("UTF-8 path"),
            "--quiet",
        ],
    )
}

/// Checks `out` is a bad-input exit with one paragraph on stderr that
/// mentions each of `mentions`; returns the paragraph.
fn bad_input(out: &Output, mentions: &[&str]) -> String {
    assert_eq!(out.status.code(), Some(4), "{}", describe(out));
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{}", describe(out));
    assert!(!err.contains("RUST_BACKTRACE"), "{}", describe(out));
    let err = err.trim().to_string();
    assert!(err.starts_with("error:"), "{}", describe(out));
    assert!(
        !err.contains('\n'),
        "the error is one paragraph:\n{}",
        describe(out)
    );
    for m in mentions {
        assert!(err.contains(m), "stderr lacks {m:?}:\n{}", describe(out));
    }
    err
}

#[test]
fn a_missing_plan_is_bad_input_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_with("missing.toml", &dir.path().join("out"));
    bad_input(&out, &["missing.toml", "--chaos"]);
    assert!(
        !dir.path().join("out").join("results.json").exists(),
        "nothing ran"
    );
}

#[test]
fn an_unknown_kind_names_the_file_fault_field_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "kind.toml",
        "name = \"bad\"\n\n[[fault]]\ntarget = \"gateway->tokens\"\nkind = \"meteor\"\nduration_s = 1\n",
    );
    let out = run_with(&plan, &dir.path().join("out"));
    bad_input(
        &out,
        &[&plan, "fault 1", "field `kind`", "line 5", "meteor"],
    );
}

#[test]
fn the_fault_number_counts_from_one_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "second.toml",
        "[[fault]]\ntarget = \"gateway->tokens\"\nkind = \"error\"\nduration_s = 1\n\n\
         [[fault]]\nname = \"the bad one\"\ntarget = \"gateway->tokens\"\nkind = \"error\"\nduration_s = 1\nprobability = 2\n",
    );
    let out = run_with(&plan, &dir.path().join("out"));
    bad_input(
        &out,
        &[
            &plan,
            "fault 2",
            "the bad one",
            "field `probability`",
            "line 11",
        ],
    );
}

/// One bad fault (after the target and kind lines) and what its error names.
struct Case {
    name: &'static str,
    fault: &'static str,
    mentions: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "unknown_target",
        fault: "target = \"moon\"\nkind = \"error\"\nduration_s = 1\n",
        mentions: &["field `target`", "moon", "line 2", "network->issuer"],
    },
    Case {
        name: "probability_above_one",
        fault:
            "target = \"gateway->tokens\"\nkind = \"error\"\nduration_s = 1\nprobability = 1.5\n",
        mentions: &["field `probability`", "1.5", "line 5"],
    },
    Case {
        name: "negative_duration",
        fault: "target = \"gateway->tokens\"\nkind = \"error\"\nduration_s = -3\n",
        mentions: &["field `duration_s`", "-3", "line 4"],
    },
    Case {
        name: "field_of_another_kind",
        fault: "target = \"gateway->tokens\"\nkind = \"error\"\nduration_s = 1\noffset_s = 5\n",
        mentions: &["field `offset_s`", "clock_skew", "line 5"],
    },
    Case {
        name: "kind_on_a_target_it_cannot_hit",
        fault: "target = \"queue\"\nkind = \"drop_response\"\nduration_s = 1\n",
        mentions: &["field `target`", "queue", "line 2"],
    },
    Case {
        name: "unknown_outage_mode",
        fault: "target = \"gateway->tokens\"\nkind = \"outage\"\nmode = \"sulk\"\nduration_s = 1\n",
        mentions: &["field `mode`", "sulk", "line 4"],
    },
    Case {
        name: "no_window",
        fault: "target = \"gateway->tokens\"\nkind = \"error\"\n",
        mentions: &["field `duration_s`"],
    },
];

#[test]
fn every_bad_fault_is_bad_input_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for case in CASES {
        let plan = write(
            dir.path(),
            &format!("{}.toml", case.name),
            &format!("[[fault]]\n{}", case.fault),
        );
        let out = run_with(&plan, &dir.path().join(case.name));
        let err = bad_input(&out, case.mentions);
        assert!(
            err.contains(&plan) && err.contains("fault 1"),
            "{}: {err}",
            case.name
        );
        // `validate` says the same, with the same exit code.
        let out = paystorm(root(), &["validate", &plan]);
        assert_eq!(bad_input(&out, case.mentions), err, "{}", case.name);
    }
}

#[test]
fn a_toml_syntax_error_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "syntax.toml",
        "[[fault]]\ntarget = \"gateway->tokens\nkind = \"error\"\nduration_s = 1\n",
    );
    let out = run_with(&plan, &dir.path().join("out"));
    bad_input(&out, &[&plan, "line 2"]);
    let out = paystorm(root(), &["validate", &plan]);
    bad_input(&out, &[&plan, "line 2"]);
}

#[test]
fn an_empty_plan_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(dir.path(), "empty.toml", "name = \"nothing\"\n");
    let out = run_with(&plan, &dir.path().join("out"));
    bad_input(&out, &[&plan, "inject nothing"]);
}

/// Every plan shipped under chaos/, sorted.
fn shipped_plans() -> Vec<PathBuf> {
    let mut plans: Vec<PathBuf> = std::fs::read_dir(root().join("chaos"))
        .expect("chaos/ exists")
        .map(|e| e.expect("read chaos/").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    plans.sort();
    plans
}

#[test]
fn every_shipped_plan_validates() {
    let plans = shipped_plans();
    assert!(!plans.is_empty(), "no plans under chaos/");
    let mut args = vec!["validate".to_string()];
    args.extend(plans.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = paystorm(root(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    let ok: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ok:")).collect();
    assert_eq!(ok.len(), plans.len(), "{}", describe(&out));
    for (line, plan) in ok.iter().zip(&plans) {
        assert!(
            line.contains(&plan.display().to_string()) && line.contains("chaos plan"),
            "{line:?} for {}",
            plan.display()
        );
    }
    assert!(text(&out.stderr).trim().is_empty(), "{}", describe(&out));
}

#[test]
fn validate_refuses_a_bad_plan_among_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.toml",
        "[[fault]]\ntarget = \"gateway->tokens\"\nkind = \"meteor\"\nduration_s = 1\n",
    );
    let out = paystorm(root(), &["validate", &bad]);
    bad_input(&out, &[&bad, "fault 1", "field `kind`", "line 3"]);
    // A good plan beside it still gets its `ok:`, and the exit is still 4.
    let out = paystorm(root(), &["validate", "chaos/monkey.toml", &bad]);
    bad_input(&out, &[&bad]);
    assert!(
        text(&out.stdout).contains("ok: chaos/monkey.toml"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_run_under_an_issuer_outage_injects_it_and_recovers_in_bound() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = paystorm(
        root(),
        &[
            "run",
            "workloads/steady.toml",
            "--chaos",
            "chaos/issuer-outage.toml",
            "--out",
            out_dir.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        describe(&out)
    );
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("results.json")).expect("results.json"),
    )
    .expect("results.json is JSON");
    let faults = &results["faults"];
    assert!(
        faults["injected_total"].as_u64().is_some_and(|n| n > 0),
        "{faults:#}"
    );
    assert_eq!(
        faults["plans"],
        serde_json::json!(["chaos/issuer-outage.toml"]),
        "{faults:#}"
    );
    let outage = faults["by_kind_and_target"]
        .as_array()
        .expect("by_kind_and_target is a list")
        .iter()
        .find(|r| r["kind"] == "outage" && r["target"] == "network->issuer:0")
        .unwrap_or_else(|| panic!("no outage at network->issuer:0: {faults:#}"));
    assert!(
        outage["injected"].as_u64().is_some_and(|n| n > 0),
        "{faults:#}"
    );
    let by_kind_sum: u64 = faults["by_kind_and_target"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["injected"].as_u64().unwrap())
        .sum();
    assert_eq!(
        Some(by_kind_sum),
        faults["injected_total"].as_u64(),
        "{faults:#}"
    );
    let recovery = faults["recovery_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("recovery_seconds is a number: {faults:#}"));
    let bound = faults["bound_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("bound_seconds is a number: {faults:#}"));
    assert!(
        (0.0..=bound).contains(&recovery),
        "recovered in {recovery} s, bound {bound} s"
    );
    let invariant = results["invariants"]
        .as_array()
        .expect("invariants is a list")
        .iter()
        .find(|i| i["name"] == "recovery_within_bound")
        .unwrap_or_else(|| panic!("no recovery_within_bound: {:#}", results["invariants"]));
    assert_eq!(invariant["passed"], true, "{invariant:#}");
    assert_eq!(results["exit_code"], 0);
}

#[test]
fn shrink_refuses_a_directory_without_a_failing_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = paystorm(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &["shrink", dir.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("results.json") && err.contains("exited 2"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
