//! S3 errors, classified and told in one readable line: for an S3 origin
//! (`from_s3`: the file's failure or the network's), and for the archive
//! store (`from_store`: credentials, bucket, outage and throttling are the
//! store's trouble, ours to fix, with what to check).

use std::error::Error as _;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::Failure;

impl Failure {
    /// Classifies an S3 SDK error from an S3 origin (or a store call whose
    /// failure is about the file).
    pub fn from_s3<E>(what: &str, e: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = e.code();
        let status = e.raw_response().map(|r| r.status().as_u16());
        let message = format!("{what}: {}", describe(&e));
        match &e {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => Failure::transient(message),
            SdkError::ConstructionFailure(_) => Failure::permanent(message),
            SdkError::ServiceError(_) => match code {
                Some(
                    "RequestTimeout"
                    | "SlowDown"
                    | "InternalError"
                    | "ServiceUnavailable"
                    | "Throttling"
                    | "RequestTimeTooSkewed",
                ) => Failure::transient(message),
                Some("NoSuchKey") => Failure::not_found(message),
                // The multipart upload was completed or aborted meanwhile
                // (by the store, a superseded claim, a lifecycle rule): the
                // next attempt finds out which, and goes on from there.
                Some("NoSuchUpload") => Failure::transient(message),
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

    /// Classifies an S3 SDK error of a call to the archive store: the
    /// store's own trouble (credentials, bucket, outage, throttling,
    /// timeouts, no connection) is a [`Failure::store`] that names what to
    /// check; the rest (a vanished upload, bytes damaged on the way, a
    /// request about this file the store refuses) as for an origin.
    pub fn from_store<E>(what: &str, e: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let Some((happened, check)) = store_trouble(&e, status) else {
            return Failure::from_s3(what, e);
        };
        let op = what.split_whitespace().next().unwrap_or(what);
        Failure::store(format!(
            "store: {happened} ({}, on {op}): {check}",
            describe(&e)
        ))
    }
}

/// What went wrong on the store's side and what to check, for errors that
/// are the store's trouble rather than the file's.
fn store_trouble<E>(
    e: &SdkError<E, HttpResponse>,
    status: Option<u16>,
) -> Option<(&'static str, &'static str)>
where
    E: ProvideErrorMetadata,
{
    const CREDENTIALS: &str =
        "check [store] access_key_id, secret_access_key and the bucket's policy";
    const OUTAGE: &str = "transfers resume by themselves once it answers";
    Some(match e {
        SdkError::TimeoutError(_) => (
            "the store did not answer in time",
            "check [store] endpoint and the network (transfer.request_timeout_secs)",
        ),
        SdkError::DispatchFailure(_) => ("the store cannot be reached", "check [store] endpoint"),
        SdkError::ResponseError(_) => (
            "the store's answer cannot be read",
            "check that [store] endpoint is an S3 server",
        ),
        SdkError::ServiceError(_) => match e.code() {
            Some(code) if options_refused(code, e.message().unwrap_or("")).is_some() => {
                return options_refused(code, e.message().unwrap_or(""));
            }
            Some("InvalidAccessKeyId") => (
                "the bucket refused our credentials",
                "check [store] access_key_id",
            ),
            Some("SignatureDoesNotMatch") => (
                "the bucket refused our credentials",
                "check [store] secret_access_key",
            ),
            Some("InvalidToken" | "ExpiredToken" | "TokenRefreshRequired") => (
                "the bucket refused our session token",
                "check the credentials' session token",
            ),
            Some("AccessDenied" | "AllAccessDisabled" | "AccountProblem") => {
                ("the bucket denied access", CREDENTIALS)
            }
            Some("NoSuchBucket") => (
                "the bucket does not exist",
                "check [store] bucket, endpoint and region",
            ),
            Some("InvalidBucketName") => ("the bucket name is invalid", "check [store] bucket"),
            Some(
                "PermanentRedirect"
                | "AuthorizationHeaderMalformed"
                | "IllegalLocationConstraintException",
            ) => (
                "the bucket lives in another region",
                "check [store] region and endpoint",
            ),
            Some("RequestTimeTooSkewed") => (
                "the store says this machine's clock is off",
                "check this machine's time (NTP)",
            ),
            Some(
                "SlowDown"
                | "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TooManyRequests",
            ) => ("the store is throttling us", OUTAGE),
            Some("InternalError" | "ServiceUnavailable") => ("the store is failing", OUTAGE),
            Some(_) | None => match status {
                Some(401 | 403) => ("the bucket refused the request", CREDENTIALS),
                Some(301 | 307) => (
                    "the bucket lives in another region",
                    "check [store] region and endpoint",
                ),
                Some(429) => ("the store is throttling us", OUTAGE),
                Some(500..=599) => ("the store is failing", OUTAGE),
                _ => return None,
            },
        },
        _ => return None,
    })
}

/// A refusal of `[store]`'s object options: every object would meet it,
/// so it is the store's trouble, naming the key to change.
fn options_refused(code: &str, message: &str) -> Option<(&'static str, &'static str)> {
    let m = message.to_ascii_lowercase();
    Some(match code {
        "InvalidStorageClass" => (
            "the bucket refused the storage class",
            "check [store] storage_class and sidecar_storage_class",
        ),
        "InvalidTag" => ("the bucket refused the tags", "check [store] tags"),
        c if c.starts_with("KMS.") => (
            "the bucket cannot encrypt with the KMS key",
            "check [store] sse_kms_key_id and the key's policy",
        ),
        "InvalidRequest" | "InvalidArgument" if m.contains("object lock") => (
            "the bucket refused Object Lock",
            "check [store] object_lock_mode: the bucket needs Object Lock enabled",
        ),
        "InvalidRequest" | "InvalidArgument" | "InvalidEncryptionAlgorithmError"
            if code == "InvalidEncryptionAlgorithmError" || m.contains("encryption") =>
        {
            (
                "the bucket refused the encryption",
                "check [store] server_side_encryption and sse_kms_key_id",
            )
        }
        _ => return None,
    })
}

/// One line: the status, the S3 error code and message, or what broke on
/// the way (the innermost cause, e.g. "Connection refused (os error
/// 111)"); never a debug dump.
pub fn describe<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::ServiceError(_) => {
            let status = e
                .raw_response()
                .map(|r| r.status().as_u16().to_string())
                .unwrap_or_default();
            match (e.code(), e.message()) {
                (Some(code), Some(m)) if !m.is_empty() => format!("{status} {code}: {m}"),
                (Some(code), _) => format!("{status} {code}"),
                (None, _) => format!("HTTP {status}"),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        _ => {
            let mut deepest = e.to_string();
            let mut cause = e.source();
            while let Some(c) = cause {
                let text = c.to_string();
                if !text.is_empty() {
                    deepest = text;
                }
                cause = c.source();
            }
            deepest
        }
    }
}
