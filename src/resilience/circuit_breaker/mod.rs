//! A circuit breaker with resilience4j's semantics, one per downstream.
//!
//! Closed: calls pass and their outcomes fill a sliding window (the last N
//! calls, or the calls of the last N seconds). Once the window holds at least
//! `minimum_calls`, a failure rate or a slow-call rate at or above its
//! threshold opens the breaker. Open: calls are refused at once
//! ([`BreakerOpen`]) for `wait_open_s`, then the breaker half-opens by itself.
//! Half-open: `half_open_calls` trial calls pass (more are refused); when they
//! have all finished, their failure and slow rates decide: open again, or
//! close with an empty window. Every transition is counted and time-stamped
//! (virtual time).

mod window;

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::lock::Locked;
use window::{Counts, SlidingWindow};

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    pub enabled: bool,
    /// `count` (the last `window_size` calls) or `time` (the calls of the
    /// last `window_size` seconds).
    pub window: WindowKind,
    pub window_size: u32,
    /// No decision before the window holds this many calls.
    pub minimum_calls: u32,
    /// Open at or above this share of failed calls (0-1).
    pub failure_rate: f64,
    /// A call slower than this counts as slow.
    pub slow_call_ms: f64,
    /// Open at or above this share of slow calls (0-1).
    pub slow_call_rate: f64,
    /// How long the breaker stays open before it half-opens.
    pub wait_open_s: f64,
    /// Trial calls let through while half-open.
    pub half_open_calls: u32,
}

impl Default for BreakerConfig {
    fn default() -> BreakerConfig {
        BreakerConfig {
            enabled: true,
            window: WindowKind::Count,
            window_size: 50,
            minimum_calls: 20,
            failure_rate: 0.5,
            slow_call_ms: 2_000.0,
            slow_call_rate: 1.0,
            wait_open_s: 5.0,
            half_open_calls: 5,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    Count,
    Time,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    pub const ALL: [State; 3] = [State::Closed, State::Open, State::HalfOpen];

    /// Its place in [`State::ALL`].
    pub fn index(self) -> usize {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

/// The breaker refused the call without trying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerOpen;

/// A state change, at a virtual time.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Transition {
    pub at_s: f64,
    pub from: State,
    pub to: State,
}

/// What results.json shows of one breaker.
#[derive(Clone, Debug, Serialize)]
pub struct BreakerReport {
    pub name: String,
    pub state: State,
    pub calls: u64,
    pub failures: u64,
    pub slow_calls: u64,
    /// Calls refused while open (or beyond the half-open trials).
    pub rejected: u64,
    pub opened: u32,
    /// The first transitions (at most [`TRANSITIONS_KEPT`]).
    pub transitions: Vec<Transition>,
    /// Every transition counted by the state it went to (closed, open,
    /// half-open), past the kept ones too: what telemetry exports. Not in
    /// results.json, which keeps the time-stamped list.
    #[serde(skip)]
    pub transitions_to: [u64; 3],
}

/// Transitions kept per breaker; the counts go on beyond.
pub const TRANSITIONS_KEPT: usize = 200;

struct Inner {
    state: State,
    opened_at_us: u64,
    window: SlidingWindow,
    /// Trials admitted, and the finished ones' outcomes, while half-open.
    trials_admitted: u32,
    trials: Counts,
    totals: Counts,
    rejected: u64,
    opened: u32,
    transitions: Vec<Transition>,
    transitions_to: [u64; 3],
}

pub struct CircuitBreaker {
    name: String,
    cfg: BreakerConfig,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    pub fn new(name: String, cfg: BreakerConfig) -> CircuitBreaker {
        CircuitBreaker {
            name,
            inner: Mutex::new(Inner {
                state: State::Closed,
                opened_at_us: 0,
                window: SlidingWindow::new(cfg.window, cfg.window_size),
                trials_admitted: 0,
                trials: Counts::default(),
                totals: Counts::default(),
                rejected: 0,
                opened: 0,
                transitions: Vec::new(),
                transitions_to: [0; 3],
            }),
            cfg,
        }
    }

    /// Asks to make a call now; refused while open.
    pub fn try_acquire(&self, now_us: u64) -> Result<(), BreakerOpen> {
        let mut st = self.inner.locked();
        if st.state == State::Open
            && now_us >= st.opened_at_us + (self.cfg.wait_open_s * 1e6) as u64
        {
            self.transition(&mut st, State::HalfOpen, now_us);
        }
        match st.state {
            State::Closed => Ok(()),
            State::HalfOpen if st.trials_admitted < self.cfg.half_open_calls.max(1) => {
                st.trials_admitted += 1;
                Ok(())
            }
            _ => {
                st.rejected += 1;
                Err(BreakerOpen)
            }
        }
    }

    /// Records the outcome of a call `try_acquire` let through.
    pub fn record(&self, now_us: u64, failed: bool, took_us: u64) {
        let slow = took_us as f64 >= self.cfg.slow_call_ms * 1000.0;
        let mut st = self.inner.locked();
        st.totals.add(failed, slow);
        match st.state {
            State::Closed => {
                st.window.add(now_us, failed, slow);
                let c = st.window.counts(now_us);
                if c.calls >= u64::from(self.cfg.minimum_calls.max(1)) && self.trips(&c) {
                    self.transition(&mut st, State::Open, now_us);
                }
            }
            State::HalfOpen => {
                st.trials.add(failed, slow);
                if st.trials.calls >= u64::from(self.cfg.half_open_calls.max(1)) {
                    let trials = st.trials;
                    let to = if self.trips(&trials) {
                        State::Open
                    } else {
                        State::Closed
                    };
                    self.transition(&mut st, to, now_us);
                }
            }
            // A call admitted before the breaker opened: it no longer counts.
            State::Open => {}
        }
    }

    fn trips(&self, c: &Counts) -> bool {
        let calls = c.calls.max(1) as f64;
        c.failures as f64 / calls >= self.cfg.failure_rate
            || c.slow as f64 / calls >= self.cfg.slow_call_rate
    }

    fn transition(&self, st: &mut Inner, to: State, now_us: u64) {
        if st.transitions.len() < TRANSITIONS_KEPT {
            st.transitions.push(Transition {
                at_s: now_us as f64 / 1e6,
                from: st.state,
                to,
            });
        }
        st.transitions_to[to.index()] += 1;
        st.state = to;
        match to {
            State::Open => {
                st.opened_at_us = now_us;
                st.opened += 1;
            }
            State::HalfOpen => {
                st.trials_admitted = 0;
                st.trials = Counts::default();
            }
            State::Closed => st.window.clear(),
        }
    }

    pub fn state(&self) -> State {
        self.inner.locked().state
    }

    pub fn report(&self) -> BreakerReport {
        let st = self.inner.locked();
        BreakerReport {
            name: self.name.clone(),
            state: st.state,
            calls: st.totals.calls,
            failures: st.totals.failures,
            slow_calls: st.totals.slow,
            rejected: st.rejected,
            opened: st.opened,
            transitions: st.transitions.clone(),
            transitions_to: st.transitions_to,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(window: WindowKind) -> CircuitBreaker {
        CircuitBreaker::new(
            "t".into(),
            BreakerConfig {
                enabled: true,
                window,
                window_size: 10,
                minimum_calls: 4,
                failure_rate: 0.5,
                slow_call_ms: 100.0,
                slow_call_rate: 0.8,
                wait_open_s: 5.0,
                half_open_calls: 2,
            },
        )
    }

    const S: u64 = 1_000_000;

    #[test]
    fn opens_at_the_failure_rate_once_the_minimum_is_reached() {
        let b = breaker(WindowKind::Count);
        for i in 0..3 {
            b.try_acquire(i).unwrap();
            b.record(i, true, 1);
        }
        assert_eq!(
            b.state(),
            State::Closed,
            "3 calls are below the minimum of 4"
        );
        b.try_acquire(3).unwrap();
        b.record(3, false, 1);
        assert_eq!(b.state(), State::Open, "3 of 4 failed: 75% >= 50%");
        assert_eq!(b.try_acquire(4), Err(BreakerOpen));
        assert_eq!(b.report().rejected, 1);
    }

    #[test]
    fn half_opens_after_the_wait_and_closes_on_good_trials() {
        let b = breaker(WindowKind::Count);
        for i in 0..4 {
            b.try_acquire(i).unwrap();
            b.record(i, true, 1);
        }
        // Opened by the call recorded at 3 µs.
        assert_eq!(b.try_acquire(5 * S + 2), Err(BreakerOpen));
        assert!(
            b.try_acquire(5 * S + 3).is_ok(),
            "half-open 5 s after opening"
        );
        assert!(b.try_acquire(5 * S + 3).is_ok(), "second trial");
        assert_eq!(b.try_acquire(5 * S + 3), Err(BreakerOpen), "only 2 trials");
        b.record(5 * S + 10, false, 1);
        b.record(5 * S + 20, false, 1);
        assert_eq!(b.state(), State::Closed);
        let t: Vec<(State, State)> = b
            .report()
            .transitions
            .iter()
            .map(|t| (t.from, t.to))
            .collect();
        assert_eq!(
            t,
            vec![
                (State::Closed, State::Open),
                (State::Open, State::HalfOpen),
                (State::HalfOpen, State::Closed)
            ]
        );
    }

    #[test]
    fn a_failed_trial_reopens() {
        let b = breaker(WindowKind::Count);
        for i in 0..4 {
            b.try_acquire(i).unwrap();
            b.record(i, true, 1);
        }
        b.try_acquire(6 * S).unwrap();
        b.try_acquire(6 * S).unwrap();
        b.record(6 * S, true, 1);
        b.record(6 * S, false, 1);
        assert_eq!(b.state(), State::Open, "1 of 2 trials failed: 50% >= 50%");
        assert_eq!(b.report().opened, 2);
    }

    #[test]
    fn slow_calls_open_it_too() {
        let b = breaker(WindowKind::Count);
        for i in 0..4 {
            b.try_acquire(i).unwrap();
            b.record(i, false, 150_000);
        }
        assert_eq!(b.state(), State::Open, "4 of 4 slow: 100% >= 80%");
    }

    #[test]
    fn a_count_window_forgets_old_calls() {
        let b = breaker(WindowKind::Count);
        for i in 0..10 {
            b.record(10 + i, false, 1);
        }
        assert_eq!(b.state(), State::Closed);
        // The window holds the last 10: 4 failures push out 4 good calls.
        for i in 0..4 {
            b.record(30 + i, true, 1);
        }
        assert_eq!(b.state(), State::Closed, "4 of the last 10 failed: 40%");
        b.record(40, true, 1);
        assert_eq!(b.state(), State::Open, "5 of the last 10: 50%");
    }

    #[test]
    fn a_time_window_forgets_calls_older_than_its_seconds() {
        let b = breaker(WindowKind::Time);
        for i in 0..3 {
            b.record(i * S, true, 1);
        }
        // 11 s later the failures are out of the 10 s window.
        for i in 0..4 {
            b.record(14 * S + i, false, 1);
        }
        assert_eq!(b.state(), State::Closed);
        for i in 0..4 {
            b.record(15 * S + i, true, 1);
        }
        assert_eq!(b.state(), State::Open, "4 of 8 in the last 10 s");
    }
}
