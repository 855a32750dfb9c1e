//! The console: the settings at the start, a compact summary at the end.

use std::fmt::Write as _;

use crate::sim::run::RunOutcome;
use crate::workload::Workload;

/// Printed before the run: the seed and the settings that shape it (every
/// setting is in settings.toml beside results.json).
/// `jobs`: how many cells run at once (a run in cells).
pub fn header(
    w: &Workload,
    seed: u64,
    rate_scale: f64,
    sabotage: &[&str],
    out: &str,
    jobs: usize,
) -> String {
    let f = &w.file;
    let mut s = String::new();
    let _ = writeln!(s, "paystorm run: workload `{}` ({})", f.name, w.source);
    let _ = writeln!(s, "  seed {seed}   (reproduce: --seed {seed})");
    match w.curve(rate_scale) {
        Some(c) => {
            let _ = writeln!(
                s,
                "  load: {} over {:.0} simulated s, about {:.0} payments, peak {:.0}/s, {:?} arrivals (rate scale {}); currency {}",
                shape_name(&f.load),
                c.duration_s(),
                c.expected_arrivals(),
                c.peak_rate(),
                f.load.arrivals,
                f.load.rate_scale * rate_scale,
                f.currency
            );
        }
        None => {
            let trace = f.load.trace.as_ref().map_or("", |t| t.path.as_str());
            let _ = writeln!(
                s,
                "  load: replay of trace `{trace}`; currency {}",
                f.currency
            );
        }
    }
    let _ = writeln!(
        s,
        "  mix: card online {} / NFC {} / QR {} / bank instant {} / bank batch {}",
        f.mix.card_online, f.mix.card_nfc, f.mix.qr_wallet, f.mix.bank_instant, f.mix.bank_batch
    );
    let _ = writeln!(
        s,
        "  clients: timeout {} ms, {} attempts, backoff {}..{} ms; {} merchants, {} customers, {} issuers",
        f.clients.timeout_ms,
        f.clients.attempts_max,
        f.clients.backoff_base_ms,
        f.clients.backoff_max_ms,
        f.population.merchants,
        f.population.customers,
        f.stack.issuers.count
    );
    if f.cells > 1 {
        let _ = writeln!(
            s,
            "  cells: {n} copies of the stack, each with 1/{n} of the load, merchants and customers, {jobs} at a time ({out}/cells/cell-0..{last})",
            n = f.cells,
            jobs = crate::sim::cells::at_once(jobs, f.cells as usize),
            last = f.cells - 1
        );
    }
    if !sabotage.is_empty() {
        let _ = writeln!(s, "  SABOTAGE ON: {}", sabotage.join(", "));
    }
    let _ = writeln!(s, "  every setting: {out}/settings.toml");
    s
}

/// The chaos plans of a run, one line each, printed after the header.
pub fn chaos_header(plans: &[crate::chaos::Plan]) -> String {
    let mut s = String::new();
    for p in plans {
        let monkey = p
            .monkey
            .as_ref()
            .map(|m| format!(", plus {} drawn from the seed", m.count))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  chaos: `{}` ({}): {} faults{monkey}",
            p.name,
            p.source,
            p.faults.len()
        );
        for f in &p.faults {
            let w = &f.window;
            let when = match w.every_s {
                None => format!("{:.1}..{:.1} s", w.start_s, w.start_s + w.length_s),
                Some(e) => format!("{:.1} s every {e} s from {:.1} s", w.length_s, w.start_s),
            };
            let _ = writeln!(
                s,
                "    {} {} at {}, {when}, p={}",
                f.name,
                f.kind.as_str(),
                f.target,
                f.probability
            );
        }
    }
    s
}

/// The gateway's declines by reason, when there were any.
fn declines_line(g: &crate::stack::gateway::GatewayStats) -> Option<String> {
    let parts: Vec<String> = g
        .declines
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{} {n}", r.as_str()))
        .collect();
    (!parts.is_empty()).then(|| format!("declines: {}\n", parts.join("  ")))
}

/// What the resilience layer refused, when it refused anything: a run whose
/// bulkheads or quotas are smaller than its load fails payments for that
/// reason alone, and this line says so rather than leaving a user to find
/// it in results.json.
fn refusals_line(r: &crate::resilience::ResilienceReport) -> Option<String> {
    let f = &r.frontline;
    let rate_limited = f.rate_limited();
    let mut parts = Vec::new();
    if r.shed > 0 {
        parts.push(format!("shed {}", r.shed));
    }
    if rate_limited > 0 {
        parts.push(format!("rate-limited {rate_limited}"));
    }
    for d in &r.downstreams {
        if d.bulkhead_rejected > 0 {
            parts.push(format!("bulkhead {} {}", d.name, d.bulkhead_rejected));
        }
        if let Some(b) = d.breaker.as_ref().filter(|b| b.rejected > 0) {
            parts.push(format!("breaker {} {}", d.name, b.rejected));
        }
    }
    if parts.is_empty() {
        return None;
    }
    let hint = if r.downstreams.iter().any(|d| d.bulkhead_rejected > 0) {
        "\n  (bulkhead refusals fail payments: size [resilience.bulkhead] for the load, or lower the rate)"
    } else {
        ""
    };
    Some(format!(
        "refused by resilience: {}{hint}\n",
        parts.join("  ")
    ))
}

fn shape_name(l: &crate::load::spec::LoadSpec) -> String {
    let base = if !l.stages.is_empty() {
        format!("{} ramping stages", l.stages.len())
    } else if l.day.is_some() {
        "a 24-hour day shape".to_string()
    } else {
        "a constant rate".to_string()
    };
    match l.spikes.len() {
        0 => base,
        n => format!("{base} with {n} spike{}", if n == 1 { "" } else { "s" }),
    }
}

pub fn summary(o: &RunOutcome, exit_code: i32, out: &str) -> String {
    let c = &o.counts;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nsimulated {:.1} s in {:.2} s of wall time ({:.0} payments/s)",
        o.simulated_seconds, o.perf.wall_seconds, o.perf.payments_per_wall_second
    );
    let _ = writeln!(
        s,
        "payments: attempted {}  succeeded {}  declined {}  failed {}  unknown {}  retries {}",
        c.attempted, c.succeeded, c.declined, c.failed, c.unknown, c.retries
    );
    if let Some(line) = declines_line(&o.stack.gateway) {
        s.push_str(&line);
    }
    if let Some(line) = refusals_line(&o.resilience) {
        s.push_str(&line);
    }
    let _ = writeln!(
        s,
        "behaviours: double-submits {}  key reuse {}  keyless {}  timeouts {}  captures {}  voids {}  refunds {}",
        c.double_submits, c.key_reuse_mismatches, c.keyless, c.timeouts, c.captures, c.voids, c.refunds
    );
    let wh = &o.stack.webhooks;
    let _ = writeln!(
        s,
        "webhooks: emitted {}  delivered {}  retries {}  dead-lettered {};  settlement batches {}",
        wh.emitted, wh.delivered, wh.retries, wh.dead_lettered, o.stack.settlement_batches
    );
    let _ = writeln!(
        s,
        "\nlatency (ms, from intended send)   count      p50      p90      p99    p99.9      max"
    );
    for (op, p) in o.latency.corrected_ms() {
        let _ = writeln!(
            s,
            "  {op:<32} {:>7} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
            p.count, p.p50, p.p90, p.p99, p.p999, p.max
        );
    }
    let creates: Vec<_> = o
        .latency
        .corrected_ms_by_method()
        .into_iter()
        .filter_map(|(method, ops)| ops.get("create").map(|p| (method, *p)))
        .collect();
    if !creates.is_empty() {
        let _ = writeln!(
            s,
            "{:<35}count      p50      p99",
            "create latency by method (ms)"
        );
        for (method, p) in creates {
            let _ = writeln!(
                s,
                "  {method:<32} {:>7} {:>8.1} {:>8.1}",
                p.count, p.p50, p.p99
            );
        }
    }
    if let Some(f) = &o.faults {
        let g = &o.stack.gateway;
        let _ = writeln!(
            s,
            "\nfaults injected: {} in total  (downstream timeouts {}  reconciled {}  fast failures {}  crashes {}  webhook orphans {}  queue stalls {})",
            f.injected_total,
            g.downstream_timeouts,
            g.reconciled,
            g.downstream_failures,
            g.crashes,
            wh.orphaned,
            wh.stalls
        );
        for r in f.by_kind_and_target.iter().filter(|r| r.injected > 0) {
            let _ = writeln!(
                s,
                "  {:<14} {:<24} {:>9}",
                r.kind.as_str(),
                r.target,
                r.injected
            );
        }
        let recovery = f.recovery.and_then(|r| r.recovery_seconds);
        let _ = writeln!(
            s,
            "recovery after the last fault window: {}",
            recovery.map_or_else(|| "not reached".to_string(), |r| format!("{r:.1} s"))
        );
    }
    let _ = writeln!(s, "\ninvariants");
    for inv in &o.verdict.invariants {
        let mark = if inv.passed { "pass" } else { "FAIL" };
        let _ = writeln!(
            s,
            "  {mark}  {:<38} violations {}",
            inv.name, inv.violations
        );
        if let Some(ex) = &inv.example {
            let _ = writeln!(s, "        e.g. {ex}");
        }
    }
    slo_table(&mut s, o);
    let u = &o.verdict.unknowns;
    let _ = writeln!(
        s,
        "unknown outcomes resolved from the final read: {} keys, {} executed, {} not",
        u.keys_all_unknown, u.executed, u.not_executed
    );
    if !o.drain.completed {
        let _ = writeln!(
            s,
            "warning: the drain phase hit its bound before every hold, batch and webhook finished"
        );
    }
    let verdict = match exit_code {
        0 => "PASS: every payment happened exactly once",
        2 => "FAIL: an exactly-once or ledger invariant was violated (exit 2)",
        3 => "INVALID: the generator could not keep its schedule (exit 3)",
        1 => "FAIL: a service level objective was breached (exit 1); every payment happened exactly once",
        _ => "FAIL",
    };
    let _ = writeln!(
        s,
        "\n{verdict}\nresults: {out}/results.json  report: {out}/report.html  junit: {out}/junit.xml  perf: {out}/perf.json"
    );
    s
}

/// The objectives: pass/fail, measured against the threshold, and for a
/// failure when it was first breached and during which faults.
fn slo_table(s: &mut String, o: &RunOutcome) {
    slo_lines(s, &o.slos, o.aborted_at_s);
}

/// The objectives as a compact table: a pass/FAIL mark each, the measured
/// value against the objective, windows, first breach, alerts fired.
pub fn slo_lines(s: &mut String, slos: &[crate::slo::SloResult], aborted_at_s: Option<f64>) {
    if slos.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nservice level objectives");
    for r in slos {
        let mark = if r.passed { "pass" } else { "FAIL" };
        let scope = match r.method {
            Some(m) => format!("{} {m}", r.operation),
            None => r.operation.to_string(),
        };
        let budget = r
            .error_budget
            .as_ref()
            .map(|b| format!("  budget used {:.0}%", b.consumed * 100.0))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  {mark}  {:<30} {:<18} {} (objective {}){budget}",
            r.name, scope, r.measured_text, r.threshold
        );
        if let Some(w) = &r.windows {
            let _ = writeln!(
                s,
                "        every {:.0} s window: {} of {} failed",
                w.window_s, w.failed, w.evaluated
            );
        }
        if let Some(t) = r.first_breached_s {
            let during = if r.during_faults.is_empty() {
                String::new()
            } else {
                format!(", during {}", r.during_faults.join(", "))
            };
            let _ = writeln!(s, "        first breached at {t:.0} s{during}");
        }
        let paged: Vec<String> = r
            .burn_rate
            .iter()
            .flat_map(|b| &b.alerts)
            .filter(|a| a.fired)
            .map(|a| {
                format!(
                    "{} (burn {}x) from {:.0} s",
                    a.severity,
                    a.burn_rate,
                    a.first_fired_s.unwrap_or(0.0)
                )
            })
            .collect();
        if !paged.is_empty() {
            let _ = writeln!(s, "        burn-rate alerts: {}", paged.join("; "));
        }
    }
    if let Some(t) = aborted_at_s {
        let _ = writeln!(
            s,
            "  load stopped at {t:.1} s: an objective with abort_on_fail was breached"
        );
    }
}
