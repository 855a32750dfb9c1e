//! A check before the run: will the bulkheads hold the load?
//!
//! Little's law gives the calls in flight into a downstream: its arrival
//! rate times its mean latency. A bulkhead smaller than that refuses calls
//! from the first second, and every refusal fails a payment. That is a
//! sizing mistake, not a finding, and it once cost an hour: a full-scale
//! Singles' Day run "declined" 75% of its attempts because each issuer's
//! bulkhead had 2,500 slots against ~7,700 calls in flight. `run` and
//! `validate` print these warnings so the mistake shows before the run.
//!
//! The same arithmetic covers the capacities that queue rather than refuse:
//! a component's slots (`capacity`) and a network's links to its issuers.
//! Demand above them does not fail payments; it makes them wait, and the
//! wait grows for as long as the peak lasts, so latency objectives fail
//! instead. Those get a warning too.
//!
//! The estimate uses the peak rate of the curve, each route's share of the
//! mix and the models' mean latencies; it leaves out the bank batch rail
//! (its calls come in bursts at each batch), retries and captures, so it is
//! a floor on the demand: a warning means refusals (or queues) are all but
//! certain.

use crate::sim::LatencySpec;

use super::Workload;

/// Demand above this share of a bulkhead's slots gets a warning: Poisson
/// arrivals and the latency tail push the peak well above the mean.
const HEADROOM: f64 = 0.8;

/// One line per downstream whose bulkhead the expected load overfills.
pub fn warnings(w: &Workload, rate_scale: f64) -> Vec<String> {
    if w.file.cells > 1 {
        // `[stack]` and `[resilience]` describe one cell: judge a cell's
        // share of the traffic against them.
        let cell = crate::sim::cells::split(w, w.file.seed, rate_scale).swap_remove(0);
        return warnings(&cell.workload, 1.0)
            .into_iter()
            .map(|warning| {
                let text = warning.strip_prefix("warning: ").unwrap_or(&warning);
                format!("warning, in each of {} cells: {text}", w.file.cells)
            })
            .collect();
    }
    let f = &w.file;
    let Some(curve) = w.curve(rate_scale) else {
        return Vec::new();
    };
    let peak = curve.peak_rate();
    let mean = |spec: &LatencySpec| spec.to_model().map_or(0.0, |m| m.mean_ms());
    let issuer_ms = mean(&f.stack.issuers.latency);
    let network_ms = mean(&f.stack.networks.latency);
    let cards = f.mix.card_online + f.mix.card_nfc;
    let mut out = Vec::new();
    let mut check = |what: String, per_s: f64, latency_ms: f64, limit: Limit| {
        let in_flight = per_s * latency_ms / 1000.0;
        let slots = limit.slots();
        if in_flight > HEADROOM * f64::from(slots) {
            let (whose, then) = limit.describe();
            out.push(format!(
                "warning: at the peak of {peak:.0} payments/s, {what} can expect about {in_flight:.0} calls in flight \
                 (Little's law: {per_s:.0} calls/s x {latency_ms:.0} ms mean latency), more than {:.0}% of {whose}: {then}",
                HEADROOM * 100.0
            ));
        }
    };
    let issuers = f.stack.issuers.count.max(1);
    // Cards reach an issuer through their network; QR wallets and instant
    // transfers debit the linked account at the issuer directly.
    let per_issuer = peak * (cards + f.mix.qr_wallet + f.mix.bank_instant) / f64::from(issuers);
    let networks = f.stack.networks.first_digits.len().max(1) as u32;
    let per_network = peak * cards / f64::from(networks);
    let each_issuer = || format!("each of the {issuers} issuers");
    let each_network = || format!("each of the {networks} card networks");
    if f.resilience.bulkheads() {
        check(
            each_issuer(),
            per_issuer,
            issuer_ms,
            Limit::Bulkhead(f.resilience.bulkhead.max_concurrent, "max_concurrent"),
        );
        check(
            each_network(),
            per_network,
            network_ms + issuer_ms,
            Limit::Bulkhead(
                f.resilience.bulkhead.network_max_concurrent,
                "network_max_concurrent",
            ),
        );
    }
    // Every payment passes the gateway's own processing.
    check(
        "the gateway".into(),
        peak,
        mean(&f.stack.gateway.latency),
        Limit::Queue(f.stack.gateway.capacity, "[stack.gateway] capacity"),
    );
    // Behind a bulkhead no larger than a queue, the bulkhead refuses
    // before the queue fills: its warning (if any) is the one that holds.
    let capped_by = |bulkhead: u32, queue: u32| f.resilience.bulkheads() && bulkhead <= queue;
    let (b, s) = (&f.resilience.bulkhead, &f.stack);
    // (who, calls/s, mean ms a slot is held, slots, where set, the bulkhead in front)
    let queues = [
        (
            each_issuer(),
            per_issuer,
            issuer_ms,
            s.issuers.capacity,
            "[stack.issuers] capacity",
            b.max_concurrent,
        ),
        (
            each_network(),
            per_network,
            network_ms,
            s.networks.capacity,
            "[stack.networks] capacity",
            b.network_max_concurrent,
        ),
        // A link is held from the network's hand-off until the issuer answers.
        (
            format!("the links of each of the {networks} card networks"),
            per_network,
            issuer_ms,
            s.networks.links,
            "[stack.networks] links",
            b.network_max_concurrent,
        ),
    ];
    for (what, per_s, held_ms, slots, field, bulkhead) in queues {
        if !capped_by(bulkhead, slots) {
            check(what, per_s, held_ms, Limit::Queue(slots, field));
        }
    }
    out
}

/// What bounds the calls in flight into a downstream.
#[derive(Clone, Copy)]
enum Limit {
    /// A bulkhead: slots, and its field under `[resilience.bulkhead]`.
    /// Full, it refuses.
    Bulkhead(u32, &'static str),
    /// A component's slots or a network's links, and where they are set.
    /// Full, calls wait.
    Queue(u32, &'static str),
}

impl Limit {
    fn slots(self) -> u32 {
        match self {
            Limit::Bulkhead(n, _) | Limit::Queue(n, _) => n,
        }
    }

    /// Whose slots, and what happens when they run out.
    fn describe(self) -> (String, &'static str) {
        match self {
            Limit::Bulkhead(n, field) => (
                format!("its bulkhead's {n} slots ([resilience.bulkhead] {field})"),
                "expect refusals, and each refusal fails a payment",
            ),
            Limit::Queue(n, field) => (
                format!("its {n} slots ({field})"),
                "calls will queue for a slot and the wait grows while the peak lasts; expect latency objectives to fail",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(name: &str) -> Workload {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        Workload::from_path(&root.join("workloads").join(name)).expect("workload loads")
    }

    #[test]
    fn the_shipped_workloads_fit_their_bulkheads() {
        for name in ["steady.toml", "black-friday.toml", "singles-day-peak.toml"] {
            assert_eq!(
                warnings(&workload(name), 1.0),
                Vec::<String>::new(),
                "{name}"
            );
        }
    }

    #[test]
    fn the_default_issuer_bulkhead_is_flagged_at_the_singles_day_peak() {
        let mut w = workload("singles-day-peak.toml");
        w.file.cells = 1; // one stack takes the whole peak
        w.file.resilience.bulkhead = Default::default();
        let got = warnings(&w, 1.0);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("each of the 4 issuers"), "{}", got[0]);
        assert!(got[0].contains("2500 slots"), "{}", got[0]);
        // A tenth of the peak fits (about 770 in flight per issuer).
        assert!(warnings(&w, 0.1).is_empty());
        // Without bulkheads nothing refuses, so nothing is flagged.
        w.file.resilience.bulkhead.enabled = false;
        assert!(warnings(&w, 1.0).is_empty());
    }

    #[test]
    fn in_cells_a_warning_judges_one_cells_share_against_one_cells_stack() {
        let mut w = workload("singles-day-peak.toml");
        w.file.resilience.bulkhead = Default::default();
        // About 7,700 in flight per issuer against 2,500 slots: four cells
        // take it to about 1,900, which fits...
        w.file.cells = 4;
        assert!(warnings(&w, 1.0).is_empty(), "{:?}", warnings(&w, 1.0));
        // ... and two cells to about 3,850, which does not, in each cell.
        w.file.cells = 2;
        let got = warnings(&w, 1.0);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("warning, in each of 2 cells: at the peak of 291500 payments/s"),
            "{}",
            got[0]
        );
    }

    #[test]
    fn queues_too_small_for_the_peak_are_flagged_as_queues() {
        let mut w = workload("singles-day-peak.toml");
        w.file.cells = 1; // one stack takes the whole peak
                          // Each issuer expects about 7,700 calls in flight at the peak.
        w.file.stack.issuers.capacity = 5_000;
        let got = warnings(&w, 1.0);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("each of the 4 issuers"), "{}", got[0]);
        assert!(got[0].contains("[stack.issuers] capacity"), "{}", got[0]);
        assert!(got[0].contains("queue"), "{}", got[0]);
        // A bulkhead smaller than the queue refuses before it fills: only
        // the bulkhead's warning is true then.
        w.file.resilience.bulkhead.max_concurrent = 4_000;
        let capped = warnings(&w, 1.0);
        assert_eq!(capped.len(), 1, "{capped:?}");
        assert!(
            capped[0].contains("[resilience.bulkhead] max_concurrent"),
            "{}",
            capped[0]
        );
        // Queues wait whether or not bulkheads are on.
        w.file.resilience.bulkhead.enabled = false;
        assert_eq!(warnings(&w, 1.0), got);
        // The links are held for the issuer's latency, all issuers together.
        let mut w = workload("singles-day-peak.toml");
        w.file.cells = 1;
        w.file.stack.networks.links = 1_000;
        let got = warnings(&w, 1.0);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].contains("the links of each of the 2 card networks"),
            "{}",
            got[0]
        );
    }
}
