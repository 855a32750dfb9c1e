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
//! deterministic simulation on a thread of its own, and a run uses every
//! core while staying byte-for-byte reproducible: cell k's seed is drawn
//! from the run's seed and k, and the cells' results are merged in cell
//! order, whichever thread finishes first and however many run at once
//! ([`run`] runs them on a pool, one a core).
//!
//! What it changes in the model: a customer pays only merchants of their
//! own cell, and each cell's issuers hold only its customers' accounts (a
//! cell is a region with its own banks, not a shard of one bank). Merchant
//! popularity stays Zipf-like with the same exponent inside each cell,
//! which is what dealing merchants out by rank gives. An `abort_on_fail`
//! objective stops the load of the cell that breached it.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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

/// How many cells run at once unless `run --jobs` says: one per core the
/// process may use (`available_parallelism` reads the affinity mask and
/// the cgroup's CPU quota).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How many of `cells` cells run at once with `jobs` workers: no more
/// than there are cells, and at least one.
pub fn at_once(jobs: usize, cells: usize) -> usize {
    jobs.clamp(1, cells.max(1))
}

/// The payments a run in `cells` cells, `jobs` at a time, holds at once,
/// of the `whole` run's (`None`, a trace replay: unknown): what the memory
/// a run keeps grows with, since a worker's next cell reuses what its last
/// one freed ([`crate::sim::process::purge_delay_for`]).
pub fn payments_at_once(whole: Option<f64>, cells: u32, jobs: usize) -> Option<f64> {
    let cells = cells.max(1);
    let running = at_once(jobs, cells as usize) as f64;
    whole.map(|p| p / f64::from(cells) * running)
}

/// Runs the cells on `jobs` threads (no more than there are cells), each
/// taking the next cell not yet started when it finishes one. A cell runs
/// with `opts` except for the seed and the rate scale, which are the
/// cell's, and the history file, which is `history(cell)`. `live` holds one
/// set of progress counters per cell; `telemetry`, when not empty, one set
/// of metrics per cell (made for the cell's workload). `then` takes each
/// cell's outcome on the cell's worker as soon as the cell finishes (to
/// write its results while other cells still run, and keep only what the
/// whole run needs of it); its error fails the cell. What it returns comes
/// back in cell order; an error comes with the index of the first cell (in
/// cell order) that failed, and no cell starts after one has failed.
///
/// Why a pool and not a thread a cell: the cells share nothing, so the
/// order they run in changes no result, but a thread a cell runs them all
/// at once, each with its whole memory (and its checker thread) at the
/// same time. On as many threads as cores, a run holds only that many
/// cells' tables at its peak, a finished cell's memory is reused by the
/// next instead of touched fresh, and many small cells keep every core
/// busy to the end where one cell a core leaves a core idle while the
/// slower one finishes.
pub fn run<T: Send>(
    cells: &[Cell],
    jobs: usize,
    opts: &RunOptions,
    history: impl Fn(&Cell) -> Option<PathBuf> + Sync,
    live: &[Arc<LiveCounters>],
    telemetry: &[Arc<Telemetry>],
    then: impl Fn(&Cell, RunOutcome) -> std::io::Result<T> + Sync,
) -> Result<Vec<T>, (u32, RunError)> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let outcomes: Vec<Mutex<Option<Result<T, RunError>>>> =
        cells.iter().map(|_| Mutex::new(None)).collect();
    let run_cell = |i: usize| {
        let cell = &cells[i];
        let cell_opts = RunOptions {
            seed: cell.seed,
            sabotage: opts.sabotage,
            history: history(cell),
            rate_scale: 1.0,
            chaos: opts.chaos.clone(),
            no_resilience: opts.no_resilience,
        };
        let counters: Arc<LiveCounters> = live.get(i).cloned().unwrap_or_default();
        let metrics = telemetry.get(i).cloned();
        let run = AssertUnwindSafe(|| {
            run_instrumented(&cell.workload, &cell_opts, counters.clone(), metrics)
        });
        let outcome = std::panic::catch_unwind(run);
        counters.done.store(true, Ordering::Relaxed);
        let outcome = outcome.unwrap_or_else(|_| {
            Err(RunError::Config(
                "internal: a cell's simulation panicked".into(),
            ))
        })?;
        then(cell, outcome).map_err(RunError::Output)
    };
    let spawned = std::thread::scope(|scope| {
        for w in 0..at_once(jobs, cells.len()) {
            let worker = std::thread::Builder::new()
                .name(format!("sim-worker-{w}"))
                .spawn_scoped(scope, || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= cells.len() || failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let outcome = run_cell(i);
                    if outcome.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    *crate::lock::Locked::locked(&outcomes[i]) = Some(outcome);
                });
            if let Err(e) = worker {
                // The workers already started finish the cell they are on.
                failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    });
    // In cell order, so the error reported is the first cell's that failed.
    let mut done = Vec::with_capacity(cells.len());
    for (slot, cell) in outcomes.into_iter().zip(cells) {
        match slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(outcome)) => done.push(outcome),
            Some(Err(e)) => return Err((cell.index, e)),
            // Not started: a failure stopped the workers (reported below).
            None => {}
        }
    }
    match spawned {
        Err(e) => Err((
            0,
            RunError::Config(format!("cannot start a thread for the cells: {e}")),
        )),
        Ok(()) if done.len() < cells.len() => {
            Err((0, RunError::Config("internal: a cell was never run".into())))
        }
        Ok(()) => Ok(done),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

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

    fn smoke_in(cells: u32) -> Vec<Cell> {
        split(&workload(cells), 7, 1.0)
    }

    fn opts() -> RunOptions {
        RunOptions {
            seed: 7,
            sabotage: Default::default(),
            history: None,
            rate_scale: 1.0,
            chaos: Vec::new(),
            no_resilience: false,
        }
    }

    #[test]
    fn more_cells_than_jobs_all_run_and_come_back_in_cell_order() {
        let cells = smoke_in(5);
        let pooled = run(&cells, 2, &opts(), |_| None, &[], &[], |_, o| Ok(o)).unwrap();
        assert_eq!(pooled.len(), 5);
        // Each cell alone, one after another on this thread: the order the
        // outcomes must come back in, whichever worker ran which cell.
        for (cell, outcome) in cells.iter().zip(&pooled) {
            let alone = run(
                std::slice::from_ref(cell),
                1,
                &opts(),
                |_| None,
                &[],
                &[],
                |_, o| Ok(o),
            )
            .unwrap();
            let counts = |o: &RunOutcome| serde_json::to_value(o.counts).unwrap();
            assert_eq!(counts(outcome), counts(&alone[0]), "cell {}", cell.index);
            assert_eq!(outcome.arrivals, alone[0].arrivals, "cell {}", cell.index);
        }
        let arrivals: BTreeSet<u64> = pooled.iter().map(|o| o.arrivals).collect();
        assert!(
            arrivals.len() > 1,
            "the cells are different runs: {arrivals:?}"
        );
    }

    #[test]
    fn the_first_failing_cell_in_cell_order_is_reported() {
        let cells = smoke_in(4);
        let tmp = tempfile::tempdir().unwrap();
        // A history file in a directory that does not exist cannot be made.
        let history = |c: &Cell| {
            (c.index == 1 || c.index == 3).then(|| tmp.path().join("missing").join("h.jsonl"))
        };
        for jobs in [1, 2, 4] {
            match run(&cells, jobs, &opts(), history, &[], &[], |_, _| Ok(())) {
                Err((k, RunError::History(_))) => assert_eq!(k, 1, "jobs {jobs}"),
                Err((k, e)) => panic!("jobs {jobs}: cell {k}: {e}"),
                Ok(_) => panic!("jobs {jobs}: cells 1 and 3 cannot write their history"),
            }
        }
    }

    #[test]
    fn a_cell_whose_results_cannot_be_written_fails_the_run() {
        let cells = smoke_in(3);
        let written = Mutex::new(Vec::new());
        let then = |c: &Cell, _: RunOutcome| {
            crate::lock::Locked::locked(&written).push(c.index);
            if c.index == 2 {
                return Err(std::io::Error::other("disk full"));
            }
            Ok(())
        };
        match run(&cells, 2, &opts(), |_| None, &[], &[], then) {
            Err((2, e @ RunError::Output(_))) => {
                assert_eq!(e.to_string(), "cannot write its results: disk full")
            }
            Err((k, e)) => panic!("cell {k}: {e}"),
            Ok(_) => panic!("cell 2's results were not written"),
        }
        let mut written = written.into_inner().unwrap();
        written.sort_unstable();
        assert_eq!(
            written,
            [0, 1, 2],
            "each cell's results, once, as it finished"
        );
    }

    #[test]
    fn a_run_holds_the_payments_of_the_cells_that_run_at_once() {
        assert_eq!(payments_at_once(Some(1e6), 16, 2), Some(125_000.0));
        assert_eq!(payments_at_once(Some(1e6), 2, 16), Some(1e6), "all at once");
        assert_eq!(payments_at_once(Some(1e6), 1, 2), Some(1e6), "one stack");
        assert_eq!(payments_at_once(Some(1e6), 4, 1), Some(250_000.0));
        assert_eq!(payments_at_once(None, 16, 2), None, "a trace: unknown");
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
