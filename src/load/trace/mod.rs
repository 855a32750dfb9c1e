//! Trace replay: a CSV or JSON-lines file of payments
//! (timestamp, merchant, customer, amount, currency, method) replayed with its
//! original spacing divided by a speed factor, through the same open model as
//! a rate curve. And its inverse, `paystorm trace synth`: a trace drawn from a
//! workload's rate curve and mix, seeded, byte-identical for the same seed.
//!
//! Files are read streaming, one line at a time, twice: a validating pass
//! (every problem names the file, the line and the field), then the replay.
//! A trace is never held in memory.

use std::path::{Path, PathBuf};

use crate::domain::{Currency, Method};
use crate::workload::InputError;

use super::spec::{Arrival, FixedPayment};
use super::ArrivalSource;

mod reader;
mod synth;
use reader::Reader;
pub use synth::synth;

/// The columns, in order: the CSV header and the JSON-lines keys.
pub const FIELDS: [&str; 6] = [
    "timestamp_ms",
    "merchant",
    "customer",
    "amount_minor",
    "currency",
    "method",
];

/// The CSV header line, exactly.
pub const CSV_HEADER: &str = "timestamp_ms,merchant,customer,amount_minor,currency,method";

/// A line longer than this is refused (a record is well under 200 bytes).
const LINE_MAX: u64 = 4_096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    /// By file extension: `.csv` or `.jsonl`.
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => Some(Format::Csv),
            Some("jsonl") => Some(Format::JsonLines),
            _ => None,
        }
    }
}

/// Whether a path names a trace (by extension) rather than a workload.
pub fn is_trace_path(path: &Path) -> bool {
    Format::of(path).is_some()
}

/// One record of a trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Record {
    pub timestamp_ms: u64,
    pub merchant: u32,
    pub customer: u32,
    pub amount_minor: i64,
    pub currency: Currency,
    pub method: Method,
}

/// What a record must fit: the workload's currency and population. `None`
/// checks only the shape (a bare trace without a workload); then every
/// record must carry the first record's currency.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    pub currency: Option<Currency>,
    pub merchants: Option<u32>,
    pub customers: Option<u32>,
}

/// What a validating pass found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub records: u64,
    pub currency: Currency,
    /// Last timestamp minus the first, in seconds (at speed 1).
    pub duration_s: f64,
    pub max_merchant: u32,
    pub max_customer: u32,
}

/// A problem with a trace, before it is worded for the user.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// The trace as the user will recognise it.
    pub path: String,
    /// 1-based line; `None` when the file cannot be opened or named.
    pub line: Option<u64>,
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    /// Whether the problem is with reaching the file (its name or its
    /// existence) rather than with what it holds.
    pub fn is_access(&self) -> bool {
        self.line.is_none()
    }

    /// One paragraph: the file, the line, the field, what is wrong; then
    /// `hint`, the sentence that says what to do.
    pub fn render(&self, hint: &str) -> InputError {
        let mut s = format!("error: trace `{}`", self.path);
        if let Some(l) = self.line {
            s.push_str(&format!(", line {l}"));
        }
        if let Some(f) = &self.field {
            s.push_str(&format!(", field `{f}`"));
        }
        s.push_str(": ");
        s.push_str(&self.message);
        if !hint.is_empty() {
            s.push_str(". ");
            s.push_str(hint);
        }
        InputError(s)
    }

    /// The standard hint: fix it, check it again.
    pub fn render_default(&self) -> InputError {
        self.render(&format!(
            "Fix the trace, then check it with `paystorm validate {}`.",
            self.path
        ))
    }
}

/// Validating pass over a trace: the format, the order of timestamps, every
/// field of every record, against `limits`. Streaming, bounded memory.
pub fn scan(path: &Path, limits: &Limits) -> Result<Summary, Problem> {
    let mut reader = Reader::open(path)?;
    let mut first: Option<Record> = None;
    let mut summary = Summary {
        records: 0,
        currency: Currency::USD,
        duration_s: 0.0,
        max_merchant: 0,
        max_customer: 0,
    };
    while let Some((line, rec)) = reader.next_record()? {
        let at = |field: &str, message: String| Problem {
            path: reader.display.clone(),
            line: Some(line),
            field: Some(field.to_string()),
            message,
        };
        let expected = limits.currency.or(first.map(|f| f.currency));
        if let Some(c) = expected {
            if rec.currency != c {
                let why = if limits.currency.is_some() {
                    "the workload's currency"
                } else {
                    "the first record's currency (a run has one currency)"
                };
                return Err(at(
                    "currency",
                    format!("currency \"{}\" differs from {why}, {c}", rec.currency),
                ));
            }
        }
        if let Some(n) = limits.merchants {
            if rec.merchant >= n {
                return Err(at(
                    "merchant",
                    format!(
                        "merchant {} is out of range: the workload's population has {n} merchant{} (ids 0 to {})",
                        rec.merchant,
                        if n == 1 { "" } else { "s" },
                        n.saturating_sub(1)
                    ),
                ));
            }
        }
        if let Some(n) = limits.customers {
            if rec.customer >= n {
                return Err(at(
                    "customer",
                    format!(
                        "customer {} is out of range: the workload's population has {n} customer{} (ids 0 to {})",
                        rec.customer,
                        if n == 1 { "" } else { "s" },
                        n.saturating_sub(1)
                    ),
                ));
            }
        }
        let f = *first.get_or_insert(rec);
        summary.records += 1;
        summary.currency = f.currency;
        summary.duration_s = (rec.timestamp_ms - f.timestamp_ms) as f64 / 1e3;
        summary.max_merchant = summary.max_merchant.max(rec.merchant);
        summary.max_customer = summary.max_customer.max(rec.customer);
    }
    if summary.records == 0 {
        return Err(Problem {
            path: reader.display.clone(),
            line: Some(reader.line_no.max(1)),
            field: None,
            message: "the trace has no records; a replay needs at least one".into(),
        });
    }
    Ok(summary)
}

/// Checks a bare trace, without a workload: the format, the order, the
/// method names, amounts above 0, currency codes (one per trace). Ids are
/// range-checked only against a workload (`paystorm validate WORKLOAD`).
pub fn check_file(path: &Path) -> Result<Summary, InputError> {
    scan(path, &Limits::default()).map_err(|p| p.render_default())
}

/// Checks a trace against a workload's currency and population; the number
/// of records.
pub fn validate(
    path: &Path,
    currency: Currency,
    merchants: u32,
    customers: u32,
) -> Result<u64, InputError> {
    let limits = Limits {
        currency: Some(currency),
        merchants: Some(merchants),
        customers: Some(customers),
    };
    scan(path, &limits)
        .map(|s| s.records)
        .map_err(|p| p.render_default())
}

/// The replay: validates the whole trace first, then streams its records as
/// arrivals, time 0 at the first record, spacing divided by `speed`. The
/// second value is the number of arrivals to expect (the record count).
pub fn arrivals(
    path: &Path,
    speed: f64,
    currency: Currency,
    merchants: u32,
    customers: u32,
) -> Result<(ArrivalSource, f64), InputError> {
    if !(speed.is_finite() && speed > 0.0) {
        return Err(InputError(format!(
            "error: trace `{}`: the replay speed must be a number above 0, got {speed}",
            path.display()
        )));
    }
    let records = validate(path, currency, merchants, customers)?;
    let reader = Reader::open(path).map_err(|p| p.render_default())?;
    Ok((
        Box::new(Replay {
            reader,
            speed,
            t0: None,
        }),
        records as f64,
    ))
}

/// Streams a validated trace as arrivals.
struct Replay {
    reader: Reader,
    speed: f64,
    t0: Option<u64>,
}

impl Iterator for Replay {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        // The trace was validated just before; should it change under the
        // run, the replay ends at the first record it cannot read.
        let (_, rec) = self.reader.next_record().ok().flatten()?;
        let t0 = *self.t0.get_or_insert(rec.timestamp_ms);
        let offset_ms = rec.timestamp_ms.saturating_sub(t0) as f64;
        Some(Arrival {
            at_us: (offset_ms * 1_000.0 / self.speed).round() as u64,
            payment: Some(FixedPayment {
                merchant: rec.merchant,
                customer: rec.customer,
                amount_minor: rec.amount_minor,
                method: rec.method,
            }),
        })
    }
}

/// Where a workload's trace lives: its path is relative to the workload
/// file's directory.
pub fn resolve(base_dir: &Path, trace_path: &str) -> PathBuf {
    base_dir.join(trace_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    const CSV: &str = "timestamp_ms,merchant,customer,amount_minor,currency,method\n\
        1000,0,1,4500,USD,card_online\n\
        1000,1,2,100,USD,card_nfc\n\
        \n\
        3500,2,3,999,USD,bank_batch\n";

    #[test]
    fn csv_replays_with_spacing_divided_by_speed() {
        let (_d, p) = write("t.csv", CSV);
        let (src, n) = arrivals(&p, 2.0, Currency::USD, 3, 4).unwrap();
        assert_eq!(n, 3.0);
        let got: Vec<Arrival> = src.collect();
        let at: Vec<u64> = got.iter().map(|a| a.at_us).collect();
        assert_eq!(at, vec![0, 0, 1_250_000]);
        let last = got[2].payment.unwrap();
        assert_eq!(
            (last.merchant, last.customer, last.amount_minor, last.method),
            (2, 3, 999, Method::BankBatch)
        );
    }

    #[test]
    fn problems_name_line_and_field() {
        let bad = CSV.replace("3500,2,3,999,USD,bank_batch", "900,2,3,999,USD,bank_batch");
        let (_d, p) = write("t.csv", &bad);
        let e = scan(&p, &Limits::default()).unwrap_err();
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(5), Some("timestamp_ms"))
        );

        let (_d, p) = write("t.csv", CSV);
        let limits = Limits {
            currency: Some(Currency::USD),
            merchants: Some(2),
            customers: Some(100),
        };
        let e = scan(&p, &limits).unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (Some(5), Some("merchant")));

        let (_d, p) = write(
            "t.jsonl",
            "{\"timestamp_ms\":1,\"merchant\":0,\"customer\":0,\"amount_minor\":0,\"currency\":\"USD\",\"method\":\"qr_wallet\"}\n",
        );
        let e = scan(&p, &Limits::default()).unwrap_err();
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(1), Some("amount_minor"))
        );

        let (_d, p) = write("t.txt", CSV);
        assert!(scan(&p, &Limits::default()).unwrap_err().is_access());
    }

    #[test]
    fn header_only_trace_is_refused() {
        let (_d, p) = write("t.csv", &format!("{CSV_HEADER}\n"));
        let e = scan(&p, &Limits::default()).unwrap_err();
        assert!(e.message.contains("no records"), "{e:?}");
    }
}
