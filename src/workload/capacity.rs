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
//! The estimate uses the peak rate of the curve, each route's share of the
//! mix and the models' mean latencies; it leaves out the bank batch rail
//! (its calls come in bursts at each batch), retries and captures, so it is
//! a floor on the demand: a warning means refusals are all but certain.

use crate::sim::LatencySpec;

use super::Workload;

/// Demand above this share of a bulkhead's slots gets a warning: Poisson
/// arrivals and the latency tail push the peak well above the mean.
const HEADROOM: f64 = 0.8;

/// One line per downstream whose bulkhead the expected load overfills.
pub fn warnings(w: &Workload, rate_scale: f64) -> Vec<String> {
    let f = &w.file;
    let Some(curve) = w.curve(rate_scale) else {
        return Vec::new();
    };
    if !f.resilience.bulkheads() {
        return Vec::new();
    }
    let peak = curve.peak_rate();
    let mean = |spec: &LatencySpec| spec.to_model().map_or(0.0, |m| m.mean_ms());
    let issuer_ms = mean(&f.stack.issuers.latency);
    let network_ms = mean(&f.stack.networks.latency);
    let cards = f.mix.card_online + f.mix.card_nfc;
    let mut out = Vec::new();
    let mut check = |what: String, per_s: f64, latency_ms: f64, slots: u32, field: &str| {
        let in_flight = per_s * latency_ms / 1000.0;
        if in_flight > HEADROOM * f64::from(slots) {
            out.push(format!(
                "warning: at the peak of {peak:.0} payments/s, {what} can expect about {in_flight:.0} calls in flight \
                 (Little's law: {per_s:.0} calls/s x {latency_ms:.0} ms mean latency), more than {:.0}% of its \
                 bulkhead's {slots} slots ([resilience.bulkhead] {field}): expect refusals, and each refusal fails a payment",
                HEADROOM * 100.0
            ));
        }
    };
    let issuers = f.stack.issuers.count.max(1);
    // Cards reach an issuer through their network; QR wallets and instant
    // transfers debit the linked account at the issuer directly.
    let to_issuers = peak * (cards + f.mix.qr_wallet + f.mix.bank_instant);
    check(
        format!("each of the {issuers} issuers"),
        to_issuers / f64::from(issuers),
        issuer_ms,
        f.resilience.bulkhead.max_concurrent,
        "max_concurrent",
    );
    let networks = f.stack.networks.first_digits.len().max(1) as u32;
    check(
        format!("each of the {networks} card networks"),
        peak * cards / f64::from(networks),
        network_ms + issuer_ms,
        f.resilience.bulkhead.network_max_concurrent,
        "network_max_concurrent",
    );
    out
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
}
