//! Latency histograms. HdrHistogram, never a vector of samples: memory is
//! fixed whatever the run's length, and histograms from several runs merge.

pub mod buckets;
pub mod gauges;
pub mod latency;
pub mod timeseries;

pub use latency::{ByMethod, LatencyBook, OpKind, Percentiles};
pub use timeseries::{TimeSeries, TimeSeriesReport};
