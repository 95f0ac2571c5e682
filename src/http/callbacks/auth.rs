//! Who may call back: a source's token (query or header, never the body)
//! and its platform's signature (Alibaba's headers, Tencent's body).

use actix_web::HttpRequest;

use super::TOKEN_HEADER;
use crate::auth::same_secret;
use crate::body::{self, BodyError};
use crate::config::SourceConfig;
use crate::http::ApiError;
use crate::providers::{aliyun, huawei, tencent, volcengine, Provider};
use crate::time::Timestamp;

/// Checks the platform's signature: Alibaba signs in headers, Tencent in
/// the body; an `auto` source is held to whichever its sender used. `raw`
/// is the body as it arrived, for platforms that sign its bytes.
pub(super) fn check_signature(
    req: &HttpRequest,
    source: &SourceConfig,
    _raw: &[u8],
    decoded: &Result<body::Payload, BodyError>,
    now: Timestamp,
) -> Result<(), ApiError> {
    if let Some(r) = check_huawei_or_volcengine(source, decoded, now) {
        return r;
    }
    let in_headers = match source.provider {
        Provider::Aliyun => true,
        Provider::Tencent => false,
        _ => req.headers().contains_key("ali-live-signature"),
    };
    if in_headers {
        return check_ali_signature(req, source, decoded, now);
    }
    let records = decoded.as_ref().map(|p| p.records()).unwrap_or_default();
    tencent::verify_sign(records, source.sign_key.expose(), now.timestamp())
        .map_err(|e| ApiError::unauthorized(format!("source {:?}: {e}", source.name)))
}

/// Huawei and Volcengine sign in the body, each in its own way: their
/// sources, and an `auto` source given a body of their shape, are held to
/// it. `None` when neither applies.
fn check_huawei_or_volcengine(
    source: &SourceConfig,
    decoded: &Result<body::Payload, BodyError>,
    now: Timestamp,
) -> Option<Result<(), ApiError>> {
    let records = decoded.as_ref().map(|p| p.records()).unwrap_or_default();
    let first_is = |looks: fn(&body::Fields) -> bool| records.first().is_some_and(looks);
    let (key, now, window) = (
        source.sign_key.expose(),
        now.timestamp(),
        source.sign_window_secs,
    );
    let result = match source.provider {
        Provider::Huawei => huawei::verify(records, key, now, window).map_err(|e| e.to_string()),
        Provider::Volcengine => {
            volcengine::verify(records, key, now, window).map_err(|e| e.to_string())
        }
        Provider::Auto if first_is(huawei::looks_like) => {
            huawei::verify(records, key, now, window).map_err(|e| e.to_string())
        }
        Provider::Auto if first_is(volcengine::looks_like) => {
            volcengine::verify(records, key, now, window).map_err(|e| e.to_string())
        }
        _ => return None,
    };
    Some(result.map_err(|e| ApiError::unauthorized(format!("source {:?}: {e}", source.name))))
}

/// Checks the source's token, from the query or the header, never from the
/// body, where senders copy the publisher's own query arguments.
pub(super) fn check_token(
    req: &HttpRequest,
    query: &[(String, String)],
    source: &SourceConfig,
) -> Result<(), ApiError> {
    if source.accepted_tokens().next().is_none() {
        return Ok(());
    }
    let presented = req
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            query
                .iter()
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.clone())
        });
    match presented {
        // Every token is compared, so timing says nothing about which matched.
        Some(t)
            if source
                .accepted_tokens()
                .fold(false, |ok, s| same_secret(&t, s.expose()) | ok) =>
        {
            Ok(())
        }
        Some(_) => Err(ApiError::unauthorized(format!(
            "wrong token for source {:?}",
            source.name
        ))),
        None => Err(ApiError::unauthorized(format!(
            "source {:?} needs its token in the URL (?token=...) or the {TOKEN_HEADER} header",
            source.name
        ))),
    }
}

/// Alibaba signs in headers: they are read here, checked by the provider,
/// over the domain [`aliyun::signed_domain`] names.
fn check_ali_signature(
    req: &HttpRequest,
    source: &SourceConfig,
    decoded: &Result<body::Payload, BodyError>,
    now: Timestamp,
) -> Result<(), ApiError> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let record = decoded.as_ref().ok().and_then(|p| p.records().first());
    let domain = aliyun::signed_domain(
        record,
        source.callback_host.as_deref(),
        header("host").unwrap_or(""),
    );
    aliyun::verify_signature(
        &domain,
        header("ali-live-timestamp"),
        header("ali-live-signature"),
        source.sign_key.expose(),
        now.timestamp(),
        source.sign_window_secs,
    )
    // The provider cannot name the source; the answer does, where it did before.
    .map_err(|e| {
        ApiError::unauthorized(match e {
            aliyun::SignError::Missing => format!("source {:?} {e}", source.name),
            aliyun::SignError::Wrong => format!("{e} for source {:?}", source.name),
            _ => e.to_string(),
        })
    })
}
