//! Latency per operation, kept twice: corrected (from the intended send time
//! of the logical request, so a stalled stack cannot hide its stall — wrk2's
//! coordinated-omission correction) and service time (from the actual send of
//! each attempt, once the client holds a connection). Both are also kept per
//! (operation, payment method). A payment's corrected latency is also kept
//! by the customer's bank, so a slow issuer's cost to the others shows.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::domain::{IssuerId, Method};

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

    /// The operation named `name` (as [`OpKind::as_str`] writes it).
    pub fn parse(name: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|op| op.as_str() == name)
    }

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

/// Microseconds, 1 µs to 1 hour, 3 significant digits: 23,552 counters
/// (184 KiB) each.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds are valid")
}

/// Slots of the per-(operation, method) histograms.
const PAIRS: usize = OpKind::ALL.len() * Method::ALL.len();

fn pair_index(op: OpKind, method: Method) -> usize {
    op as usize * Method::ALL.len() + method_index(method)
}

fn method_index(method: Method) -> usize {
    Method::ALL
        .iter()
        .position(|m| *m == method)
        .expect("Method::ALL lists every method")
}

/// Histograms per (operation, method): a fixed 6 × 5 slots of each kind, a
/// slot's histogram allocated the first time it sees traffic, so memory
/// never grows with the run's length. An operation's histogram is the sum of
/// its methods', added up when it is read: recording each value once, not
/// twice, halves the cost of the one call every request makes.
///
/// Values are counted [`DEFERRED`] at a time ([`LatencyBook::settle`]):
/// each count lands on a histogram counter that is usually a cache miss by
/// the time the next request of its kind finishes, and a run of counts
/// lets those misses overlap instead of each stalling the request that
/// finished. A book handed out for reading is settled.
#[derive(Clone)]
pub struct LatencyBook {
    corrected_by_method: Vec<Option<Histogram<u64>>>,
    service_by_method: Vec<Option<Histogram<u64>>>,
    /// Corrected payment (create) latency by issuer index: one slot per
    /// issuer, at most 65,536.
    by_issuer: Vec<Option<Histogram<u64>>>,
    /// Values recorded and not yet counted, by [`Slot`].
    deferred: Vec<(Slot, u64)>,
}

/// Values counted at a time (bounded: 16 bytes each).
const DEFERRED: usize = 64;

/// Which histogram a deferred value goes to.
#[derive(Clone, Copy)]
enum Slot {
    Corrected(u8),
    Service(u8),
    Issuer(u16),
}

impl Default for LatencyBook {
    fn default() -> Self {
        LatencyBook {
            corrected_by_method: (0..PAIRS).map(|_| None).collect(),
            service_by_method: (0..PAIRS).map(|_| None).collect(),
            by_issuer: Vec::new(),
            deferred: Vec::new(),
        }
    }
}

/// Percentiles per method, then per operation, in name order:
/// `{ "<method>": { "<op>": Percentiles } }`, only pairs with traffic.
pub type ByMethod = BTreeMap<&'static str, BTreeMap<&'static str, Percentiles>>;

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
    pub fn record_corrected(&mut self, op: OpKind, method: Method, us: u64) {
        self.defer(Slot::Corrected(pair_index(op, method) as u8), us);
    }

    pub fn record_service(&mut self, op: OpKind, method: Method, us: u64) {
        self.defer(Slot::Service(pair_index(op, method) as u8), us);
    }

    /// A payment's corrected latency, by the customer's bank.
    pub fn record_by_issuer(&mut self, issuer: IssuerId, us: u64) {
        self.defer(Slot::Issuer(issuer.0), us);
    }

    fn defer(&mut self, slot: Slot, us: u64) {
        self.deferred.push((slot, us.max(1)));
        if self.deferred.len() >= DEFERRED {
            self.settle();
        }
    }

    /// Counts every value recorded so far.
    pub fn settle(&mut self) {
        for (slot, us) in self.deferred.drain(..) {
            let h = match slot {
                Slot::Corrected(i) => &mut self.corrected_by_method[usize::from(i)],
                Slot::Service(i) => &mut self.service_by_method[usize::from(i)],
                Slot::Issuer(i) => {
                    let i = usize::from(i);
                    if self.by_issuer.len() <= i {
                        self.by_issuer.resize_with(i + 1, || None);
                    }
                    &mut self.by_issuer[i]
                }
            };
            h.get_or_insert_with(new_histogram).saturating_record(us);
        }
    }

    /// This book with every value counted: itself if it is settled, else a
    /// settled copy (a reader holding an unsettled book, as a test may).
    fn settled(&self) -> std::borrow::Cow<'_, LatencyBook> {
        if self.deferred.is_empty() {
            std::borrow::Cow::Borrowed(self)
        } else {
            let mut book = self.clone();
            book.settle();
            std::borrow::Cow::Owned(book)
        }
    }

    /// Every histogram with traffic, by a tag naming it:
    /// `corrected/<method>/<op>`, `service/<method>/<op>` and
    /// `issuer/<n>` (corrected payment latency by the customer's bank).
    /// What the run's histogram log records; the per-operation histograms
    /// are the sums of their methods', so they are not listed.
    ///
    /// Panics on a book with values not yet counted: [`LatencyBook::settle`]
    /// it first (the recorder hands out settled books).
    pub fn tagged(&self) -> Vec<(String, &Histogram<u64>)> {
        assert!(
            self.deferred.is_empty(),
            "a latency book read before its deferred values were counted"
        );
        let mut out = Vec::new();
        for (kind, slots) in [
            ("corrected", &self.corrected_by_method),
            ("service", &self.service_by_method),
        ] {
            for op in OpKind::ALL {
                for method in Method::ALL {
                    if let Some(h) = slots[pair_index(op, method)]
                        .as_ref()
                        .filter(|h| !h.is_empty())
                    {
                        out.push((format!("{kind}/{}/{}", method.as_str(), op.as_str()), h));
                    }
                }
            }
        }
        for (i, h) in self.by_issuer.iter().enumerate() {
            if let Some(h) = h.as_ref().filter(|h| !h.is_empty()) {
                out.push((format!("issuer/{i}"), h));
            }
        }
        out
    }

    /// Adds a histogram [`LatencyBook::tagged`] named `tag` (another run's,
    /// read back from its log). `Err` says what is wrong with the tag.
    pub fn add_tagged(&mut self, tag: &str, h: &Histogram<u64>) -> Result<(), String> {
        self.settle();
        let parts: Vec<&str> = tag.split('/').collect();
        let add = |slot: &mut Option<Histogram<u64>>| {
            slot.get_or_insert_with(new_histogram)
                .add(h)
                .map_err(|e| format!("histogram `{tag}` does not fit: {e:?}"))
        };
        match parts[..] {
            ["issuer", n] => {
                let i: u16 = n.parse().map_err(|_| format!("bad issuer in `{tag}`"))?;
                let i = usize::from(i);
                if self.by_issuer.len() <= i {
                    self.by_issuer.resize_with(i + 1, || None);
                }
                add(&mut self.by_issuer[i])
            }
            [kind @ ("corrected" | "service"), method, op] => {
                let method = Method::ALL
                    .into_iter()
                    .find(|m| m.as_str() == method)
                    .ok_or_else(|| format!("unknown method in `{tag}`"))?;
                let op =
                    OpKind::parse(op).ok_or_else(|| format!("unknown operation in `{tag}`"))?;
                let slots = if kind == "corrected" {
                    &mut self.corrected_by_method
                } else {
                    &mut self.service_by_method
                };
                add(&mut slots[pair_index(op, method)])
            }
            _ => Err(format!("unknown histogram tag `{tag}`")),
        }
    }

    /// Corrected payment latency by issuer (`"issuer:N"`), issuers with
    /// traffic only.
    pub fn corrected_ms_by_issuer(&self) -> Vec<(IssuerId, Percentiles)> {
        self.settled()
            .by_issuer
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let h = h.as_ref().filter(|h| !h.is_empty())?;
                Some((IssuerId(i as u16), percentiles(h)))
            })
            .collect()
    }

    /// Percentiles in milliseconds per operation that saw traffic.
    pub fn corrected_ms(&self) -> Vec<(&'static str, Percentiles)> {
        summarize(&self.settled().corrected_by_method)
    }

    pub fn service_ms(&self) -> Vec<(&'static str, Percentiles)> {
        summarize(&self.settled().service_by_method)
    }

    /// Corrected latency per method and operation.
    pub fn corrected_ms_by_method(&self) -> ByMethod {
        summarize_by_method(&self.settled().corrected_by_method)
    }

    /// Service time per method and operation.
    pub fn service_ms_by_method(&self) -> ByMethod {
        summarize_by_method(&self.settled().service_by_method)
    }
}

/// Microseconds to milliseconds, kept to the microsecond.
pub(crate) fn us_to_ms(us: u64) -> f64 {
    (us as f64 / 1000.0 * 1000.0).round() / 1000.0
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    Percentiles {
        count: h.len(),
        p50: us_to_ms(h.value_at_quantile(0.50)),
        p90: us_to_ms(h.value_at_quantile(0.90)),
        p99: us_to_ms(h.value_at_quantile(0.99)),
        p999: us_to_ms(h.value_at_quantile(0.999)),
        max: us_to_ms(h.max()),
    }
}

/// Per operation with traffic: the sum of its methods' histograms.
fn summarize(hists: &[Option<Histogram<u64>>]) -> Vec<(&'static str, Percentiles)> {
    OpKind::ALL
        .iter()
        .filter_map(|&op| {
            let mut total: Option<Histogram<u64>> = None;
            for method in Method::ALL {
                let Some(h) = hists[pair_index(op, method)].as_ref() else {
                    continue;
                };
                match &mut total {
                    None => total = Some(h.clone()),
                    // Same bounds by construction: adding cannot fail.
                    Some(t) => t.add(h).expect("histograms of one book share bounds"),
                }
            }
            let total = total.filter(|h| !h.is_empty())?;
            Some((op.as_str(), percentiles(&total)))
        })
        .collect()
}

fn summarize_by_method(hists: &[Option<Histogram<u64>>]) -> ByMethod {
    let mut out = ByMethod::new();
    for op in OpKind::ALL {
        for method in Method::ALL {
            if let Some(h) = &hists[pair_index(op, method)] {
                if !h.is_empty() {
                    out.entry(method.as_str())
                        .or_default()
                        .insert(op.as_str(), percentiles(h));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counting is deferred, never lost: a book read unsettled gives what
    /// the settled one does, and every value lands in its histogram.
    #[test]
    fn deferred_values_are_all_counted() {
        let mut book = LatencyBook::default();
        let n = 3 * DEFERRED as u64 + 5;
        for us in 1..=n {
            book.record_corrected(OpKind::Create, Method::QrWallet, us);
            book.record_service(OpKind::Capture, Method::CardNfc, us);
            book.record_by_issuer(IssuerId(3), us);
        }
        assert!(!book.deferred.is_empty(), "some values wait to be counted");
        let unsettled = (book.corrected_ms(), book.service_ms_by_method());
        let issuers = book.corrected_ms_by_issuer();
        book.settle();
        assert!(book.deferred.is_empty());
        assert_eq!(
            unsettled,
            (book.corrected_ms(), book.service_ms_by_method())
        );
        assert_eq!(issuers, book.corrected_ms_by_issuer());
        assert_eq!(book.corrected_ms()[0].1.count, n);
        let counted: u64 = book.tagged().iter().map(|(_, h)| h.len()).sum();
        assert_eq!(counted, 3 * n);
    }

    #[test]
    #[should_panic(expected = "deferred values")]
    fn tagged_refuses_an_unsettled_book() {
        let mut book = LatencyBook::default();
        book.record_corrected(OpKind::Create, Method::QrWallet, 7);
        let _ = book.tagged();
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut book = LatencyBook::default();
        for us in 1..=1000u64 {
            book.record_corrected(OpKind::Create, Method::CardOnline, us * 1000);
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

    #[test]
    fn per_method_histograms_split_what_the_operation_histogram_merges() {
        let mut book = LatencyBook::default();
        for i in 0..100u64 {
            book.record_corrected(OpKind::Create, Method::CardOnline, 10_000 + i);
            book.record_corrected(OpKind::Create, Method::BankInstant, 500_000 + i);
            book.record_service(OpKind::Create, Method::BankInstant, 400_000 + i);
        }
        book.record_corrected(OpKind::Refund, Method::CardOnline, 7_000);

        let all: BTreeMap<_, _> = book.corrected_ms().into_iter().collect();
        assert_eq!(all["create"].count, 200, "the operation keeps every method");
        assert!(all["create"].p99 >= 500.0, "{:?}", all["create"]);

        let by = book.corrected_ms_by_method();
        assert_eq!(
            by.keys().copied().collect::<Vec<_>>(),
            ["bank_instant", "card_online"],
            "only methods with traffic, in name order"
        );
        let card = &by["card_online"];
        assert_eq!(
            card.keys().copied().collect::<Vec<_>>(),
            ["create", "refund"]
        );
        assert_eq!(card["create"].count, 100);
        assert!(
            (card["create"].p99 - 10.1).abs() < 0.05,
            "{:?}",
            card["create"]
        );
        assert!(
            card["create"].max < 10.2,
            "card latency must not see bank's"
        );
        let bank = &by["bank_instant"];
        assert_eq!(bank.keys().copied().collect::<Vec<_>>(), ["create"]);
        assert!(
            (bank["create"].p50 - 500.0).abs() < 1.0,
            "{:?}",
            bank["create"]
        );

        let service = book.service_ms_by_method();
        assert_eq!(
            service.keys().copied().collect::<Vec<_>>(),
            ["bank_instant"]
        );
        assert!((service["bank_instant"]["create"].p50 - 400.0).abs() < 1.0);
    }

    #[test]
    fn per_method_slots_are_fixed() {
        let mut book = LatencyBook::default();
        for op in OpKind::ALL {
            for method in Method::ALL {
                for us in [1, 1_000, 3_600_000_000, u64::MAX] {
                    book.record_corrected(op, method, us);
                    book.record_service(op, method, us);
                }
            }
        }
        book.settle();
        assert_eq!(book.corrected_by_method.len(), 30);
        assert_eq!(book.service_by_method.len(), 30);
        assert!(book.corrected_by_method.iter().all(Option::is_some));
        let by = book.corrected_ms_by_method();
        assert_eq!(by.len(), 5);
        assert!(by.values().all(|ops| ops.len() == 6));
        assert!(by.values().flat_map(|o| o.values()).all(|p| p.count == 4));
    }
}
