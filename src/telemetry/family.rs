//! Building metric families by hand, for the collectors that read the
//! stack's own counters at scrape time instead of keeping a second copy on
//! the hot path.

use prometheus::core::Desc;
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

/// What a metric is: counter, gauge or histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric of the catalogue: name, meaning, label names and type, said
/// once and used for its descriptor, its samples and its documentation.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: &'static [&'static str],
    pub kind: Kind,
}

impl Spec {
    pub const fn counter(
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Spec {
        Spec {
            name,
            help,
            labels,
            kind: Kind::Counter,
        }
    }

    pub const fn gauge(
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Spec {
        Spec {
            name,
            help,
            labels,
            kind: Kind::Gauge,
        }
    }

    pub const fn histogram(
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Spec {
        Spec {
            name,
            help,
            labels,
            kind: Kind::Histogram,
        }
    }

    /// An empty family to fill (counters and gauges only).
    pub fn family(&self) -> Family {
        let mut mf = MetricFamily::default();
        mf.set_name(self.name.to_string());
        mf.set_help(self.help.to_string());
        mf.set_field_type(match self.kind {
            Kind::Counter => MetricType::COUNTER,
            Kind::Gauge | Kind::Histogram => MetricType::GAUGE,
        });
        Family {
            mf,
            labels: self.labels,
        }
    }

    /// Its descriptor, for a collector's `desc`.
    pub fn desc(&self) -> Option<Desc> {
        Desc::new(
            self.name.to_string(),
            self.help.to_string(),
            self.labels.iter().map(|l| (*l).to_string()).collect(),
            Default::default(),
        )
        .ok()
    }
}

/// One family being filled; every sample carries the spec's label names.
pub struct Family {
    mf: MetricFamily,
    labels: &'static [&'static str],
}

impl Family {
    /// Adds a sample; `values` line up with the family's label names (a
    /// mismatch is a bug, and the sample is dropped rather than written
    /// with the wrong labels).
    pub fn add(&mut self, values: &[&str], value: f64) {
        debug_assert_eq!(values.len(), self.labels.len(), "{}", self.mf.name());
        if values.len() != self.labels.len() {
            return;
        }
        let mut m = Metric::default();
        m.set_label(
            self.labels
                .iter()
                .zip(values)
                .map(|(n, v)| {
                    let mut l = LabelPair::default();
                    l.set_name((*n).to_string());
                    l.set_value((*v).to_string());
                    l
                })
                .collect(),
        );
        match self.mf.get_field_type() {
            MetricType::COUNTER => {
                let mut c = Counter::default();
                c.set_value(value);
                m.set_counter(c);
            }
            _ => {
                let mut g = Gauge::default();
                g.set_value(value);
                m.set_gauge(g);
            }
        }
        self.mf.mut_metric().push(m);
    }

    /// A sample of an integer count.
    pub fn add_u64(&mut self, values: &[&str], value: u64) {
        self.add(values, value as f64);
    }

    pub fn done(self) -> MetricFamily {
        self.mf
    }
}
