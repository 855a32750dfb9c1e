//! `histograms.hlog`: the run's latency histograms as an HdrHistogram
//! interval log (the format of HdrHistogram's `HistogramLogWriter`, which
//! `HistogramLogProcessor` and the HdrHistogram plotters read), so runs from
//! several machines merge exactly (`paystorm merge`): percentiles cannot be
//! averaged, histograms can be added.
//!
//! Values are microseconds. `StartTime` and `BaseTime` are the run's start
//! (the fixed sim epoch in sim mode, so the file is byte-identical for a
//! seed; merge aligns runs by it); each interval's timestamp is seconds
//! since then. Tags:
//! - the whole run (timestamp 0, lasting the run): `corrected/<method>/<op>`
//!   and `service/<method>/<op>`, `issuer/<n>` (corrected payment latency by
//!   the customer's bank), and `slo/<i>` for the i-th objective (from 0) if
//!   it has a latency threshold;
//! - each bucket of the time series: `bucket/latency` (corrected latency of
//!   the payments completed in it), `bucket/service` (service time of the
//!   attempts answered in it), and `bucket/slo/<i>`.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriter, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::{Counter, Histogram};

use crate::metrics::timeseries::Bucket;
use crate::metrics::{LatencyBook, TimeSeries};
use crate::slo::SloBook;

/// The file's name in a run directory.
pub const FILE: &str = "histograms.hlog";

/// Tag of the per-bucket corrected latency.
pub const BUCKET_LATENCY: &str = "bucket/latency";
/// Tag of the per-bucket service time.
pub const BUCKET_SERVICE: &str = "bucket/service";

/// Tag of objective `i`'s whole-run histogram.
pub fn slo_tag(i: usize) -> String {
    format!("slo/{i}")
}

/// Tag of objective `i`'s per-bucket histograms.
pub fn bucket_slo_tag(i: usize) -> String {
    format!("bucket/slo/{i}")
}

/// Writes the log. `start_unix_s`: when the run started; `run_s`: how
/// long it lasted (the whole-run intervals' length).
pub fn write(
    path: &Path,
    latency: &LatencyBook,
    series: &TimeSeries,
    slos: &SloBook,
    start_unix_s: u64,
    run_s: f64,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let start = UNIX_EPOCH + Duration::from_secs(start_unix_s);
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(
            "paystorm latency histograms, in microseconds; tags are explained in src/report/hlog.rs",
        )
        .with_start_time(start)
        .with_base_time(start)
        .begin_log_with(&mut buf, &mut serializer)?;
    let whole = Duration::from_secs_f64(run_s.max(0.0));
    for (tag, h) in latency.tagged() {
        put(&mut log, &tag, h, Duration::ZERO, whole)?;
    }
    for (i, s) in slos.series().iter().enumerate() {
        if let Some(h) = s.latency.as_ref().filter(|h| !h.is_empty()) {
            put(&mut log, &slo_tag(i), h, Duration::ZERO, whole)?;
        }
    }
    let width = Duration::from_micros(series.width_us());
    for (tag, pick) in [
        (
            BUCKET_LATENCY,
            (|b| b.latency.as_ref()) as fn(&Bucket) -> Option<&Histogram<u32>>,
        ),
        (BUCKET_SERVICE, |b| b.service.as_ref()),
    ] {
        for (i, b) in series.buckets().iter().enumerate() {
            if let Some(h) = pick(b) {
                put(&mut log, tag, h, width * i as u32, width)?;
            }
        }
    }
    for (i, s) in slos.series().iter().enumerate() {
        let width = Duration::from_micros(s.buckets.width_us());
        for (j, b) in s.buckets.as_slice().iter().enumerate() {
            if let Some(h) = &b.latency {
                put(&mut log, &bucket_slo_tag(i), h, width * j as u32, width)?;
            }
        }
    }
    drop(log);
    std::fs::write(path, buf)
}

/// Writes one interval: `h` from `at` (since the run's start) for `len`.
fn put<T: Counter>(
    log: &mut IntervalLogWriter<'_, '_, Vec<u8>, V2DeflateSerializer>,
    tag: &str,
    h: &Histogram<T>,
    at: Duration,
    len: Duration,
) -> std::io::Result<()> {
    let tag = Tag::new(tag).ok_or_else(|| std::io::Error::other(format!("bad tag `{tag}`")))?;
    log.write_histogram(h, at, len, Some(tag))
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// A log read back: its start and its intervals, histograms still encoded
/// (each is decoded with the counter width its user needs).
pub struct HistogramLog {
    /// Unix seconds the run started at (`StartTime`).
    pub start_unix_s: f64,
    pub intervals: Vec<Interval>,
}

pub struct Interval {
    pub tag: String,
    /// Seconds from the run's start.
    pub start_s: f64,
    pub length_s: f64,
    encoded: Vec<u8>,
}

impl Interval {
    /// The histogram, with counters of type `T`.
    pub fn histogram<T: Counter>(&self) -> Result<Histogram<T>, String> {
        Deserializer::new()
            .deserialize(&mut self.encoded.as_slice())
            .map_err(|e| format!("histogram `{}` at {} s: {e:?}", self.tag, self.start_s))
    }
}

/// Reads `path`. Errors name the file and, for a malformed line, its
/// number.
pub fn read(path: &Path) -> Result<HistogramLog, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let bad = |offset: usize, what: &str| {
        let line = text[..offset.min(text.len())]
            .iter()
            .filter(|&&c| c == b'\n')
            .count()
            + 1;
        format!(
            "`{}` line {line}: {what} (expected an HdrHistogram interval log as `paystorm run` writes)",
            path.display()
        )
    };
    let mut start_unix_s = None;
    let mut base_s = 0.0;
    let mut intervals = Vec::new();
    for entry in IntervalLogIterator::new(&text) {
        match entry {
            Err(hdrhistogram::serialization::interval_log::LogIteratorError::ParseError {
                offset,
            }) => return Err(bad(offset, "not an interval log line")),
            Ok(LogEntry::StartTime(t)) => start_unix_s = Some(t.as_secs_f64()),
            Ok(LogEntry::BaseTime(t)) => base_s = t.as_secs_f64(),
            Ok(LogEntry::Interval(i)) => {
                let start = start_unix_s.unwrap_or(base_s);
                let tag = i.tag().map(|t| t.as_str().to_string()).unwrap_or_default();
                let encoded = base64::engine::general_purpose::STANDARD
                    .decode(i.encoded_histogram())
                    .map_err(|e| {
                        format!("`{}`: histogram `{tag}` is not base64: {e}", path.display())
                    })?;
                intervals.push(Interval {
                    start_s: base_s + i.start_timestamp().as_secs_f64() - start,
                    length_s: i.duration().as_secs_f64(),
                    tag,
                    encoded,
                });
            }
        }
    }
    Ok(HistogramLog {
        start_unix_s: start_unix_s.unwrap_or(base_s),
        intervals,
    })
}
