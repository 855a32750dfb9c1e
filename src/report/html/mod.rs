//! `report.html`: one self-contained file an SRE opens instead of reading
//! JSON — the verdict at the top, the objectives and invariants (with
//! counterexamples), and charts over the run's time with every fault window
//! shaded: offered vs completed payments, latency percentiles (corrected and
//! service time), error rate, requests refused at the door, breaker states,
//! queue and dead-letter depth, error budget spent.
//!
//! It is drawn from results.json alone (`paystorm report RUN_DIR` redraws
//! it), as inline SVG made with `plotters` and inline CSS: no script, no
//! network access, nothing to install to read it.

use std::fmt::Write as _;

use plotters::prelude::*;

mod data;

use data::*;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 280;
/// Fault windows: a light red under every time chart.
const FAULT_SHADE: RGBColor = RGBColor(250, 215, 215);
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(214, 39, 40),
    RGBColor(140, 86, 75),
];

/// One line of a chart: its legend and its points (time in s, value).
struct Line {
    label: String,
    points: Vec<(f64, f64)>,
}

fn line(label: &str, points: Vec<(f64, f64)>) -> Line {
    Line {
        label: label.to_string(),
        points,
    }
}

/// Renders the report from results.json's value.
pub fn render(results: &serde_json::Value) -> Result<String, String> {
    let d: Data = serde_json::from_value(results.clone())
        .map_err(|e| format!("results.json does not have what the report needs: {e}"))?;
    let mut html = String::new();
    let verdict = match d.exit_code {
        0 => (
            "pass",
            "PASS: every payment happened exactly once and every objective held",
        ),
        1 => (
            "fail",
            "FAIL: a service level objective was breached (exit 1)",
        ),
        2 => (
            "fail",
            "FAIL: an exactly-once or ledger invariant was violated (exit 2)",
        ),
        3 => (
            "fail",
            "INVALID: the generator could not keep its schedule (exit 3)",
        ),
        _ => ("fail", "FAIL"),
    };
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>paystorm: {w} seed {seed}</title><style>{CSS}</style></head><body>\n\
         <header><h1>paystorm run: <code>{w}</code>, seed {seed}</h1>\
         <p id=\"verdict\" class=\"{cls}\">{text}</p>",
        w = esc(&d.workload),
        seed = d.seed,
        cls = verdict.0,
        text = verdict.1
    );
    let c = &d.counts;
    let _ = writeln!(
        html,
        "<p>{:.0} s of load, {:.0} simulated s in all. Payments: {} attempted, {} succeeded, {} declined, {} failed, {} unknown.{}</p></header>",
        d.load_seconds,
        d.simulated_seconds,
        c.attempted,
        c.succeeded,
        c.declined,
        c.failed,
        c.unknown,
        d.aborted_at_s
            .map(|t| format!(" <strong>The load was stopped at {t:.1} s</strong> (abort_on_fail)."))
            .unwrap_or_default()
    );
    slo_table(&mut html, &d);
    invariant_table(&mut html, &d);
    latency_table(&mut html, &d);
    fault_list(&mut html, &d);
    html.push_str(
        "<section><h2>Over time</h2>\n<p class=\"note\">Fault windows are shaded red.</p>\n",
    );
    charts(&mut html, &d)?;
    html.push_str("</section>\n</body></html>\n");
    Ok(html)
}

fn slo_table(html: &mut String, d: &Data) {
    html.push_str("<section><h2>Service level objectives</h2>\n");
    if d.slos.is_empty() {
        html.push_str("<p class=\"note\">None set (add <code>[[slo]]</code> tables or <code>--slo FILE</code>).</p></section>\n");
        return;
    }
    html.push_str("<table id=\"slos\"><tr><th></th><th>objective</th><th>scope</th><th>measured</th><th>threshold</th><th>budget spent</th><th>first breached</th></tr>\n");
    for s in &d.slos {
        let scope = match &s.method {
            Some(m) => format!("{} {m}", s.operation),
            None => s.operation.clone(),
        };
        let breach = match s.first_breached_s {
            Some(t) if s.during_faults.is_empty() => format!("{t:.0} s"),
            Some(t) => format!("{t:.0} s, during {}", esc(&s.during_faults.join(", "))),
            None => String::new(),
        };
        let _ = writeln!(
            html,
            "<tr class=\"{cls}\"><td>{mark}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{breach}</td></tr>",
            esc(&s.name),
            esc(&scope),
            esc(&s.measured_text),
            esc(&s.threshold),
            s.error_budget
                .as_ref()
                .map(|b| format!("{:.0}%", b.consumed * 100.0))
                .unwrap_or_default(),
            cls = if s.passed { "pass" } else { "fail" },
            mark = if s.passed { "pass" } else { "FAIL" },
        );
    }
    html.push_str("</table></section>\n");
}

fn invariant_table(html: &mut String, d: &Data) {
    html.push_str("<section><h2>Invariants</h2>\n<table id=\"invariants\"><tr><th></th><th>invariant</th><th>violations</th><th>counterexample</th></tr>\n");
    for i in &d.invariants {
        let _ = writeln!(
            html,
            "<tr class=\"{cls}\"><td>{mark}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&i.name),
            i.violations,
            esc(i.example.as_deref().unwrap_or("")),
            cls = if i.passed { "pass" } else { "fail" },
            mark = if i.passed { "pass" } else { "FAIL" },
        );
    }
    html.push_str("</table></section>\n");
}

fn latency_table(html: &mut String, d: &Data) {
    html.push_str("<section><h2>Latency from the intended send time (ms)</h2>\n<table><tr><th>operation</th><th>count</th><th>p50</th><th>p99</th><th>p99.9</th></tr>\n");
    for (op, p) in &d.latency_ms {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            esc(op),
            p.count,
            p.p50,
            p.p99,
            p.p999
        );
    }
    html.push_str("</table></section>\n");
}

fn fault_list(html: &mut String, d: &Data) {
    let Some(f) = &d.faults else {
        return;
    };
    html.push_str("<section><h2>Faults</h2>\n<table id=\"faults\"><tr><th>fault</th><th>injected</th><th>windows (s)</th></tr>\n");
    for fault in &f.faults {
        let windows: Vec<String> = fault
            .windows
            .iter()
            .take(6)
            .map(|(a, b)| format!("{a:.0}-{b:.0}"))
            .collect();
        let more = fault.windows.len().saturating_sub(6);
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            esc(&fault.name),
            fault.injected,
            windows.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    html.push_str("</table></section>\n");
}

fn charts(html: &mut String, d: &Data) -> Result<(), String> {
    let ts = &d.timeseries;
    let width = ts.bucket_s.max(1) as f64;
    let t = |i: usize| ts.t_s[i] as f64;
    let per_s = |v: &[u64]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, &n)| (t(i), n as f64 / width))
            .collect()
    };
    let opt = |v: &[Option<f64>]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|p| (t(i), p)))
            .collect()
    };
    let windows: Vec<(f64, f64)> = d
        .faults
        .iter()
        .flat_map(|f| f.faults.iter().flat_map(|x| x.windows.iter().copied()))
        .collect();
    let end = ts
        .t_s
        .last()
        .map_or(1.0, |&l| (l + ts.bucket_s) as f64)
        .max(d.load_seconds)
        .max(1.0);
    let mut chart = |id: &str, title: &str, y: &str, lines: Vec<Line>| -> Result<(), String> {
        let svg = line_chart(y, &lines, &windows, end)?;
        let _ = writeln!(
            html,
            "<figure class=\"chart\" id=\"chart-{id}\"><figcaption>{}</figcaption>{svg}</figure>",
            esc(title)
        );
        Ok(())
    };
    chart(
        "rate",
        "Payments offered and completed per second",
        "per s",
        vec![
            line("offered", per_s(&ts.offered)),
            line("completed", per_s(&ts.completed)),
        ],
    )?;
    chart(
        "latency",
        "Latency per bucket (ms): corrected p50 and p99, service time p99",
        "ms",
        vec![
            line("corrected p50", opt(&ts.p50_ms)),
            line("corrected p99", opt(&ts.p99_ms)),
            line("service time p99", opt(&ts.service_p99_ms)),
        ],
    )?;
    let error_rate = ts
        .errors
        .iter()
        .zip(&ts.completed)
        .enumerate()
        .filter(|(_, (_, c))| **c > 0)
        .map(|(i, (e, c))| (t(i), 100.0 * *e as f64 / *c as f64))
        .collect();
    chart(
        "errors",
        "Payments failed or unknown (% of those completed)",
        "%",
        vec![line("error rate", error_rate)],
    )?;
    chart(
        "refused",
        "Refused at the door, per second: 429 rate limited, 503 shed or down",
        "per s",
        vec![
            line("429", per_s(&ts.rate_limited)),
            line("503", per_s(&ts.unavailable)),
        ],
    )?;
    let g = &d.gauges;
    let gauge = |v: &[Option<u64>]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .filter_map(|(i, x)| x.map(|x| (g.t_s[i] as f64, x as f64)))
            .collect()
    };
    chart(
        "queues",
        "Webhooks outstanding, dead-lettered, and messages of unknown outcome",
        "count",
        vec![
            line("webhooks outstanding", gauge(&g.webhooks_outstanding_max)),
            line("dead-lettered", gauge(&g.dead_lettered)),
            line("unresolved messages", gauge(&g.unresolved_max)),
        ],
    )?;
    let budgets: Vec<Line> = d
        .slos
        .iter()
        .filter_map(|s| {
            let b = s.error_budget.as_ref()?;
            Some(Line {
                label: s.name.clone(),
                points: b
                    .consumed_over_time
                    .iter()
                    .enumerate()
                    .map(|(i, c)| ((i + 1) as f64 * b.bucket_s, c * 100.0))
                    .collect(),
            })
        })
        .collect();
    if !budgets.is_empty() {
        chart(
            "budget",
            "Error budget spent (% of the run's budget; over 100% is a breach)",
            "%",
            budgets,
        )?;
    }
    let svg = breaker_chart(d, &windows, end)?;
    let _ = writeln!(
        html,
        "<figure class=\"chart\" id=\"chart-breakers\"><figcaption>Circuit breakers: open (red) and half-open (orange)</figcaption>{svg}</figure>"
    );
    Ok(())
}

/// Time axis labels: seconds, or hours for long runs.
fn time_label(end: f64) -> impl Fn(&f64) -> String {
    move |v: &f64| {
        if end > 7_200.0 {
            format!("{:.1} h", v / 3_600.0)
        } else {
            format!("{v:.0} s")
        }
    }
}

fn line_chart(
    y_label: &str,
    lines: &[Line],
    windows: &[(f64, f64)],
    end: f64,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let top = lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .fold(0.0f64, f64::max);
        let top = if top > 0.0 { top * 1.1 } else { 1.0 };
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..end, 0.0..top)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&time_label(end))
            .y_desc(y_label)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(draw_err)?;
        shade(&mut chart, windows, top)?;
        for (i, l) in lines.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    l.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(draw_err)?
                .label(l.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

type Chart2d<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// The fault windows, as light red bands over the whole height.
fn shade(chart: &mut Chart2d<'_, '_>, windows: &[(f64, f64)], top: f64) -> Result<(), String> {
    chart
        .draw_series(
            windows
                .iter()
                .map(|&(a, b)| Rectangle::new([(a, 0.0), (b, top)], FAULT_SHADE.filled())),
        )
        .map_err(draw_err)?;
    Ok(())
}

/// One row per breaker: red while open, orange while half-open.
fn breaker_chart(d: &Data, windows: &[(f64, f64)], end: f64) -> Result<String, String> {
    let breakers: Vec<(&str, &Breaker)> = d
        .resilience
        .downstreams
        .iter()
        .filter_map(|x| x.breaker.as_ref().map(|b| (x.name.as_str(), b)))
        .collect();
    let rows = breakers.len().max(1) as f64;
    let mut svg = String::new();
    {
        let height = (60 + 28 * breakers.len().max(1)) as u32;
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let names: Vec<String> = breakers
            .iter()
            .map(|(n, b)| format!("{n} ({}x)", b.opened))
            .collect();
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..end, 0.0..rows)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&time_label(end))
            .y_labels(breakers.len().max(1))
            .y_label_formatter(&|v: &f64| {
                names.get(v.floor() as usize).cloned().unwrap_or_default()
            })
            .disable_y_mesh()
            .draw()
            .map_err(draw_err)?;
        shade(&mut chart, windows, rows)?;
        for (row, (_, b)) in breakers.iter().enumerate() {
            let y0 = row as f64 + 0.15;
            let y1 = row as f64 + 0.85;
            let mut state_since: Option<(&str, f64)> = None;
            let mut bars = Vec::new();
            for t in &b.transitions {
                if let Some((s, since)) = state_since {
                    if s != "closed" {
                        bars.push((since, t.at_s, s == "open"));
                    }
                }
                state_since = Some((t.to.as_str(), t.at_s));
            }
            if let Some((s, since)) = state_since {
                if s != "closed" {
                    bars.push((since, end, s == "open"));
                }
            }
            chart
                .draw_series(bars.into_iter().map(|(a, z, open)| {
                    let color = if open { RED } else { RGBColor(255, 165, 0) };
                    Rectangle::new([(a, y0), (z, y1)], color.filled())
                }))
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

fn draw_err<E: std::fmt::Debug>(e: E) -> String {
    format!("cannot draw a chart: {e:?}")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const CSS: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1000px;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}\
#verdict{font-size:1.2em;font-weight:600;padding:.6em 1em;border-radius:6px}\
.pass#verdict{background:#e3f4e1;color:#1d5e1a}.fail#verdict{background:#fbe3e3;color:#8a1c1c}\
table{border-collapse:collapse;width:100%;font-size:.9em}td,th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}\
tr.fail td:first-child{color:#b00;font-weight:700}tr.pass td:first-child{color:#1d7a1a}\
figure.chart{margin:1.2em 0}figcaption{font-weight:600;margin-bottom:.3em}.note{color:#666;font-size:.9em}\
code{font-size:.95em}";
