//! Conditional writes (`If-None-Match: *`): the object is created only if
//! none is at its key, so an object written in between is never replaced.

use crate::retry::Failure;

type SdkError<E> = aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>;

/// True when the server refuses `If-None-Match` itself (501 NotImplemented),
/// as some S3-compatible servers do: the write is then sent without it.
/// Sends a write with `If-None-Match: *`, and again without it if the
/// server refuses the condition itself.
pub(super) async fn create_only<T, E, F, Fut>(send: F) -> Result<T, SdkError<E>>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
    F: Fn(Option<&'static str>) -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E>>>,
{
    match send(Some("*")).await {
        Err(e) if refuses_conditions(&e) => {
            warn_unconditional();
            send(None).await
        }
        r => r,
    }
}

fn refuses_conditions<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    use aws_sdk_s3::error::ProvideErrorMetadata;
    e.code() == Some("NotImplemented")
        || e.raw_response().is_some_and(|r| r.status().as_u16() == 501)
}

fn warn_unconditional() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::warn!(
            "the S3 server refuses conditional writes (If-None-Match); an object written by \
             another instance between our look-up and our write could be replaced"
        )
    });
}

/// A conditional write's failure; an object that appeared at the key since
/// it was looked up is a reason to try again (at a free variant), not to fail.
pub(super) fn conditional_failure<E>(what: &str, e: SdkError<E>) -> Failure
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) {
        return Failure::transient(format!(
            "{what}: an object appeared at the key meanwhile (412); the next attempt writes beside it"
        ));
    }
    Failure::from_store(what, e)
}
