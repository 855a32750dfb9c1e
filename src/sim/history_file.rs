//! `--history`: the client history as JSON lines, one per event, written by a
//! plain thread fed through a bounded channel so the simulation never waits on
//! the disk (and never calls `spawn_blocking`, which paused time dislikes).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use crate::domain::history::{Failure, HistoryEvent, HistoryKind};
use crate::domain::Operation;

pub struct HistoryFile {
    tx: SyncSender<HistoryEvent>,
    writer: JoinHandle<std::io::Result<()>>,
}

impl HistoryFile {
    pub fn create(path: &Path) -> std::io::Result<HistoryFile> {
        let mut out = BufWriter::new(File::create(path)?);
        let (tx, rx) = sync_channel::<HistoryEvent>(65_536);
        let writer = std::thread::spawn(move || {
            for ev in rx {
                writeln!(out, "{}", line(&ev))?;
            }
            out.flush()
        });
        Ok(HistoryFile { tx, writer })
    }

    pub fn write(&self, ev: &HistoryEvent) {
        // The writer only stops on an I/O error, which finish() reports.
        let _ = self.tx.send(*ev);
    }

    pub fn finish(self) -> std::io::Result<()> {
        drop(self.tx);
        self.writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("history writer panicked")))
    }
}

fn line(ev: &HistoryEvent) -> String {
    let head = format!(r#"{{"at_us":{},"op":"{}""#, ev.at_us, ev.op);
    let body = match ev.kind {
        HistoryKind::Invoke(inv) => {
            let key = inv.key.map_or("null".to_string(), |k| format!("\"{k}\""));
            let (f, payment, amount) = match inv.op {
                Operation::Create(p) => ("create", String::new(), p.amount.minor),
                Operation::Capture {
                    payment,
                    amount_minor,
                } => ("capture", payment.to_string(), amount_minor),
                Operation::Void { payment } => ("void", payment.to_string(), 0),
                Operation::Refund {
                    payment,
                    amount_minor,
                } => ("refund", payment.to_string(), amount_minor),
                Operation::Get { payment } => ("get", payment.to_string(), 0),
            };
            format!(
                r#","type":"invoke","f":"{f}","merchant":"{}","key":{key},"payment":"{payment}","amount":{amount},"attempt":{}"#,
                inv.merchant, inv.attempt
            )
        }
        HistoryKind::Ok(r) => format!(
            r#","type":"ok","payment":"{}","status":"{}","amount":{},"replayed":{}"#,
            r.payment,
            r.status.as_str(),
            r.amount_minor,
            r.replayed
        ),
        HistoryKind::Fail(Failure::Declined {
            reply,
            reason: Some(reason),
        }) => format!(
            r#","type":"fail","payment":"{}","error":"declined","reason":"{reason:?}""#,
            reply.payment
        ),
        HistoryKind::Fail(Failure::Declined {
            reply,
            reason: None,
        }) => format!(
            r#","type":"fail","payment":"{}","error":"payment_failed""#,
            reply.payment
        ),
        HistoryKind::Fail(Failure::Api(e)) => format!(r#","type":"fail","error":"{}""#, e.as_str()),
        HistoryKind::Info(reason) => format!(r#","type":"info","reason":"{reason:?}""#),
    };
    format!("{head}{body}}}")
}
