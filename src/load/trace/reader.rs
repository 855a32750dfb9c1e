//! Reading a trace file, one line at a time, in either format: each record
//! checked field by field (a problem names the file, the line and the
//! field), timestamps never going back, lines and files bounded.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{Map, Value};

use crate::domain::{Currency, Method};

use super::{Format, Problem, Record, CSV_HEADER, FIELDS, LINE_MAX};

/// A line-at-a-time parser of either format. Holds one line.
pub(super) struct Reader {
    pub(super) display: String,
    format: Format,
    input: BufReader<File>,
    buf: String,
    pub(super) line_no: u64,
    header_seen: bool,
    prev_ts: Option<u64>,
}

impl Reader {
    pub(super) fn open(path: &Path) -> Result<Reader, Problem> {
        let display = path.display().to_string();
        let access = |message: String| Problem {
            path: display.clone(),
            line: None,
            field: None,
            message,
        };
        let format = Format::of(path).ok_or_else(|| {
            access(format!(
                "unknown trace format; name the file `.csv` (a header line `{CSV_HEADER}`, then one record per line) or `.jsonl` (one JSON object per line with those keys)"
            ))
        })?;
        let file = File::open(path).map_err(|e| access(format!("cannot read it: {e}")))?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(access("is a directory, not a trace file".into()));
        }
        Ok(Reader {
            display,
            format,
            input: BufReader::new(file),
            buf: String::new(),
            line_no: 0,
            header_seen: format == Format::JsonLines,
            prev_ts: None,
        })
    }

    fn problem(&self, field: Option<&str>, message: String) -> Problem {
        Problem {
            path: self.display.clone(),
            line: Some(self.line_no),
            field: field.map(str::to_string),
            message,
        }
    }

    /// The next non-blank line, without its line ending; `None` at the end.
    fn next_line(&mut self) -> Result<Option<()>, Problem> {
        loop {
            self.buf.clear();
            self.line_no += 1;
            let n = (&mut self.input)
                .take(LINE_MAX + 1)
                .read_line(&mut self.buf)
                .map_err(|e| {
                    let what = if e.kind() == std::io::ErrorKind::InvalidData {
                        "the line is not UTF-8 text".to_string()
                    } else {
                        format!("cannot read the line: {e}")
                    };
                    self.problem(None, what)
                })?;
            if n == 0 {
                self.line_no -= 1;
                return Ok(None);
            }
            if n as u64 > LINE_MAX {
                return Err(self.problem(
                    None,
                    format!("the line is longer than {LINE_MAX} bytes; a record is one short line"),
                ));
            }
            let trimmed = self.buf.trim_end_matches(['\n', '\r']).len();
            self.buf.truncate(trimmed);
            if self.line_no == 1 && self.buf.starts_with('\u{feff}') {
                self.buf.drain(..'\u{feff}'.len_utf8());
            }
            if !self.buf.trim().is_empty() {
                return Ok(Some(()));
            }
        }
    }

    /// The next record with its line number, fully checked except against
    /// the workload (see [`scan`]).
    pub(super) fn next_record(&mut self) -> Result<Option<(u64, Record)>, Problem> {
        if !self.header_seen {
            if self.next_line()?.is_none() {
                return Err(Problem {
                    path: self.display.clone(),
                    line: Some(1),
                    field: None,
                    message: format!(
                        "the file is empty; a CSV trace starts with the header line `{CSV_HEADER}`"
                    ),
                });
            }
            self.check_header()?;
            self.header_seen = true;
        }
        if self.next_line()?.is_none() {
            return Ok(None);
        }
        let raw = match self.format {
            Format::Csv => self.csv_fields()?,
            Format::JsonLines => self.json_fields()?,
        };
        let rec = self.record(raw)?;
        if let Some(prev) = self.prev_ts {
            if rec.timestamp_ms < prev {
                return Err(self.problem(
                    Some("timestamp_ms"),
                    format!(
                        "timestamp {} is earlier than the previous record's {prev}; timestamps must not decrease",
                        rec.timestamp_ms
                    ),
                ));
            }
        }
        self.prev_ts = Some(rec.timestamp_ms);
        Ok(Some((self.line_no, rec)))
    }

    fn check_header(&self) -> Result<(), Problem> {
        let got: Vec<&str> = self.buf.split(',').map(str::trim).collect();
        if got.len() == FIELDS.len() && got.iter().zip(FIELDS).all(|(g, f)| *g == f) {
            return Ok(());
        }
        let (field, what) = match got.iter().zip(FIELDS).position(|(g, f)| *g != f) {
            Some(i) => (
                FIELDS[i],
                format!("column {} of the header is `{}`", i + 1, got[i]),
            ),
            None if got.len() < FIELDS.len() => (
                FIELDS[got.len()],
                format!("the header has {} columns, not {}", got.len(), FIELDS.len()),
            ),
            None => (
                "method",
                format!("the header has {} columns, not {}", got.len(), FIELDS.len()),
            ),
        };
        Err(self.problem(
            Some(field),
            format!("{what}; the first line must be exactly `{CSV_HEADER}`"),
        ))
    }

    fn csv_fields(&self) -> Result<[RawValue; 6], Problem> {
        let parts: Vec<&str> = self.buf.split(',').collect();
        if parts.len() != FIELDS.len() {
            let (field, what) = if parts.len() < FIELDS.len() {
                (
                    FIELDS[parts.len()],
                    format!("missing: the record has {} of 6 columns", parts.len()),
                )
            } else {
                (
                    "method",
                    format!(
                        "the record has {} columns, not 6; nothing may follow `method`",
                        parts.len()
                    ),
                )
            };
            return Err(self.problem(Some(field), format!("{what} (expected `{CSV_HEADER}`)")));
        }
        Ok(std::array::from_fn(|i| {
            RawValue::Text(parts[i].trim().to_string())
        }))
    }

    fn json_fields(&self) -> Result<[RawValue; 6], Problem> {
        let map: Map<String, Value> = serde_json::from_str(&self.buf).map_err(|e| {
            // Name the key nearest before the error, as a reader would.
            let upto: String = self.buf.chars().take(e.column()).collect();
            let field = FIELDS
                .iter()
                .filter_map(|f| upto.rfind(&format!("\"{f}\"")).map(|at| (at, *f)))
                .max()
                .map(|(_, f)| f);
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg);
            self.problem(
                field,
                format!(
                    "not a JSON object ({msg} at column {}); each line must be one object like {{\"timestamp_ms\":0,\"merchant\":0,\"customer\":0,\"amount_minor\":4500,\"currency\":\"USD\",\"method\":\"card_online\"}}",
                    e.column()
                ),
            )
        })?;
        if let Some(k) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(self.problem(
                Some(k),
                format!("unknown field; the keys are {}", FIELDS.join(", ")),
            ));
        }
        let mut out: [RawValue; 6] = std::array::from_fn(|_| RawValue::Missing);
        for (i, f) in FIELDS.iter().enumerate() {
            out[i] = match map.get(*f) {
                None => return Err(self.problem(Some(f), "missing".into())),
                Some(Value::String(s)) => RawValue::Text(s.clone()),
                Some(Value::Number(n)) => RawValue::Number(n.clone()),
                Some(v) => RawValue::Other(v.to_string()),
            };
        }
        Ok(out)
    }

    fn record(&self, raw: [RawValue; 6]) -> Result<Record, Problem> {
        let [ts, merchant, customer, amount, currency, method] = raw;
        let timestamp_ms = self.unsigned("timestamp_ms", &ts, "milliseconds")?;
        let merchant = self.id("merchant", &merchant)?;
        let customer = self.id("customer", &customer)?;
        let amount_minor = match self.integer("amount_minor", &amount, "minor units")? {
            n if n > 0 => n,
            n => {
                return Err(self.problem(
                    Some("amount_minor"),
                    format!("amount {n} must be above 0 (minor units, e.g. cents)"),
                ))
            }
        };
        let currency_text = self.text("currency", &currency)?;
        let currency = Currency::parse(currency_text).ok_or_else(|| {
            self.problem(
                Some("currency"),
                format!(
                    "\"{currency_text}\" is not a currency code; expected three upper-case letters (ISO 4217), like USD"
                ),
            )
        })?;
        let method_text = self.text("method", &method)?;
        let method = Method::ALL
            .into_iter()
            .find(|m| m.as_str() == method_text)
            .ok_or_else(|| {
                let known: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
                self.problem(
                    Some("method"),
                    format!(
                        "unknown method \"{method_text}\"; expected one of {}",
                        known.join(", ")
                    ),
                )
            })?;
        Ok(Record {
            timestamp_ms,
            merchant,
            customer,
            amount_minor,
            currency,
            method,
        })
    }

    fn integer(&self, field: &str, v: &RawValue, unit: &str) -> Result<i64, Problem> {
        let parsed = match v {
            RawValue::Text(s) if self.format == Format::Csv => s.parse::<i64>().ok(),
            RawValue::Number(n) => n.as_i64(),
            _ => None,
        };
        parsed.ok_or_else(|| {
            self.problem(
                Some(field),
                format!("expected a whole number of {unit}, got {}", v.shown()),
            )
        })
    }

    fn unsigned(&self, field: &str, v: &RawValue, unit: &str) -> Result<u64, Problem> {
        let n = self.integer(field, v, unit)?;
        u64::try_from(n).map_err(|_| {
            self.problem(
                Some(field),
                format!("expected a whole number of {unit} of 0 or more, got {n}"),
            )
        })
    }

    fn id(&self, field: &str, v: &RawValue) -> Result<u32, Problem> {
        let n = self.unsigned(field, v, "an id (0, 1, 2, ...)")?;
        u32::try_from(n).map_err(|_| {
            self.problem(
                Some(field),
                format!("id {n} is beyond any population (at most {})", u32::MAX),
            )
        })
    }

    fn text<'a>(&self, field: &str, v: &'a RawValue) -> Result<&'a str, Problem> {
        match v {
            RawValue::Text(s) => Ok(s),
            _ => Err(self.problem(Some(field), format!("expected a string, got {}", v.shown()))),
        }
    }
}

/// A field as written, before it is checked.
enum RawValue {
    Missing,
    Text(String),
    Number(serde_json::Number),
    Other(String),
}

impl RawValue {
    fn shown(&self) -> String {
        match self {
            RawValue::Missing => "nothing".into(),
            RawValue::Text(s) => format!("\"{s}\""),
            RawValue::Number(n) => n.to_string(),
            RawValue::Other(s) => s.clone(),
        }
    }
}
