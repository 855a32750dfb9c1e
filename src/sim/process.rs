//! What this process has cost the machine so far: its peak memory and its
//! CPU, for perf.json. Read from the operating system, never estimated.

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
