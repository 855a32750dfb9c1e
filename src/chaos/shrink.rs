//! `paystorm shrink RUN_DIR`: from a failing run (exit 2) to the smallest
//! fault plan and the shortest run that still fail the same way with the
//! same seed — a red CI run turned into a one-line repro.
//!
//! The run directory holds everything needed: `settings.toml` (the workload
//! with every effective setting and the seed), `chaos.toml` (the run's
//! effective faults, monkey draws written out) and `results.json` (the
//! sabotage and which invariants failed). Shrinking is delta debugging
//! (Zeller's ddmin) over the fault windows — repeating windows unrolled into
//! single ones first — then a binary search on where the arrivals stop, then
//! halving each remaining window while the failure holds. A candidate
//! "still fails" when the run exits 2 with at least one of the originally
//! failed invariants failing. Every candidate is a full run, so the search
//! is bounded by `max_runs`.

use std::path::{Path, PathBuf};

use crate::report::exit_code;
use crate::sim::run::{run, RunOptions};
use crate::stack::sabotage::{Sabotage, Sabotages};
use crate::workload::{InputError, Workload};

use super::plan::{render_plan, Fault, Plan};
use super::window::Window;

/// Repeating windows are unrolled into single ones up to this many in all;
/// beyond it they are shrunk as they are.
const UNROLL_MAX: usize = 64;

/// A failing run, ready to shrink.
pub struct Failing {
    pub dir: PathBuf,
    pub workload: Workload,
    pub faults: Vec<Fault>,
    pub seed: u64,
    pub sabotage: Sabotages,
    pub sabotage_names: Vec<String>,
    /// The invariants the run failed; a candidate must fail one of them.
    pub failed: Vec<String>,
    /// Length of the load phase, simulated seconds.
    pub load_seconds: f64,
}

/// The smallest failing case found.
pub struct Shrunk {
    pub faults: Vec<Fault>,
    pub stop_after_s: Option<f64>,
    pub failed: Vec<String>,
    pub runs: u32,
    /// The budget ran out before the search finished.
    pub exhausted: bool,
}

fn input_error(dir: &Path, what: String) -> InputError {
    InputError(format!(
        "error: cannot shrink run directory `{}`: {what}. Point `paystorm shrink` at the --out directory of a run that exited 2.",
        dir.display()
    ))
}

impl Failing {
    pub fn load(dir: &Path) -> Result<Failing, InputError> {
        let results_path = dir.join("results.json");
        let text = std::fs::read_to_string(&results_path)
            .map_err(|e| input_error(dir, format!("cannot read `results.json`: {e}")))?;
        let results: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| input_error(dir, format!("`results.json` is not valid JSON: {e}")))?;
        let code = results["exit_code"].as_i64().unwrap_or(-1);
        if code != 2 {
            return Err(input_error(
                dir,
                format!("the run exited {code}, not 2: no invariant failed, so there is nothing to shrink"),
            ));
        }
        let seed = results["seed"]
            .as_u64()
            .ok_or_else(|| input_error(dir, "`results.json` has no `seed`".into()))?;
        let failed: Vec<String> = results["invariants"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|i| i["passed"] == false)
                    .filter_map(|i| i["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut sabotage = Sabotages::NONE;
        let mut sabotage_names = Vec::new();
        for name in results["sabotage"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            let s = Sabotage::from_name(name).ok_or_else(|| {
                input_error(dir, format!("unknown sabotage `{name}` in `results.json`"))
            })?;
            sabotage = sabotage.with(s);
            sabotage_names.push(name.to_string());
        }
        let workload = Workload::from_path(&dir.join("settings.toml"))?;
        if workload.file.cells > 1 {
            let failed_cells: Vec<String> = results["merged_from"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["dir"].as_str())
                .filter(|c| {
                    std::fs::read_to_string(dir.join(c).join("results.json"))
                        .ok()
                        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                        .is_some_and(|r| r["exit_code"] == 2)
                })
                .map(|c| dir.join(c).display().to_string())
                .collect();
            return Err(InputError(format!(
                "error: cannot shrink run directory `{}` as a whole: the run was split into {} cells, and each cell is a run of its own. Shrink a cell that failed: `paystorm shrink DIR` with DIR one of {}.",
                dir.display(),
                workload.file.cells,
                failed_cells.join(", ")
            )));
        }
        let chaos_path = dir.join("chaos.toml");
        let faults = if chaos_path.exists() {
            Plan::from_path(&chaos_path)?.faults
        } else {
            Vec::new()
        };
        Ok(Failing {
            dir: dir.to_path_buf(),
            load_seconds: results["load_seconds"].as_f64().unwrap_or(0.0),
            workload,
            faults,
            seed,
            sabotage,
            sabotage_names,
            failed,
        })
    }

    /// Runs a candidate; `Some(failed invariants)` if it still fails the
    /// same way.
    fn still_fails(&self, faults: &[Fault], stop_after_s: Option<f64>) -> Option<Vec<String>> {
        let mut w = self.workload.clone();
        w.file.load.stop_after_s = stop_after_s.or(w.file.load.stop_after_s);
        let plans = if faults.is_empty() {
            Vec::new()
        } else {
            vec![Plan {
                source: "shrink candidate".into(),
                name: "shrink candidate".into(),
                faults: faults.to_vec(),
                monkey: None,
            }]
        };
        let opts = RunOptions {
            seed: self.seed,
            sabotage: self.sabotage,
            history: None,
            rate_scale: 1.0,
            chaos: plans,
            no_resilience: false,
        };
        let o = run(&w, &opts).ok()?;
        let failed: Vec<String> = o.verdict.failed().map(|r| r.name.to_string()).collect();
        let same = failed.iter().any(|f| self.failed.contains(f));
        (exit_code(&o, w.file.load.dropped_share_max) == 2 && same).then_some(failed)
    }

    /// Searches for the smallest failing case within `max_runs` runs.
    pub fn shrink(&self, max_runs: u32, mut progress: impl FnMut(&str)) -> Result<Shrunk, String> {
        let mut runs = 0u32;
        let budget_left = |runs: &mut u32| {
            *runs += 1;
            *runs <= max_runs
        };
        let mut faults = unroll(&self.faults, self.load_seconds);
        progress(&format!(
            "checking that the run fails again ({} fault windows, {:.0} s of load)",
            faults.len(),
            self.load_seconds
        ));
        runs += 1;
        let Some(mut failed) = self.still_fails(&faults, None) else {
            return Err(format!(
                "the run in `{}` did not fail again with seed {} and its {} fault windows; it cannot be shrunk (was results.json produced by another build?)",
                self.dir.display(),
                self.seed,
                faults.len()
            ));
        };
        let mut exhausted = false;

        // 1. ddmin over the fault windows.
        let mut n = 2usize;
        'dd: while faults.len() >= 2 {
            let chunk = faults.len().div_ceil(n);
            let mut reduced = false;
            for start in (0..faults.len()).step_by(chunk) {
                let mut rest = faults.clone();
                rest.drain(start..(start + chunk).min(faults.len()));
                if !budget_left(&mut runs) {
                    exhausted = true;
                    break 'dd;
                }
                if let Some(f) = self.still_fails(&rest, None) {
                    let plural = if rest.len() == 1 { "" } else { "s" };
                    progress(&format!("  {} fault window{plural} still fail", rest.len()));
                    faults = rest;
                    failed = f;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
            if !reduced {
                if n >= faults.len() {
                    break;
                }
                n = (2 * n).min(faults.len());
            }
        }
        if faults.len() == 1 && !exhausted && budget_left(&mut runs) {
            if let Some(f) = self.still_fails(&[], None) {
                progress("  no fault needed at all");
                faults.clear();
                failed = f;
            }
        }

        // 2. Where the arrivals can stop: binary search to 1/64 of the load.
        let mut stop_after_s = None;
        if !exhausted && self.load_seconds > 1.0 {
            let (mut lo, mut hi) = (0.0f64, self.load_seconds);
            let resolution = (self.load_seconds / 64.0).max(0.5);
            while hi - lo > resolution {
                if !budget_left(&mut runs) {
                    exhausted = true;
                    break;
                }
                let mid = ((lo + hi) / 2.0 * 10.0).round() / 10.0;
                match self.still_fails(&faults, Some(mid)) {
                    Some(f) => {
                        progress(&format!("  arrivals stopping at {mid:.1} s still fail"));
                        hi = mid;
                        failed = f;
                        stop_after_s = Some(mid);
                    }
                    None => lo = mid,
                }
            }
        }

        // 3. Each remaining window as short as it can be.
        'windows: for i in 0..faults.len() {
            for _ in 0..6 {
                let w = faults[i].window;
                if w.every_s.is_some() || w.length_s < 0.2 {
                    break;
                }
                let mut shorter = faults.clone();
                shorter[i].window =
                    Window::once(w.start_s, (w.length_s / 2.0 * 10.0).round() / 10.0);
                if !budget_left(&mut runs) {
                    exhausted = true;
                    break 'windows;
                }
                match self.still_fails(&shorter, stop_after_s) {
                    Some(f) => {
                        faults = shorter;
                        failed = f;
                    }
                    None => break,
                }
            }
        }
        Ok(Shrunk {
            faults,
            stop_after_s,
            failed,
            runs: runs.min(max_runs.saturating_add(1)),
            exhausted,
        })
    }

    /// Writes the shrunk workload and plan into `<dir>/shrunk/`; returns the
    /// command that reproduces the failure.
    pub fn write(&self, s: &Shrunk) -> std::io::Result<String> {
        let out = self.dir.join("shrunk");
        std::fs::create_dir_all(&out)?;
        let mut file = self.workload.file.clone();
        file.load.stop_after_s = s.stop_after_s.or(file.load.stop_after_s);
        let workload_path = out.join("workload.toml");
        std::fs::write(
            &workload_path,
            format!(
                "# The workload of `{}`, cut short by paystorm shrink.\n{}",
                self.dir.display(),
                toml::to_string(&file).map_err(std::io::Error::other)?
            ),
        )?;
        let mut cmd = format!(
            "paystorm run {} --seed {}",
            workload_path.display(),
            self.seed
        );
        if !s.faults.is_empty() {
            let plan_path = out.join("chaos.toml");
            std::fs::write(
                &plan_path,
                render_plan(
                    "shrunk",
                    &format!(
                        "The smallest fault plan found by paystorm shrink for `{}`.",
                        self.dir.display()
                    ),
                    &s.faults,
                ),
            )?;
            cmd.push_str(&format!(" --chaos {}", plan_path.display()));
        }
        for name in &self.sabotage_names {
            cmd.push_str(&format!(" --sabotage {name}"));
        }
        Ok(cmd)
    }
}

/// Repeating windows as single ones (up to the end of the load phase), so
/// delta debugging can drop them one by one.
fn unroll(faults: &[Fault], horizon_s: f64) -> Vec<Fault> {
    let total: usize = faults
        .iter()
        .map(|f| f.window.intervals(horizon_s.max(1.0), UNROLL_MAX + 1).len())
        .sum();
    if total > UNROLL_MAX {
        return faults.to_vec();
    }
    faults
        .iter()
        .flat_map(|f| {
            f.window
                .intervals(horizon_s.max(1.0), UNROLL_MAX)
                .into_iter()
                .map(move |(s, e)| Fault {
                    window: Window::once(s, e - s),
                    ..f.clone()
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::Target;

    #[test]
    fn repeating_windows_unroll_into_single_ones() {
        let p = Plan::parse(
            "[[fault]]\ntarget = \"queue\"\nkind = \"queue_stall\"\nstart_s = 5\nevery_s = 20\nfor_s = 2\n",
            "t.toml",
        )
        .unwrap();
        let u = unroll(&p.faults, 60.0);
        assert_eq!(u.len(), 3);
        assert!(u
            .iter()
            .all(|f| f.window.every_s.is_none() && f.target == Target::Queue));
        assert_eq!(u[2].window.start_s, 45.0);
    }
}
