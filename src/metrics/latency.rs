//! Latency per operation, kept twice: corrected (from the intended send time
//! of the logical request, so a stalled stack cannot hide its stall — wrk2's
//! coordinated-omission correction) and service time (from the actual send of
//! each attempt).

use hdrhistogram::Histogram;

/// The operations whose latency is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpKind {
    DeviceAuth,
    Create,
    Capture,
    Void,
    Refund,
    Get,
}

impl OpKind {
    pub const ALL: [OpKind; 6] = [
        OpKind::DeviceAuth,
        OpKind::Create,
        OpKind::Capture,
        OpKind::Void,
        OpKind::Refund,
        OpKind::Get,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::DeviceAuth => "device_auth",
            OpKind::Create => "create",
            OpKind::Capture => "capture",
            OpKind::Void => "void",
            OpKind::Refund => "refund",
            OpKind::Get => "get",
        }
    }
}

/// Microseconds, 1 µs to 1 hour, 3 significant digits: about 30 KiB each.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds are valid")
}

pub struct LatencyBook {
    corrected: Vec<Histogram<u64>>,
    service: Vec<Histogram<u64>>,
}

impl Default for LatencyBook {
    fn default() -> Self {
        LatencyBook {
            corrected: OpKind::ALL.iter().map(|_| new_histogram()).collect(),
            service: OpKind::ALL.iter().map(|_| new_histogram()).collect(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl LatencyBook {
    pub fn record_corrected(&mut self, op: OpKind, us: u64) {
        self.corrected[op as usize].saturating_record(us.max(1));
    }

    pub fn record_service(&mut self, op: OpKind, us: u64) {
        self.service[op as usize].saturating_record(us.max(1));
    }

    /// Percentiles in milliseconds per operation that saw traffic.
    pub fn corrected_ms(&self) -> Vec<(&'static str, Percentiles)> {
        summarize(&self.corrected)
    }

    pub fn service_ms(&self) -> Vec<(&'static str, Percentiles)> {
        summarize(&self.service)
    }
}

fn summarize(hists: &[Histogram<u64>]) -> Vec<(&'static str, Percentiles)> {
    let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
    OpKind::ALL
        .iter()
        .zip(hists)
        .filter(|(_, h)| !h.is_empty())
        .map(|(op, h)| {
            (
                op.as_str(),
                Percentiles {
                    count: h.len(),
                    p50: ms(h.value_at_quantile(0.50)),
                    p90: ms(h.value_at_quantile(0.90)),
                    p99: ms(h.value_at_quantile(0.99)),
                    p999: ms(h.value_at_quantile(0.999)),
                    max: ms(h.max()),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut book = LatencyBook::default();
        for us in 1..=1000u64 {
            book.record_corrected(OpKind::Create, us * 1000);
        }
        let all = book.corrected_ms();
        assert_eq!(all.len(), 1, "only operations with traffic are listed");
        let (name, p) = all[0];
        assert_eq!(name, "create");
        assert_eq!(p.count, 1000);
        assert!((p.p50 - 500.0).abs() <= 1.0, "{p:?}");
        assert!((p.p99 - 990.0).abs() <= 1.0, "{p:?}");
        assert!((p.max - 1000.0).abs() <= 1.0, "{p:?}");
    }
}
