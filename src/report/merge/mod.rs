//! `paystorm merge A/ B/ ... --out C/`: several runs as one, as when one
//! load is driven from several machines (or one workload is run with
//! several seeds). Counts add; latency comes from the runs' histogram logs
//! added together, so percentiles are exact rather than averaged (which
//! means nothing); time series line up by each run's start; the objectives
//! are judged again on the merged data, with their error budgets and burn
//! rates; an invariant holds only if it held in every run. C gets the same
//! files a run leaves (results.json, histograms.hlog, report.html,
//! junit.xml, settings.toml), so merges merge again.

pub mod json;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdrhistogram::{Counter, Histogram};
use serde_json::{json, Value};

use super::hlog::{self, HistogramLog};
use crate::metrics::buckets::Buckets;
use crate::metrics::gauges::GaugesReport;
use crate::metrics::timeseries::Bucket;
use crate::metrics::{LatencyBook, TimeSeries, TimeSeriesReport};
use crate::slo::book::{SliBucket, SliSeries};
use crate::slo::{FaultWindows, SliCounts, SloBook};
use crate::workload::{InputError, Workload};

/// One run read back from its directory.
struct Run {
    dir: PathBuf,
    results: Value,
    settings: Workload,
    settings_text: String,
    log: HistogramLog,
    /// Microseconds after the earliest run's start that this one started.
    offset_us: u64,
}

fn input_error(file: &Path, what: String) -> InputError {
    InputError(format!(
        "error: cannot merge runs: `{}` {what}. `paystorm merge` takes --out directories of `paystorm run` (or of an earlier merge), each with results.json, settings.toml and {}.",
        file.display(),
        hlog::FILE
    ))
}

fn read_run(dir: &Path) -> Result<Run, InputError> {
    let (_, _, results) = super::results::read_value(dir, input_error)?;
    let settings_path = dir.join("settings.toml");
    let settings_text = std::fs::read_to_string(&settings_path)
        .map_err(|e| input_error(&settings_path, format!("cannot be read: {e}")))?;
    let settings = Workload::parse(&settings_text, &settings_path.display().to_string())?;
    let log_path = dir.join(hlog::FILE);
    if !log_path.exists() {
        return Err(input_error(
            &log_path,
            "is missing (a run made before paystorm wrote histogram logs cannot be merged exactly: run it again)".into(),
        ));
    }
    let log =
        hlog::read(&log_path).map_err(|e| InputError(format!("error: cannot merge runs: {e}")))?;
    Ok(Run {
        dir: dir.to_path_buf(),
        results,
        settings,
        settings_text,
        log,
        offset_us: 0,
    })
}

/// What a merge tells the person who ran it.
pub struct Merged {
    pub exit_code: i32,
    /// A short summary for the console: runs, counts, latency, failed
    /// invariants, the objectives judged again.
    pub summary: String,
}

/// Merges the runs in `dirs` into `out`.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged, InputError> {
    if dirs.len() < 2 {
        return Err(InputError(
            "error: `paystorm merge` needs at least two run directories, then --out for the merged one".into(),
        ));
    }
    let runs: Vec<Run> = dirs.iter().map(|d| read_run(d)).collect::<Result<_, _>>()?;
    merge_runs(runs, out, None)
}

/// What a run split into cells says about itself, where a merge of
/// separate runs would take the first run's word.
pub struct Whole<'a> {
    /// The run's workload name (each cell's has `-cell-K` appended).
    pub name: &'a str,
    /// The run's seed (each cell has a seed of its own).
    pub seed: u64,
    /// The run's settings.toml (with `cells`), which runs the whole again.
    pub settings: &'a str,
    /// The cells' directories relative to `out`, named in `merged_from`
    /// instead of their paths, so results.json does not depend on where
    /// `--out` pointed.
    pub labels: &'a [String],
}

/// Merges the cells of one run (see [`crate::sim::cells`]), written to
/// `dirs`, into `out`.
pub fn merge_cells(dirs: &[PathBuf], out: &Path, whole: Whole) -> Result<Merged, InputError> {
    let runs: Vec<Run> = dirs
        .iter()
        .map(|d| read_run(d))
        .collect::<Result<_, _>>()
        .map_err(of_cells)?;
    merge_runs(runs, out, Some(whole))
}

/// An error reading a cell back, said of a run's own cells: the user did
/// not hand them to `paystorm merge`, so advice about which directories it
/// takes would mislead.
fn of_cells(InputError(msg): InputError) -> InputError {
    let msg = msg.replacen(
        "error: cannot merge runs:",
        "error: cannot merge the cells this run wrote:",
        1,
    );
    let mut msg = match msg.split_once(" `paystorm merge` takes") {
        Some((head, _)) => head.to_string(),
        None => msg,
    };
    if !msg.ends_with('.') {
        msg.push('.');
    }
    InputError(format!(
        "{msg} This run wrote the cells moments before: something changed them meanwhile, or the disk is full. Run it again."
    ))
}

fn merge_runs(mut runs: Vec<Run>, out: &Path, whole: Option<Whole>) -> Result<Merged, InputError> {
    let specs = |r: &Run| serde_json::to_value(&r.settings.file.slo).unwrap_or(Value::Null);
    for r in &runs[1..] {
        if specs(r) != specs(&runs[0]) {
            return Err(InputError(format!(
                "error: cannot merge runs: `{}` and `{}` were judged against different objectives (their settings.toml `[[slo]]` tables differ), so no merged verdict would mean anything. Merge runs of the same objectives.",
                runs[0].dir.display(),
                r.dir.display()
            )));
        }
    }
    let earliest = runs
        .iter()
        .map(|r| r.log.start_unix_s)
        .fold(f64::INFINITY, f64::min);
    for r in &mut runs {
        r.offset_us = ((r.log.start_unix_s - earliest).max(0.0) * 1e6).round() as u64;
    }

    let mut merged = runs[0].results.clone();
    for r in &runs[1..] {
        json::add(&mut merged, &r.results);
    }
    let mut latency = LatencyBook::default();
    for r in &runs {
        for i in r.log.intervals.iter().filter(|i| is_run_latency(&i.tag)) {
            let h = i.histogram().map_err(|e| log_error(r, e))?;
            latency
                .add_tagged(&i.tag, &h)
                .map_err(|e| log_error(r, e))?;
        }
    }
    let series = merge_series(&runs)?;
    let gauges = merge_gauges(&runs)?;
    let slos = crate::slo::compile(&runs[0].settings.file.slo).map_err(|p| {
        InputError(format!(
            "error: cannot merge runs: slo {}: {}",
            p.index + 1,
            p.message
        ))
    })?;
    let book = merge_slos(&runs, slos)?;
    let shifted_max = |key: &str| {
        runs.iter()
            .map(|r| r.offset_us as f64 / 1e6 + r.results[key].as_f64().unwrap_or(0.0))
            .fold(0.0, f64::max)
    };
    let load_seconds = shifted_max("load_seconds");
    let faults = fault_windows(&merged);
    let judged = crate::slo::evaluate(&book, &faults, load_seconds);

    let sections = serde_json::to_value(super::results::LatencySections::of(&latency))
        .map_err(|e| InputError(e.to_string()))?;
    if let (Value::Object(m), Value::Object(s)) = (&mut merged, sections) {
        m.extend(s);
    }
    merged["simulated_seconds"] = json!(shifted_max("simulated_seconds"));
    merged["load_seconds"] = json!(load_seconds);
    merged["timeseries"] = to_value(&series.report())?;
    merged["gauges"] = to_value(&gauges)?;
    merged["slos"] = to_value(&judged)?;
    merged["aborted_at_s"] = json!(book.aborted_at_us().map(|us| us as f64 / 1e6));
    if merged["aborted_at_s"].is_null() {
        if let Value::Object(m) = &mut merged {
            m.remove("aborted_at_s");
        }
    }
    merged["merged_from"] = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let dir = match whole.as_ref().and_then(|w| w.labels.get(i)) {
                Some(label) => label.clone(),
                None => r.dir.display().to_string(),
            };
            json!({
                "dir": dir,
                "seed": r.results["seed"],
                "workload": r.results["workload"],
                "start_offset_s": r.offset_us as f64 / 1e6,
            })
        })
        .collect();
    for k in ["seed", "schema_version"] {
        merged[k] = runs[0].results[k].clone();
    }
    if let Some(w) = &whole {
        merged["seed"] = json!(w.seed);
        merged["workload"] = json!(w.name);
    }
    let counts = &merged["counts"];
    let missed = counts["dropped_arrivals"].as_u64().unwrap_or(0)
        + counts["late_arrivals"].as_u64().unwrap_or(0);
    let code = super::results::exit_code_of(
        merged["invariants"]
            .as_array()
            .is_some_and(|a| a.iter().all(|i| i["passed"] == Value::Bool(true))),
        missed,
        merged["arrivals"].as_u64().unwrap_or(0),
        runs[0].settings.file.load.dropped_share_max,
        judged.iter().all(|s| s.passed),
    );
    merged["exit_code"] = json!(code);

    let settings = whole
        .as_ref()
        .map_or(&runs[0].settings_text[..], |w| w.settings);
    write(out, &merged, settings, |path| {
        hlog::write(
            path,
            &latency,
            &series,
            &book,
            earliest.max(0.0) as u64,
            shifted_max("simulated_seconds"),
        )
    })
    .map_err(|e| {
        InputError(format!(
            "error: cannot write the merged run to `{}`: {e}",
            out.display()
        ))
    })?;
    Ok(Merged {
        exit_code: code,
        summary: summary(
            &merged,
            &judged,
            book.aborted_at_us(),
            out,
            if whole.is_some() { "cell" } else { "run" },
        ),
    })
}

fn summary(
    merged: &Value,
    judged: &[crate::slo::SloResult],
    aborted_at_us: Option<u64>,
    out: &Path,
    part: &str,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let runs = merged["merged_from"].as_array().map_or(0, Vec::len);
    let c = &merged["counts"];
    let _ = writeln!(
        s,
        "merged {runs} {part}s: {} arrivals; payments attempted {}, succeeded {}, declined {}, failed {}, unknown {}",
        merged["arrivals"], c["attempted"], c["succeeded"], c["declined"], c["failed"], c["unknown"]
    );
    let create = &merged["latency_ms"]["create"];
    if create.is_object() {
        let _ = writeln!(
            s,
            "payment latency (corrected, all {part}s' histograms): p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms",
            create["p50"], create["p99"], create["p999"], create["max"]
        );
    }
    let failed: Vec<String> = merged["invariants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["passed"] != Value::Bool(true))
        .map(|i| {
            format!(
                "{} ({} violations)",
                i["name"].as_str().unwrap_or("?"),
                i["violations"]
            )
        })
        .collect();
    if failed.is_empty() {
        let _ = writeln!(s, "invariants: all held in every {part}");
    } else {
        let _ = writeln!(s, "invariants VIOLATED: {}", failed.join(", "));
    }
    super::console::slo_lines(&mut s, judged, aborted_at_us.map(|us| us as f64 / 1e6));
    let _ = writeln!(
        s,
        "\nwrote {} (results.json, {}, report.html, junit.xml, settings.toml); exit {}",
        out.display(),
        hlog::FILE,
        merged["exit_code"]
    );
    s
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, InputError> {
    serde_json::to_value(v).map_err(|e| InputError(format!("error: {e}")))
}

fn log_error(r: &Run, e: String) -> InputError {
    InputError(format!(
        "error: cannot merge runs: `{}`: {e}",
        r.dir.join(hlog::FILE).display()
    ))
}

/// Whole-run latency histograms (what the latency sections come from).
fn is_run_latency(tag: &str) -> bool {
    tag.starts_with("corrected/") || tag.starts_with("service/") || tag.starts_with("issuer/")
}

/// A run's histograms tagged `tag`, by bucket index for buckets
/// `width_us` wide.
fn by_bucket<T: Counter>(
    r: &Run,
    tag: &str,
    width_us: u64,
) -> Result<BTreeMap<usize, Histogram<T>>, InputError> {
    let mut out = BTreeMap::new();
    for i in r.log.intervals.iter().filter(|i| i.tag == tag) {
        let index = (i.start_s * 1e6 / width_us.max(1) as f64).round() as usize;
        out.insert(index, i.histogram().map_err(|e| log_error(r, e))?);
    }
    Ok(out)
}

/// A section of a run's results.json, read as `T`.
fn section<T: serde::de::DeserializeOwned>(r: &Run, key: &str) -> Result<T, InputError> {
    serde_json::from_value(r.results[key].clone()).map_err(|e| {
        input_error(
            &r.dir.join("results.json"),
            format!("has a `{key}` of another shape: {e}"),
        )
    })
}

/// The time series: counts added bucket by bucket, each run shifted by its
/// start, in the widest run's buckets; the percentiles from the buckets'
/// histograms added.
fn merge_series(runs: &[Run]) -> Result<TimeSeries, InputError> {
    let reports: Vec<TimeSeriesReport> = runs
        .iter()
        .map(|r| section(r, "timeseries"))
        .collect::<Result<_, _>>()?;
    let width_us = reports.iter().map(|t| t.bucket_s).max().unwrap_or(1) * 1_000_000;
    let mut series = TimeSeries::with_width(width_us);
    for (r, t) in runs.iter().zip(&reports) {
        let w = t.bucket_s.max(1) * 1_000_000;
        let mut latency = by_bucket::<u32>(r, hlog::BUCKET_LATENCY, w)?;
        let mut service = by_bucket::<u32>(r, hlog::BUCKET_SERVICE, w)?;
        let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
        for (i, &t_s) in t.t_s.iter().enumerate() {
            series.absorb_at(
                r.offset_us + t_s * 1_000_000,
                Bucket {
                    offered: at(&t.offered, i),
                    completed: at(&t.completed, i),
                    errors: at(&t.errors, i),
                    latency: latency.remove(&i),
                    service: service.remove(&i),
                    rate_limited: at(&t.rate_limited, i),
                    unavailable: at(&t.unavailable, i),
                },
            );
        }
    }
    Ok(series)
}

/// The stacks' depths: each run's in the widest buckets (the highest
/// sample in each), then added across runs, as the runs' stacks are
/// separate and their queues add up.
fn merge_gauges(runs: &[Run]) -> Result<GaugesReport, InputError> {
    let reports: Vec<GaugesReport> = runs
        .iter()
        .map(|r| section(r, "gauges"))
        .collect::<Result<_, _>>()?;
    let width_s = reports.iter().map(|g| g.bucket_s).max().unwrap_or(1).max(1);
    let mut out = GaugesReport {
        bucket_s: width_s,
        ..GaugesReport::default()
    };
    for (r, g) in runs.iter().zip(&reports) {
        let add = |merged: &mut Vec<Option<u64>>, values: &[Option<u64>]| {
            add_regridded(merged, values, &g.t_s, r.offset_us, width_s)
        };
        add(
            &mut out.webhooks_outstanding_max,
            &g.webhooks_outstanding_max,
        );
        add(&mut out.dead_lettered, &g.dead_lettered);
        add(&mut out.unresolved_max, &g.unresolved_max);
    }
    let len = out
        .webhooks_outstanding_max
        .len()
        .max(out.dead_lettered.len())
        .max(out.unresolved_max.len());
    for v in [
        &mut out.webhooks_outstanding_max,
        &mut out.dead_lettered,
        &mut out.unresolved_max,
    ] {
        v.resize(len, None);
    }
    out.t_s = (0..len as u64).map(|i| i * width_s).collect();
    Ok(out)
}

/// Adds one run's gauge (`values` at `t_s`, shifted by `offset_us`) into
/// `merged`, in buckets `width_s` wide: the run's highest sample in each
/// bucket, added to the other runs'.
fn add_regridded(
    merged: &mut Vec<Option<u64>>,
    values: &[Option<u64>],
    t_s: &[u64],
    offset_us: u64,
    width_s: u64,
) {
    let mut mine: Vec<Option<u64>> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let t_us = offset_us + t_s.get(i).copied().unwrap_or(0) * 1_000_000;
        let j = (t_us / (width_s * 1_000_000)) as usize;
        if mine.len() <= j {
            mine.resize(j + 1, None);
        }
        if let Some(v) = v {
            mine[j] = Some(mine[j].map_or(*v, |m| m.max(*v)));
        }
    }
    if merged.len() < mine.len() {
        merged.resize(mine.len(), None);
    }
    for (m, v) in merged.iter_mut().zip(mine) {
        if let Some(v) = v {
            *m = Some(m.unwrap_or(0) + v);
        }
    }
}

/// Each objective's record rebuilt from every run: per-bucket counts from
/// results.json, histograms from the logs, shifted by each run's start.
fn merge_slos(runs: &[Run], slos: Vec<crate::slo::Slo>) -> Result<SloBook, InputError> {
    let mut counts: Vec<Vec<SliCounts>> = Vec::new();
    for r in runs {
        let list = r.results["slos"].as_array().cloned().unwrap_or_default();
        if list.len() != slos.len() {
            return Err(input_error(
                &r.dir.join("results.json"),
                format!(
                    "judges {} objectives where settings.toml has {}",
                    list.len(),
                    slos.len()
                ),
            ));
        }
        counts.push(
            list.into_iter()
                .map(|s| serde_json::from_value(s["buckets"].clone()))
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    input_error(
                        &r.dir.join("results.json"),
                        format!("has objectives without their per-bucket counts ({e}): it was written by an older paystorm; run it again"),
                    )
                })?,
        );
    }
    let mut series = Vec::with_capacity(slos.len());
    for (i, slo) in slos.iter().enumerate() {
        let width_s = counts
            .iter()
            .map(|c| c[i].bucket_s)
            .max()
            .unwrap_or(1)
            .max(1);
        let mut s = SliSeries::new(slo);
        s.buckets = Buckets::with_width(width_s * 1_000_000);
        for (r, c) in runs.iter().zip(&counts) {
            let c = &c[i];
            let w = c.bucket_s.max(1) * 1_000_000;
            let mut hists = by_bucket::<u32>(r, &hlog::bucket_slo_tag(i), w)?;
            for (j, &total) in c.total.iter().enumerate() {
                let bad = c.bad.get(j).copied().unwrap_or(0);
                s.total += total;
                s.bad += bad;
                s.buckets.absorb_at(
                    r.offset_us + j as u64 * w,
                    SliBucket {
                        total,
                        bad,
                        latency: hists.remove(&j),
                    },
                );
            }
            let tag = hlog::slo_tag(i);
            for interval in r.log.intervals.iter().filter(|x| x.tag == tag) {
                let h = interval.histogram::<u64>().map_err(|e| log_error(r, e))?;
                if let Some(mine) = &mut s.latency {
                    mine.add(&h)
                        .map_err(|e| log_error(r, format!("histogram `{tag}`: {e:?}")))?;
                }
            }
        }
        series.push(s);
    }
    let aborted_at_us = runs
        .iter()
        .filter_map(|r| {
            r.results["aborted_at_s"]
                .as_f64()
                .map(|s| r.offset_us + (s * 1e6) as u64)
        })
        .min();
    Ok(SloBook::restore(slos, series, aborted_at_us))
}

/// The merged runs' fault windows, for naming the faults open when an
/// objective was first breached.
fn fault_windows(merged: &Value) -> FaultWindows {
    let rows = merged["faults"]["faults"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    FaultWindows(
        rows.iter()
            .filter_map(|r| {
                let name = r["name"].as_str()?.to_string();
                let windows = serde_json::from_value(r["windows"].clone()).ok()?;
                Some((name, windows))
            })
            .collect(),
    )
}

/// Writes the merged run's files into `out`: results.json, the histogram
/// log (by `write_log`), report.html, junit.xml and the first run's
/// settings.toml (so the merge can be merged again).
fn write(
    out: &Path,
    merged: &Value,
    settings: &str,
    write_log: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let mut text = serde_json::to_string_pretty(merged).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(out.join("results.json"), text)?;
    write_log(&out.join(hlog::FILE))?;
    std::fs::write(
        out.join("report.html"),
        super::html::render(merged).map_err(std::io::Error::other)?,
    )?;
    std::fs::write(out.join("junit.xml"), super::junit::render(merged)?)?;
    std::fs::write(out.join("settings.toml"), settings)?;
    // Files of a run that a merge has no counterpart for would mislead.
    for stale in ["perf.json", "chaos.toml"] {
        super::remove_stale(&out.join(stale))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
