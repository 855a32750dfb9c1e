//! What this process has cost the machine so far: its peak memory and its
//! CPU, for perf.json. Read from the operating system, never estimated.
//! And the one allocator setting that moves both (`choose_purge_delay`).

/// Peak resident set size of this process (Linux; 0 elsewhere).
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// A process's CPU so far, split as the kernel counts it.
#[derive(Clone, Copy, Debug)]
pub struct CpuTimes {
    pub user: f64,
    /// The kernel's share: for a sim run mostly page faults on memory
    /// touched for the first time (see `benches/first_touch.c`).
    pub system: f64,
}

impl CpuTimes {
    /// User + system: what GNU time reports.
    pub fn total(&self) -> f64 {
        self.user + self.system
    }
}

/// The CPU seconds of this process so far, every thread
/// (`getrusage(RUSAGE_SELF)`); `None` off Unix.
pub fn cpu_times() -> Option<CpuTimes> {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage writes a whole `rusage` through the pointer,
        // which points at one, and keeps nothing of it.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: zeroed is a valid `rusage` (plain integers), and
        // getrusage succeeded in filling it.
        let usage = unsafe { usage.assume_init() };
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Some(CpuTimes {
            user: seconds(usage.ru_utime),
            system: seconds(usage.ru_stime),
        })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// mimalloc's `purge_delay` option: its index in `mi_option_e` (mimalloc.h,
/// the same in v2 and v3; libmimalloc-sys exports no constant for it). A
/// test runs the binary with `MIMALLOC_PURGE_DELAY` set and finds the value
/// under this index, so a renumbering would not go unnoticed.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The purge delay the binary's allocator runs with, once
/// [`choose_purge_delay`] has been called (never in a test binary, whose
/// allocator is the system's).
static PURGE_DELAY_MS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();

/// Runs expected to take more payments than this return freed memory to
/// the system as mimalloc does by default; smaller ones keep it.
pub const KEEP_FREED_UP_TO_PAYMENTS: f64 = 5_000_000.0;

/// What mimalloc's purge delay should be for a run expecting `payments`
/// at once (`None`: a trace replay, size unknown; in cells, those of the
/// cells that run at once, [`crate::sim::cells::payments_at_once`]): -1
/// (keep freed memory for reuse) up to [`KEEP_FREED_UP_TO_PAYMENTS`],
/// `None` (mimalloc's own default, 1000 ms) above and for traces.
///
/// Why: a run frees more than its whole peak (615 MiB purged against a
/// 480 MiB peak on 400,000 payments, by `MIMALLOC_SHOW_STATS=1`): each
/// table's old copy when it doubles, the futures of payments done. Memory
/// given back is zeroed again by the kernel when it is taken anew, a 2 MiB
/// huge page at a time, which a VM makes slow: keeping it saves 6 to 9% of
/// the CPU. But what is kept and never reused grows with the run: +15% peak
/// memory on a million payments (100 MiB), +23% on 10.6 million (1.1 GiB),
/// +16% on Singles' Day's 35 million (2.5 GiB). Where a run is large
/// enough for memory to be its limit, memory wins (`docs/performance.md`).
pub fn purge_delay_for(payments: Option<f64>) -> Option<i64> {
    payments
        .filter(|&p| p <= KEEP_FREED_UP_TO_PAYMENTS)
        .map(|_| -1)
}

/// Sets the binary's allocator's purge delay for a run expecting
/// `payments` ([`purge_delay_for`]), unless `MIMALLOC_PURGE_DELAY` (or its
/// old name, `MIMALLOC_RESET_DELAY`) chose one, and remembers it for
/// perf.json. mimalloc reads its options from the environment when the
/// process loads and this one again each time it considers a purge, so
/// setting it before the run starts covers the whole run.
///
/// Call it before starting any thread: the option table is plain memory
/// that every thread's allocator reads without synchronisation.
pub fn choose_purge_delay(payments: Option<f64>) {
    // SAFETY: mimalloc's option functions accept any index and value, and
    // no other thread exists yet to read the option while it changes (see
    // above). `mi_option_set_default` leaves a value the environment set.
    let delay = unsafe {
        if let Some(ms) = purge_delay_for(payments) {
            libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, ms as _);
        }
        libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY)
    };
    #[allow(clippy::useless_conversion, reason = "c_long is 32 bits on Windows")]
    let _ = PURGE_DELAY_MS.set(i64::from(delay));
}

/// The environment variables mimalloc reads its purge delay from: the
/// current name, then the one it had before v2.
const PURGE_DELAY_VARS: [&str; 2] = ["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"];

/// Refuses a purge delay in the environment that is not a whole number of
/// milliseconds, as one paragraph for exit 4.
///
/// Why: mimalloc reads the variable itself and, on a value it cannot
/// parse, says nothing (its warnings are off unless `MIMALLOC_VERBOSE` or
/// `MIMALLOC_SHOW_ERRORS` is set) and keeps the delay paystorm chose, so
/// the run would measure something other than what the user asked for.
/// It also takes `TRUE`, `ON`, `YES` and an empty value as 1 and `FALSE`,
/// `OFF`, `NO` as 0, which cannot be what a user setting a delay meant, so
/// this refuses them too.
///
/// Only the variable mimalloc will read is checked: the first of the
/// environment's variables named `MIMALLOC_PURGE_DELAY` in any case, else
/// the first named `MIMALLOC_RESET_DELAY` (its name before v2).
pub fn check_purge_delay_env() -> Result<(), String> {
    let read = PURGE_DELAY_VARS.iter().find_map(|canonical| {
        std::env::vars_os().find_map(|(name, value)| {
            let name = name.to_str()?;
            canonical
                .eq_ignore_ascii_case(name)
                .then(|| (*canonical, name.to_string(), value))
        })
    });
    let Some((canonical, name, value)) = read else {
        return Ok(());
    };
    if value.to_str().and_then(parse_delay_ms).is_some() {
        return Ok(());
    }
    let alias = if name == canonical {
        String::new()
    } else {
        format!(" (mimalloc reads it as {canonical})")
    };
    Err(format!(
        "error: environment variable {name}={shown:?}{alias} is not a whole number of \
         milliseconds. It sets how long mimalloc waits before giving freed memory back to the \
         system; mimalloc would ignore this value without a word (or read a word such as `on` \
         as 1 ms), and the run would not use the delay you meant. Set it to -1 (never give it \
         back), 0 (at once) or a delay such as 1000 (mimalloc's default), or unset it.",
        shown = value.to_string_lossy(),
    ))
}

/// A purge delay as mimalloc would read it (C's `strtol` over the whole
/// value), restricted to whole numbers that fit 64 bits: leading ASCII
/// blanks, an optional sign, decimal digits, nothing after.
fn parse_delay_ms(s: &str) -> Option<i64> {
    s.trim_start_matches(|c: char| c.is_ascii_whitespace())
        .parse()
        .ok()
}

/// The allocator's purge delay in milliseconds (-1: never purges), if this
/// process's allocator is mimalloc under [`choose_purge_delay`].
pub fn allocator_purge_delay_ms() -> Option<i64> {
    PURGE_DELAY_MS.get().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small and medium runs keep freed memory; the largest, and trace
    /// replays of unknown size, leave mimalloc its default, since what is
    /// kept grows with the run.
    #[test]
    fn only_runs_small_enough_keep_freed_memory() {
        assert_eq!(purge_delay_for(Some(0.0)), Some(-1));
        assert_eq!(purge_delay_for(Some(1_000_000.0)), Some(-1));
        assert_eq!(purge_delay_for(Some(KEEP_FREED_UP_TO_PAYMENTS)), Some(-1));
        assert_eq!(purge_delay_for(Some(10_600_000.0)), None);
        assert_eq!(purge_delay_for(Some(35_000_000.0)), None);
        assert_eq!(purge_delay_for(None), None);
    }

    /// The count the choice is made on: the payments of the cells that
    /// run at once, at the rate scale given. The Singles' Day peak in 2
    /// cells on 2 cores keeps freed memory at a tenth and gives it back at
    /// 0.3 and in full; in its own 100 cells, two at a time, it keeps it
    /// even in full: a worker's next cell reuses what its last one freed.
    #[test]
    fn the_choice_counts_the_payments_of_the_cells_that_run_at_once() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("workloads/singles-day-peak.toml");
        let w = crate::workload::Workload::from_path(&path).expect("a shipped workload");
        let full = w.expected_payments(1.0).expect("a rate curve");
        assert!((34e6..36e6).contains(&full), "{full}");
        let at_once = |cells, jobs, scale| {
            crate::sim::cells::payments_at_once(w.expected_payments(scale), cells, jobs)
        };
        let two_cells = |scale| purge_delay_for(at_once(2, 2, scale));
        assert_eq!(two_cells(0.1), Some(-1));
        assert_eq!(two_cells(0.3), None);
        assert_eq!(two_cells(1.0), None);
        assert_eq!(w.file.cells, 100);
        assert_eq!(purge_delay_for(at_once(100, 2, 1.0)), Some(-1));
        assert_eq!(purge_delay_for(at_once(100, 100, 1.0)), None, "all at once");
    }

    /// What mimalloc would read as a delay passes; what it would ignore
    /// (or read as a boolean) does not.
    #[test]
    fn a_purge_delay_must_be_whole_milliseconds() {
        for ok in ["-1", "0", "1000", " 250", "+5"] {
            assert!(parse_delay_ms(ok).is_some(), "{ok:?}");
        }
        for bad in [
            "", "abc", "12x", "1.5", "on", "TRUE", "5 ", "1000ms", "\u{a0}5",
        ] {
            assert_eq!(parse_delay_ms(bad), None, "{bad:?}");
        }
    }

    /// The CPU figure counts work: it grows while this thread spins. The
    /// loop waits for the growth itself (not for a stretch of wall time,
    /// which a busy machine may not turn into CPU), within a generous
    /// bound that only a figure that never moves reaches.
    #[test]
    #[cfg(unix)]
    fn cpu_seconds_grow_with_work() {
        let before = cpu_times().expect("getrusage works on Unix").total();
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut x = 0u64;
        let mut now = before;
        while now - before < 0.02 && std::time::Instant::now() < give_up {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            now = cpu_times().expect("getrusage works on Unix").total();
        }
        assert!(now - before >= 0.02, "CPU stayed at {before} -> {now} s");
    }
}
