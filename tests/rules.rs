//! `paystorm rules`: the Prometheus rules must load in promtool (`check
//! rules`), and its unit tests (tests/promtool/burn_test.yml) must see a
//! burn at the page rate page and a slow burn open only a ticket. promtool
//! is Debian's `prometheus` package; .ci/run installs it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{describe, paystorm, text};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes the rules for `slos` into `dir/rules.yml` beside a copy of the
/// promtool tests.
fn rules_beside_tests(dir: &Path, slos: &Path) {
    let steady = root().join("workloads/steady.toml");
    let out = dir.join("rules.yml");
    let o = paystorm(
        dir,
        &[
            "rules",
            steady.to_str().unwrap(),
            "--slo",
            slos.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    std::fs::copy(
        root().join("tests/promtool/burn_test.yml"),
        dir.join("burn_test.yml"),
    )
    .unwrap();
}

fn promtool(dir: &Path, args: &[&str]) -> Output {
    Command::new("promtool")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("promtool runs: install Debian's prometheus package (.ci/run does)")
}

fn said(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn promtool_accepts_the_rules_and_their_burns_page_and_ticket() {
    let tmp = tempfile::tempdir().unwrap();
    rules_beside_tests(tmp.path(), &root().join("tests/promtool/slos.toml"));
    let check = promtool(tmp.path(), &["check", "rules", "rules.yml"]);
    assert!(check.status.success(), "{}", said(&check));
    let test = promtool(tmp.path(), &["test", "rules", "burn_test.yml"]);
    assert!(test.status.success(), "{}", said(&test));
}

#[test]
fn the_burn_tests_fail_for_a_looser_objective() {
    // With a 1% budget the 2% burn is only 2x: no page. The unit tests must
    // notice, or they prove nothing.
    let tmp = tempfile::tempdir().unwrap();
    let loose = tmp.path().join("loose.toml");
    std::fs::write(
        &loose,
        "[[slo]]\nname = \"payments available\"\nobjective = 0.99\n",
    )
    .unwrap();
    rules_beside_tests(tmp.path(), &loose);
    let test = promtool(tmp.path(), &["test", "rules", "burn_test.yml"]);
    assert!(!test.status.success(), "{}", said(&test));
    assert!(
        said(&test).contains("PaymentsAvailablePage"),
        "{}",
        said(&test)
    );
}

#[test]
fn a_workload_without_objectives_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let steady = root().join("workloads/steady.toml");
    let out = tmp.path().join("rules.yml");
    let o = paystorm(
        tmp.path(),
        &[
            "rules",
            steady.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(4), "{}", describe(&o));
    assert!(text(&o.stderr).contains("no `[[slo]]`"), "{}", describe(&o));
    assert!(!out.exists());
}
