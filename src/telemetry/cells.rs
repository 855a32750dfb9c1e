//! The metrics of a run split into cells (`--cells N` with `--metrics-out`):
//! every cell's registry in one exposition, each series labelled with its
//! `cell`.
//!
//! Why a label and not a sum: cells are separate stacks, as separate
//! instances of a service are, and Prometheus keeps instances apart by a
//! label for the same reason. Counters and histograms would add up, but
//! the gauges would not: a breaker's state, a queue's depth, an
//! objective's burn rate or remaining budget are each one stack's, and a
//! sum of them means nothing. Labelled, every series stays what it was in
//! its cell, and `sum without (cell) (...)` gives the whole run's counters
//! and buckets — exactly, since a histogram's buckets add.
//!
//! `paystorm_build_info` says which build wrote the file: it is the same
//! for every cell and appears once, without a cell.

use prometheus::proto::{LabelPair, MetricFamily};
use prometheus::TextEncoder;

use super::{Telemetry, BUILD_INFO};

/// The label that tells cells apart.
pub const CELL_LABEL: &str = "cell";

/// Every cell's families, in the first cell's family order; each series
/// gains `cell="K"` (K its index in `cells`), except the build's.
pub fn gather(cells: &[std::sync::Arc<Telemetry>]) -> Vec<MetricFamily> {
    let mut merged: Vec<MetricFamily> = Vec::new();
    for (k, cell) in cells.iter().enumerate() {
        for mut family in cell.gather() {
            let at = merged.iter().position(|f| f.name() == family.name());
            if family.name() == BUILD_INFO.name {
                if at.is_none() {
                    merged.push(family);
                }
                continue;
            }
            let mut metrics = family.take_metric();
            for m in &mut metrics {
                let mut labels = m.take_label();
                let mut cell_label = LabelPair::default();
                cell_label.set_name(CELL_LABEL.to_string());
                cell_label.set_value(k.to_string());
                labels.push(cell_label);
                m.set_label(labels);
            }
            match at {
                Some(i) => merged[i].mut_metric().extend(metrics),
                None => {
                    family.set_metric(metrics);
                    merged.push(family);
                }
            }
        }
    }
    merged
}

/// [`gather`] in Prometheus' text format (version 0.0.4).
pub fn render(cells: &[std::sync::Arc<Telemetry>]) -> String {
    TextEncoder::new()
        .encode_to_string(&gather(cells))
        .unwrap_or_else(|e| format!("# paystorm: cannot encode the metrics: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Method;
    use crate::metrics::OpKind;
    use crate::slo::OutcomeClass;
    use crate::telemetry::exposition;

    #[test]
    fn no_metric_has_a_cell_label_of_its_own() {
        // Adding `cell` to a series that had one would write the label
        // twice, which Prometheus rejects.
        for spec in crate::telemetry::catalogue() {
            assert!(!spec.labels.contains(&CELL_LABEL), "{}", spec.name);
        }
    }

    #[test]
    fn each_cell_keeps_its_series_under_its_label_and_the_sums_add_up() {
        let cells: Vec<_> = (0..3).map(|_| Telemetry::new(&[]).unwrap()).collect();
        // Cell k records k + 1 creates.
        for (k, t) in cells.iter().enumerate() {
            for _ in 0..=k {
                t.client().request_ended(
                    OpKind::Create,
                    Method::CardOnline,
                    OutcomeClass::Ok,
                    1_000,
                    0,
                );
            }
        }
        let text = render(&cells);
        let samples = exposition::parse(&text).unwrap();
        let creates = |cell: &str| {
            exposition::sum(
                &samples,
                "paystorm_requests_total",
                &[("operation", "create"), (CELL_LABEL, cell)],
            )
        };
        assert_eq!((creates("0"), creates("1"), creates("2")), (1.0, 2.0, 3.0));
        assert_eq!(
            exposition::sum(&samples, "paystorm_requests_total", &[]),
            6.0
        );
        // One HELP and TYPE per family, whatever the number of cells.
        let types = text
            .lines()
            .filter(|l| l.starts_with("# TYPE paystorm_requests_total "))
            .count();
        assert_eq!(types, 1, "{text}");
        // The build appears once, without a cell; everything else has one.
        let builds: Vec<_> = samples
            .iter()
            .filter(|s| s.name == BUILD_INFO.name)
            .collect();
        assert_eq!(builds.len(), 1);
        assert!(!builds[0].labels.contains_key(CELL_LABEL));
        assert!(samples
            .iter()
            .filter(|s| s.name != BUILD_INFO.name)
            .all(|s| s.labels.contains_key(CELL_LABEL)));
    }
}
