//! `paystorm run` for a workload split into cells (`cells = N` or
//! `--cells N`; see [`crate::sim::cells`]): the cells run `--jobs` at a
//! time, each leaves a whole run directory under `<out>/cells/cell-K/`,
//! then the cells are merged into `<out>` as `paystorm merge` merges runs,
//! so `<out>` holds the files a run leaves and exits with the merged code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use super::{say, EXIT_INPUT};
use crate::report;
use crate::sim::cells::{self, Cell};
use crate::sim::run::{Perf, RunOptions, RunOutcome};
use crate::telemetry::Telemetry;
use crate::workload::Workload;

/// Where a run keeps its cells' directories, under `--out`.
pub const DIR: &str = "cells";

/// Removes the cells a run left in `out` before, so a run with fewer cells
/// (or one) does not leave another run's cells beside its results. Only
/// `cells/cell-K` directories go (and `cells` if that empties it): a
/// folder of the user's that happens to be called `cells` keeps the rest.
pub fn clear(out: &Path) -> std::io::Result<()> {
    let dir = out.join(DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let is_cell = name.to_str().is_some_and(cells::is_cell_dir_name);
        if is_cell && entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    if std::fs::read_dir(&dir)?.next().is_none() {
        std::fs::remove_dir(&dir)?;
    }
    Ok(())
}

/// Runs `workload` (more than one cell) with `opts` into `out`, and says
/// what happened. `history`: each cell writes its own history.jsonl.
/// `metrics_out`: the cells' metrics go to that file, each series labelled
/// with its cell ([`crate::telemetry::cells`]).
pub fn run(
    workload: &Workload,
    opts: &RunOptions,
    sabotage: &[&'static str],
    out: &Path,
    jobs: usize,
    quiet: bool,
    metrics_out: Option<&Path>,
) -> ExitCode {
    let out_str = out.display().to_string();
    let cells = cells::split(workload, opts.seed, opts.rate_scale);
    let telemetry = match metrics_out.map_or(Ok(Vec::new()), |_| {
        cells
            .iter()
            .map(|c| Telemetry::for_workload(&c.workload))
            .collect::<Result<Vec<_>, _>>()
    }) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INPUT);
        }
    };
    let dir = |c: &Cell| out.join(DIR).join(c.dir_name());
    for c in &cells {
        if let Err(e) = std::fs::create_dir_all(dir(c)) {
            eprintln!(
                "error: cannot create the cell directory `{}` (under option --out): {e}",
                dir(c).display()
            );
            return ExitCode::from(EXIT_INPUT);
        }
    }
    if opts.history.is_some() {
        // Each cell writes its own; one left by an earlier run of one
        // stack would look like this run's.
        if let Err(e) = report::remove_stale(&out.join("history.jsonl")) {
            eprintln!("error: cannot remove the earlier history.jsonl in `{out_str}`: {e}");
            return ExitCode::from(EXIT_INPUT);
        }
    }
    let wall = Instant::now();
    let progress =
        report::progress::Progress::start_cells(report::progress::wanted(quiet), cells.len());
    let history = |c: &Cell| opts.history.as_ref().map(|_| dir(c).join("history.jsonl"));
    // Each cell's directory is written by its worker as the cell finishes,
    // while the others still run, and only what perf.json and settings.toml
    // need is kept of it: the merge below reads the rest back.
    let write = |c: &Cell, o: RunOutcome| {
        report::write_outputs(&dir(c), &c.workload, c.seed, sabotage, &o)?;
        Ok(Finished {
            attempted: o.counts.attempted,
            resilience: o.resilience.enabled,
            perf: o.perf,
        })
    };
    let finished = cells::run(
        &cells,
        jobs,
        opts,
        history,
        progress.cells(),
        &telemetry,
        write,
    );
    drop(progress);
    let finished = match finished {
        Ok(f) => f,
        Err((k, e)) => {
            eprintln!(
                "error: cell {k} (`{out_str}/{DIR}/{}`): {e}",
                cells::cell_dir_name(k)
            );
            return ExitCode::from(e.exit_code());
        }
    };
    let dirs: Vec<PathBuf> = cells.iter().map(dir).collect();
    let labels: Vec<String> = cells
        .iter()
        .map(|c| format!("{DIR}/{}", c.dir_name()))
        .collect();
    let settings = report::settings_toml(
        workload,
        opts.seed,
        opts.rate_scale,
        finished.iter().all(|f| f.resilience),
    );
    let whole = report::merge::Whole {
        name: workload.name(),
        seed: opts.seed,
        settings: &settings,
        labels: &labels,
    };
    let merged = match report::merge::merge_cells(&dirs, out, whole) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_INPUT);
        }
    };
    if let Err(e) = write_perf(out, &finished, cells::at_once(jobs, cells.len()), wall) {
        eprintln!("error: cannot write perf.json to `{out_str}`: {e}");
        return ExitCode::from(EXIT_INPUT);
    }
    if let Some(path) = metrics_out {
        if let Err(e) = std::fs::write(path, crate::telemetry::cells::render(&telemetry)) {
            eprintln!(
                "error: cannot write the metrics to `{}` (option --metrics-out): {e}",
                path.display()
            );
            return ExitCode::from(EXIT_INPUT);
        }
    }
    say(&merged.summary);
    let cell0 = format!("{out_str}/{DIR}/{}", cells::cell_dir_name(0));
    let mut again = format!("paystorm run {cell0}/settings.toml");
    if !opts.chaos.is_empty() {
        again.push_str(&format!(" --chaos {cell0}/chaos.toml"));
    }
    for name in sabotage {
        again.push_str(&format!(" --sabotage {name}"));
    }
    let history = if opts.history.is_some() {
        ", history.jsonl"
    } else {
        ""
    };
    say(&format!(
        "each cell's own run: {out_str}/{DIR}/cell-K/ (results.json, report.html, settings.toml{history}; `{again}` runs cell 0 alone, to the same results, into out/{}-cell-0)",
        workload.name()
    ));
    ExitCode::from(merged.exit_code as u8)
}

/// What the whole run keeps of a finished cell.
struct Finished {
    attempted: u64,
    /// Whether the cell ran with its `[resilience]` section on.
    resilience: bool,
    perf: Perf,
}

/// The most tasks the run can have had alive at once: the sum of the
/// `jobs` largest cells' peaks (no more than `jobs` cells run at once), a
/// bound tighter than every cell's peak added up.
fn peak_tasks_at_once(cells: &[Finished], jobs: usize) -> u64 {
    let mut peaks: Vec<u64> = cells
        .iter()
        .filter_map(|c| c.perf.engine.map(|e| e.peak_tasks))
        .collect();
    peaks.sort_unstable_by(|a, b| b.cmp(a));
    peaks.iter().take(jobs).sum()
}

/// perf.json for the whole run: its wall time, the cells run at once
/// (`jobs`), every cell's payments over it, the process's peak memory and
/// CPU, the cells' keys and engine work added.
fn write_perf(out: &Path, cells: &[Finished], jobs: usize, wall: Instant) -> std::io::Result<()> {
    let wall_seconds = wall.elapsed().as_secs_f64();
    let attempted: u64 = cells.iter().map(|c| c.attempted).sum();
    let mut engine = crate::sim::executor::EngineStats::default();
    for e in cells.iter().filter_map(|c| c.perf.engine) {
        engine.add(&e);
    }
    engine.peak_tasks = peak_tasks_at_once(cells, jobs);
    let mut perf = Perf {
        wall_seconds,
        payments_per_wall_second: attempted as f64 / wall_seconds.max(1e-9),
        peak_rss_bytes: cells
            .iter()
            .map(|c| c.perf.peak_rss_bytes)
            .max()
            .unwrap_or(0),
        retained_idempotency_keys: cells.iter().map(|c| c.perf.retained_idempotency_keys).sum(),
        idempotency_bytes_per_key: cells
            .first()
            .map_or(0, |c| c.perf.idempotency_bytes_per_key),
        cells: Some(cells.len()),
        jobs: Some(jobs),
        engine: Some(engine),
        ..Perf::default()
    };
    perf.record_process(attempted);
    let mut text = serde_json::to_string_pretty(&perf).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(out.join("perf.json"), text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::executor::EngineStats;

    fn finished(peak_tasks: u64) -> Finished {
        Finished {
            attempted: 0,
            resilience: true,
            perf: Perf {
                engine: Some(EngineStats {
                    peak_tasks,
                    ..EngineStats::default()
                }),
                ..Perf::default()
            },
        }
    }

    #[test]
    fn the_peak_of_tasks_adds_only_the_cells_that_can_run_at_once() {
        let cells: Vec<Finished> = [5, 9, 7, 1].into_iter().map(finished).collect();
        assert_eq!(peak_tasks_at_once(&cells, 2), 16, "the two largest");
        assert_eq!(peak_tasks_at_once(&cells, 1), 9);
        assert_eq!(peak_tasks_at_once(&cells, 8), 22, "all at once: all");
    }
}
