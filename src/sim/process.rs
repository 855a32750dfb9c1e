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

/// [`cpu_seconds`] and the microseconds of it per payment attempted.
pub fn cpu_per_payment(attempted: u64) -> (Option<f64>, Option<f64>) {
    let cpu = cpu_seconds();
    let per = cpu
        .filter(|_| attempted > 0)
        .map(|s| s * 1e6 / attempted as f64);
    (cpu, per)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPU figure counts work: it grows when this thread spins.
    #[test]
    #[cfg(unix)]
    fn cpu_seconds_grow_with_work() {
        let before = cpu_seconds().expect("getrusage works on Unix");
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let after = cpu_seconds().expect("getrusage works on Unix");
        assert!(after - before >= 0.02, "{before} -> {after}");
        let (cpu, per) = cpu_per_payment(1_000);
        assert!(per.unwrap() > 0.0 && cpu.unwrap() >= after);
        assert_eq!(cpu_per_payment(0).1, None);
    }
}
