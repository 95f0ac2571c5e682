//! Why a transfer attempt failed, and the one decision of whether to retry.

use std::fmt;

use crate::config::TransferConfig;

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
}

/// A failed attempt, with a message an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

/// Integrity failures are retried this many attempts before they are permanent.
const INTEGRITY_ATTEMPTS: u32 = 3;

impl Failure {
    pub fn transient(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Transient,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Permanent,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::NotFound,
            message: message.into(),
        }
    }

    pub fn integrity(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Integrity,
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

    /// Classifies an HTTP status from an origin or a store.
    pub fn from_status(status: u16, what: &str) -> Self {
        let message = format!("{what}: HTTP {status}");
        match status {
            404 | 410 => Failure::not_found(message),
            408 | 425 | 429 | 500..=599 => Failure::transient(message),
            _ => Failure::permanent(message),
        }
    }

    /// Whether the job should be tried again after its `attempts`-th attempt
    /// failed this way. The only place that decides.
    pub fn should_retry(&self, attempts: u32, cfg: &TransferConfig) -> bool {
        if attempts >= cfg.max_attempts {
            return false;
        }
        match self.kind {
            FailureKind::Transient => true,
            FailureKind::NotFound => attempts < cfg.not_found_attempts,
            FailureKind::Integrity => attempts < INTEGRITY_ATTEMPTS,
            FailureKind::Permanent => false,
            FailureKind::Interrupted => true,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Failure {
    /// Classifies an S3 SDK error (store or S3 origin).
    pub fn from_s3<E>(
        what: &str,
        e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> Self
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
        let code = e.code().map(str::to_owned);
        let status = e.raw_response().map(|r| r.status().as_u16());
        let message = format!("{what}: {}", aws_sdk_s3::error::DisplayErrorContext(&e));
        match &e {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => Failure::transient(message),
            SdkError::ConstructionFailure(_) => Failure::permanent(message),
            SdkError::ServiceError(_) => match code.as_deref() {
                Some(
                    "RequestTimeout"
                    | "SlowDown"
                    | "InternalError"
                    | "ServiceUnavailable"
                    | "Throttling"
                    | "RequestTimeTooSkewed",
                ) => Failure::transient(message),
                Some("NoSuchKey") => Failure::not_found(message),
                Some("BadDigest" | "InvalidDigest" | "XAmzContentSHA256Mismatch") => {
                    Failure::integrity(message)
                }
                Some(
                    "AccessDenied"
                    | "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
                    | "NoSuchBucket"
                    | "InvalidBucketName",
                ) => Failure::permanent(message),
                _ => match status {
                    Some(s) => Failure::from_status(s, &message),
                    None => Failure::transient(message),
                },
            },
            _ => Failure::transient(message),
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
            refused |= s.downcast_ref::<crate::net::InternalAddress>().is_some();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let cfg = TransferConfig::default();
        assert!(Failure::from_status(503, "x").should_retry(1, &cfg));
        assert!(Failure::from_status(429, "x").should_retry(1, &cfg));
        assert!(!Failure::from_status(403, "x").should_retry(1, &cfg));
        assert!(!Failure::from_status(401, "x").should_retry(1, &cfg));
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
}
