//! The retry policy, in one place: why a transfer attempt failed (the
//! classification of statuses, S3 and HTTP errors), whether the job is tried
//! again, after what delay, and every attempt limit.
//!
//! The delay is exponential backoff with jitter, computed with the `backoff`
//! crate; this is the only file that knows that crate.

use std::fmt;
use std::time::Duration;

use backoff::backoff::Backoff;
use backoff::ExponentialBackoff;

use crate::config::TransferConfig;
use crate::net::InternalAddress;

mod s3;
pub use s3::describe as describe_s3;

/// Integrity failures are retried this many attempts before they are permanent.
const INTEGRITY_ATTEMPTS: u32 = 3;

/// Downloads broken mid-body are continued with a Range request at most this
/// many times within one attempt.
pub const MAX_RESUMES: u32 = 5;

/// The class of a failure decides what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Timeouts, resets, 5xx, 429, throttling, a short body: retry.
    Transient,
    /// The file is not there (yet): platforms sometimes call back before it
    /// is visible, so retried within the first attempts only.
    NotFound,
    /// Bytes arrived but do not match what the origin or callback promised:
    /// retried a few times, then permanent.
    Integrity,
    /// Refused (401/403), not allowed, misconfigured: retrying cannot help.
    Permanent,
    /// The daemon is stopping: the job goes back to the queue, the attempt uncounted.
    Interrupted,
    /// The archive store's trouble (credentials, bucket, outage, throttling):
    /// ours to fix, not the file's. The job waits, its attempt uncounted,
    /// and the workers pause until the store answers.
    Store,
}

/// A failed attempt, with a message an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    /// Worth retrying: the network, the server or its load.
    pub fn transient(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Transient,
            message: message.into(),
        }
    }

    /// Retrying cannot help.
    pub fn permanent(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Permanent,
            message: message.into(),
        }
    }

    /// The file is not there (yet).
    pub fn not_found(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::NotFound,
            message: message.into(),
        }
    }

    /// The bytes do not match what was promised.
    pub fn integrity(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Integrity,
            message: message.into(),
        }
    }

    /// The archive store fails on its side.
    pub fn store(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Store,
            message: message.into(),
        }
    }

    /// The daemon is stopping.
    pub fn interrupted() -> Self {
        Failure {
            kind: FailureKind::Interrupted,
            message: "interrupted by shutdown".to_owned(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Failure {
    /// Classifies an HTTP status from an origin or a store.
    pub fn from_status(status: u16, what: &str) -> Self {
        let message = format!("{what}: HTTP {status}");
        match status {
            404 | 410 => Failure::not_found(message),
            408 | 425 | 429 | 500..=599 => Failure::transient(message),
            _ => Failure::permanent(message),
        }
    }
}

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's Display omits the cause ("error sending request"); the
        // chain says what actually happened.
        let mut message = e.to_string();
        let mut refused = false;
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            refused |= s.downcast_ref::<InternalAddress>().is_some();
            source = s.source();
        }
        // Our own resolver refused an internal address: policy, not weather.
        if refused {
            return Failure::permanent(message);
        }
        if let Some(status) = e.status() {
            return Failure::from_status(status.as_u16(), &message);
        }
        if e.is_redirect() || e.is_builder() {
            return Failure::permanent(message);
        }
        // Timeouts, refused or reset connections, truncated bodies.
        Failure::transient(message)
    }
}

impl Failure {
    /// Whether the job should be tried again after its `attempts`-th attempt
    /// failed this way. The only place that decides.
    pub fn should_retry(&self, attempts: u32, cfg: &TransferConfig) -> bool {
        // Attempts count the file's own failures: the store's never fail it.
        if self.kind == FailureKind::Store {
            return true;
        }
        if attempts >= cfg.max_attempts {
            return false;
        }
        match self.kind {
            FailureKind::Transient => true,
            FailureKind::NotFound => attempts < cfg.not_found_attempts,
            FailureKind::Integrity => attempts < INTEGRITY_ATTEMPTS,
            FailureKind::Permanent => false,
            FailureKind::Interrupted | FailureKind::Store => true,
        }
    }
}

/// Jitter: each delay is drawn from ±50% around the exponential value.
const RANDOMIZATION: f64 = 0.5;

/// The delay before attempt `attempts + 1`, after `attempts` have failed.
pub fn delay_after(attempts: u32, cfg: &TransferConfig) -> Duration {
    let initial = Duration::from_secs(cfg.retry_initial_secs);
    let max = Duration::from_secs(cfg.retry_max_secs);
    // The crate's backoff is a running state; rebuilding it at the interval
    // this attempt has reached keeps the schedule a pure function of the
    // attempt count, so a restart resumes it from what sled holds.
    let exponent = attempts.saturating_sub(1).min(30);
    let current = initial
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(max);
    let mut b = ExponentialBackoff {
        current_interval: current,
        initial_interval: initial,
        randomization_factor: RANDOMIZATION,
        multiplier: 2.0,
        max_interval: max,
        max_elapsed_time: None,
        ..ExponentialBackoff::default()
    };
    b.next_backoff().unwrap_or(max).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> TransferConfig {
        TransferConfig {
            retry_initial_secs: 5,
            retry_max_secs: 1800,
            ..TransferConfig::default()
        }
    }

    #[test]
    fn statuses_are_classified() {
        let cfg = TransferConfig::default();
        assert!(Failure::from_status(503, "x").should_retry(1, &cfg));
        assert!(Failure::from_status(429, "x").should_retry(1, &cfg));
        assert!(!Failure::from_status(403, "x").should_retry(1, &cfg));
        assert!(!Failure::from_status(401, "x").should_retry(1, &cfg));
    }

    #[test]
    fn the_stores_trouble_is_retried_whatever_the_attempts() {
        let cfg = TransferConfig::default();
        let f = Failure::store("store: the bucket does not exist");
        assert!(f.should_retry(cfg.max_attempts, &cfg));
        assert!(f.should_retry(u32::MAX, &cfg));
    }

    #[test]
    fn not_found_is_retried_only_in_the_first_attempts() {
        let cfg = TransferConfig::default();
        let f = Failure::from_status(404, "x");
        assert!(f.should_retry(1, &cfg));
        assert!(!f.should_retry(cfg.not_found_attempts, &cfg));
    }

    #[test]
    fn nothing_is_retried_past_max_attempts() {
        let cfg = TransferConfig::default();
        assert!(!Failure::transient("x").should_retry(cfg.max_attempts, &cfg));
    }

    #[test]
    fn checksum_mismatch_becomes_permanent_after_its_retries() {
        let cfg = TransferConfig::default();
        assert!(Failure::integrity("x").should_retry(1, &cfg));
        assert!(!Failure::integrity("x").should_retry(3, &cfg));
    }

    #[test]
    fn delays_grow_exponentially_within_the_jitter() {
        for (attempts, centre) in [(1u32, 5.0f64), (2, 10.0), (3, 20.0), (6, 160.0)] {
            for _ in 0..50 {
                let d = delay_after(attempts, &cfg()).as_secs_f64();
                assert!(
                    d >= centre * 0.5 - 1e-9 && d <= centre * 1.5 + 1e-9,
                    "attempt {attempts}: {d}"
                );
            }
        }
    }

    #[test]
    fn delays_never_exceed_the_maximum() {
        for attempts in [12, 30, 1000] {
            assert!(delay_after(attempts, &cfg()) <= Duration::from_secs(1800));
        }
    }

    #[test]
    fn delays_are_jittered() {
        let samples: std::collections::HashSet<u128> = (0..20)
            .map(|_| delay_after(3, &cfg()).as_millis())
            .collect();
        assert!(samples.len() > 1);
    }
}
