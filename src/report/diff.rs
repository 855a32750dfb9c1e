//! `paystorm diff BASE NEW`: compares two runs' results.json so CI can gate
//! a change on "no worse than main". A regression is NEW worse than BASE by
//! more than a tolerance: latency beyond a relative change *and* an absolute
//! floor (a 1 ms timer makes small percentiles jump by whole percents),
//! success and error rates beyond an absolute change, and any invariant or
//! SLO that passed in BASE and fails in NEW, always.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::workload::InputError;

/// The percentiles compared, in results.json's order.
const PERCENTILES: [&str; 5] = ["p50", "p90", "p99", "p999", "max"];

/// How much worse NEW may be before it counts.
#[derive(Clone, Copy, Debug)]
pub struct Tolerances {
    /// Relative latency increase allowed, as a fraction (0.10 = 10%).
    pub latency_rel: f64,
    /// Latency changes of at most this many ms are noise, whatever their percentage.
    pub latency_floor_ms: f64,
    /// Absolute change allowed in success and error rates (0.001 = 0.1 points).
    pub rate_abs: f64,
}

/// Parses `--latency-tolerance`: `10%` or a plain `10`, both meaning ten
/// percent; returns the fraction.
pub fn parse_latency_tolerance(s: &str) -> Result<f64, String> {
    let number = s.trim().strip_suffix('%').unwrap_or(s.trim()).trim();
    match number.parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p / 100.0),
        _ => Err(format!(
            "expected a percentage of 0 or more such as `10%` or `10`, got `{s}`"
        )),
    }
}

/// Parses `--latency-floor-ms`: milliseconds, 0 or more.
pub fn parse_floor_ms(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(ms) if ms.is_finite() && ms >= 0.0 => Ok(ms),
        _ => Err(format!("expected milliseconds, 0 or more, got `{s}`")),
    }
}

/// Parses `--rate-tolerance`: an absolute change in a rate, 0 to 1.
pub fn parse_rate_tolerance(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "expected an absolute rate change from 0 to 1 such as `0.001`, got `{s}`"
        )),
    }
}

/// The parts of results.json a comparison reads; anything else is ignored,
/// so later additions to the schema do not break `diff`.
#[derive(Deserialize)]
struct RunResults {
    seed: Option<u64>,
    workload: Option<String>,
    latency_ms: BTreeMap<String, Percentiles>,
    service_time_ms: BTreeMap<String, Percentiles>,
    counts: Counts,
    invariants: Vec<Check>,
    /// Not written yet by every version: compared only when both runs have it.
    slos: Option<Vec<Check>>,
}

#[derive(Deserialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

impl Percentiles {
    fn get(&self, name: &str) -> f64 {
        match name {
            "p50" => self.p50,
            "p90" => self.p90,
            "p99" => self.p99,
            "p999" => self.p999,
            _ => self.max,
        }
    }
}

#[derive(Deserialize)]
struct Counts {
    attempted: u64,
    succeeded: u64,
    failed: u64,
    unknown: u64,
}

impl Counts {
    fn success_rate(&self) -> Option<f64> {
        self.share(self.succeeded)
    }

    /// Failed and unknown: declines are the issuer's answer, not an error.
    fn error_rate(&self) -> Option<f64> {
        self.share(self.failed + self.unknown)
    }

    /// None without attempts: a rate of nothing compares with nothing.
    fn share(&self, part: u64) -> Option<f64> {
        (self.attempted > 0).then(|| part as f64 / self.attempted as f64)
    }
}

/// An invariant or an SLO: only whether it passed matters here.
#[derive(Deserialize)]
struct Check {
    name: String,
    passed: bool,
}

/// One side of a compared metric, written to JSON as a number or a boolean.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Reading {
    Ms(f64),
    Rate(f64),
    Passed(bool),
}

impl Reading {
    fn number(self) -> Option<f64> {
        match self {
            Reading::Ms(v) | Reading::Rate(v) => Some(v),
            Reading::Passed(_) => None,
        }
    }

    fn show(self) -> String {
        match self {
            Reading::Ms(v) => format!("{v:.1} ms"),
            Reading::Rate(v) => format!("{:.2}%", v * 100.0),
            Reading::Passed(true) => "passed".into(),
            Reading::Passed(false) => "failed".into(),
        }
    }
}

/// Which way a metric moved, judged against the tolerances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Regression,
    Better,
    Within,
}

/// One compared metric; a row of the table and an entry of `--json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub metric: String,
    pub base: Option<Reading>,
    pub new: Option<Reading>,
    /// NEW minus BASE, in the metric's own unit (ms, or a rate's fraction).
    pub change_abs: Option<f64>,
    /// The change relative to BASE (0.5 = 50% higher); None from zero.
    pub change_rel: Option<f64>,
    pub regression: bool,
    pub better: bool,
}

impl Row {
    fn numbers(metric: String, base: Reading, new: Reading, verdict: Verdict) -> Row {
        let (b, n) = (base.number().unwrap_or(0.0), new.number().unwrap_or(0.0));
        Row {
            metric,
            base: Some(base),
            new: Some(new),
            change_abs: Some(n - b),
            change_rel: (b != 0.0).then(|| (n - b) / b),
            regression: verdict == Verdict::Regression,
            better: verdict == Verdict::Better,
        }
    }

    fn check(metric: String, base: Option<bool>, new: Option<bool>) -> Row {
        let verdict = match (base, new) {
            (Some(true), Some(false)) => Verdict::Regression,
            (Some(false), Some(true)) => Verdict::Better,
            _ => Verdict::Within,
        };
        Row {
            metric,
            base: base.map(Reading::Passed),
            new: new.map(Reading::Passed),
            change_abs: None,
            change_rel: None,
            regression: verdict == Verdict::Regression,
            better: verdict == Verdict::Better,
        }
    }
}

/// The comparison of two run directories.
pub struct Diff {
    pub base_dir: PathBuf,
    pub new_dir: PathBuf,
    pub tolerances: Tolerances,
    pub rows: Vec<Row>,
    /// Differences in what was run (workload, seed): allowed, but they make
    /// every other difference suspect.
    pub warnings: Vec<String>,
}

impl Diff {
    /// Reads `BASE/results.json` and `NEW/results.json` and compares them.
    pub fn load(
        base_dir: &Path,
        new_dir: &Path,
        tolerances: Tolerances,
    ) -> Result<Diff, InputError> {
        let base = read_results(base_dir)?;
        let new = read_results(new_dir)?;
        let mut warnings = Vec::new();
        if base.workload != new.workload {
            warnings.push(format!(
                "warning: the runs are of different workloads (BASE `{}`, NEW `{}`); differences may come from the workloads, not the change",
                base.workload.as_deref().unwrap_or("?"),
                new.workload.as_deref().unwrap_or("?")
            ));
        }
        for (family, b, n) in [
            ("latency_ms", &base.latency_ms, &new.latency_ms),
            (
                "service_time_ms",
                &base.service_time_ms,
                &new.service_time_ms,
            ),
        ] {
            for (op, only_in) in one_sided(b, n) {
                warnings.push(format!(
                    "warning: `{family}.{op}` is only in {only_in}'s results.json, so it is not compared"
                ));
            }
        }
        if base.seed != new.seed {
            warnings.push(format!(
                "warning: the runs have different seeds (BASE {}, NEW {}); some differences are the draw, not the change",
                base.seed.map_or("?".into(), |s| s.to_string()),
                new.seed.map_or("?".into(), |s| s.to_string())
            ));
        }
        Ok(Diff {
            base_dir: base_dir.to_path_buf(),
            new_dir: new_dir.to_path_buf(),
            tolerances,
            rows: compare(&base, &new, &tolerances),
            warnings,
        })
    }

    pub fn regressions(&self) -> usize {
        self.rows.iter().filter(|r| r.regression).count()
    }

    /// The aligned table and the one-line summary. Metrics that did not move
    /// and invariants and SLOs that pass in both runs are counted, not
    /// listed, so what changed is not lost among fifty equal rows; `--json`
    /// has them all.
    pub fn render(&self) -> String {
        let t = &self.tolerances;
        let mut out = format!(
            "diff {} -> {} (latency tolerance {}% above {} ms, rate tolerance {})\n\n",
            self.base_dir.display(),
            self.new_dir.display(),
            // 0.07 * 100.0 is 7.000000000000001.
            (t.latency_rel * 100.0 * 1e6).round() / 1e6,
            t.latency_floor_ms,
            t.rate_abs
        );
        let unchanged = |r: &&Row| r.base == r.new && r.base != Some(Reading::Passed(false));
        let cells: Vec<[String; 6]> = self
            .rows
            .iter()
            .filter(|r| !unchanged(r))
            .map(|r| {
                let side = |v: Option<Reading>| v.map_or("-".into(), Reading::show);
                let (abs, rel) = change(r);
                let mark = if r.regression {
                    "REGRESSION"
                } else if r.better {
                    "better"
                } else {
                    ""
                };
                [
                    r.metric.clone(),
                    side(r.base),
                    side(r.new),
                    abs,
                    rel,
                    mark.into(),
                ]
            })
            .collect();
        if cells.is_empty() {
            out.push_str("every compared metric is the same in both runs\n");
        } else {
            out.push_str(&table(&cells));
        }
        let (checks, metrics): (Vec<&Row>, Vec<&Row>) = self
            .rows
            .iter()
            .filter(unchanged)
            .partition(|r| matches!(r.base, Some(Reading::Passed(_))));
        let mut hidden = Vec::new();
        if !metrics.is_empty() && !cells.is_empty() {
            hidden.push(plural(metrics.len(), "unchanged metric"));
        }
        if !checks.is_empty() {
            let noun = if self.rows.iter().any(|r| r.metric.starts_with("slos.")) {
                "invariant or SLO"
            } else {
                "invariant"
            };
            hidden.push(format!(
                "{} passing in both runs",
                plural(checks.len(), noun)
            ));
        }
        if !hidden.is_empty() {
            let _ = writeln!(out, "(not shown: {})", hidden.join(", "));
        }
        let better = self.rows.iter().filter(|r| r.better).count();
        let _ = writeln!(
            out,
            "\n{} beyond tolerance{}",
            match self.regressions() {
                0 => "no regression".to_string(),
                n => plural(n, "regression"),
            },
            if better > 0 {
                format!(", {better} better")
            } else {
                String::new()
            }
        );
        out
    }

    /// `--json`: every compared metric, those passing in both runs included.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let mut json = serde_json::to_string_pretty(&self.rows).map_err(std::io::Error::other)?;
        json.push('\n');
        std::fs::write(path, json)
    }
}

/// The change columns: `+4.0 ms` and `+12.3%` for latency, points for rates.
fn change(r: &Row) -> (String, String) {
    match (r.base, r.change_abs) {
        (Some(Reading::Ms(_)), Some(abs)) => (
            format!("{abs:+.1} ms"),
            r.change_rel
                .map_or_else(String::new, |rel| format!("{:+.1}%", rel * 100.0)),
        ),
        (Some(Reading::Rate(_)), Some(abs)) => (format!("{:+.2} pp", abs * 100.0), String::new()),
        _ => (String::new(), String::new()),
    }
}

/// Columns padded to their widest cell: the metric name left-aligned, the
/// figures right-aligned, the mark last.
fn table(cells: &[[String; 6]]) -> String {
    let header = ["metric", "base", "new", "change", "", ""].map(String::from);
    let rows = || std::iter::once(&header).chain(cells);
    let mut width = [0usize; 6];
    for row in rows() {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows() {
        let mut line = format!("{:<w$}", row[0], w = width[0]);
        for (cell, w) in row[1..5].iter().zip(&width[1..5]) {
            let _ = write!(line, "  {cell:>w$}");
        }
        let _ = write!(line, "  {}", row[5]);
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

fn compare(base: &RunResults, new: &RunResults, t: &Tolerances) -> Vec<Row> {
    let mut rows = Vec::new();
    for (family, b_ops, n_ops) in [
        ("latency_ms", &base.latency_ms, &new.latency_ms),
        (
            "service_time_ms",
            &base.service_time_ms,
            &new.service_time_ms,
        ),
    ] {
        for (op, b) in b_ops {
            let Some(n) = n_ops.get(op) else {
                continue;
            };
            for p in PERCENTILES {
                let (bv, nv) = (b.get(p), n.get(p));
                rows.push(Row::numbers(
                    format!("{family}.{op}.{p}"),
                    Reading::Ms(bv),
                    Reading::Ms(nv),
                    latency_verdict(bv, nv, t),
                ));
            }
        }
    }
    let (b, n) = (&base.counts, &new.counts);
    let rates = [
        ("success_rate", b.success_rate(), n.success_rate(), true),
        ("error_rate", b.error_rate(), n.error_rate(), false),
    ];
    for (name, base_rate, new_rate, higher_is_better) in rates {
        let (Some(bv), Some(nv)) = (base_rate, new_rate) else {
            continue;
        };
        let worse_by = if higher_is_better { bv - nv } else { nv - bv };
        let verdict = if worse_by > t.rate_abs {
            Verdict::Regression
        } else if -worse_by > t.rate_abs {
            Verdict::Better
        } else {
            Verdict::Within
        };
        rows.push(Row::numbers(
            name.into(),
            Reading::Rate(bv),
            Reading::Rate(nv),
            verdict,
        ));
    }
    rows.extend(compare_checks(
        "invariants",
        &base.invariants,
        &new.invariants,
    ));
    if let (Some(b), Some(n)) = (&base.slos, &new.slos) {
        rows.extend(compare_checks("slos", b, n));
    }
    rows
}

/// Operations measured in one run only, and which: an operation that
/// vanishes from NEW would otherwise pass unnoticed.
fn one_sided<'a, T>(
    base: &'a BTreeMap<String, T>,
    new: &'a BTreeMap<String, T>,
) -> Vec<(&'a str, &'static str)> {
    let only = |a: &'a BTreeMap<String, T>, b: &'a BTreeMap<String, T>, side| {
        a.keys()
            .filter(move |k| !b.contains_key(*k))
            .map(move |k| (k.as_str(), side))
    };
    only(base, new, "BASE")
        .chain(only(new, base, "NEW"))
        .collect()
}

/// Both the relative tolerance and the floor must be exceeded: 2.0 -> 2.3 ms
/// is +15% but a third of a timer tick, and 8.003 -> 9.003 ms is one tick.
fn latency_verdict(base: f64, new: f64, t: &Tolerances) -> Verdict {
    let beyond = |from: f64, to: f64| {
        // results.json has microseconds; rounding to them keeps float error
        // (9.003 - 8.003 = 1.0000000000000009) from crossing the floor.
        let abs = ((to - from) * 1000.0).round() / 1000.0;
        abs > t.latency_floor_ms && (from == 0.0 || abs / from > t.latency_rel)
    };
    if beyond(base, new) {
        Verdict::Regression
    } else if beyond(new, base) {
        Verdict::Better
    } else {
        Verdict::Within
    }
}

/// Invariants or SLOs by name, BASE's order first, then those only in NEW.
fn compare_checks(family: &str, base: &[Check], new: &[Check]) -> Vec<Row> {
    let passed =
        |list: &[Check], name: &str| list.iter().find(|c| c.name == name).map(|c| c.passed);
    let mut names: Vec<&str> = base.iter().map(|c| c.name.as_str()).collect();
    for c in new {
        if !names.contains(&c.name.as_str()) {
            names.push(&c.name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            Row::check(
                format!("{family}.{name}"),
                passed(base, name),
                passed(new, name),
            )
        })
        .collect()
}

fn input_error(file: &Path, what: String) -> InputError {
    InputError(format!(
        "error: cannot compare runs: `{}` {what}. `paystorm diff` takes two --out directories of `paystorm run`, each with its results.json.",
        file.display()
    ))
}

fn read_results(dir: &Path) -> Result<RunResults, InputError> {
    let (path, text, _) = super::results::read_value(dir, input_error)?;
    serde_json::from_str(&text).map_err(|e| {
        input_error(
            &path,
            format!("does not have the shape of results.json: {e}"),
        )
    })
}
