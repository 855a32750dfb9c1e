//! The run's clock. Everything that needs "now" or a delay asks it; nothing
//! else reads `Instant::now`. On the sim executor this is virtual time;
//! under a tokio runtime it is tokio's time (the wall clock in live mode,
//! paused time in unit tests) — the same code path either way.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

use super::executor;

pub use super::executor::Elapsed;

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
    /// In sim mode, the executor's instant the run started at.
    start_us: u64,
    /// Whether this clock runs on the sim executor (else on tokio's time:
    /// the wall clock in live mode, paused time in tokio unit tests).
    sim: bool,
    /// Unix time at the start of the run: a fixed date in sim mode (so
    /// signed timestamps are reproducible), the real one in live mode.
    epoch_unix_s: u64,
}

/// Sim runs start at 2020-11-11T00:00:00Z, the Singles' Day of the record.
pub const SIM_EPOCH_UNIX_S: u64 = 1_605_052_800;

impl Clock {
    /// Starts the run's clock now: on the sim executor's virtual time when
    /// this thread runs one, else on tokio's time.
    pub fn start() -> Clock {
        Clock {
            start: Instant::now(),
            start_us: executor::now_us(),
            sim: executor::active(),
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
            epoch_unix_s,
            ..Clock::start()
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
        if self.sim {
            return executor::now_us().saturating_sub(self.start_us);
        }
        Instant::now()
            .saturating_duration_since(self.start)
            .as_micros() as u64
    }

    /// Sleeps for `d` (a zero sleep returns at once, without yielding).
    pub fn sleep(&self, d: Duration) -> Delay {
        if d.is_zero() {
            Delay::Done
        } else if self.sim {
            Delay::Sim(executor::Sleep::after(d))
        } else {
            Delay::Tokio(Box::pin(tokio::time::sleep(d)))
        }
    }

    /// Sleeps until `at_us` microseconds after the start of the run.
    pub fn sleep_until_us(&self, at_us: u64) -> Delay {
        if self.sim {
            Delay::Sim(executor::sleep_until_us(self.start_us + at_us))
        } else {
            Delay::Tokio(Box::pin(tokio::time::sleep_until(
                self.start + Duration::from_micros(at_us),
            )))
        }
    }

    /// Runs `fut` with a deadline; `Err` if it did not finish in time
    /// (`.await.ok()` for an `Option`). The future is dropped on timeout, so
    /// only pass futures that are safe to abandon (the in-process API spawns
    /// server work, so a client timeout never cancels it).
    ///
    /// Not an `async fn`: that would store `fut` twice (the argument and the
    /// awaited copy), and these wrappers nest, so the copies multiply.
    pub fn timeout<F: Future>(&self, d: Duration, fut: F) -> Timeout<F> {
        Timeout {
            future: fut,
            delay: self.sleep(d),
        }
    }
}

/// A sleep on whichever engine the clock runs on. tokio's sleep is boxed:
/// it is several times the size of the sim's, and inline it would size
/// every future that sleeps, in sim runs too (live mode pays one
/// allocation a sleep, beside a network round trip).
#[must_use = "a sleep does nothing unless awaited"]
pub enum Delay {
    Sim(executor::Sleep),
    Tokio(Pin<Box<tokio::time::Sleep>>),
    Done,
}

impl Future for Delay {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.get_mut() {
            Delay::Sim(sleep) => Pin::new(sleep).poll(cx),
            Delay::Tokio(sleep) => sleep.as_mut().poll(cx),
            Delay::Done => Poll::Ready(()),
        }
    }
}

pin_project_lite::pin_project! {
    /// A future with a deadline; see [`Clock::timeout`].
    pub struct Timeout<F> {
        #[pin]
        future: F,
        delay: Delay,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    /// The future is polled first, so one that is ready at the deadline
    /// still wins (as with tokio's `timeout`). In a sim run, while the
    /// future's own sleeps will wake the task before the deadline, the
    /// deadline sets no timer of its own (see `executor::earliest_wake`):
    /// the deadline is checked at that wake. Where it would have fired, a
    /// timer is set, with the place among same-instant timers it took when
    /// first put off, so it fires at the same instant and in the same order
    /// either way.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (out, wake_by) = executor::earliest_wake(|| this.future.poll(cx));
        if let Poll::Ready(out) = out {
            return Poll::Ready(Ok(out));
        }
        match this.delay {
            Delay::Sim(sleep) => Pin::new(sleep).poll_unless_woken_by(cx, wake_by),
            delay => Pin::new(delay).poll(cx),
        }
        .map(|()| Err(Elapsed))
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
