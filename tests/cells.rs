//! `run --cells N`: the traffic split across N copies of the stack, run
//! `--jobs` at a time. The merged run must be the sum of its cells,
//! reproducible from the seed whichever thread finishes first and however
//! many run at once, each cell must be a run of its
//! own that runs again alone, and a planted bug must still be caught.

mod common;
use common::{describe, paystorm, run_steady};

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn cell(out: &Path, k: usize) -> std::path::PathBuf {
    out.join("cells").join(format!("cell-{k}"))
}

fn failed(results: &Value) -> BTreeSet<String> {
    results["invariants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["passed"] != true)
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_run_in_cells_is_the_sum_of_its_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, out) = run_steady(tmp.path(), &["--cells", "3"]);
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    let merged = json(&out.join("results.json"));
    let cells: Vec<Value> = (0..3)
        .map(|k| json(&cell(&out, k).join("results.json")))
        .collect();
    for key in common::COUNTS {
        let sum: u64 = cells
            .iter()
            .map(|c| c["counts"][key].as_u64().unwrap())
            .sum();
        assert_eq!(merged["counts"][key].as_u64(), Some(sum), "counts.{key}");
    }
    assert!(merged["counts"]["attempted"].as_u64().unwrap() > 1_000);
    assert_eq!(merged["seed"], 1, "the run's seed, not a cell's");
    assert_eq!(merged["workload"], "steady", "the run's name, not a cell's");
    assert_eq!(cells[2]["workload"], "steady-cell-2");
    let labels: Vec<&str> = merged["merged_from"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["dir"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["cells/cell-0", "cells/cell-1", "cells/cell-2"]);
    let seeds: Vec<u64> = cells.iter().map(|c| c["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, [1000, 1001, 1002]);

    // The whole run's settings say cells = 3; each cell's say what it ran.
    let whole = paystorm::workload::Workload::from_path(&out.join("settings.toml")).unwrap();
    assert_eq!(whole.file.cells, 3);
    let parts: Vec<_> = (0..3)
        .map(|k| {
            paystorm::workload::Workload::from_path(&cell(&out, k).join("settings.toml")).unwrap()
        })
        .collect();
    let merchants: u32 = parts.iter().map(|p| p.file.population.merchants).sum();
    let customers: u32 = parts.iter().map(|p| p.file.population.customers).sum();
    assert_eq!(merchants, whole.file.population.merchants);
    assert_eq!(customers, whole.file.population.customers);
    assert!(parts.iter().all(|p| p.file.cells == 1));

    let perf = json(&out.join("perf.json"));
    assert_eq!(perf["cells"], 3);
    let jobs = perf["jobs"].as_u64().unwrap();
    assert!((1..=3).contains(&jobs), "at most one cell a job: {perf}");
    assert!(perf["payments_per_wall_second"].as_f64().unwrap() > 0.0);
    assert!(perf["cpu_us_per_payment"].as_f64().unwrap() > 0.0);
    assert!(perf["allocator_purge_delay_ms"].is_i64(), "{perf}");
    // The whole run's perf.json reads as a cell's does, in the same key
    // order, with `cells` and `jobs` added, and the process's CPU and
    // allocator setting: a cell's thread cannot tell its own CPU from the
    // other cells', and the process has one allocator.
    const WHOLE_RUN_ONLY: [&str; 6] = [
        "cells",
        "jobs",
        "cpu_seconds",
        "cpu_us_per_payment",
        "cpu_system_seconds",
        "allocator_purge_delay_ms",
    ];
    let keys = |p: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("  \""))
            .map(|l| l.split('"').next().unwrap().to_string())
            .collect()
    };
    let whole_keys = keys(&out.join("perf.json"));
    let cell_keys = keys(&cell(&out, 0).join("perf.json"));
    assert!(whole_keys.contains(&"cells".to_string()), "{whole_keys:?}");
    assert!(!cell_keys.contains(&"cells".to_string()), "{cell_keys:?}");
    for whole_only in WHOLE_RUN_ONLY {
        assert!(
            !cell_keys.contains(&whole_only.to_string()),
            "{cell_keys:?}"
        );
    }
    let without: Vec<&String> = whole_keys
        .iter()
        .filter(|k| !WHOLE_RUN_ONLY.contains(&k.as_str()))
        .collect();
    assert_eq!(without, cell_keys.iter().collect::<Vec<_>>());
}

#[test]
fn cells_are_reproducible_from_the_seed_and_a_cell_runs_again_alone() {
    let tmp = tempfile::tempdir().unwrap();
    // A rate scale too, which each cell's settings.toml must fold in.
    let scaled = ["--cells", "2", "--rate-scale", "0.5"];
    let (first, out) = run_steady(tmp.path(), &scaled);
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    let again = tmp.path().join("again");
    std::fs::create_dir_all(&again).unwrap();
    // One cell at a time this time: how many run at once changes nothing.
    let (second, out2) = run_steady(&again, &[&scaled[..], &["--jobs", "1"]].concat());
    assert_eq!(second.status.code(), Some(0), "{}", describe(&second));
    let bytes = |p: &Path| std::fs::read(p).unwrap();
    assert!(
        bytes(&out.join("results.json")) == bytes(&out2.join("results.json")),
        "the same seed and cells must give a byte-identical results.json, wherever --out points and however many cells run at once"
    );

    let steady = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/steady.toml");
    let out3 = tmp.path().join("other");
    let third = paystorm(
        tmp.path(),
        &[
            "run",
            steady.to_str().unwrap(),
            "--seed",
            "2",
            "--cells",
            "2",
            "--rate-scale",
            "0.5",
            "--quiet",
            "--out",
            out3.to_str().unwrap(),
        ],
    );
    assert_eq!(third.status.code(), Some(0), "{}", describe(&third));
    assert_ne!(
        json(&out.join("results.json"))["counts"],
        json(&out3.join("results.json"))["counts"],
        "another seed must give another run"
    );

    // Cell 1's settings.toml runs cell 1 alone, to the same results, and
    // without --out it writes beside the run, not over it.
    let settings = cell(&out, 1).join("settings.toml");
    let run = paystorm(tmp.path(), &["run", settings.to_str().unwrap(), "--quiet"]);
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    let alone = tmp.path().join("out").join("steady-cell-1");
    assert!(
        cell(&out, 1).join("results.json").exists(),
        "the run is intact"
    );
    let mut original = json(&cell(&out, 1).join("results.json"));
    let mut rerun = json(&alone.join("results.json"));
    for r in [&mut original, &mut rerun] {
        r.as_object_mut().unwrap().remove("workload_source");
    }
    assert_eq!(original, rerun);
}

#[test]
fn a_planted_bug_is_caught_in_whichever_cell_it_shows() {
    let tmp = tempfile::tempdir().unwrap();
    for sabotage in ["double-settle", "refund-race", "no-idempotency"] {
        let (run, out) = run_steady(tmp.path(), &["--cells", "2", "--sabotage", sabotage]);
        assert_eq!(run.status.code(), Some(2), "{sabotage}: {}", describe(&run));
        let merged = failed(&json(&out.join("results.json")));
        let mut union = BTreeSet::new();
        for k in 0..2 {
            union.extend(failed(&json(&cell(&out, k).join("results.json"))));
        }
        assert!(!merged.is_empty(), "{sabotage}: nothing failed");
        assert_eq!(
            merged, union,
            "{sabotage}: the run fails exactly what its cells failed"
        );
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(stdout.contains("VIOLATED"), "{sabotage}: {stdout}");
    }
}

#[test]
fn fewer_cells_clear_the_cells_of_an_earlier_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, out) = run_steady(tmp.path(), &["--cells", "3", "--history"]);
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    assert!(cell(&out, 2).exists());
    for k in 0..3 {
        let history = std::fs::read_to_string(cell(&out, k).join("history.jsonl")).unwrap();
        assert!(history.lines().count() > 100, "cell {k} wrote its history");
    }
    assert!(!out.join("history.jsonl").exists());
    // Something of the user's in `cells/` is not a cell and stays.
    std::fs::write(out.join("cells").join("notes.txt"), "mine").unwrap();
    let (run, out) = run_steady(tmp.path(), &["--cells", "2"]);
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    assert!(cell(&out, 1).exists());
    assert!(
        !cell(&out, 2).exists(),
        "cell-2 is left from the earlier run"
    );
    assert!(out.join("cells").join("notes.txt").exists());
    let (run, out) = run_steady(tmp.path(), &[]);
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    assert!(!cell(&out, 0).exists());
    assert!(out.join("cells").join("notes.txt").exists());
    assert!(json(&out.join("results.json")).get("merged_from").is_none());
}

#[test]
fn the_command_line_overrides_the_workloads_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let steady = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/steady.toml");
    let text = std::fs::read_to_string(steady).unwrap();
    let four = tmp.path().join("four.toml");
    std::fs::write(&four, text.replacen("\n[load]", "\ncells = 4\n\n[load]", 1)).unwrap();
    let out = tmp.path().join("one");
    let args = [
        "run",
        four.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    let run = paystorm(tmp.path(), &[&args[..], &["--cells", "1"]].concat());
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    assert!(!out.join("cells").exists());
    let settings = std::fs::read_to_string(out.join("settings.toml")).unwrap();
    assert!(!settings.contains("cells ="), "{settings}");
    let run = paystorm(tmp.path(), &args);
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    assert!(
        cell(&out, 3).exists(),
        "the file's cells = 4 holds without --cells"
    );
}

#[test]
fn bad_cell_counts_and_options_that_need_one_stack_are_exit_4() {
    let tmp = tempfile::tempdir().unwrap();
    for (extra, mentions) in [
        (&["--cells", "0"][..], "between 1 and 256"),
        (&["--cells", "21"][..], "population.merchants is 20"),
        (&["--cells", "2", "--live"][..], "--live"),
    ] {
        let (run, _) = run_steady(tmp.path(), extra);
        assert_eq!(run.status.code(), Some(4), "{extra:?}: {}", describe(&run));
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(err.contains(mentions), "{extra:?}: {err}");
        assert!(err.contains("--cells"), "{extra:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one paragraph: {err}");
    }
}

#[test]
fn shrink_points_at_the_cells_that_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, out) = run_steady(tmp.path(), &["--cells", "2", "--sabotage", "double-settle"]);
    assert_eq!(run.status.code(), Some(2), "{}", describe(&run));
    let shrink = paystorm(tmp.path(), &["shrink", out.to_str().unwrap()]);
    assert_eq!(shrink.status.code(), Some(4), "{}", describe(&shrink));
    let err = String::from_utf8_lossy(&shrink.stderr);
    assert!(err.contains("2 cells"), "{err}");
    let failing: Vec<usize> = (0..2)
        .filter(|&k| json(&cell(&out, k).join("results.json"))["exit_code"] == 2)
        .collect();
    assert!(!failing.is_empty());
    for k in failing {
        assert!(
            err.contains(&cell(&out, k).display().to_string()),
            "cell {k} failed and is not named: {err}"
        );
    }
}
