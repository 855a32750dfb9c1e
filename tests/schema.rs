//! results.json against its documented schema, schemas/results.schema.json
//! (JSON Schema 2020-12): every kind of run the binary makes — plain, chaos
//! with objectives, sabotaged, without resilience and aborted by an
//! objective — writes a file that validates, so the schema cannot drift
//! from the code unnoticed; a broken file is rejected naming where it
//! broke, so the validation can fail; and the schema's version is the one
//! the code writes.

mod common;

use std::path::{Path, PathBuf};

use common::{describe, paystorm, UP_AND_FAST as SLOS};
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema() -> Value {
    let path = root().join("schemas/results.schema.json");
    let text = std::fs::read_to_string(&path).expect("schemas/results.schema.json exists");
    serde_json::from_str(&text).expect("the schema is JSON")
}

/// The validator, pinned to draft 2020-12 (what the schema's `$schema`
/// says): building it also checks the schema against the draft's
/// meta-schema, so a malformed keyword fails here rather than being ignored.
fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema())
        .unwrap_or_else(|e| panic!("schemas/results.schema.json is not a valid schema: {e}"))
}

/// Every validation error, one line each: where in the file, what, and
/// which schema keyword said so. Empty: the file is valid.
fn errors(instance: &Value) -> Vec<String> {
    let v = validator();
    v.iter_errors(instance)
        .map(|e| {
            let at = e.instance_path().as_str();
            format!(
                "{}: {e}  (schema {})",
                if at.is_empty() { "(root)" } else { at },
                e.schema_path()
            )
        })
        .collect()
}

fn assert_valid(results: &Value, what: &str) {
    let errs = errors(results);
    assert!(
        errs.is_empty(),
        "results.json of {what} does not match schemas/results.schema.json ({} errors):\n{}",
        errs.len(),
        errs.join("\n")
    );
}

/// Runs steady (seed 1) into `tmp/out` with `extra` arguments, checks the
/// exit code, and returns the parsed results.json.
fn run_steady(tmp: &Path, extra: &[&str], expect_exit: i32) -> Value {
    let (o, out) = common::run_steady(tmp, extra);
    assert_eq!(o.status.code(), Some(expect_exit), "{}", describe(&o));
    let text = std::fs::read_to_string(out.join("results.json")).expect("results.json written");
    serde_json::from_str(&text).expect("results.json is JSON")
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_str().unwrap().to_owned()
}

fn plan(name: &str) -> String {
    root().join("chaos").join(name).to_str().unwrap().to_owned()
}

#[test]
fn a_plain_steady_run_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run_steady(tmp.path(), &[], 0);
    assert!(r.get("faults").is_none() && r.get("aborted_at_s").is_none());
    assert_eq!(r["slos"], json!([]));
    assert_valid(&r, "a plain steady run");
}

#[test]
fn a_chaos_and_slo_run_validates_with_its_optional_sections() {
    let tmp = tempfile::tempdir().unwrap();
    let slos = write(tmp.path(), "slos.toml", SLOS);
    let (outage, crash) = (plan("issuer-outage.toml"), plan("gateway-crash.toml"));
    let r = run_steady(
        tmp.path(),
        &["--chaos", &outage, "--chaos", &crash, "--slo", &slos],
        1,
    );
    // The optional sections are there, so the schema really judged them.
    let faults = &r["faults"];
    assert!(faults["faults"].as_array().is_some_and(|f| !f.is_empty()));
    assert!(faults["recovery_seconds"].is_number(), "{faults}");
    let up = &r["slos"][0];
    assert_eq!(up["sli"], "availability");
    assert!(up["windows"]["worst_start_s"].is_number(), "{up}");
    assert!(up["error_budget"]["exhausted_at_s"].is_number(), "{up}");
    assert_eq!(up["burn_rate"]["alerts"].as_array().map(Vec::len), Some(4));
    let fast = &r["slos"][1];
    assert_eq!(fast["sli"], "latency");
    assert!(fast["during_faults"]
        .as_array()
        .is_some_and(|f| !f.is_empty()));
    assert!(r["resilience"]["downstreams"][0]["breaker"]["transitions"]
        .as_array()
        .is_some_and(|t| !t.is_empty()));
    assert!(r["invariants"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["name"] == "recovery_within_bound"));
    assert_valid(&r, "a chaos run with objectives");
}

#[test]
fn a_run_in_cells_with_faults_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let outage = plan("issuer-outage.toml");
    let r = run_steady(tmp.path(), &["--cells", "2", "--chaos", &outage], 0);
    assert_eq!(r["merged_from"].as_array().map(Vec::len), Some(2));
    assert!(r["faults"]["faults"]
        .as_array()
        .is_some_and(|f| !f.is_empty()));
    assert_valid(&r, "a run in two cells under an outage");
}

#[test]
fn a_sabotaged_run_with_failing_invariants_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run_steady(tmp.path(), &["--sabotage", "double-settle"], 2);
    let failed: Vec<&Value> = r["invariants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["passed"] == false)
        .collect();
    assert!(!failed.is_empty(), "{}", r["invariants"]);
    assert!(
        failed.iter().all(|i| i["example"].is_string()),
        "{failed:?}"
    );
    assert_eq!(r["sabotage"], json!(["double-settle"]));
    assert_valid(&r, "a sabotaged run");
}

/// The rarer shapes: no breakers (`--no-resilience`), an objective on one
/// payment method with no error budget (avg), and `aborted_at_s`.
#[test]
fn a_run_without_resilience_aborted_by_an_objective_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let slos = write(
        tmp.path(),
        "slos.toml",
        r#"
[[slo]]
name = "nfc average"
method = "card_nfc"
threshold = "avg < 100ms"

[[slo]]
name = "impossible"
threshold = "p(50) < 1ms"
abort_on_fail = true
grace_s = 10
"#,
    );
    let r = run_steady(tmp.path(), &["--no-resilience", "--slo", &slos], 1);
    assert!(r["aborted_at_s"].is_number(), "no aborted_at_s");
    assert_eq!(r["resilience"]["enabled"], false);
    assert!(r["resilience"]["downstreams"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d.get("breaker").is_none()));
    let nfc = &r["slos"][0];
    assert_eq!(nfc["method"], "card_nfc");
    assert!(nfc.get("error_budget").is_none(), "{nfc}");
    assert_valid(&r, "a run without resilience, aborted by an objective");
}

/// The schema can fail: a wrong type, an unknown key, a null where a number
/// belongs and a missing key are each caught, alone, and the error says
/// where (an unknown or missing key is reported at its parent, naming it).
#[test]
fn the_schema_rejects_a_broken_file_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let valid = run_steady(tmp.path(), &[], 0);
    assert_valid(&valid, "a plain steady run");

    let mut wrong_type = valid.clone();
    wrong_type["counts"]["attempted"] = json!("2439");
    let errs = errors(&wrong_type);
    assert!(
        errs.len() == 1 && errs[0].starts_with("/counts/attempted: "),
        "{errs:#?}"
    );

    let mut unknown_key = valid.clone();
    unknown_key["surprise"] = json!(1);
    let errs = errors(&unknown_key);
    assert!(
        errs.len() == 1 && errs[0].starts_with("(root): ") && errs[0].contains("surprise"),
        "{errs:#?}"
    );

    let mut nested_null = valid.clone();
    nested_null["latency_ms"]["create"]["p99"] = Value::Null;
    let errs = errors(&nested_null);
    assert!(
        errs.len() == 1 && errs[0].starts_with("/latency_ms/create/p99: "),
        "{errs:#?}"
    );

    let mut missing = valid;
    missing.as_object_mut().unwrap().remove("exit_code");
    let errs = errors(&missing);
    assert!(
        errs.len() == 1 && errs[0].contains("exit_code"),
        "{errs:#?}"
    );
}

#[test]
fn the_schema_version_is_the_one_the_code_writes() {
    let s = schema();
    let version = u64::from(paystorm::report::results::SCHEMA_VERSION);
    assert_eq!(
        s["properties"]["schema_version"]["const"],
        json!(version),
        "bump the schema with SCHEMA_VERSION (src/report/results.rs)"
    );
    let id = s["$id"].as_str().expect("the schema has an $id");
    assert!(id.ends_with(&format!("/v{version}.json")), "$id {id}");
    assert!(s["required"]
        .as_array()
        .unwrap()
        .contains(&json!("schema_version")));
}

#[test]
fn a_merged_run_validates() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let slos = write(a.path(), "slos.toml", SLOS);
    let outage = plan("issuer-outage.toml");
    run_steady(a.path(), &["--chaos", &outage, "--slo", &slos], 1);
    run_steady(b.path(), &["--chaos", &outage, "--slo", &slos], 1);
    let merged = a.path().join("merged");
    let (ra, rb) = (a.path().join("out"), b.path().join("out"));
    let o = paystorm(
        a.path(),
        &[
            "merge",
            ra.to_str().unwrap(),
            rb.to_str().unwrap(),
            "--out",
            merged.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let text = std::fs::read_to_string(merged.join("results.json")).unwrap();
    let r: Value = serde_json::from_str(&text).unwrap();
    assert!(r["merged_from"].is_array());
    assert_valid(&r, "a merge of two runs");
}
