//! `paystorm trace synth`: a trace drawn from a workload's rate curve and
//! traffic, seeded, byte-identical for the same seed. The inverse of replay.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::load::schedule::Schedule;
use crate::load::traffic::{Draw, Traffic};
use crate::sim::Seed;
use crate::workload::{InputError, Workload};

use super::{Format, CSV_HEADER};

/// Writes a trace drawn from the workload's rate curve (scaled by
/// `rate_scale`) and its mix, population and amounts, to `out` (format by
/// extension). Seeded: the same seed writes the same bytes. Returns the
/// number of records.
pub fn synth(
    workload: &Workload,
    seed: Seed,
    rate_scale: f64,
    out: &Path,
) -> Result<u64, InputError> {
    let shown = out.display().to_string();
    let format = Format::of(out).ok_or_else(|| {
        InputError(format!(
            "error: trace `{shown}` (option --out): unknown trace format; name the file `.csv` or `.jsonl`"
        ))
    })?;
    if !(rate_scale.is_finite() && rate_scale > 0.0) {
        return Err(InputError(format!(
            "error: option --rate-scale must be a number above 0, got {rate_scale}"
        )));
    }
    let w = &workload.file;
    let Some(curve) = workload.curve(rate_scale) else {
        return Err(InputError(format!(
            "error: workload file `{}`, field `load.trace`: the workload is itself a trace replay; `paystorm trace synth` draws a trace from a rate curve (constant, stages or day shape). Give it a workload without `[load.trace]`",
            workload.source
        )));
    };
    let io_error = |e: std::io::Error| {
        InputError(format!(
            "error: cannot write trace `{shown}` (option --out): {e}"
        ))
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_error)?;
    }
    let mut file = BufWriter::new(File::create(out).map_err(io_error)?);
    let schedule = Schedule::new(
        curve,
        w.load.arrivals,
        seed.stream("trace-synth-arrivals", 0),
    );
    let mut rng = seed.stream("trace-synth", 0);
    let traffic = Traffic::from_workload(workload);
    let currency = workload.currency;
    if format == Format::Csv {
        writeln!(file, "{CSV_HEADER}").map_err(io_error)?;
    }
    let mut records = 0u64;
    let mut prev_ms = 0u64;
    for arrival in schedule {
        let timestamp_ms = (arrival.at_us / 1_000).max(prev_ms);
        prev_ms = timestamp_ms;
        let Draw {
            method,
            merchant,
            customer,
            amount_minor: amount,
        } = traffic.draw(&mut rng);
        let m = method.as_str();
        match format {
            Format::Csv => writeln!(
                file,
                "{timestamp_ms},{merchant},{customer},{amount},{currency},{m}"
            ),
            Format::JsonLines => writeln!(
                file,
                "{{\"timestamp_ms\":{timestamp_ms},\"merchant\":{merchant},\"customer\":{customer},\"amount_minor\":{amount},\"currency\":\"{currency}\",\"method\":\"{m}\"}}"
            ),
        }
        .map_err(io_error)?;
        records += 1;
    }
    file.flush().map_err(io_error)?;
    Ok(records)
}
