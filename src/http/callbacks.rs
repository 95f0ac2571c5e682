//! `POST|GET /callbacks/{source}`: authenticate, read, parse, store durably,
//! and only then answer 200.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;

use super::refused::RefusedCall;
use super::{ApiError, AppState};
use crate::body::{self, BodyError, Encoding};
use crate::config::{AuthMode, SourceConfig};
use crate::event::{Event, Location};
use crate::providers::{self, Provider};
use crate::rejected::RejectedRequest;
use crate::time::Timestamp;

mod auth;
mod open;
use auth::{check_signature, check_token};

/// The header that may carry a source's token instead of the query.
pub const TOKEN_HEADER: &str = "x-archiver-token";

/// Headers kept with a rejected request: what a replay or a diagnosis needs.
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "user-agent",
    "x-forwarded-for",
    "x-real-ip",
    "ali-live-timestamp",
    "ali-live-signature",
];

/// Receives a callback and counts its answer.
pub async fn receive(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner();
    let result = receive_inner(&req, &name, payload, &state).await;
    let status = match &result {
        Ok(r) => r.status(),
        Err(e) => e.status,
    };
    let outcome = match status.as_u16() {
        200 => "ok",
        400 => "rejected",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "unknown_source",
        408 => "timeout",
        413 => "too_large",
        429 => "rate_limited",
        503 => "unavailable",
        _ => "error",
    };
    if let Err(e) = &result {
        if matches!(status.as_u16(), 401 | 403 | 404) {
            state.refused.note(RefusedCall {
                at: chrono::Utc::now(),
                configured: state.config.source(&name).is_some(),
                source: name.clone(),
                status: status.as_u16(),
                code: e.code.to_owned(),
                message: e.message.clone(),
                remote_addr: req.peer_addr().map(|a| a.ip().to_string()),
            });
        }
    }
    // Only configured names become labels: a caller cannot grow the series.
    match state.config.source(&name) {
        Some(s) => state
            .metrics
            .callback(&s.name, s.provider.as_str(), outcome),
        None => state.metrics.callback("unknown", "", outcome),
    }
    result
}

async fn receive_inner(
    req: &HttpRequest,
    source_name: &str,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let source = state.config.source(source_name).ok_or_else(|| {
        ApiError::not_found(
            "unknown_source",
            format!("no source named {source_name:?} is configured"),
        )
    })?;
    open::check_local_caller(req, source)?;
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let mode = source.auth_mode();
    if mode != AuthMode::Signature {
        check_token(req, &query, source)?;
    }
    let body = read_body(
        req,
        payload,
        state.config.server.max_body_bytes,
        Duration::from_secs(state.config.server.body_timeout_secs),
    )
    .await?;
    let received_at = chrono::Utc::now();
    let platform_query: Vec<(String, String)> =
        query.into_iter().filter(|(k, _)| k != "token").collect();
    let platform_query = serde_urlencoded::to_string(&platform_query).unwrap_or_default();
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let arrived = Arrived {
        is_get: req.method() == Method::GET,
        content_type: ct,
        platform_query: &platform_query,
        body: &body,
    };
    // Decoded once: Tencent's signature is read from the same fields.
    let decoded = arrived.decode();
    if mode != AuthMode::Token {
        check_signature(req, source, &body, &decoded, received_at)?;
    }
    // After authentication: a stranger's flood cannot spend a source's quota.
    state.limits.admit(source)?;
    let mut events = match arrived.events(source, decoded, received_at) {
        Ok(events) => events,
        Err(e) => return reject(state, req, source, &platform_query, &body, received_at, e).await,
    };
    // A local file's size and time, so that a sweep finding it knows it
    // (file system calls: off the reactor).
    if matches!(
        source.origin,
        Some(crate::config::OriginConfig::File { .. })
    ) {
        let s = source.clone();
        events = web::block(move || {
            crate::local::state_files(&s, &mut events);
            events
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()))?;
    }
    // Resolves only once the events and jobs are flushed to disk.
    let callback = state.notifier.callback(events, received_at);
    let recorded = state.repo.record_callback(callback).await?;

    for r in &recorded {
        tracing::debug!(
            event_id = %r.event.id, source = %source.name, kind = %r.event.kind,
            stream = r.event.stream.name.as_deref().unwrap_or(""), job_id = r.event.job_id.map(|j| j.to_string()).unwrap_or_default(),
            duplicate = r.event.duplicate, "callback recorded"
        );
    }
    Ok(super::recorded_answer(state, &recorded))
}

/// A request as it arrived, for decoding: shared by live callbacks and
/// replays of kept ones.
pub struct Arrived<'a> {
    pub is_get: bool,
    pub content_type: Option<&'a str>,
    /// The query without our own `token`.
    pub platform_query: &'a str,
    pub body: &'a [u8],
}

impl Arrived<'_> {
    /// A GET callback (Alibaba's stream ingest) carries everything in its query.
    fn reads_query(&self) -> bool {
        self.is_get || (self.body.is_empty() && !self.platform_query.is_empty())
    }

    /// The request's fields, from its query or its body.
    pub fn decode(&self) -> Result<body::Payload, BodyError> {
        if self.reads_query() {
            body::decode_query(self.platform_query)
        } else {
            body::decode_body(Encoding::from_content_type(self.content_type), self.body)
        }
    }

    /// Decoded fields into events with the source's provider.
    pub fn events(
        &self,
        source: &SourceConfig,
        decoded: Result<body::Payload, BodyError>,
        received_at: Timestamp,
    ) -> Result<Vec<Event>, BodyError> {
        let mut parsed = decoded.and_then(|p| providers::parse(source.provider, &p))?;
        if matches!(source.origin, Some(crate::config::OriginConfig::S3 { .. })) {
            providers::prefer_bucket(&mut parsed);
        }
        let raw = if self.reads_query() {
            self.platform_query.to_owned()
        } else {
            String::from_utf8_lossy(self.body).into_owned()
        };
        let raw = body::redact::redact(&raw);
        let mut events: Vec<Event> = parsed
            .into_iter()
            .map(|p| p.into_event(&source.name, received_at, &raw))
            .collect();
        // At an S3 origin, the object a file is: the bucket's sweep knows it by that.
        if let Some(origin) = &source.origin {
            for file in events.iter_mut().filter_map(|e| e.file.as_mut()) {
                if let Location::Path(p) = &file.location {
                    file.facts.object = origin.object_of(p);
                }
            }
        }
        Ok(events)
    }
}

/// Reads the body, up to `limit` bytes and within `timeout`: a sender that
/// trickles its body cannot hold a connection open.
async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    timeout: Duration,
) -> Result<web::Bytes, ApiError> {
    tokio::time::timeout(timeout, read_body_inner(req, payload, limit))
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the body did not arrive within {} s (server.body_timeout_secs)",
                    timeout.as_secs()
                ),
            ))
        })
}

async fn read_body_inner(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body exceeds {limit} bytes (server.max_body_bytes)"),
        )
    };
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request("bad_body", format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Keeps the request whole, durably, then answers 400 saying what was wrong.
async fn reject(
    state: &AppState,
    req: &HttpRequest,
    source: &SourceConfig,
    query: &str,
    body: &[u8],
    received_at: Timestamp,
    err: BodyError,
) -> Result<HttpResponse, ApiError> {
    let headers: BTreeMap<String, String> = KEPT_HEADERS
        .iter()
        .filter_map(|h| {
            let v = req.headers().get(*h)?.to_str().ok()?;
            Some(((*h).to_owned(), v.to_owned()))
        })
        .collect();
    let quota = &state.rejected_quota;
    if !quota.take_or_recount(&state.repo, &source.name).await {
        // Still a clear 400; the request is counted, not kept.
        state.metrics.rejected_dropped(&source.name);
        tracing::warn!(
            source = %source.name, code = err.code,
            "callback rejected and not kept (state.max_rejected_per_source reached): {}", err.message
        );
        let mut extra = serde_json::Map::new();
        extra.insert("kept".into(), json!(false));
        return refused(source, err, extra);
    }
    let (text, hex) = match std::str::from_utf8(body) {
        Ok(s) => (Some(s.to_owned()), None),
        Err(_) => (None, Some(hex::encode(body))),
    };
    let rejected = state
        .repo
        .record_rejected(RejectedRequest {
            id: crate::id::RejectedId::default(),
            source: source.name.clone(),
            provider: source.provider,
            received_at,
            method: req.method().to_string(),
            query: query.to_owned(),
            headers,
            remote_addr: req.peer_addr().map(|a| a.ip().to_string()),
            body: text,
            body_hex: hex,
            error_code: err.code.to_owned(),
            error: err.message.clone(),
            replayed_as: None,
        })
        .await
        .inspect_err(|_| state.rejected_quota.give_back(&source.name))?;
    tracing::warn!(
        source = %source.name, rejected_id = %rejected.id, code = err.code,
        "callback rejected: {}", err.message
    );
    let mut extra = serde_json::Map::new();
    extra.insert("rejected_id".into(), json!(rejected.id));
    extra.insert("kept".into(), json!(true));
    refused(source, err, extra)
}

/// The answer to a body we could not read: 400 with the reason, except to
/// nginx-rtmp and SRS, for which any refusal of `on_publish` / `on_play`
/// stops the stream (and which never retry a hook): they get a success
/// (`{"code": 0}` for SRS) with the reason beside it.
fn refused(
    source: &SourceConfig,
    err: BodyError,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    if matches!(source.provider, Provider::NginxRtmp | Provider::Srs) {
        let mut body = extra;
        body.insert("code".into(), json!(0));
        body.insert("error".into(), json!(err.code));
        body.insert("message".into(), json!(err.message));
        return Ok(HttpResponse::Ok().json(body));
    }
    let mut e = ApiError::bad_request(err.code, err.message);
    e.extra = Some(extra);
    Err(e)
}
