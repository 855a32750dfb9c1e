//! What a run leaves behind: the console summary for the person at the
//! terminal, `results.json` for machines (byte-identical for the same seed
//! and workload), `perf.json` for the wall-clock figures that vary,
//! `settings.toml` with every effective setting of the run, and with chaos
//! plans `chaos.toml`, the run's effective faults. `diff` compares two
//! runs' results.json.

pub mod console;
pub mod diff;
pub mod hlog;
pub mod html;
pub mod junit;
pub mod merge;
pub mod progress;
pub mod results;

use std::path::Path;

use crate::sim::run::RunOutcome;
use crate::workload::Workload;

pub use results::{exit_code, Results};

/// Writes results.json, perf.json and settings.toml into `out`.
pub fn write_outputs(
    out: &Path,
    workload: &Workload,
    seed: u64,
    sabotage: &[&'static str],
    outcome: &RunOutcome,
) -> std::io::Result<i32> {
    std::fs::create_dir_all(out)?;
    let results = Results::new(workload, seed, sabotage, outcome);
    let mut json = serde_json::to_string_pretty(&results).map_err(std::io::Error::other)?;
    // The report reads results.json's values, as `paystorm report` does.
    let value = serde_json::to_value(&results).map_err(std::io::Error::other)?;
    json.push('\n');
    std::fs::write(out.join("results.json"), json)?;
    std::fs::write(
        out.join("report.html"),
        html::render(&value).map_err(std::io::Error::other)?,
    )?;
    let mut perf = serde_json::to_string_pretty(&outcome.perf).map_err(std::io::Error::other)?;
    perf.push('\n');
    std::fs::write(out.join("perf.json"), perf)?;
    std::fs::write(
        out.join("settings.toml"),
        settings_toml(
            workload,
            seed,
            outcome.rate_scale,
            outcome.resilience.enabled,
        ),
    )?;
    std::fs::write(out.join("junit.xml"), junit::render(&value)?)?;
    hlog::write(
        &out.join(hlog::FILE),
        &outcome.latency,
        &outcome.series,
        &outcome.slo_book,
        outcome.start_unix_s,
        outcome.simulated_seconds,
    )?;
    let chaos = out.join("chaos.toml");
    match &outcome.faults {
        Some(f) => std::fs::write(&chaos, &f.effective_plan)?,
        // A stale plan from an earlier run in this directory would mislead.
        None => remove_stale(&chaos)?,
    }
    Ok(results.exit_code)
}

/// Removes a file an earlier run left in an output directory, where this
/// run has none to write in its place (it would mislead); no file is fine.
pub fn remove_stale(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Every effective setting, defaults filled in, as TOML that `run` accepts
/// (`--rate-scale` folded into `load.rate_scale`, `--no-resilience` into
/// `resilience.enabled`).
pub fn settings_toml(workload: &Workload, seed: u64, rate_scale: f64, resilience: bool) -> String {
    let mut file = workload.file.clone();
    file.seed = seed;
    file.load.rate_scale *= rate_scale;
    file.resilience.enabled = resilience;
    // settings.toml lives elsewhere than the workload: point at the trace by
    // an absolute path so the file replays from where it is.
    if let (Some(trace), Some(path)) = (file.load.trace.as_mut(), workload.trace_path()) {
        if let Ok(abs) = std::path::absolute(&path) {
            trace.path = abs.display().to_string();
        }
    }
    format!(
        "# Effective settings of this run (defaults filled in). Run it again with:\n#   paystorm run settings.toml\n{}",
        toml::to_string(&file).unwrap_or_else(|e| format!("# could not render settings: {e}\n"))
    )
}
