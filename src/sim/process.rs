//! What this process has cost the machine so far: its peak memory and its
//! CPU, for perf.json. Read from the operating system, never estimated.
//! And the one allocator setting that moves both (`keep_freed_memory`).

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

/// User + system CPU seconds of this process so far, every thread
/// (`getrusage(RUSAGE_SELF)`, as GNU time reports it); `None` off Unix.
pub fn cpu_seconds() -> Option<f64> {
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
        Some(seconds(usage.ru_utime) + seconds(usage.ru_stime))
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

/// The environment variable a user sets to choose the delay themselves.
pub const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

/// The purge delay the binary's allocator runs with, once
/// [`keep_freed_memory`] has been called (never in a test binary, whose
/// allocator is the system's).
static PURGE_DELAY_MS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();

/// Tells mimalloc, the binary's allocator, to keep the memory it frees for
/// reuse instead of returning it to the system a second later, unless the
/// user chose a delay with `MIMALLOC_PURGE_DELAY` (mimalloc's default is
/// 1000 ms; 0 returns memory at once).
///
/// Why: a run frees more than its whole peak (615 MiB purged against a
/// 480 MiB peak on 400,000 payments, by `MIMALLOC_SHOW_STATS=1`) — each
/// table's old copy when it doubles, the futures of payments done — and
/// memory given back is zeroed again by the kernel when it is taken anew,
/// a 2 MiB huge page at a time, which this VM makes slow. Keeping it costs
/// 6 to 9% less CPU for 6 to 15% more peak memory (`docs/performance.md`);
/// `MIMALLOC_PURGE_DELAY=1000` takes the memory back where it is short.
/// Call it first thing in `main`: mimalloc reads its options from the
/// environment when the process loads, so this can only override them.
pub fn keep_freed_memory() {
    let chosen = std::env::var_os(PURGE_DELAY_VAR).is_some();
    // SAFETY: mimalloc's option functions take any option index and value;
    // purge_delay is read each time a purge is considered, so setting it
    // after start takes effect from then on.
    let delay = unsafe {
        if !chosen {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
        libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY)
    };
    #[allow(clippy::useless_conversion, reason = "c_long is 32 bits on Windows")]
    let _ = PURGE_DELAY_MS.set(i64::from(delay));
}

/// The allocator's purge delay in milliseconds (-1: never purges), if this
/// process's allocator is mimalloc under [`keep_freed_memory`].
pub fn allocator_purge_delay_ms() -> Option<i64> {
    PURGE_DELAY_MS.get().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPU figure counts work: it grows while this thread spins. The
    /// loop waits for the growth itself (not for a stretch of wall time,
    /// which a busy machine may not turn into CPU), within a generous
    /// bound that only a figure that never moves reaches.
    #[test]
    #[cfg(unix)]
    fn cpu_seconds_grow_with_work() {
        let before = cpu_seconds().expect("getrusage works on Unix");
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut x = 0u64;
        let mut now = before;
        while now - before < 0.02 && std::time::Instant::now() < give_up {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            now = cpu_seconds().expect("getrusage works on Unix");
        }
        assert!(now - before >= 0.02, "CPU stayed at {before} -> {now} s");
    }
}
