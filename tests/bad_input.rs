//! Bad workload files are exit 4 with one paragraph that names the file, the
//! field and, where it can be found, the line and column — through the
//! library (`Workload::parse`) and through `paystorm validate`. Never a panic.

use std::path::Path;
use std::process::{Command, Output};

use paystorm::workload::Workload;

/// A bad workload and what its error must say.
struct Case {
    name: &'static str,
    text: &'static str,
    /// The field path, as printed between backticks; None for syntax errors.
    field: Option<&'static str>,
    line: usize,
    column: Option<usize>,
    /// Further text the message must contain.
    mentions: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "unknown_field",
        text: "name = \"w\"\n[load]\nrate_per_s = 10\nrat = 5\n",
        field: Some("load.rat"),
        line: 4,
        column: Some(1),
        mentions: &["unknown field", "rate_per_s"],
    },
    Case {
        name: "syntax_unclosed_table",
        text: "name = \"w\"\n[load\nrate_per_s = 10\n",
        field: None,
        line: 2,
        column: Some(6),
        mentions: &["]"],
    },
    Case {
        name: "syntax_missing_value",
        text: "name = \"w\"\n[load]\nrate_per_s = \nduration_s = 10\n",
        field: None,
        line: 3,
        column: None,
        mentions: &[],
    },
    Case {
        name: "negative_rate",
        text: "name = \"w\"\n\n[load]\nduration_s = 10\nrate_per_s = -5\n",
        field: Some("load.rate_per_s"),
        line: 5,
        column: Some(1),
        mentions: &["-5"],
    },
    Case {
        name: "mix_not_summing_to_one",
        text: "name = \"w\"\n[mix]\ncard_online = 0.5\ncard_nfc = 0.25\nqr_wallet = 0.15\nbank_instant = 0.10\nbank_batch = 0.10\n",
        field: Some("mix"),
        line: 2,
        column: Some(1),
        mentions: &["sum", "1.1"],
    },
    Case {
        name: "bad_latency_shape",
        text: "name = \"w\"\n[stack.issuers]\ncount = 4\nlatency = { p50_ms = 50, p99_ms = 10 }\n",
        field: Some("stack.issuers.latency"),
        line: 4,
        column: None,
        mentions: &["p50_ms", "p99_ms"],
    },
    Case {
        name: "zero_cells",
        text: "name = \"w\"\ncells = 0\n",
        field: Some("cells"),
        line: 2,
        column: Some(1),
        mentions: &["between 1 and 256", "got 0"],
    },
    Case {
        name: "more_cells_than_merchants",
        text: "name = \"w\"\ncells = 8\n[population]\nmerchants = 5\n",
        field: Some("cells"),
        line: 2,
        column: Some(1),
        mentions: &["population.merchants is 5", "each cell needs at least one"],
    },
    Case {
        // One cell: the field at fault is named, not `cells`.
        name: "no_payments_in_flight",
        text: "name = \"w\"\n[load]\nin_flight_max = 0\n",
        field: Some("load.in_flight_max"),
        line: 3,
        column: Some(1),
        mentions: &["at least 1"],
    },
    Case {
        name: "lower_case_currency",
        text: "name = \"w\"\ncurrency = \"usd\"\n",
        field: Some("currency"),
        line: 2,
        column: Some(1),
        mentions: &["usd", "ISO 4217"],
    },
    Case {
        name: "unknown_currency_shape",
        text: "name = \"w\"\n\ncurrency = \"DOLLARS\"\n",
        field: Some("currency"),
        line: 3,
        column: Some(1),
        mentions: &["DOLLARS"],
    },
];

fn parse_error(text: &str, source: &str) -> String {
    match Workload::parse(text, source) {
        Ok(w) => panic!("{source} parsed although it is bad: {:?}", w.file),
        Err(e) => e.to_string(),
    }
}

fn assert_one_paragraph(what: &str, msg: &str) {
    let t = msg.trim();
    assert!(!t.is_empty(), "{what}: empty message");
    assert!(
        !t.lines().any(|l| l.trim().is_empty()),
        "{what}: not one paragraph:\n{msg}"
    );
    assert!(
        !t.contains("panicked") && !t.contains("backtrace"),
        "{what}: panic or backtrace:\n{msg}"
    );
}

/// Checks a message against a case; `source` is how the file was named.
fn assert_describes(case: &Case, source: &str, msg: &str) {
    let what = case.name;
    assert_one_paragraph(what, msg);
    assert!(
        msg.contains(&format!("`{source}`")),
        "{what}: does not name the file `{source}`:\n{msg}"
    );
    assert!(
        msg.contains(&format!("line {},", case.line)),
        "{what}: does not name line {}:\n{msg}",
        case.line
    );
    match case.column {
        Some(c) => assert!(
            msg.contains(&format!("column {c}")),
            "{what}: does not name column {c}:\n{msg}"
        ),
        None => assert!(msg.contains("column "), "{what}: no column:\n{msg}"),
    }
    if let Some(field) = case.field {
        assert!(
            msg.contains(&format!("field `{field}`")),
            "{what}: does not name the field `{field}`:\n{msg}"
        );
    }
    for m in case.mentions {
        assert!(msg.contains(m), "{what}: does not mention `{m}`:\n{msg}");
    }
}

fn validate(cwd: &Path, files: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_paystorm"))
        .current_dir(cwd)
        .env("RUST_BACKTRACE", "1") // a panic would show its backtrace
        .arg("validate")
        .args(files)
        .output()
        .expect("paystorm runs");
    assert!(
        out.status.code().is_some(),
        "paystorm validate {files:?} was killed by a signal"
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

#[test]
fn valid_texts_parse() {
    // The controls: the same parser accepts a minimal and a full workload.
    let w = Workload::parse("name = \"w\"\n", "w.toml").expect("a name alone is a workload");
    assert_eq!(w.name(), "w");
    assert_eq!(w.source, "w.toml");
    let steady = include_str!("../workloads/steady.toml");
    let w = Workload::parse(steady, "steady.toml").expect("steady.toml parses");
    assert_eq!(w.name(), "steady");
    for case in CASES {
        // Every bad case is one edit away from the defaults: the message
        // must be about that edit, which the assertions below check.
        assert!(
            Workload::parse(case.text, "w.toml").is_err(),
            "{}",
            case.name
        );
    }
}

#[test]
fn library_errors_name_file_field_line_and_column() {
    for case in CASES {
        let msg = parse_error(case.text, "w.toml");
        assert_describes(case, "w.toml", &msg);
    }
}

#[test]
fn several_problems_report_the_first_and_count_the_rest() {
    let text = "name = \"w\"\n[load]\nrate_per_s = 0\nduration_s = -1\n";
    let msg = parse_error(text, "w.toml");
    assert_one_paragraph("two problems", &msg);
    assert!(msg.contains("field `load.rate_per_s`"), "{msg}");
    assert!(msg.contains("line 3,"), "{msg}");
    assert!(msg.contains("1 more problem"), "{msg}");
}

#[test]
fn validate_prints_the_same_one_paragraph_and_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    for case in CASES {
        let file = format!("{}.toml", case.name);
        std::fs::write(dir.path().join(&file), case.text).unwrap();
        let out = validate(dir.path(), &[&file]);
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{}: exit {:?}, stderr:\n{err}",
            case.name,
            out.status.code()
        );
        assert!(
            out.stdout.is_empty(),
            "{}: validate printed `ok` for a bad file",
            case.name
        );
        assert_describes(case, &file, &err);
        assert_eq!(
            err.trim_end(),
            parse_error(case.text, &file),
            "{}: the command and the library disagree",
            case.name
        );
    }
}

#[test]
fn validate_checks_every_file_and_fails_if_any_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.toml"), "name = \"good\"\n").unwrap();
    std::fs::write(dir.path().join("bad.toml"), CASES[0].text).unwrap();
    let out = validate(dir.path(), &["bad.toml", "good.toml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok: good.toml"),
        "the good file after a bad one was not checked"
    );
    assert!(err.contains("`bad.toml`"), "{err}");
    assert!(!err.contains("good.toml`"), "{err}");
}

#[test]
fn missing_file_is_exit_4_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/absent.toml");
    let msg = Workload::from_path(&missing)
        .map(|_| ())
        .expect_err("a missing file loads")
        .to_string();
    assert_one_paragraph("from_path", &msg);
    assert!(
        msg.contains(&missing.display().to_string()),
        "does not name the path:\n{msg}"
    );

    let out = validate(dir.path(), &["absent.toml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert_one_paragraph("validate absent.toml", &err);
    assert!(err.contains("absent.toml"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_paystorm"))
        .current_dir(dir.path())
        .env("RUST_BACKTRACE", "1")
        .args(["run", "absent.toml"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert_one_paragraph("run absent.toml", &err);
    assert!(err.contains("absent.toml"), "{err}");
    assert!(
        !dir.path().join("out").exists(),
        "a run of a missing file created out/"
    );
}

#[test]
fn a_run_too_large_to_be_meant_is_refused_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.toml");
    std::fs::write(
        &path,
        "name = \"huge\"\n[load]\nrate_per_s = 1e9\nduration_s = 10\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_paystorm"))
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(out.stdout.is_empty(), "nothing printed before the refusal");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("field `load`") && err.contains("--rate-scale"),
        "{err}"
    );
    assert!(!dir.path().join("out").exists());
}
