//! report.html: a self-contained page with the verdict, the objectives, the
//! invariants and charts over time with the fault windows shaded — checked
//! in its text, redrawn byte for byte by `paystorm report`, and opened in
//! headless Chromium (Debian's `chromium`; .ci/run installs it), whose DOM
//! must hold every chart and whose screenshot must not be blank.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{describe, paystorm, text};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const CHARTS: [&str; 7] = [
    "rate", "latency", "errors", "refused", "queues", "budget", "breakers",
];

/// A steady run under an issuer outage with two objectives (one breached):
/// its --out directory.
fn outage_run(tmp: &Path) -> PathBuf {
    let slos = tmp.join("slos.toml");
    std::fs::write(
        &slos,
        "[[slo]]\nname = \"payments fast\"\nthreshold = \"p(99) < 200ms\"\n\n[[slo]]\nname = \"payments up\"\nobjective = 0.9\n",
    )
    .unwrap();
    let out = tmp.join("run");
    let steady = root().join("workloads/steady.toml");
    let plan = root().join("chaos/issuer-outage.toml");
    let o = paystorm(
        tmp,
        &[
            "run",
            steady.to_str().unwrap(),
            "--seed",
            "1",
            "--quiet",
            "--chaos",
            plan.to_str().unwrap(),
            "--slo",
            slos.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(text(&o.stdout).contains("report.html"), "{}", describe(&o));
    out
}

#[test]
fn the_report_has_the_verdict_tables_and_every_chart_with_faults_shaded() {
    let tmp = tempfile::tempdir().unwrap();
    let out = outage_run(tmp.path());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains(
        "id=\"verdict\" class=\"fail\">FAIL: a service level objective was breached (exit 1)"
    ));
    assert!(
        html.contains("<td>FAIL</td><td>payments fast</td>"),
        "the breached objective is named"
    );
    assert!(
        html.contains("during issuer 0"),
        "its breach is placed in a fault window"
    );
    assert!(html.contains("<code>idempotency_single_effect</code>"));
    assert!(!html.contains("<script"), "no script");
    assert!(
        !html.contains("src=\"http"),
        "nothing fetched from the network"
    );
    for id in CHARTS {
        let start = html
            .find(&format!("id=\"chart-{id}\""))
            .unwrap_or_else(|| panic!("chart {id} missing"));
        let figure = &html[start..start + html[start..].find("</figure>").unwrap()];
        assert!(figure.contains("<svg"), "chart {id} has no SVG");
        // issuer-outage's windows (5-45 s) are shaded on every time chart.
        assert!(
            figure.contains("fill=\"#FAD7D7\""),
            "chart {id} shades no fault window"
        );
    }
    let breakers = &html[html.find("id=\"chart-breakers\"").unwrap()..];
    assert!(
        breakers.contains("fill=\"#FF0000\""),
        "issuer 0's breaker was open"
    );
}

#[test]
fn paystorm_report_redraws_the_same_page_from_results_json() {
    let tmp = tempfile::tempdir().unwrap();
    let out = outage_run(tmp.path());
    let first = std::fs::read(out.join("report.html")).unwrap();
    std::fs::remove_file(out.join("report.html")).unwrap();
    let o = paystorm(tmp.path(), &["report", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(first == std::fs::read(out.join("report.html")).unwrap());
    let missing = paystorm(
        tmp.path(),
        &["report", tmp.path().join("nowhere").to_str().unwrap()],
    );
    assert_eq!(missing.status.code(), Some(4), "{}", describe(&missing));
    assert!(
        text(&missing.stderr).contains("nowhere"),
        "{}",
        describe(&missing)
    );
}

/// Headless Chromium with the flags this machine's closed network needs.
fn chromium(profile: &Path) -> Command {
    let mut c = Command::new("chromium");
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

#[test]
fn chromium_renders_every_chart_and_a_screenshot_that_is_not_blank() {
    let tmp = tempfile::tempdir().unwrap();
    let out = outage_run(tmp.path());
    let url = format!("file://{}", out.join("report.html").display());
    let dom = chromium(&tmp.path().join("profile-dom"))
        .args(["--dump-dom", &url])
        .output()
        .expect("chromium runs: install Debian's chromium (.ci/run does)");
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    for id in CHARTS {
        assert!(
            dom.contains(&format!("id=\"chart-{id}\"")),
            "chart {id} not in the DOM"
        );
    }
    assert!(
        dom.matches("<svg").count() >= CHARTS.len(),
        "every chart's SVG was parsed"
    );
    let shot = tmp.path().join("shot.png");
    let run = chromium(&tmp.path().join("profile-shot"))
        .args(["--window-size=1100,3000"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = bytes.chunks(channels).collect();
    let not_white = pixels
        .iter()
        .filter(|p| p[..3].iter().any(|&c| c < 240))
        .count();
    let mut colors: Vec<[u8; 3]> = pixels.iter().map(|p| [p[0], p[1], p[2]]).collect();
    colors.sort_unstable();
    colors.dedup();
    assert!(
        not_white * 50 > pixels.len(),
        "the screenshot is nearly blank: {not_white} of {} pixels drawn",
        pixels.len()
    );
    assert!(
        colors.len() > 20,
        "only {} colours: no charts drawn",
        colors.len()
    );
    // The fault shading's colour is on screen.
    assert!(
        colors.contains(&[0xFA, 0xD7, 0xD7]),
        "no shaded fault window on screen"
    );
}
