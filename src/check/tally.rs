//! Counting violations and choosing the counterexample.
//!
//! Every violation is counted, but only one is described: the one with the
//! smallest sort key (an id, or a tuple of ids). Choosing by key rather than by
//! arrival or hash-map iteration order makes the example the same on every run
//! of the same input, and formatting lazily keeps the cost off the common path.

use super::verdict::InvariantResult;

pub(super) struct Tally<K> {
    violations: u64,
    best: Option<(K, String)>,
}

impl<K: Ord> Default for Tally<K> {
    fn default() -> Tally<K> {
        Tally::new()
    }
}

impl<K: Ord> Tally<K> {
    pub(super) fn new() -> Tally<K> {
        Tally {
            violations: 0,
            best: None,
        }
    }

    /// Counts one violation; `describe` runs only if `key` is the smallest so far.
    /// Keys must be unique per violation so that ties cannot depend on order.
    pub(super) fn add(&mut self, key: K, describe: impl FnOnce() -> String) {
        self.violations += 1;
        let smaller = match &self.best {
            None => true,
            Some((best, _)) => key < *best,
        };
        if smaller {
            self.best = Some((key, describe()));
        }
    }

    pub(super) fn result(self, name: &'static str) -> InvariantResult {
        InvariantResult {
            name,
            passed: self.violations == 0,
            violations: self.violations,
            example: self.best.map(|(_, s)| s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_smallest_key_whatever_the_order() {
        let mut a = Tally::new();
        let mut b = Tally::new();
        for k in [5u64, 2, 9] {
            a.add(k, || format!("k{k}"));
        }
        for k in [9u64, 5, 2] {
            b.add(k, || format!("k{k}"));
        }
        let (a, b) = (a.result("x"), b.result("x"));
        assert_eq!(a, b);
        assert_eq!(a.violations, 3);
        assert!(!a.passed);
        assert_eq!(a.example.as_deref(), Some("k2"));
    }

    #[test]
    fn no_violation_passes_without_example() {
        let t: Tally<u64> = Tally::new();
        let r = t.result("x");
        assert!(r.passed);
        assert_eq!(r.violations, 0);
        assert_eq!(r.example, None);
    }
}
