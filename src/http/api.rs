//! `/api/v1`: events, jobs, rejected requests and streams as JSON pages.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::db::PageRequest;
use crate::event::EventKind;
use crate::queue::JobState;

/// Items per page unless `limit` says otherwise, and the most it may say.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/events", web::get().to(events))
        .route("/jobs", web::get().to(jobs))
        .route("/jobs/{id}", web::get().to(job))
        .route("/jobs/{id}/retry", web::post().to(retry_job))
        .route("/catalog", web::get().to(catalog))
        .route("/catalog/{id}", web::get().to(catalog_entry))
        .route("/rejected", web::get().to(rejected))
        .route("/rejected/{id}/replay", web::post().to(replay))
        .route("/streams", web::get().to(streams));
}

/// With `[api] token` set, a bearer token is required; without one, only
/// clients on this machine are answered.
fn authorize(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let token = &state.config.api.token;
    if token.is_empty() {
        let local = req.peer_addr().is_some_and(|a| a.ip().is_loopback());
        return if local {
            Ok(())
        } else {
            Err(ApiError::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "forbidden",
                "the API answers only loopback clients unless [api] token is set",
            ))
        };
    }
    let presented = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if crate::auth::same_secret(presented.trim(), token.expose()) {
        Ok(())
    } else {
        Err(ApiError::unauthorized(
            "this API needs Authorization: Bearer <[api] token>",
        ))
    }
}

fn page(limit: Option<usize>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "bad_query",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    PageRequest::new(limit, cursor)
        .ok_or_else(|| ApiError::bad_request("bad_query", "cursor is not one this API gave out"))
}

fn matches(want: &Option<String>, have: &Option<String>) -> bool {
    want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    source: Option<String>,
    domain: Option<String>,
    app: Option<String>,
    stream: Option<String>,
    kind: Option<EventKind>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn events(
    req: HttpRequest,
    q: web::Query<EventsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let q = q.into_inner();
    let page = page(q.limit, q.cursor.as_deref())?;
    let source = q.source.clone();
    let list = state.db.list_events(&page, |e| {
        source.as_ref().is_none_or(|s| *s == e.source)
            && matches(&q.domain, &e.domain)
            && matches(&q.app, &e.app)
            && matches(&q.stream, &e.stream)
            && q.kind.is_none_or(|k| k == e.kind)
    })?;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobsQuery {
    state: Option<JobState>,
    source: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn jobs(
    req: HttpRequest,
    q: web::Query<JobsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let q = q.into_inner();
    let page = page(q.limit, q.cursor.as_deref())?;
    let list = state.db.list_jobs(&page, |j| {
        q.state.is_none_or(|s| s == j.state) && q.source.as_ref().is_none_or(|s| *s == j.source)
    })?;
    Ok(HttpResponse::Ok().json(list))
}

async fn job(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    match state.db.job(&id)? {
        Some(job) => Ok(HttpResponse::Ok().json(job)),
        None => Err(ApiError::not_found(
            "no_such_job",
            format!("no job {:?}", id.as_str()),
        )),
    }
}

async fn retry_job(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    match state.db.retry_failed(&id, chrono::Utc::now())? {
        Some(job) => {
            state.db.durable().await?;
            state.wake.notify_waiters();
            Ok(HttpResponse::Ok().json(job))
        }
        None => match state.db.job(&id)? {
            Some(job) => Err(ApiError::new(
                actix_web::http::StatusCode::CONFLICT,
                "not_failed",
                format!(
                    "job {} is {:?}; only failed jobs are retried by hand",
                    job.id, job.state
                ),
            )),
            None => Err(ApiError::not_found(
                "no_such_job",
                format!("no job {:?}", id.as_str()),
            )),
        },
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogQuery {
    source: Option<String>,
    domain: Option<String>,
    app: Option<String>,
    stream: Option<String>,
    kind: Option<crate::queue::FileKind>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

fn time_param(name: &str, v: &Option<String>) -> Result<Option<crate::time::Timestamp>, ApiError> {
    v.as_deref()
        .map(|s| {
            crate::time::parse_rfc3339(s).ok_or_else(|| {
                ApiError::bad_request(
                    "bad_query",
                    format!("{name}={s:?} is not an RFC 3339 time (2024-05-01T00:00:00Z)"),
                )
            })
        })
        .transpose()
}

async fn catalog(
    req: HttpRequest,
    q: web::Query<CatalogQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let q = q.into_inner();
    let page = page(q.limit, q.cursor.as_deref())?;
    let since = time_param("since", &q.since)?;
    let until = time_param("until", &q.until)?;
    let list = state.db.list_catalog(q.stream.as_deref(), &page, |e| {
        let at = e.filed_at();
        q.source.as_ref().is_none_or(|s| *s == e.source)
            && matches(&q.domain, &e.domain)
            && matches(&q.app, &e.app)
            && q.kind.is_none_or(|k| k == e.kind)
            && since.is_none_or(|t| at >= t)
            && until.is_none_or(|t| at < t)
    })?;
    Ok(HttpResponse::Ok().json(list))
}

async fn catalog_entry(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    match state.db.catalog_entry(&id)? {
        Some(e) => Ok(HttpResponse::Ok().json(e)),
        None => Err(ApiError::not_found(
            "no_such_entry",
            format!("no catalog entry {:?}", id.as_str()),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectedQuery {
    source: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn rejected(
    req: HttpRequest,
    q: web::Query<RejectedQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let q = q.into_inner();
    let page = page(q.limit, q.cursor.as_deref())?;
    let list = state
        .db
        .list_rejected(&page, |r| q.source.as_ref().is_none_or(|s| *s == r.source))?;
    Ok(HttpResponse::Ok().json(list))
}

/// Re-parses a kept request with today's parsers and records what it says:
/// the way back for a callback an older version could not read.
async fn replay(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let r = state.db.rejected(&id)?.ok_or_else(|| {
        ApiError::not_found(
            "no_such_request",
            format!("no kept request {:?}", id.as_str()),
        )
    })?;
    if let Some(events) = &r.replayed_as {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "already_replayed",
            format!(
                "request {} was already replayed as events {}",
                r.id,
                events.join(", ")
            ),
        ));
    }
    let source = state.config.source(&r.source).ok_or_else(|| {
        ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "unknown_source",
            format!("source {:?} is no longer configured", r.source),
        )
    })?;
    let body = r.body_bytes();
    let arrived = super::callbacks::Arrived {
        is_get: r.method == "GET",
        content_type: r.headers.get("content-type").map(String::as_str),
        platform_query: &r.query,
        body: &body,
    };
    let events = arrived
        .events(source, arrived.decode(), r.received_at)
        .map_err(|e| {
            ApiError::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                e.code,
                format!("still not readable: {}", e.message),
            )
        })?;
    let recorded = state.db.record_events(events, chrono::Utc::now()).await?;
    let ids: Vec<String> = recorded.iter().map(|r| r.event.id.clone()).collect();
    state.db.mark_replayed(&r, ids.clone())?;
    state.db.durable().await?;
    if recorded.iter().any(|r| r.new_job.is_some()) {
        state.wake.notify_waiters();
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "code": 0,
        "events": ids,
        "jobs": recorded.iter().filter_map(|r| r.event.job_id.clone()).collect::<Vec<_>>(),
        "duplicate": recorded.iter().any(|r| r.event.duplicate),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamsQuery {
    source: Option<String>,
    live: Option<bool>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn streams(
    req: HttpRequest,
    q: web::Query<StreamsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let q = q.into_inner();
    let page = page(q.limit, q.cursor.as_deref())?;
    let list = state.db.list_streams(&page, |s| {
        q.source.as_ref().is_none_or(|w| *w == s.source) && q.live.is_none_or(|l| l == s.live)
    })?;
    Ok(HttpResponse::Ok().json(list))
}
