//! The live-mode commands end to end, as a user runs them: `run --live` on a
//! CI-sized workload passes the checker over real HTTP; `serve` answers
//! `load` and shuts down gracefully on SIGTERM with exit 0; bad input exits 4.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_paystorm");

fn workload() -> String {
    format!("{}/workloads/live-ci.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn run_live_passes_the_checker_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["run", &workload(), "--live", "--quiet", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("live mode"), "{stdout}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    let invariants = results["invariants"].as_array().unwrap();
    assert!(invariants.len() >= 15);
    assert!(
        invariants.iter().all(|i| i["passed"] == true),
        "{invariants:?}"
    );
    assert!(
        results["counts"]["succeeded"].as_u64().unwrap() > 50,
        "{}",
        results["counts"]
    );
    for f in ["report.html", "junit.xml", "perf.json", "settings.toml"] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
}

/// One GET over a fresh connection; the whole response as text.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    response
}

/// Starts `serve` on a free port; returns the child and its address.
fn serve(
    dir: &std::path::Path,
) -> (
    std::process::Child,
    String,
    BufReader<std::process::ChildStdout>,
) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            &workload(),
            "--listen",
            "127.0.0.1:0",
            "--drain-max-s",
            "5",
            "--keys-out",
        ])
        .arg(dir.join("keys.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        line.clear();
        if lines.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.strip_prefix("listening on ") {
            let addr = rest.split_whitespace().next().unwrap().to_string();
            return (child, addr, lines);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve never said where it listens");
}

#[test]
fn serve_answers_load_and_shuts_down_on_sigterm_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url, mut lines) = serve(dir.path());
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let keys: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("keys.json")).unwrap())
            .unwrap();
    let key = keys["merchants"]["mer_0"].as_str().unwrap();
    assert!(key.starts_with("sk_test_"));
    let out_dir = dir.path().join("load");
    let metrics = dir.path().join("load-metrics.prom");
    let mut load = Command::new(BIN)
        .args([
            "load",
            &workload(),
            "--rate-scale",
            "0.5",
            "--target",
            &url,
            "--metrics-listen",
            "127.0.0.1:0",
            "--metrics-out",
        ])
        .arg(&metrics)
        .arg("--out")
        .arg(&out_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While the load runs, its own /metrics answers (the line comes before
    // the first payment is sent; the load lasts seconds).
    let mut out_lines = BufReader::new(load.stdout.take().unwrap());
    let mut stdout = String::new();
    let mut scraped = None;
    let mut line = String::new();
    while out_lines.read_line(&mut line).unwrap() > 0 {
        stdout.push_str(&line);
        if let Some(at) = line.trim().strip_prefix("the generator's metrics: http://") {
            // Scraped until the first finished requests show (a counter
            // with labels appears with its first count), as Prometheus
            // would see them mid-run.
            let addr = at.trim_end_matches("/metrics").to_string();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let got = http_get(&addr, "/metrics");
                if got.contains("paystorm_requests_total{") || Instant::now() > deadline {
                    scraped = Some(got);
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            line.clear();
            break;
        }
        line.clear();
    }
    let scraped =
        scraped.unwrap_or_else(|| panic!("load never said where its metrics are:\n{stdout}"));
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    assert!(
        scraped.contains("# TYPE paystorm_requests_total counter"),
        "{scraped}"
    );
    std::io::Read::read_to_string(&mut out_lines, &mut stdout).unwrap();
    let load = load.wait_with_output().unwrap();
    assert_eq!(
        load.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&load.stderr)
    );
    assert!(stdout.contains("not checkable through the API"), "{stdout}");
    let remote: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("remote.json")).unwrap())
            .unwrap();
    let checks = remote["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 3);
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
    assert!(
        remote["checks"][1]["checked"].as_u64().unwrap() > 20,
        "{remote}"
    );
    // The generator's own metrics: every logical request it sent, counted.
    let text = std::fs::read_to_string(&metrics).expect("load --metrics-out wrote its file");
    let creates: f64 = text
        .lines()
        .filter(|l| l.starts_with("paystorm_requests_total{") && l.contains("operation=\"create\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!(
        !text.contains("component=\"gateway\""),
        "the generator exported server-side figures it cannot see:\n{text}"
    );
    let attempted = remote["counts"]["attempted"].as_f64().unwrap();
    assert!(
        creates >= attempted && attempted > 0.0,
        "paystorm_requests_total counts {creates} creates for {attempted} attempted:\n{text}"
    );
    // A second load with another seed is refused: the keys differ.
    let wrong = Command::new(BIN)
        .args(["load", &workload(), "--seed", "8", "--target", &url])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--seed"));

    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut lines, &mut rest).unwrap();
    assert!(
        rest.contains("shutting down") && rest.contains("stopped:"),
        "{rest}"
    );
}

#[test]
fn bad_input_exits_4_with_one_paragraph() {
    let dir = tempfile::tempdir().unwrap();
    // A port already taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN)
        .args(["serve", &workload(), "--listen", &addr, "--keys-out"])
        .arg(dir.path().join("k.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on"));
    // Not a plain HTTP URL.
    let out = Command::new(BIN)
        .args(["load", &workload(), "--target", "https://example.invalid"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--target"));
    // Nobody listening.
    drop(taken);
    let out = Command::new(BIN)
        .args(["load", &workload(), "--target", &format!("http://{addr}")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
    // --metrics-listen needs --live.
    let out = Command::new(BIN)
        .args(["run", &workload(), "--metrics-listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
}
