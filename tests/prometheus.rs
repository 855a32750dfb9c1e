//! Against a real Prometheus (Debian's `prometheus` package; `.ci/run`
//! installs it): a live run serves `/metrics` on `--metrics-listen` while an
//! issuer outage comes and goes; Prometheus, on a loopback port with a
//! temporary config and data directory, scrapes it every second and
//! evaluates the rules `paystorm rules` writes. Once the run is over, every
//! PromQL expression of every dashboard is asked over the run's span and
//! must return data. Prometheus is stopped by its process id at the end,
//! whatever happened.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Kills the process when dropped (a failed assertion included).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `s` percent-encoded for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// GET `url`; the body as JSON (`Value::Null` if the server is not up).
fn get_json(rt: &tokio::runtime::Runtime, url: &str) -> Value {
    rt.block_on(async {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Empty<Bytes>>();
        let Ok(answer) = client.get(url.parse().unwrap()).await else {
            return Value::Null;
        };
        let body = answer.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    })
}

/// A Grafana expression as Prometheus takes it: template variables
/// replaced (every value of a multi-value variable, the rate interval of a
/// 1 s scrape), `label_values(selector, label)` reduced to its selector.
fn concrete(expr: &str) -> String {
    let mut e = expr.replace("$__rate_interval", "10s");
    for var in ["method", "component", "downstream", "kind", "slo"] {
        e = e
            .replace(&format!("${{{var}:regex}}"), ".*")
            .replace(&format!("${{{var}}}"), ".*")
            .replace(&format!("${var}"), ".*");
    }
    if let Some(inner) = e.strip_prefix("label_values(") {
        let selector = inner.rsplit_once(',').map_or(inner, |(s, _)| s);
        return selector.trim_end_matches(')').trim().to_string();
    }
    e
}

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what}: not ready after {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn every_dashboard_expression_returns_data_from_a_real_prometheus() {
    assert!(
        Command::new("prometheus").arg("--version").output().is_ok(),
        "this test needs Prometheus (Debian's `prometheus` package; .ci/run installs it)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let workload = root().join("tests/fixtures/prometheus/live.toml");
    let chaos = root().join("tests/fixtures/prometheus/outage.toml");
    let slos = root().join("slos/payments.toml");
    let rules = dir.join("rules.yml");
    let o = common::paystorm(
        dir,
        &[
            "rules",
            workload.to_str().unwrap(),
            "--slo",
            slos.to_str().unwrap(),
            "--out",
            rules.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", common::describe(&o));

    let (metrics_port, prom_port) = (free_port(), free_port());
    let config = write(
        dir,
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: paystorm\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n",
            rules.display()
        ),
    );
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let prometheus = Reaped(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts"),
    );
    let api = format!("http://127.0.0.1:{prom_port}/api/v1");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    wait_for("prometheus", Duration::from_secs(30), || {
        get_json(&rt, &format!("{api}/status/buildinfo"))["status"] == "success"
    });

    let start = unix_now();
    let run = Command::new(env!("CARGO_BIN_EXE_paystorm"))
        .current_dir(dir)
        .args([
            "run",
            workload.to_str().unwrap(),
            "--live",
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
            "--chaos",
            chaos.to_str().unwrap(),
            "--slo",
            slos.to_str().unwrap(),
            "--out",
            dir.join("out").to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .expect("paystorm runs");
    assert!(
        matches!(run.status.code(), Some(0 | 1)),
        "the live run must hold its invariants: {}",
        common::describe(&run)
    );
    // Let the rules evaluate on the last scrapes.
    std::thread::sleep(Duration::from_secs(3));
    let end = unix_now();
    let up = get_json(
        &rt,
        &format!("{api}/query_range?query=up&start={start}&end={end}&step=1"),
    );
    let scrapes = up["data"]["result"][0]["values"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(
        scrapes >= 5,
        "Prometheus scraped the run {scrapes} times: {up}"
    );

    let mut empty = Vec::new();
    let mut asked = 0;
    for (path, d) in common::dashboards::dashboards() {
        for (place, expr) in common::dashboards::expressions(&d) {
            let query = concrete(&expr);
            let answer = get_json(
                &rt,
                &format!(
                    "{api}/query_range?query={}&start={start}&end={end}&step=1",
                    encode(&query)
                ),
            );
            asked += 1;
            let has_data = answer["status"] == "success"
                && answer["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty());
            if !has_data {
                empty.push(format!(
                    "{} {place}: `{query}` -> {}",
                    path.file_name().unwrap().to_string_lossy(),
                    answer.to_string().chars().take(300).collect::<String>()
                ));
            }
        }
    }
    drop(prometheus);
    assert!(asked > 50, "only {asked} expressions found");
    assert!(
        empty.is_empty(),
        "{} of {asked} dashboard expressions returned no data from Prometheus:\n{}",
        empty.len(),
        empty.join("\n")
    );
}
