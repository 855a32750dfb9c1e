//! How a logical request ended, as an availability SLO sorts it. The classes
//! and their names (used in `good` and `exclude` lists):
//!
//! - `ok`: it did what was asked;
//! - `declined:<reason>`: the issuer (or the gateway's fraud rules) said no,
//!   e.g. `declined:insufficient_funds` — the stack worked;
//! - `rejected:<code>`: a definite 4xx, e.g. `rejected:idempotency_error` —
//!   the client's mistake, answered correctly;
//! - `failed:<code>`: a definite 5xx, e.g. `failed:internal`;
//! - `unknown`: no definite answer before the client gave up (timeouts,
//!   503/504/429 until the last attempt).
//!
//! A pattern names a class or a whole family: `declined` matches every
//! `declined:<reason>`.

use crate::domain::{ApiError, DeclineReason};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeClass {
    Ok,
    Declined(DeclineReason),
    Rejected(ApiError),
    Failed(ApiError),
    Unknown,
}

impl OutcomeClass {
    /// A definite error, by its HTTP status: 4xx rejected, else failed.
    pub fn of_error(e: ApiError) -> OutcomeClass {
        if (400..500).contains(&e.http_status()) {
            OutcomeClass::Rejected(e)
        } else {
            OutcomeClass::Failed(e)
        }
    }

    fn family(self) -> Family {
        match self {
            OutcomeClass::Ok => Family::Ok,
            OutcomeClass::Declined(_) => Family::Declined,
            OutcomeClass::Rejected(_) => Family::Rejected,
            OutcomeClass::Failed(_) => Family::Failed,
            OutcomeClass::Unknown => Family::Unknown,
        }
    }

    fn detail(self) -> Option<&'static str> {
        match self {
            OutcomeClass::Declined(r) => Some(r.as_str()),
            OutcomeClass::Rejected(e) | OutcomeClass::Failed(e) => Some(e.as_str()),
            OutcomeClass::Ok | OutcomeClass::Unknown => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Ok,
    Declined,
    Rejected,
    Failed,
    Unknown,
}

const FAMILIES: [(&str, Family); 5] = [
    ("ok", Family::Ok),
    ("declined", Family::Declined),
    ("rejected", Family::Rejected),
    ("failed", Family::Failed),
    ("unknown", Family::Unknown),
];

/// Every error code a request can end with.
const CODES: [ApiError; 11] = ApiError::ALL;

/// A class or a family of classes, from a `good` or `exclude` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassPattern {
    family: Family,
    detail: Option<String>,
}

impl ClassPattern {
    pub fn parse(text: &str) -> Result<ClassPattern, String> {
        let (head, detail) = match text.split_once(':') {
            Some((h, d)) => (h, Some(d)),
            None => (text, None),
        };
        let family = FAMILIES
            .iter()
            .find(|(n, _)| *n == head)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                format!("`{text}` is not an outcome: write ok, declined, rejected, failed or unknown, optionally with a reason or code (declined:insufficient_funds, failed:internal)")
            })?;
        if let Some(d) = detail {
            let known: Vec<&str> = match family {
                Family::Declined => DeclineReason::ALL.iter().map(|r| r.as_str()).collect(),
                Family::Rejected | Family::Failed => CODES
                    .iter()
                    .filter(|e| {
                        (400..500).contains(&e.http_status()) == (family == Family::Rejected)
                    })
                    .map(|e| e.as_str())
                    .collect(),
                Family::Ok | Family::Unknown => Vec::new(),
            };
            if !known.contains(&d) {
                return Err(format!(
                    "`{text}`: `{head}` has no `{d}`; known: {}",
                    if known.is_empty() {
                        "none (it takes no detail)".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        Ok(ClassPattern {
            family,
            detail: detail.map(str::to_string),
        })
    }

    /// The classes both match, as a pattern (the narrower one), if any.
    pub fn intersect(&self, other: &ClassPattern) -> Option<ClassPattern> {
        if self.family != other.family {
            return None;
        }
        match (&self.detail, &other.detail) {
            (None, _) => Some(other.clone()),
            (_, None) => Some(self.clone()),
            (Some(a), Some(b)) => (a == b).then(|| self.clone()),
        }
    }

    /// The patterns without those another one of the list already covers,
    /// so no class is counted twice.
    pub fn disjoint(patterns: &[ClassPattern]) -> Vec<ClassPattern> {
        let mut out: Vec<ClassPattern> = Vec::new();
        for p in patterns {
            let covered = patterns
                .iter()
                .any(|q| q != p && q.intersect(p).as_ref() == Some(p) && q.detail.is_none());
            if !covered && !out.contains(p) {
                out.push(p.clone());
            }
        }
        out
    }

    /// The `outcome` and `reason` label values it selects in Prometheus.
    pub fn labels(&self) -> (&'static str, Option<&str>) {
        let family = FAMILIES
            .iter()
            .find(|(_, f)| *f == self.family)
            .map_or("unknown", |(n, _)| n);
        (family, self.detail.as_deref())
    }

    pub fn matches(&self, class: OutcomeClass) -> bool {
        self.family == class.family()
            && match &self.detail {
                None => true,
                Some(d) => class.detail() == Some(d.as_str()),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ClassPattern {
        ClassPattern::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_family_matches_every_member_and_a_detail_only_itself() {
        let nsf = OutcomeClass::Declined(DeclineReason::InsufficientFunds);
        let fraud = OutcomeClass::Declined(DeclineReason::SuspectedFraud);
        assert!(p("declined").matches(nsf) && p("declined").matches(fraud));
        assert!(p("declined:insufficient_funds").matches(nsf));
        assert!(!p("declined:insufficient_funds").matches(fraud));
        assert!(!p("ok").matches(nsf));
        assert!(p("unknown").matches(OutcomeClass::Unknown));
    }

    #[test]
    fn errors_sort_by_status() {
        assert_eq!(
            OutcomeClass::of_error(ApiError::IdempotencyMismatch),
            OutcomeClass::Rejected(ApiError::IdempotencyMismatch)
        );
        assert_eq!(
            OutcomeClass::of_error(ApiError::Internal),
            OutcomeClass::Failed(ApiError::Internal)
        );
        assert!(p("rejected:idempotency_error")
            .matches(OutcomeClass::of_error(ApiError::IdempotencyMismatch)));
        assert!(p("failed:internal").matches(OutcomeClass::of_error(ApiError::Internal)));
    }

    #[test]
    fn unknown_names_are_refused_with_the_known_ones() {
        assert!(ClassPattern::parse("timeout")
            .unwrap_err()
            .contains("not an outcome"));
        let e = ClassPattern::parse("declined:broke").unwrap_err();
        assert!(e.contains("insufficient_funds"), "{e}");
        let e = ClassPattern::parse("failed:idempotency_error").unwrap_err();
        assert!(
            e.contains("internal") && !e.contains("idempotency_error,"),
            "{e}"
        );
        assert!(ClassPattern::parse("ok:fine").is_err());
    }
}
