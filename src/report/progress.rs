//! The one-line progress display on stderr: simulated time (in cells, the
//! cells done instead), wall time, payments per wall second and errors so
//! far, redrawn in place about every 200 ms by a plain thread that only
//! reads the run's atomic counters (the simulation never waits for it).
//!
//! Shown only when stderr is a terminal and the run has lasted more than
//! about two seconds of wall time, so tests, CI and pipes never see it;
//! `paystorm run --quiet` turns it off.

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::load::recorder::LiveCounters;

/// How often the line is redrawn.
pub const REFRESH: Duration = Duration::from_millis(200);
/// Runs shorter than this never show a line.
pub const SHOW_AFTER: Duration = Duration::from_secs(2);

/// Whether a run should show progress: not `--quiet`, and stderr is a
/// terminal.
pub fn wanted(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// The progress line, without the carriage return.
pub fn line(sim_us: u64, wall: Duration, payments: u64, errors: u64) -> String {
    format!(
        "simulated {:.1} s | {}",
        sim_us as f64 / 1e6,
        so_far(wall, payments, errors)
    )
}

/// The progress line of a run in `cells` cells, `done` of them finished,
/// without the carriage return. No simulated time: the cells run a few at
/// a time, each from its own start, so no one clock says how far the run
/// is.
pub fn cells_line(done: usize, cells: usize, wall: Duration, payments: u64, errors: u64) -> String {
    format!(
        "cells {done}/{cells} done | {}",
        so_far(wall, payments, errors)
    )
}

/// Wall time, payments and their rate, errors: the end of either line.
fn so_far(wall: Duration, payments: u64, errors: u64) -> String {
    let wall_s = wall.as_secs_f64();
    let rate = payments as f64 / wall_s.max(1e-9);
    format!("wall {wall_s:.1} s | {payments} payments ({rate:.0}/s) | errors {errors}")
}

/// The display; dropping it stops the thread and clears the line.
pub struct Progress {
    /// One set per cell (`crate::sim::cells`); the line shows their sum.
    live: Vec<Arc<LiveCounters>>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts the display on stderr if `enabled` (see [`wanted`]); otherwise
    /// only hands out counters nobody reads.
    pub fn start(enabled: bool) -> Progress {
        Progress::start_cells(enabled, 1)
    }

    /// [`Progress::start`] for a run of `cells` cells, each storing into
    /// counters of its own ([`Progress::cells`]).
    pub fn start_cells(enabled: bool, cells: usize) -> Progress {
        if enabled {
            Progress::spawn(Box::new(std::io::stderr()), SHOW_AFTER, REFRESH, cells)
        } else {
            Progress {
                live: counters(cells),
                stop: None,
                thread: None,
            }
        }
    }

    /// Starts the display on `out`, first drawn after `show_after`.
    pub fn spawn(
        mut out: Box<dyn Write + Send>,
        show_after: Duration,
        refresh: Duration,
        cells: usize,
    ) -> Progress {
        let live = counters(cells);
        let (stop, stopped) = mpsc::channel::<()>();
        let counters = live.clone();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let started = Instant::now();
                let mut shown = false;
                // Wakes on each refresh, and at once when the run ends (the
                // sender is dropped).
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(refresh) {
                    let wall = started.elapsed();
                    if wall < show_after {
                        continue;
                    }
                    let (sim_us, payments, errors) = read_all(&counters);
                    let text = match counters.len() {
                        1 => line(sim_us, wall, payments, errors),
                        n => {
                            let done = counters.iter().filter(|c| c.done.load(Relaxed)).count();
                            cells_line(done, n, wall, payments, errors)
                        }
                    };
                    // \x1b[K clears what a longer previous line left behind.
                    let _ = write!(out, "\r{text}\x1b[K");
                    let _ = out.flush();
                    shown = true;
                }
                if shown {
                    let _ = write!(out, "\r\x1b[K");
                    let _ = out.flush();
                }
            })
            .ok();
        Progress {
            live,
            stop: Some(stop),
            thread,
        }
    }

    /// The counters the run stores into (the first cell's).
    pub fn live(&self) -> Arc<LiveCounters> {
        self.live[0].clone()
    }

    /// Each cell's counters, in cell order.
    pub fn cells(&self) -> &[Arc<LiveCounters>] {
        &self.live
    }
}

fn counters(cells: usize) -> Vec<Arc<LiveCounters>> {
    (0..cells.max(1)).map(|_| Arc::default()).collect()
}

/// The cells' counters as one run's: payments and errors add up, and
/// simulated time is the cell furthest behind.
fn read_all(cells: &[Arc<LiveCounters>]) -> (u64, u64, u64) {
    cells
        .iter()
        .map(|c| c.read())
        .fold((u64::MAX, 0, 0), |(sim, payments, errors), (s, p, e)| {
            (sim.min(s), payments + p, errors + e)
        })
}

impl Drop for Progress {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::Mutex;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_line_shows_times_rate_and_errors() {
        let l = line(123_456_789, Duration::from_millis(2_500), 5_000, 7);
        assert_eq!(
            l,
            "simulated 123.5 s | wall 2.5 s | 5000 payments (2000/s) | errors 7"
        );
    }

    #[test]
    fn a_run_in_cells_counts_the_cells_done_instead_of_a_clock() {
        let l = cells_line(3, 16, Duration::from_millis(2_500), 5_000, 7);
        assert_eq!(
            l,
            "cells 3/16 done | wall 2.5 s | 5000 payments (2000/s) | errors 7"
        );
    }

    #[test]
    fn the_display_redraws_in_place_and_clears_itself() {
        let buf = Shared::default();
        let p = Progress::spawn(
            Box::new(buf.clone()),
            Duration::ZERO,
            Duration::from_millis(5),
            2,
        );
        // Two cells: payments and errors add, and the cells done count.
        let other = p.cells()[1].clone();
        other.sim_us.store(5_000_000, Ordering::Relaxed);
        other.payments.store(2, Ordering::Relaxed);
        let live = p.live();
        live.payments.store(40, Ordering::Relaxed);
        live.errors.store(1, Ordering::Relaxed);
        // Last, as the wait below keys on it.
        other.done.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !String::from_utf8_lossy(&buf.0.lock().unwrap()).contains("cells 1/2 done") {
            assert!(Instant::now() < deadline, "no progress line drawn");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(p);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with('\r'), "{text:?}");
        assert!(!text.contains('\n'), "one line, redrawn in place: {text:?}");
        assert!(text.contains("42 payments"), "{text:?}");
        assert!(text.contains("errors 1"), "{text:?}");
        assert!(
            text.ends_with("\r\x1b[K"),
            "the line is cleared at the end: {text:?}"
        );
    }

    #[test]
    fn a_short_run_shows_nothing() {
        let buf = Shared::default();
        let p = Progress::spawn(
            Box::new(buf.clone()),
            Duration::from_secs(3600),
            Duration::from_millis(1),
            1,
        );
        std::thread::sleep(Duration::from_millis(20));
        drop(p);
        assert!(buf.0.lock().unwrap().is_empty());
    }

    #[test]
    fn disabled_progress_starts_no_thread() {
        let p = Progress::start(false);
        assert!(p.thread.is_none());
        p.live().payments.fetch_add(1, Ordering::Relaxed);
    }
}
