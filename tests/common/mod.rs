//! Helpers the integration tests share: running the binary and showing what
//! it said. Each test crate uses some of them, hence the allow.
#![allow(dead_code)]

pub mod dashboards;

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `paystorm` binary in `cwd`; a run killed by a signal fails the test.
pub fn paystorm(cwd: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_paystorm"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("paystorm runs");
    assert!(
        out.status.code().is_some(),
        "paystorm {args:?} was killed by a signal; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs workloads/steady.toml with seed 1 into `tmp/out`, quietly, with
/// `extra` arguments; returns what it said and the out directory.
pub fn run_steady(tmp: &Path, extra: &[&str]) -> (Output, std::path::PathBuf) {
    let out = tmp.join("out");
    let steady = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/steady.toml");
    let mut args = vec![
        "run",
        steady.to_str().unwrap(),
        "--seed",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (paystorm(tmp, &args), out)
}

/// results.json's `counts` that every run has, in the order the summary
/// prints them.
pub const COUNTS: [&str; 6] = [
    "attempted",
    "succeeded",
    "declined",
    "failed",
    "unknown",
    "retries",
];

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An availability objective judged in 10 s windows and a percentile
/// objective: both fail under an issuer outage, and both have an error
/// budget and burn-rate alerts.
pub const UP_AND_FAST: &str = r#"
[[slo]]
name = "up"
objective = 0.999
window_s = 10

[[slo]]
name = "fast"
threshold = "p(99) < 300ms"
"#;
