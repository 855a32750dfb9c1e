//! Cells: the stack deployed N times, the traffic split across the copies,
//! as a cell-based payment platform splits its merchants. `[stack]` and
//! `[resilience]` describe one cell; `[load]` and `[population]` describe
//! the whole traffic, and each cell gets an even share of the rate, the
//! merchants, the customers, the payments in flight and the clients'
//! connections (`[clients]` otherwise describes every client alike).
//!
//! Why: one simulation is one thread, because one seed must give one order
//! of events. Cells share nothing (each has its own gateway, idempotency
//! store, networks, issuers, ledger and checker), so each is its own
//! deterministic simulation on its own thread, and a run uses every core
//! while staying byte-for-byte reproducible: cell k's seed is drawn from
//! the run's seed and k, and the cells' results are merged in cell order,
//! whichever thread finishes first.
//!
//! What it changes in the model: a customer pays only merchants of their
//! own cell, and each cell's issuers hold only its customers' accounts (a
//! cell is a region with its own banks, not a shard of one bank). Merchant
//! popularity stays Zipf-like with the same exponent inside each cell,
//! which is what dealing merchants out by rank gives. An `abort_on_fail`
//! objective stops the load of the cell that breached it.

use std::path::PathBuf;
use std::sync::Arc;

use crate::load::recorder::LiveCounters;
use crate::telemetry::Telemetry;
use crate::workload::Workload;

use super::run::{run_instrumented, RunError, RunOptions, RunOutcome};

/// One cell's share of a run: a workload of its own (`cells = 1`), which
/// `paystorm run` takes as it is, and the seed that reproduces it.
#[derive(Clone, Debug)]
pub struct Cell {
    pub index: u32,
    pub workload: Workload,
    pub seed: u64,
}

impl Cell {
    /// The cell's directory under a run's `--out`.
    pub fn dir_name(&self) -> String {
        cell_dir_name(self.index)
    }
}

/// Cell `index`'s directory name: `cell-K`.
pub fn cell_dir_name(index: u32) -> String {
    format!("cell-{index}")
}

/// Whether `name` is what [`cell_dir_name`] makes (`cell-` and digits).
pub fn is_cell_dir_name(name: &str) -> bool {
    name.strip_prefix("cell-")
        .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
}

/// Cell `index`'s share of `total` when `total` is dealt out to `n` cells
/// one at a time: the first `total % n` cells get one more.
fn share(total: u32, n: u32, index: u32) -> u32 {
    total / n + u32::from(index < total % n)
}

/// The seed of cell `index` of a run seeded `seed`: the seed with the
/// cell's number appended as three digits (42 gives 42000, 42001, ...), so
/// the cells' seeds read as what they are, and every cell of every run
/// draws its own numbers (the streams mix the seed thoroughly). A hash
/// would do as well, but gives 20-digit seeds, which log scanners take for
/// card numbers.
pub fn cell_seed(seed: u64, index: u32) -> u64 {
    const _: () = assert!(crate::workload::MAX_CELLS <= 1_000, "three digits per cell");
    seed.wrapping_mul(1_000).wrapping_add(index.into())
}

/// Splits `workload` (its `cells` field, already validated) run with `seed`
/// and `--rate-scale` `rate_scale` into its cells. A workload of one cell
/// is returned as it is, with the run's own seed, so `cells = 1` runs are
/// the runs paystorm always made.
pub fn split(workload: &Workload, seed: u64, rate_scale: f64) -> Vec<Cell> {
    let n = workload.file.cells.max(1);
    if n == 1 {
        let mut whole = workload.clone();
        whole.file.load.rate_scale *= rate_scale;
        return vec![Cell {
            index: 0,
            workload: whole,
            seed,
        }];
    }
    (0..n)
        .map(|index| {
            let mut cell = workload.clone();
            let f = &mut cell.file;
            f.cells = 1;
            // A name of its own, so the cell run again alone (from its
            // settings.toml, without --out) writes to a directory of its
            // own instead of over the whole run's.
            f.name = format!("{}-{}", f.name, cell_dir_name(index));
            f.load.rate_scale *= rate_scale / f64::from(n);
            f.population.merchants = share(f.population.merchants, n, index);
            f.population.customers = share(f.population.customers, n, index);
            f.load.in_flight_max = share(f.load.in_flight_max, n, index);
            f.clients.connections_max = share(f.clients.connections_max, n, index);
            let seed = cell_seed(seed, index);
            f.seed = seed;
            Cell {
                index,
                workload: cell,
                seed,
            }
        })
        .collect()
}

/// Runs every cell on a thread of its own, with `opts` except for the seed
/// and the rate scale, which are the cell's, and the history file, which
/// is `history(cell)`. `live` holds one set of progress counters per cell;
/// `telemetry`, when not empty, one set of metrics per cell (made for the
/// cell's workload). Outcomes come back in cell order; an error comes with
/// the index of the first cell (in cell order) that failed.
pub fn run(
    cells: &[Cell],
    opts: &RunOptions,
    history: impl Fn(&Cell) -> Option<PathBuf>,
    live: &[Arc<LiveCounters>],
    telemetry: &[Arc<Telemetry>],
) -> Result<Vec<RunOutcome>, (u32, RunError)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let cell_opts = RunOptions {
                    seed: cell.seed,
                    sabotage: opts.sabotage,
                    history: history(cell),
                    rate_scale: 1.0,
                    chaos: opts.chaos.clone(),
                    no_resilience: opts.no_resilience,
                };
                let counters = live.get(i).cloned().unwrap_or_default();
                let metrics = telemetry.get(i).cloned();
                std::thread::Builder::new()
                    .name(format!("sim-{}", cell.dir_name()))
                    .spawn_scoped(scope, move || {
                        run_instrumented(&cell.workload, &cell_opts, counters, metrics)
                    })
                    .map_err(|e| RunError::Config(format!("cannot start a cell's thread: {e}")))
            })
            .collect();
        handles
            .into_iter()
            .zip(cells)
            .map(|(h, cell)| {
                let outcome = h.and_then(|h| {
                    h.join().map_err(|_| {
                        RunError::Config("internal: a cell's simulation panicked".into())
                    })?
                });
                outcome.map_err(|e| (cell.index, e))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(cells: u32) -> Workload {
        let mut w = Workload::parse(crate::workload::SMOKE, "smoke.toml").unwrap();
        w.file.cells = cells;
        w.file.population.merchants = 10;
        w.file.population.customers = 1_001;
        w.file.load.in_flight_max = 7;
        w
    }

    #[test]
    fn cells_share_out_the_whole_traffic() {
        let w = workload(3);
        let cells = split(&w, 42, 0.5);
        assert_eq!(cells.len(), 3);
        let sum = |f: fn(&Cell) -> u32| cells.iter().map(f).sum::<u32>();
        assert_eq!(sum(|c| c.workload.file.population.merchants), 10);
        assert_eq!(sum(|c| c.workload.file.population.customers), 1_001);
        assert_eq!(sum(|c| c.workload.file.load.in_flight_max), 7);
        let rate: f64 = cells.iter().map(|c| c.workload.file.load.rate_scale).sum();
        assert!((rate - w.file.load.rate_scale * 0.5).abs() < 1e-12);
        for c in &cells {
            assert_eq!(c.workload.file.cells, 1);
            assert_eq!(c.workload.file.seed, c.seed);
            assert_eq!(c.workload.file.stack, w.file.stack, "[stack] is per cell");
        }
        let seeds: std::collections::BTreeSet<u64> = cells.iter().map(|c| c.seed).collect();
        assert_eq!(seeds.len(), 3, "each cell draws its own numbers");
    }

    #[test]
    fn cell_directory_names_are_recognised_and_nothing_else() {
        assert!(is_cell_dir_name(&cell_dir_name(0)));
        assert!(is_cell_dir_name(&cell_dir_name(255)));
        for other in [
            "cell-",
            "cell-x",
            "cells",
            "notes.txt",
            "cell-1a",
            "xcell-1",
        ] {
            assert!(!is_cell_dir_name(other), "{other}");
        }
    }

    #[test]
    fn one_cell_is_the_run_itself() {
        let w = workload(1);
        let cells = split(&w, 42, 0.5);
        assert_eq!(cells.len(), 1);
        assert_eq!(cells[0].seed, 42);
        assert_eq!(
            cells[0].workload.file.population, w.file.population,
            "nothing is split"
        );
        assert_eq!(
            cells[0].workload.file.load.rate_scale,
            w.file.load.rate_scale * 0.5
        );
    }
}
