//! The run's clock. Everything that needs "now" or a delay asks it; nothing
//! else reads `Instant::now`. Under a paused tokio runtime this is virtual
//! time; under a normal runtime it is the wall clock — the same code path.

use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
    /// Unix time at the start of the run: a fixed date in sim mode (so
    /// signed timestamps are reproducible), the real one in live mode.
    epoch_unix_s: u64,
}

/// Sim runs start at 2020-11-11T00:00:00Z, the Singles' Day of the record.
pub const SIM_EPOCH_UNIX_S: u64 = 1_605_052_800;

impl Clock {
    /// Starts the run's clock at the runtime's current instant. Must be called
    /// inside a tokio runtime.
    pub fn start() -> Clock {
        Clock {
            start: Instant::now(),
            epoch_unix_s: SIM_EPOCH_UNIX_S,
        }
    }

    /// Starts a live run's clock: the runtime must be a normal (not paused)
    /// one, so `now` is the wall clock, and signed timestamps carry the real
    /// Unix time, which webhook receivers compare with their own clock.
    pub fn start_live() -> Clock {
        let epoch_unix_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(SIM_EPOCH_UNIX_S, |d| d.as_secs());
        Clock {
            start: Instant::now(),
            epoch_unix_s,
        }
    }

    /// Unix seconds at the start of the run.
    pub fn epoch_unix_s(&self) -> u64 {
        self.epoch_unix_s
    }

    /// Unix seconds now, for signed timestamps.
    pub fn unix_s(&self) -> u64 {
        self.epoch_unix_s + self.now_us() / 1_000_000
    }

    /// Microseconds since the run started.
    pub fn now_us(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.start)
            .as_micros() as u64
    }

    pub async fn sleep(&self, d: Duration) {
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }

    /// Sleeps until `at_us` microseconds after the start of the run.
    pub async fn sleep_until_us(&self, at_us: u64) {
        tokio::time::sleep_until(self.start + Duration::from_micros(at_us)).await;
    }

    /// Runs `fut` with a deadline; `Err` if it did not finish in time
    /// (`.await.ok()` for an `Option`). The future is dropped on timeout, so
    /// only pass futures that are safe to abandon (the in-process API spawns
    /// server work, so a client timeout never cancels it).
    ///
    /// Not an `async fn`: that would store `fut` twice (the argument and the
    /// awaited copy), and these wrappers nest, so the copies multiply.
    pub fn timeout<F: std::future::Future>(&self, d: Duration, fut: F) -> tokio::time::Timeout<F> {
        tokio::time::timeout(d, fut)
    }
}

/// Milliseconds as a `Duration`, for configs written in milliseconds.
pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Milliseconds (possibly fractional) as a `Duration`.
pub fn ms_f64(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.0) / 1000.0)
}

/// Seconds (possibly fractional) as a `Duration`.
pub fn secs_f64(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.0))
}
