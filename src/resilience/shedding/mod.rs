//! Load shedding: the gateway answers 503 at once when more requests are in
//! progress than it can serve in reasonable time, instead of queueing them
//! and letting every request's latency grow without bound. Decided before
//! the idempotency layer: a shed request did nothing and is safe to retry.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SheddingConfig {
    pub enabled: bool,
    /// Requests in progress at the gateway above which new ones are shed.
    pub max_in_flight: u32,
}

impl Default for SheddingConfig {
    fn default() -> SheddingConfig {
        SheddingConfig {
            enabled: true,
            max_in_flight: 50_000,
        }
    }
}

/// Shed: refused before doing anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shed;

pub struct LoadShedder {
    max_in_flight: u64,
    in_flight: AtomicU64,
    shed: AtomicU64,
}

/// A request in progress; leaving drops the count.
pub struct InProgress<'a>(&'a LoadShedder);

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LoadShedder {
    pub fn new(cfg: SheddingConfig) -> LoadShedder {
        LoadShedder {
            max_in_flight: u64::from(cfg.max_in_flight.max(1)),
            in_flight: AtomicU64::new(0),
            shed: AtomicU64::new(0),
        }
    }

    pub fn enter(&self) -> Result<InProgress<'_>, Shed> {
        if self.in_flight.load(Ordering::Relaxed) >= self.max_in_flight {
            self.shed.fetch_add(1, Ordering::Relaxed);
            return Err(Shed);
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Ok(InProgress(self))
    }

    pub fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheds_above_the_bound_and_admits_again_when_below() {
        let s = LoadShedder::new(SheddingConfig {
            enabled: true,
            max_in_flight: 2,
        });
        let a = s.enter().unwrap();
        let _b = s.enter().unwrap();
        assert_eq!(s.enter().err(), Some(Shed));
        drop(a);
        assert!(s.enter().is_ok());
        assert_eq!(s.shed(), 1);
    }
}
