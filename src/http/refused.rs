//! Callbacks refused before they were read: a wrong or missing token or
//! signature (401), a caller a local-only source does not take (403), a
//! source name nobody configured (404). A platform URL pasted without its
//! token fails this way, so each refusal is logged (at most once a minute
//! for each source and answer, with how many were not logged), counted by
//! hour for a day, and the latest are kept to be shown (`GET
//! /api/v1/refused`, the UI's overview, `recording-archiver refused`).
//!
//! In memory and per instance, bounded whatever callers send: 24 hourly
//! counts, the last [`KEPT`] refusals, one log slot per configured source
//! and answer (an unconfigured name counts under `unknown`). Nothing here
//! is a record to keep: the request was never read.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::time::Timestamp;

/// The latest refusals kept to be shown.
pub const KEPT: usize = 100;

/// How often a refusal of one source and answer is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// The longest caller-chosen text kept (a source name in a 404's path).
const TEXT_MAX: usize = 80;

/// One refused callback, as shown.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedCall {
    #[serde(with = "crate::time::serde_rfc3339")]
    pub at: Timestamp,
    /// The source named in the path (cut to 80 characters).
    pub source: String,
    /// Whether that source is configured.
    pub configured: bool,
    pub status: u16,
    /// The answer's code (`unauthorized`, `bad_signature`, `unknown_source`...).
    pub code: String,
    pub message: String,
    /// The TCP peer.
    pub remote_addr: Option<String>,
}

/// Refusals over the last 24 hours.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub total: u64,
    /// By HTTP status, as text (`"401"`).
    pub by_status: BTreeMap<String, u64>,
    /// By configured source; `unknown` for names not configured.
    pub by_source: BTreeMap<String, u64>,
}

/// One hour's counts.
struct Hour {
    /// Hours since the epoch.
    hour: i64,
    counts: HashMap<(String, u16), u64>,
}

/// When a source's answer was last logged, and how many went unlogged since.
struct Logged {
    at: Timestamp,
    quiet: u64,
}

#[derive(Default)]
struct Inner {
    hours: VecDeque<Hour>,
    recent: VecDeque<RefusedCall>,
    logged: HashMap<(String, u16), Logged>,
}

/// The refusals this instance answered.
#[derive(Default)]
pub struct Refused {
    inner: Mutex<Inner>,
}

/// A refusal's counted name: the source if configured, else `unknown`.
fn label(call: &RefusedCall) -> String {
    if call.configured {
        call.source.clone()
    } else {
        "unknown".to_owned()
    }
}

fn cut(s: &str) -> String {
    if s.chars().count() <= TEXT_MAX {
        return s.to_owned();
    }
    let mut c: String = s.chars().take(TEXT_MAX - 1).collect();
    c.push('…');
    c
}

impl Refused {
    /// Counts, keeps and (rate-limited) logs one refusal.
    pub fn note(&self, mut call: RefusedCall) {
        call.source = cut(&call.source);
        call.message = cut(&call.message);
        let key = (label(&call), call.status);
        let hour = call.at.timestamp().div_euclid(3600);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.hours.back().is_none_or(|h| h.hour != hour) {
            inner.hours.push_back(Hour {
                hour,
                counts: HashMap::new(),
            });
        }
        while inner.hours.len() > 24 {
            inner.hours.pop_front();
        }
        if let Some(h) = inner.hours.back_mut() {
            *h.counts.entry(key.clone()).or_default() += 1;
        }
        let log = match inner.logged.get_mut(&key) {
            Some(l)
                if call.at - l.at < chrono::TimeDelta::from_std(LOG_EVERY).unwrap_or_default() =>
            {
                l.quiet += 1;
                None
            }
            Some(l) => {
                let quiet = l.quiet;
                *l = Logged {
                    at: call.at,
                    quiet: 0,
                };
                Some(quiet)
            }
            None => {
                inner.logged.insert(
                    key,
                    Logged {
                        at: call.at,
                        quiet: 0,
                    },
                );
                Some(0)
            }
        };
        if let Some(quiet) = log {
            tracing::warn!(
                source = %call.source, status = call.status, code = %call.code,
                remote_addr = call.remote_addr.as_deref().unwrap_or(""),
                not_logged_since = quiet,
                "callback refused: {} (logged at most once a minute per source and answer; \
                 counts in GET /api/v1/refused)",
                call.message
            );
        }
        if inner.recent.len() == KEPT {
            inner.recent.pop_front();
        }
        inner.recent.push_back(call);
    }

    /// Refusals in the 24 hours up to `now` (by whole hours).
    pub fn last_24h(&self, now: Timestamp) -> Summary {
        let from = now.timestamp().div_euclid(3600) - 23;
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = Summary::default();
        for h in inner.hours.iter().filter(|h| h.hour >= from) {
            for ((source, status), n) in &h.counts {
                s.total += n;
                *s.by_status.entry(status.to_string()).or_default() += n;
                *s.by_source.entry(source.clone()).or_default() += n;
            }
        }
        s
    }

    /// The latest refusals, the newest first.
    pub fn recent(&self) -> Vec<RefusedCall> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.recent.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(at: Timestamp, source: &str, configured: bool, status: u16) -> RefusedCall {
        RefusedCall {
            at,
            source: source.to_owned(),
            configured,
            status,
            code: "unauthorized".into(),
            message: "no token".into(),
            remote_addr: None,
        }
    }

    #[test]
    fn counts_a_day_by_hour_and_stays_bounded() {
        let r = Refused::default();
        let t0 = crate::time::parse_rfc3339("2026-12-01T00:10:00Z").unwrap();
        for h in 0..30 {
            let at = t0 + chrono::TimeDelta::hours(h);
            r.note(call(at, "jd", true, 401));
            r.note(call(at, &"x".repeat(500), false, 404));
        }
        let now = t0 + chrono::TimeDelta::hours(29);
        let s = r.last_24h(now);
        assert_eq!(s.total, 48);
        assert_eq!(s.by_status["401"], 24);
        assert_eq!(s.by_source["unknown"], 24);
        assert_eq!(s.by_source.len(), 2);
        let recent = r.recent();
        assert_eq!(recent.len(), 60);
        assert_eq!(recent[0].source.chars().count(), TEXT_MAX);
        // A day later, nothing of these hours counts.
        assert_eq!(r.last_24h(now + chrono::TimeDelta::hours(24)).total, 0);
        for _ in 0..200 {
            r.note(call(now, "jd", true, 401));
        }
        assert_eq!(r.recent().len(), KEPT);
    }
}
