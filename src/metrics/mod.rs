//! Latency histograms. HdrHistogram, never a vector of samples: memory is
//! fixed whatever the run's length, and histograms from several runs merge.

pub mod latency;

pub use latency::{LatencyBook, OpKind, Percentiles};
