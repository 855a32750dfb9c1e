//! The `paystorm` command line: defaults, listings, usage errors, the history
//! file, and that no card number ever reaches an output.

mod common;
use common::{describe, paystorm, text};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use paystorm::stack::sabotage::Sabotage;
use serde_json::Value;

fn workloads_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads")
}

/// A run of 13 to 19 ASCII digits (`\d{13,19}`): what a card number looks
/// like. Returns the first such run, with some context.
fn pan_like(haystack: &str) -> Option<String> {
    let bytes = haystack.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        if end - start >= 13 {
            let from = haystack[..start]
                .char_indices()
                .rev()
                .nth(40)
                .map_or(0, |(i, _)| i);
            let to = (end + 40).min(haystack.len());
            let to = (to..=haystack.len())
                .find(|&i| haystack.is_char_boundary(i))
                .unwrap();
            return Some(haystack[from..to].to_string());
        }
        start = end;
    }
    None
}

fn single_paragraph(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty() && !t.lines().any(|l| l.trim().is_empty())
}

#[test]
fn pan_detector_detects_pans() {
    assert!(pan_like("card 4111111111111111 ok").is_some());
    assert!(pan_like("x4111111111111y").is_some()); // 13 digits
    assert!(pan_like("key_116588545 at_us 599999999999 ****1111").is_none());
    assert!(pan_like("").is_none());
}

#[test]
fn run_without_a_workload_runs_black_friday_into_out_black_friday() {
    let cwd = tempfile::tempdir().unwrap();
    let out = paystorm(cwd.path(), &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let dir = cwd.path().join("out/black-friday");
    for f in ["results.json", "perf.json", "settings.toml"] {
        assert!(
            dir.join(f).is_file(),
            "run did not write out/black-friday/{f}"
        );
    }
    assert!(
        !dir.join("history.jsonl").exists(),
        "history.jsonl written without --history"
    );
    let r: Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["workload"], "black-friday");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["seed"], 2024, "black-friday's own seed is 2024");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("PASS"),
        "no PASS verdict on stdout:\n{stdout}"
    );
    assert!(
        stdout.contains("--seed 2024"),
        "stdout does not say how to reproduce:\n{stdout}"
    );
}

#[test]
fn settings_toml_reproduces_the_run() {
    let cwd = tempfile::tempdir().unwrap();
    let steady = workloads_dir().join("steady.toml");
    let first = paystorm(
        cwd.path(),
        &["run", steady.to_str().unwrap(), "--seed", "9", "--out", "a"],
    );
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    let check = paystorm(cwd.path(), &["validate", "a/settings.toml"]);
    assert_eq!(check.status.code(), Some(0), "{}", describe(&check));
    // No --seed: settings.toml carries the seed of the run.
    let again = paystorm(cwd.path(), &["run", "a/settings.toml", "--out", "b"]);
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    let load = |d: &str| -> Value {
        let mut v: Value = serde_json::from_slice(
            &std::fs::read(cwd.path().join(d).join("results.json")).unwrap(),
        )
        .unwrap();
        v.as_object_mut().unwrap().remove("workload_source");
        v
    };
    assert_eq!(
        load("a"),
        load("b"),
        "running settings.toml gave other results than the run that wrote it"
    );
}

#[test]
fn sabotage_lists_all_eight_names() {
    let cwd = tempfile::tempdir().unwrap();
    let out = paystorm(cwd.path(), &["sabotage"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    let listed: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        listed,
        [
            "no-idempotency",
            "replay-different-response",
            "double-settle",
            "double-release-hold",
            "lost-webhook",
            "refund-race",
            "unbalanced-posting",
            "fee-rounding-leak",
            "lost-advice",
        ],
        "{stdout}"
    );
    for (line, s) in stdout.lines().zip(Sabotage::ALL) {
        assert!(
            line.contains(s.description()),
            "`{line}` lacks the description of {s}"
        );
    }
}

#[test]
fn validate_accepts_every_shipped_workload() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workloads_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "expected smoke and steady, got {files:?}");
    let mut args = vec!["validate"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let out = paystorm(&workloads_dir(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    for f in &files {
        assert!(
            stdout.contains(&format!("ok: {}", f.display())),
            "no `ok:` line for {}:\n{stdout}",
            f.display()
        );
    }
    assert!(out.stderr.is_empty(), "{}", describe(&out));
}

#[test]
fn unknown_sabotage_is_a_one_paragraph_input_error() {
    let cwd = tempfile::tempdir().unwrap();
    let out = paystorm(cwd.path(), &["run", "--sabotage", "bogus"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bogus"), "{stderr}");
    assert!(single_paragraph(&stderr), "not one paragraph:\n{stderr}");
    for s in Sabotage::ALL {
        assert!(
            stderr.contains(s.name()),
            "the error does not list the known name {s}:\n{stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !cwd.path().join("out").exists(),
        "a rejected run still created out/"
    );
}

#[test]
fn usage_errors_exit_4_and_help_exits_0() {
    let cwd = tempfile::tempdir().unwrap();
    for args in [
        &["frobnicate"][..],
        &["run", "--frobnicate"],
        &["run", "--seed", "not-a-number"],
        &["validate"],
        &[],
    ] {
        let out = paystorm(cwd.path(), args);
        assert_eq!(
            out.status.code(),
            Some(4),
            "paystorm {args:?}: {}",
            describe(&out)
        );
        assert!(!out.stderr.is_empty(), "paystorm {args:?} said nothing");
        assert!(
            !text(&out.stderr).contains("panicked"),
            "paystorm {args:?}: {}",
            describe(&out)
        );
    }
    for args in [&["--help"][..], &["run", "--help"], &["--version"]] {
        let out = paystorm(cwd.path(), args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "paystorm {args:?}: {}",
            describe(&out)
        );
    }
    assert!(!cwd.path().join("out").exists());
}

/// Reads history.jsonl, checks every line, returns the count of each type.
fn check_history(path: &Path) -> BTreeMap<String, usize> {
    let body = std::fs::read_to_string(path).expect("history.jsonl exists");
    let mut types = BTreeMap::new();
    let mut open = HashSet::new();
    let mut completed = HashSet::new();
    let mut last_at = 0;
    for (i, line) in body.lines().enumerate() {
        let n = i + 1;
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("history.jsonl line {n} is not JSON ({e}): {line}"));
        let ty = v["type"]
            .as_str()
            .unwrap_or_else(|| panic!("line {n} has no type: {line}"));
        assert!(
            ["invoke", "ok", "fail", "info"].contains(&ty),
            "line {n}: unknown type `{ty}`: {line}"
        );
        let op = v["op"]
            .as_str()
            .unwrap_or_else(|| panic!("line {n} has no op: {line}"))
            .to_string();
        let at = v["at_us"]
            .as_u64()
            .unwrap_or_else(|| panic!("line {n} has no at_us: {line}"));
        assert!(
            at >= last_at,
            "line {n}: at_us {at} goes back in time (previous {last_at})"
        );
        last_at = at;
        if ty == "invoke" {
            assert!(
                open.insert(op.clone()) && !completed.contains(&op),
                "line {n}: {op} invoked twice"
            );
        } else {
            assert!(
                open.remove(&op),
                "line {n}: {op} completes without an open invoke"
            );
            completed.insert(op);
        }
        *types.entry(ty.to_string()).or_insert(0) += 1;
    }
    assert!(
        open.is_empty(),
        "{} operations were invoked and never completed, e.g. {:?}",
        open.len(),
        open.iter().next()
    );
    types
}

#[test]
fn history_is_json_lines_of_invoke_ok_fail_info() {
    let cwd = tempfile::tempdir().unwrap();
    let steady = workloads_dir().join("steady.toml");
    let out = paystorm(
        cwd.path(),
        &[
            "run",
            steady.to_str().unwrap(),
            "--seed",
            "1",
            "--out",
            "o",
            "--history",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let types = check_history(&cwd.path().join("o/history.jsonl"));
    // Seed 1 of steady has timeouts, declines and successes: all four kinds.
    for ty in ["invoke", "ok", "fail", "info"] {
        assert!(
            types.get(ty).copied().unwrap_or(0) > 0,
            "no `{ty}` line in history.jsonl: {types:?}"
        );
    }
}

#[test]
fn no_card_number_reaches_stdout_results_or_history() {
    let cwd = tempfile::tempdir().unwrap();
    let steady = workloads_dir().join("steady.toml");
    let steady = steady.to_str().unwrap();
    // A clean run, and one with every sabotage so that counterexamples
    // (which name payments) reach stdout and results.json.
    let mut all = vec!["run", steady, "--seed", "1", "--out", "bad", "--history"];
    for s in Sabotage::ALL {
        all.extend(["--sabotage", s.name()]);
    }
    let runs = [
        (
            "clean",
            vec!["run", steady, "--seed", "1", "--out", "clean", "--history"],
            0,
        ),
        ("bad", all, 2),
    ];
    for (dir, args, code) in runs {
        let out = paystorm(cwd.path(), &args);
        assert_eq!(out.status.code(), Some(code), "{dir}: {}", describe(&out));
        let files = [
            ("stdout", text(&out.stdout)),
            ("stderr", text(&out.stderr)),
            (
                "results.json",
                std::fs::read_to_string(cwd.path().join(dir).join("results.json")).unwrap(),
            ),
            (
                "history.jsonl",
                std::fs::read_to_string(cwd.path().join(dir).join("history.jsonl")).unwrap(),
            ),
        ];
        for (what, body) in &files {
            assert!(
                !body.is_empty() || *what == "stderr",
                "{dir}: {what} is empty"
            );
            if let Some(hit) = pan_like(body) {
                panic!("{dir}: a 13-19 digit run (a PAN?) in {what}: …{hit}…");
            }
        }
        if dir == "bad" {
            let r: Value = serde_json::from_str(&files[2].1).unwrap();
            let planted: Vec<&str> = r["sabotage"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let all: Vec<&str> = Sabotage::ALL.iter().map(|s| s.name()).collect();
            assert_eq!(
                planted, all,
                "results.json must name every planted sabotage"
            );
            assert!(
                files[0].1.contains("SABOTAGE ON"),
                "stdout does not warn that sabotage is on"
            );
        }
    }
}
