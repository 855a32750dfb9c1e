//! `junit.xml`: what CI systems (Jenkins, GitLab, GitHub Actions' test
//! reporters) read to show a run as tests. Two suites: the exactly-once and
//! ledger invariants, and the service level objectives; one test case each,
//! a failed one carrying its counterexample or its measured value. The
//! layout is the common JUnit 4 one (`schemas/junit.xsd` in the repo, and a
//! test validates every file against it).

use std::io;

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use serde_json::Value;

/// One test case: its name, and the failure message if it failed.
struct Case {
    name: String,
    failure: Option<(String, String)>,
}

/// The run as a JUnit document, from its results.json (a run's or a merge's).
pub fn render(results: &Value) -> io::Result<Vec<u8>> {
    let list = |key: &str| results[key].as_array().cloned().unwrap_or_default();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let invariants: Vec<Case> = list("invariants")
        .iter()
        .map(|i| Case {
            name: text(&i["name"]),
            failure: (i["passed"] != Value::Bool(true)).then(|| {
                (
                    format!("{} violations", i["violations"]),
                    text(&i["example"]),
                )
            }),
        })
        .collect();
    let slos: Vec<Case> = list("slos")
        .iter()
        .map(|r| Case {
            name: text(&r["name"]),
            failure: (r["passed"] != Value::Bool(true)).then(|| slo_failure(r)),
        })
        .collect();
    let workload = text(&results["workload"]);
    let suites = [("invariants", invariants), ("slos", slos)];
    let tests: usize = suites.iter().map(|(_, c)| c.len()).sum();
    let failures: usize = suites
        .iter()
        .map(|(_, c)| c.iter().filter(|c| c.failure.is_some()).count())
        .sum();
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let (tests_s, failures_s) = (tests.to_string(), failures.to_string());
    let name = format!("paystorm {workload}");
    w.create_element("testsuites")
        .with_attribute(("name", name.as_str()))
        .with_attribute(("tests", tests_s.as_str()))
        .with_attribute(("failures", failures_s.as_str()))
        .with_attribute(("errors", "0"))
        .write_inner_content(|w| {
            for (suite, cases) in &suites {
                suite_xml(w, &format!("paystorm.{suite}"), cases)?;
            }
            Ok(())
        })?;
    let mut out = w.into_inner();
    out.push(b'\n');
    Ok(out)
}

/// A failed objective's message and detail: measured against the
/// objective, windows, when first breached and during which faults.
fn slo_failure(r: &Value) -> (String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let (name, measured, threshold) = (
        text(&r["name"]),
        text(&r["measured_text"]),
        text(&r["threshold"]),
    );
    let mut detail = format!(
        "{measured} ({} requests, {} bad); objective {threshold}",
        r["total"], r["bad"]
    );
    let w = &r["windows"];
    if w.is_object() {
        detail.push_str(&format!(
            "; {} of {} windows of {:.0} s failed",
            w["failed"],
            w["evaluated"],
            w["window_s"].as_f64().unwrap_or(0.0)
        ));
    }
    if let Some(t) = r["first_breached_s"].as_f64() {
        detail.push_str(&format!("; first breached at {t:.0} s"));
    }
    let faults: Vec<String> = r["during_faults"]
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    if !faults.is_empty() {
        detail.push_str(&format!(", during {}", faults.join(", ")));
    }
    (
        format!("{name}: {measured} (objective {threshold})"),
        detail,
    )
}

fn suite_xml(w: &mut Writer<Vec<u8>>, suite: &str, cases: &[Case]) -> io::Result<()> {
    let tests = cases.len().to_string();
    let failures = cases
        .iter()
        .filter(|c| c.failure.is_some())
        .count()
        .to_string();
    w.create_element("testsuite")
        .with_attribute(("name", suite))
        .with_attribute(("tests", tests.as_str()))
        .with_attribute(("failures", failures.as_str()))
        .with_attribute(("errors", "0"))
        .with_attribute(("skipped", "0"))
        .with_attribute(("time", "0"))
        .write_inner_content(|w| {
            for c in cases {
                let case = w
                    .create_element("testcase")
                    .with_attribute(("classname", suite))
                    .with_attribute(("name", c.name.as_str()))
                    .with_attribute(("time", "0"));
                match &c.failure {
                    None => {
                        case.write_empty()?;
                    }
                    Some((message, detail)) => {
                        case.write_inner_content(|w| {
                            w.create_element("failure")
                                .with_attribute(("message", message.as_str()))
                                .with_attribute(("type", "breach"))
                                .write_text_content(BytesText::new(detail))?;
                            Ok(())
                        })?;
                    }
                }
            }
            Ok(())
        })?;
    Ok(())
}
