//! The webhook receiver a merchant would run, built in (`paystorm
//! webhook-sink`): it checks each delivery's `Paystorm-Signature` against
//! the endpoint secrets it was given, refuses signatures older than
//! [`SIGNATURE_TOLERANCE_S`] (a replayed capture of an old delivery), and
//! applies each event id once — a redelivery is acknowledged and skipped,
//! which is what makes at-least-once delivery safe. It can also misbehave on
//! purpose (answer 5xx before processing, or process and then lose the
//! acknowledgement) so retries and deduplication are exercised over a real
//! network, and reports what it received (`GET /received`) for a checker.
//!
//! In `run --live` it runs in process and reports every delivery to the
//! run's observer, so the checker's webhook invariants judge HTTP delivery
//! exactly as they judge in-process delivery.

pub mod server;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::domain::audit::{AuditRecord, Observer};
use crate::domain::fingerprint::{hash_payload, FxHashSet};
use crate::domain::EventId;
use crate::lock::Locked;
use crate::stack::webhooks::endpoint::SIGNATURE_TOLERANCE_S;
use crate::stack::webhooks::signature::{parse_header, verify};

/// How a delivery was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Signed, fresh, first time: processed (200).
    Applied,
    /// Seen before: acknowledged, not processed again (200).
    Duplicate,
    /// Processed, but the acknowledgement is "lost" on purpose (500), so
    /// the sender delivers it again.
    AppliedAckLost,
    /// Refused before processing on purpose (500).
    FailedOnPurpose,
    /// No valid signature from any known secret (400).
    BadSignature,
    /// Signed longer ago than the tolerance (400).
    Stale,
    /// No signature header, or a body without an `evt_<n>` id (400).
    Malformed,
}

impl Verdict {
    pub fn http_status(self) -> u16 {
        match self {
            Verdict::Applied | Verdict::Duplicate => 200,
            Verdict::AppliedAckLost | Verdict::FailedOnPurpose => 500,
            Verdict::BadSignature | Verdict::Stale | Verdict::Malformed => 400,
        }
    }
}

/// How often the sink misbehaves on purpose: each a share in [0, 1].
#[derive(Clone, Copy, Debug, Default)]
pub struct Misbehaviour {
    pub failure_share: f64,
    pub lost_ack_share: f64,
}

/// What the sink has taken so far (`GET /received`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Received {
    pub deliveries: u64,
    pub applied: u64,
    pub duplicates: u64,
    pub acks_lost_on_purpose: u64,
    pub failed_on_purpose: u64,
    pub bad_signature: u64,
    pub stale: u64,
    pub malformed: u64,
    /// Event ids remembered for deduplication (at most the sink's bound).
    pub remembered: u64,
}

pub struct Sink {
    secrets: Vec<Vec<u8>>,
    misbehaviour: Misbehaviour,
    seen: Mutex<Seen>,
    observer: Option<Arc<dyn Observer>>,
    received: Mutex<Received>,
    /// Draws for the misbehaviour (xorshift; no need for more here).
    draw: Mutex<u64>,
}

/// Event ids applied, at most `cap`; the oldest are forgotten first (a
/// redelivery of a forgotten one would apply again: size the bound above
/// the events in flight).
struct Seen {
    ids: FxHashSet<EventId>,
    order: VecDeque<EventId>,
    cap: usize,
}

impl Sink {
    /// `secrets`: the `whsec_...` secrets of the endpoints this sink
    /// serves (any of them may have signed); `remember`: the dedup bound.
    pub fn new(
        secrets: Vec<String>,
        misbehaviour: Misbehaviour,
        remember: usize,
        observer: Option<Arc<dyn Observer>>,
        seed: u64,
    ) -> Sink {
        Sink {
            secrets: secrets.into_iter().map(String::into_bytes).collect(),
            misbehaviour,
            seen: Mutex::new(Seen {
                ids: FxHashSet::default(),
                order: VecDeque::new(),
                cap: remember.max(1),
            }),
            observer,
            received: Mutex::new(Received::default()),
            draw: Mutex::new(seed | 1),
        }
    }

    /// Adds a secret (an endpoint registered after the sink started).
    pub fn accept_secret(&mut self, secret: &str) {
        self.secrets.push(secret.as_bytes().to_vec());
    }

    pub fn received(&self) -> Received {
        let mut r = *self.received.locked();
        r.remembered = self.seen.locked().ids.len() as u64;
        r
    }

    /// Takes one delivery: its `Paystorm-Signature` header and body, at
    /// `now_s` (unix seconds).
    pub fn receive(&self, signature: Option<&str>, body: &[u8], now_s: u64) -> Verdict {
        let verdict = self.judge(signature, body, now_s);
        let mut r = self.received.locked();
        r.deliveries += 1;
        match verdict {
            Verdict::Applied => r.applied += 1,
            Verdict::Duplicate => r.duplicates += 1,
            Verdict::AppliedAckLost => {
                r.applied += 1;
                r.acks_lost_on_purpose += 1;
            }
            Verdict::FailedOnPurpose => r.failed_on_purpose += 1,
            Verdict::BadSignature => r.bad_signature += 1,
            Verdict::Stale => r.stale += 1,
            Verdict::Malformed => r.malformed += 1,
        }
        verdict
    }

    fn judge(&self, signature: Option<&str>, body: &[u8], now_s: u64) -> Verdict {
        let (Some((t_s, mac)), Some(event)) = (signature.and_then(parse_header), event_id(body))
        else {
            return Verdict::Malformed;
        };
        let (fail, lose_ack) = (
            self.chance(self.misbehaviour.failure_share),
            self.chance(self.misbehaviour.lost_ack_share),
        );
        if fail {
            return Verdict::FailedOnPurpose;
        }
        let fresh = now_s.abs_diff(t_s) <= SIGNATURE_TOLERANCE_S;
        let valid = self.secrets.iter().any(|s| verify(s, t_s, body, &mac));
        let applied = fresh && valid && self.remember(event);
        if let Some(o) = &self.observer {
            o.audit(AuditRecord::EventReceived {
                event,
                payload_hash: hash_payload(body),
                signature_valid: fresh && valid,
                applied,
            });
        }
        match (valid, fresh, applied, lose_ack) {
            (false, _, _, _) => Verdict::BadSignature,
            (true, false, _, _) => Verdict::Stale,
            (true, true, false, _) => Verdict::Duplicate,
            (true, true, true, true) => Verdict::AppliedAckLost,
            (true, true, true, false) => Verdict::Applied,
        }
    }

    /// Whether `event` is new (and now remembered).
    fn remember(&self, event: EventId) -> bool {
        let mut seen = self.seen.locked();
        if !seen.ids.insert(event) {
            return false;
        }
        seen.order.push_back(event);
        if seen.order.len() > seen.cap {
            if let Some(old) = seen.order.pop_front() {
                seen.ids.remove(&old);
            }
        }
        true
    }

    fn chance(&self, share: f64) -> bool {
        if share <= 0.0 {
            return false;
        }
        let mut x = self.draw.locked();
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        ((*x >> 11) as f64 / (1u64 << 53) as f64) < share
    }
}

/// `paystorm webhook-sink`: serves a sink on `listen` until SIGINT or
/// SIGTERM, saying where it listens on stdout first and what it received
/// at the end. `Err`: a one-paragraph reason (exit 4).
pub fn run_command(
    listen: std::net::SocketAddr,
    secrets: Vec<String>,
    misbehaviour: Misbehaviour,
    remember: usize,
) -> Result<Received, String> {
    if secrets.is_empty() {
        return Err("error: `paystorm webhook-sink` needs at least one --secret (the whsec_... secret `POST /v1/webhook_endpoints` answered), or it could verify nothing".into());
    }
    for (name, share) in [
        ("--failure-share", misbehaviour.failure_share),
        ("--lost-ack-share", misbehaviour.lost_ack_share),
    ] {
        if !(0.0..=1.0).contains(&share) {
            return Err(format!(
                "error: {name} is {share}, but it is a share: between 0 and 1"
            ));
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("error: cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let (listener, local) = server::bind(listen)
            .await
            .map_err(|e| format!("error: cannot listen on {listen}: {e}"))?;
        println!(
            "webhook-sink listening on http://{local} (POST deliveries to any path; GET /received)"
        );
        let sink = Arc::new(Sink::new(secrets, misbehaviour, remember, None, 1));
        server::serve(listener, sink.clone(), shutdown_signal())
            .await
            .map_err(|e| format!("error: the sink stopped: {e}"))?;
        Ok(sink.received())
    })
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The event id of a paystorm event body (`{"id":"evt_<n>",...}`).
fn event_id(body: &[u8]) -> Option<EventId> {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(borrow)]
        id: std::borrow::Cow<'a, str>,
    }
    let head: Head<'_> = serde_json::from_slice(body).ok()?;
    head.id.strip_prefix("evt_")?.parse().ok().map(EventId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::webhooks::signature::{header, sign};

    const NOW: u64 = 1_700_000_000;
    const SECRET: &str = "whsec_test";

    fn signed(body: &str, t_s: u64, secret: &str) -> String {
        header(t_s, &sign(secret.as_bytes(), t_s, body.as_bytes()))
    }

    fn sink(m: Misbehaviour, remember: usize) -> Sink {
        Sink::new(vec![SECRET.into()], m, remember, None, 7)
    }

    #[test]
    fn applies_once_and_refuses_what_it_cannot_trust() {
        let s = sink(Misbehaviour::default(), 100);
        let body = r#"{"id":"evt_5","type":"payment.captured"}"#;
        let sig = signed(body, NOW, SECRET);
        let take = |sig: Option<&str>, body: &str, now| s.receive(sig, body.as_bytes(), now);
        assert_eq!(take(Some(&sig), body, NOW), Verdict::Applied);
        assert_eq!(take(Some(&sig), body, NOW + 1), Verdict::Duplicate);
        let other = r#"{"id":"evt_6"}"#;
        assert_eq!(
            take(Some(&signed(other, NOW, "whsec_other")), other, NOW),
            Verdict::BadSignature
        );
        assert_eq!(
            take(
                Some(&sig),
                r#"{"id":"evt_5","type":"payment.refunded"}"#,
                NOW
            ),
            Verdict::BadSignature,
            "the body is signed"
        );
        let old = signed(other, NOW - SIGNATURE_TOLERANCE_S - 1, SECRET);
        assert_eq!(take(Some(&old), other, NOW), Verdict::Stale);
        assert_eq!(take(None, other, NOW), Verdict::Malformed);
        assert_eq!(
            take(Some(&signed("{}", NOW, SECRET)), "{}", NOW),
            Verdict::Malformed
        );
        let r = s.received();
        assert_eq!((r.deliveries, r.applied, r.duplicates), (7, 1, 1));
        assert_eq!((r.bad_signature, r.stale, r.malformed), (2, 1, 2));
        assert_eq!(r.remembered, 1);
    }

    #[test]
    fn the_dedup_memory_is_bounded() {
        let s = sink(Misbehaviour::default(), 2);
        for n in 1..=3 {
            let body = format!(r#"{{"id":"evt_{n}"}}"#);
            let sig = signed(&body, NOW, SECRET);
            assert_eq!(
                s.receive(Some(&sig), body.as_bytes(), NOW),
                Verdict::Applied
            );
        }
        assert_eq!(s.received().remembered, 2);
        // The oldest was forgotten: it would apply again.
        let body = r#"{"id":"evt_1"}"#;
        let sig = signed(body, NOW, SECRET);
        assert_eq!(
            s.receive(Some(&sig), body.as_bytes(), NOW),
            Verdict::Applied
        );
        let body = r#"{"id":"evt_3"}"#;
        let sig = signed(body, NOW, SECRET);
        assert_eq!(
            s.receive(Some(&sig), body.as_bytes(), NOW),
            Verdict::Duplicate
        );
    }

    #[test]
    fn a_lost_acknowledgement_applies_then_answers_500() {
        let s = sink(
            Misbehaviour {
                failure_share: 0.0,
                lost_ack_share: 1.0,
            },
            10,
        );
        let body = r#"{"id":"evt_9"}"#;
        let sig = signed(body, NOW, SECRET);
        let v = s.receive(Some(&sig), body.as_bytes(), NOW);
        assert_eq!((v, v.http_status()), (Verdict::AppliedAckLost, 500));
        // The redelivery is a duplicate, whatever the acknowledgement.
        assert_eq!(
            s.receive(Some(&sig), body.as_bytes(), NOW),
            Verdict::Duplicate
        );
        assert_eq!(s.received().applied, 1);
    }
}
